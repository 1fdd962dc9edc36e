"""Password hashing (argon2id) and the per-city authorization rule."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort
from flask_login import current_user

from survey.core.models import City, Role, User

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile defaults

MIN_PASSWORD_LENGTH = 12


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password: must be at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def can_see_city(user: User, city: City) -> bool:
    """Admins and researchers see every city; officials and agencies only their own."""
    if user.role in (Role.admin, Role.researcher):
        return True
    return user.city_id == city.id


def require_city(city: City | None) -> City:
    """Return ``city`` if the logged-in user may see it, else 404 (never 403: a city the
    user may not see does not exist for them)."""
    if city is None or not current_user.is_authenticated or not can_see_city(current_user, city):
        abort(404)
    return city


def require_role(*roles: str) -> None:
    if not current_user.is_authenticated:
        abort(401)
    if current_user.role not in roles:
        abort(404)
