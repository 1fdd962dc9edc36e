"""Staff sessions kept on the server (table ``user_session``), so they can be ended.

The browser's signed cookie holds only a random token; the database holds its sha256. A
session ends at logout, when its user changes the password, when an admin ends the user's
sessions, after ``SESSION_IDLE_MINUTES`` without a request, or ``SESSION_MAX_HOURS`` after
login — whichever comes first. ``last_seen_at`` is written at most once a minute, so a
busy page does not write on every request.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from survey.core.db import short_transaction
from survey.core.models import User, UserSession, as_utc
from survey.core.security import token_digest

log = logging.getLogger(__name__)

TOUCH_EVERY = timedelta(minutes=1)
TOUCH_LOCK_TIMEOUT_MS = 500



def start(session: Session, user: User, *, now: datetime | None = None) -> str:
    """Open a session for ``user``; returns the token for the cookie. Does not commit."""
    now = now or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    session.add(UserSession(token_hash=token_digest(token), user_id=user.id, created_at=now,
                            last_seen_at=now))
    session.flush()
    return token


def load(session: Session, token: str, *, idle: timedelta, maximum: timedelta,
         now: datetime | None = None) -> User | None:
    """The active user of a live session, or ``None``; ends a session that has timed out
    (and commits that); writes a due ``last_seen_at`` on its own short transaction."""
    now = now or datetime.now(UTC)
    row = session.scalar(select(UserSession).where(UserSession.token_hash == token_digest(token)))
    if row is None or row.ended_at is not None:
        return None
    if now - as_utc(row.last_seen_at) > idle:
        _end(row, now, "idle")
        session.commit()
        return None
    if now - as_utc(row.created_at) > maximum:
        _end(row, now, "expired")
        session.commit()
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if now - as_utc(row.last_seen_at) >= TOUCH_EVERY:
        _touch(session, row, now)
    return user


def _touch(session: Session, row: UserSession, now: datetime) -> None:
    """Write ``last_seen_at`` on a short transaction of its own: a locked database delays
    the page by at most ``TOUCH_LOCK_TIMEOUT_MS`` and leaves the session untouched (a
    later request touches it) instead of failing a read."""
    try:
        with short_transaction(session.get_bind().engine, TOUCH_LOCK_TIMEOUT_MS) as conn:
            conn.execute(update(UserSession).where(UserSession.id == row.id)
                         .values(last_seen_at=now))
    except OperationalError:
        log.warning("session last_seen_at not written: database unavailable")
        return
    set_committed_value(row, "last_seen_at", now)


def _end(row: UserSession, now: datetime, reason: str) -> None:
    row.ended_at, row.end_reason = now, reason


def end(session: Session, token: str, reason: str) -> None:
    """End one session (logout). Does not commit."""
    session.execute(update(UserSession)
                    .where(UserSession.token_hash == token_digest(token),
                           UserSession.ended_at.is_(None))
                    .values(ended_at=datetime.now(UTC), end_reason=reason))


def end_all(session: Session, user_id: int, reason: str) -> int:
    """End every live session of a user (password change, an admin's action); returns how
    many. Does not commit."""
    result = session.execute(update(UserSession)
                             .where(UserSession.user_id == user_id,
                                    UserSession.ended_at.is_(None))
                             .values(ended_at=datetime.now(UTC), end_reason=reason))
    return int(getattr(result, "rowcount", 0) or 0)
