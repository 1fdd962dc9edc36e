"""API tokens of measurement agencies (``Authorization: Bearer manyi_…``).

A token is 32 random bytes, shown once when it is created; the database keeps its sha256
(a token is high-entropy, so a fast hash is enough and a wrong guess costs no argon2
time) and its first characters, to tell tokens apart in lists. Tokens may expire and are
revoked by an admin (``manyi agency token revoke``, the agency's admin page). Human
passwords are accepted by no API.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.core import audit
from survey.core.models import Agency, AgencyToken, as_utc
from survey.core.security import token_digest

PREFIX = "manyi_"
SHOWN = 12
"""Characters of a token kept in clear, e.g. ``manyi_Ab3dE6`` (to tell tokens apart)."""
TOUCH_EVERY = timedelta(minutes=1)


class TokenError(ValueError):
    """A token request that cannot be done (the message says why)."""



def create(session: Session, agency: Agency, *, actor: str, label: str = "",
           expires_days: int | None = None, now: datetime | None = None,
           ) -> tuple[AgencyToken, str]:
    """A new token for ``agency``; returns the row and the token itself (shown once).
    Audited; does not commit."""
    if expires_days is not None and expires_days < 1:
        raise TokenError(f"expires: must be at least 1 day, got {expires_days}")
    now = now or datetime.now(UTC)
    raw = PREFIX + secrets.token_urlsafe(32)
    row = AgencyToken(agency_id=agency.id, token_hash=token_digest(raw), prefix=raw[:SHOWN],
                      label=label[:100], created_by=actor[:254], created_at=now,
                      expires_at=now + timedelta(days=expires_days) if expires_days else None)
    session.add(row)
    session.flush()
    audit.record(session, "agency_token_created", actor=actor, agency=agency.code,
                 token=row.id, prefix=row.prefix, expires_at=row.expires_at.isoformat()
                 if row.expires_at else None)
    return row, raw


def authenticate(session: Session, raw: str, *, now: datetime | None = None,
                 ) -> AgencyToken | None:
    """The live token ``raw`` is, or ``None`` (unknown, revoked or expired). Records its
    use at most once a minute (commits then)."""
    if not raw.startswith(PREFIX) or len(raw) > 200:
        return None
    now = now or datetime.now(UTC)
    row = session.scalar(select(AgencyToken).where(AgencyToken.token_hash == token_digest(raw)))
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and as_utc(row.expires_at) <= now:
        return None
    if row.last_used_at is None or now - as_utc(row.last_used_at) >= TOUCH_EVERY:
        row.last_used_at = now
        session.commit()
    return row


def revoke(session: Session, token_id: int, *, actor: str,
           agency_id: int | None = None) -> AgencyToken:
    """Revoke a token (of ``agency_id`` when given). Audited; does not commit."""
    row = session.get(AgencyToken, token_id)
    if row is None or (agency_id is not None and row.agency_id != agency_id):
        raise TokenError(f"token: no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        audit.record(session, "agency_token_revoked", actor=actor, token=row.id,
                     prefix=row.prefix)
    return row


def of_agency(session: Session, agency_id: int) -> list[AgencyToken]:
    return list(session.scalars(select(AgencyToken).where(AgencyToken.agency_id == agency_id)
                                .order_by(AgencyToken.id)))


def state(row: AgencyToken, now: datetime | None = None) -> str:
    """``active``, ``expired`` or ``revoked``."""
    now = now or datetime.now(UTC)
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and as_utc(row.expires_at) <= now:
        return "expired"
    return "active"
