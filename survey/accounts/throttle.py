"""Throttling failures, per account and per client, in the rate limiter's store.

The store is Flask-Limiter's (``RATELIMIT_STORAGE_URI``): Redis when configured, so every
worker counts the same failures; the in-process memory store otherwise, which is why
``make run`` serves from one process unless Redis is configured (docs/decisions.md).
Only failures are counted (logins, and rejected API tokens per client). Once an account
has ``LOGIN_FAILURES_PER_ACCOUNT`` failures in the window it is refused from every client
— without checking the password, so refused guesses cost no argon2 time — until the
window has passed (``Retry-After``).
"""

from __future__ import annotations

import math
import time

from flask import current_app
from limits import RateLimitItem, parse

from survey.extensions import limiter

ACCOUNT = "login-failures-account"
CLIENT = "login-failures-client"
API_CLIENT = "api-auth-failures-client"

Counter = tuple[str, str, str]
"""(setting holding the limit, namespace, key)."""


def _resolve(counters: list[Counter]) -> list[tuple[RateLimitItem, str, str]]:
    """The limits; namespaces carry ``RATELIMIT_KEY_PREFIX`` so that instances sharing one
    Redis keep apart."""
    prefix = current_app.config["RATELIMIT_KEY_PREFIX"]
    return [(parse(current_app.config[setting]), f"{prefix}/{namespace}", key)
            for setting, namespace, key in counters]


def _retry_after(counters: list[Counter]) -> int | None:
    if not current_app.config["RATELIMIT_ENABLED"]:
        return None
    for item, namespace, key in _resolve(counters):
        if not limiter.limiter.test(item, namespace, key):
            reset, _remaining = limiter.limiter.get_window_stats(item, namespace, key)
            return max(1, math.ceil(reset - time.time()))
    return None


def _record(counters: list[Counter]) -> int | None:
    if not current_app.config["RATELIMIT_ENABLED"]:
        return None
    for item, namespace, key in _resolve(counters):
        limiter.limiter.hit(item, namespace, key)
    return _retry_after(counters)


def _login(account: str, client: str) -> list[Counter]:
    return [("LOGIN_FAILURES_PER_ACCOUNT", ACCOUNT, account),
            ("LOGIN_FAILURES_PER_CLIENT", CLIENT, client)]


def retry_after(account: str, client: str) -> int | None:
    """Seconds until ``account`` from ``client`` may try again, or ``None`` if it may now."""
    return _retry_after(_login(account, client))


def record_failure(account: str, client: str) -> int | None:
    """Count one failed login; returns the wait in seconds if it used up a limit."""
    return _record(_login(account, client))


def api_retry_after(client: str) -> int | None:
    """Seconds until ``client`` may present API credentials again, or ``None``."""
    return _retry_after([("API_AUTH_FAILURES_PER_CLIENT", API_CLIENT, client)])


def api_record_failure(client: str) -> int | None:
    """Count one rejected API credential; returns the wait if it used up the limit."""
    return _record([("API_AUTH_FAILURES_PER_CLIENT", API_CLIENT, client)])
