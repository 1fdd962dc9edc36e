"""Writing the audit log. Details must never contain respondents' personal data.

Callers name the acting user (a web view passes the logged-in user, a command ``"cli"``):
services never read the request's user themselves.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from survey.core.models import AuditLog


def record(session: Session, action: str, *, actor: str, user_id: int | None = None,
           city_id: int | None = None, **detail: Any) -> None:
    """Add an audit entry to ``session`` (the caller commits with its own work)."""
    session.add(AuditLog(action=action, city_id=city_id, actor=actor, user_id=user_id,
                         detail=detail))
