"""Writing the audit log. Details must never contain respondents' personal data."""

from __future__ import annotations

from typing import Any

from flask_login import current_user
from sqlalchemy.orm import Session

from survey.core.models import AuditLog


def record(session: Session, action: str, *, city_id: int | None = None,
           actor: str | None = None, user_id: int | None = None, **detail: Any) -> None:
    """Add an audit entry to ``session`` (the caller commits with its own work)."""
    if actor is None and user_id is None:
        try:
            if current_user.is_authenticated:
                actor, user_id = current_user.email, current_user.id
        except (AttributeError, RuntimeError):
            pass
    session.add(AuditLog(action=action, city_id=city_id, actor=actor or "", user_id=user_id,
                         detail=detail))
