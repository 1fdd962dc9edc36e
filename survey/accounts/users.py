"""Accounts: creating them (``manyi users create``, the demo), changing passwords, and
the record of failed logins."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from survey.core.models import Agency, City, LoginFailure, Role, User
from survey.core.security import hash_password

FAILED_LOGIN_RETENTION = timedelta(days=30)


class AccountError(ValueError):
    pass


def create_user(session: Session, *, email: str, password: str, role: str,
                city_code: str | None = None, agency_code: str | None = None) -> User:
    """Add a user; officials need a city, agency users an agency. Does not commit."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise AccountError(f"email: not an e-mail address: {email!r}")
    if role not in {r.value for r in Role}:
        raise AccountError(f"role: must be one of {', '.join(r.value for r in Role)}, not {role!r}")
    if session.scalar(select(User.id).where(func.lower(User.email) == email)) is not None:
        raise AccountError(f"email: {email} already has an account")
    city = None
    if city_code:
        city = session.scalar(select(City).where(City.code == city_code))
        if city is None:
            raise AccountError(f"city: no city with code {city_code!r}")
    agency = None
    if agency_code:
        agency = session.scalar(select(Agency).where(Agency.code == agency_code))
        if agency is None:
            raise AccountError(f"agency: no agency with code {agency_code!r}")
    if role == Role.official and city is None:
        raise AccountError("city: an official needs --city")
    if role == Role.agency and agency is None:
        raise AccountError("agency: an agency user needs --agency")
    try:
        password_hash = hash_password(password, user_inputs=[email])
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    user = User(email=email, password_hash=password_hash, role=role,
                city_id=city.id if city else None, agency_id=agency.id if agency else None)
    session.add(user)
    session.flush()
    return user


def change_password(session: Session, user: User, password: str) -> None:
    """Set a new password (the strength rule applies); ``AccountError`` says why not.
    The caller ends the user's sessions. Does not commit."""
    try:
        user.password_hash = hash_password(password, user_inputs=[user.email])
    except ValueError as exc:
        raise AccountError(str(exc)) from None


def record_failed_login(session: Session, account: str, client_hash: str,
                        now: datetime | None = None) -> None:
    """Keep the account tried and the client hash; drop records older than 30 days.
    Does not commit."""
    now = now or datetime.now(UTC)
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - FAILED_LOGIN_RETENTION))
    session.add(LoginFailure(at=now, account=account[:254], client_hash=client_hash))


def random_password() -> str:
    return secrets.token_urlsafe(15)
