"""Writing the audit log. Details must never contain respondents' personal data.

Callers name the acting user (a web view passes the logged-in user, a command ``"cli"``):
services never read the request's user themselves.

Two ways in: :func:`record` for changes (the entry commits, or not, with the change it
describes) and :func:`record_read` for page views (its own short transaction, so that a
locked or failing database never turns a read into an error).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from survey.core.db import short_transaction
from survey.core.models import AuditLog

log = logging.getLogger(__name__)


def record(session: Session, action: str, *, actor: str, user_id: int | None = None,
           city_id: int | None = None, **detail: Any) -> None:
    """Add an audit entry to ``session`` (the caller commits with its own work)."""
    session.add(AuditLog(action=action, city_id=city_id, actor=actor, user_id=user_id,
                         detail=detail))


def record_read(engine: Engine, action: str, *, actor: str, user_id: int | None = None,
                city_id: int | None = None, lock_timeout_ms: int = 500,
                **detail: Any) -> bool:
    """Write the audit entry of a read on its own connection and transaction, waiting at
    most ``lock_timeout_ms`` for a lock. Never raises a database error: when the entry
    cannot be written it is dropped with a warning naming the action only (no actor, no
    details, no SQL), and ``False`` is returned."""
    row = {"action": action, "city_id": city_id, "actor": actor, "user_id": user_id,
           "detail": detail}
    try:
        with short_transaction(engine, lock_timeout_ms) as conn:
            conn.execute(insert(AuditLog).values(**row))
    except SQLAlchemyError as exc:
        log.warning("audit entry %r not written: %s", action, type(exc).__name__)
        return False
    return True
