"""Passwords (argon2id hashes, a strength rule), client hashes, and the per-city
authorization rule."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort, current_app, request
from flask_login import current_user

from survey.core.models import City, Role, User

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile defaults

MIN_PASSWORD_LENGTH = 12
MIN_PASSWORD_SCORE = 3
"""zxcvbn's score (0–4): 3 = "safely unguessable: moderate protection from offline
slow-hash scenario" (≈ 10^8 guesses or more)."""


def password_problem(password: str, user_inputs: Sequence[str] = ()) -> str | None:
    """Why ``password`` is not acceptable, or ``None``: at least 12 characters and not
    guessable by zxcvbn's model of common, repeated, sequential, keyboard and date
    patterns (``user_inputs``, e.g. the e-mail address and its local part, count as known
    words)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    from zxcvbn import zxcvbn  # ~14 MB of word lists: loaded when a password is set, not per worker

    words = [w for x in user_inputs for w in (x, *x.split("@")[:1]) if w]
    result = zxcvbn(password[:100], user_inputs=words)
    if result["score"] < MIN_PASSWORD_SCORE:
        warning = result["feedback"].get("warning") or "it is easy to guess"
        return f"too easy to guess ({warning.rstrip('.')}); use a longer, less common phrase"
    return None


def hash_password(password: str, user_inputs: Sequence[str] = ()) -> str:
    """The argon2id hash of an acceptable password; ``ValueError`` naming the problem."""
    problem = password_problem(password, user_inputs)
    if problem:
        raise ValueError(f"password: {problem}")
    return _hasher.hash(password)


@cache
def _dummy_hash() -> str:
    return _hasher.hash("no account has this password: dummy")


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check ``password``; with no hash (unknown account) a dummy hash is verified instead,
    so an unknown account costs the same argon2 time as a known one."""
    try:
        ok = _hasher.verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and password_hash is not None


def token_digest(token: str) -> str:
    """What is stored of a high-entropy bearer secret (a session or API token): its sha256.
    A fast hash is right here — the token has 256 random bits — and keeps checking cheap."""
    return hashlib.sha256(token.encode()).hexdigest()


def client_hash(address: str | None = None) -> str:
    """A salted, truncated hash of the client's address (16 hex digits): enough to count
    one client's attempts, not enough to recover the address. The salt is derived from the
    app's secret key. The address is the direct peer (``request.remote_addr``)."""
    address = address if address is not None else (request.remote_addr or "")
    secret = str(current_app.config["SECRET_KEY"]).encode()
    key = hashlib.sha256(b"manyi client hash\0" + secret).digest()
    return hmac.new(key, address.encode(), hashlib.sha256).hexdigest()[:16]


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
