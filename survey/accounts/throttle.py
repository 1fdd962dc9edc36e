"""Throttling failed logins, per account and per client, in the rate limiter's store.

The store is Flask-Limiter's (``RATELIMIT_STORAGE_URI``): Redis when configured, so every
worker counts the same failures; the in-process memory store otherwise, which is why
``make run`` serves from one process unless Redis is configured (docs/decisions.md).
Only failures are counted. Once an account has ``LOGIN_FAILURES_PER_ACCOUNT`` failures in
the window it is refused from every client — without checking the password, so refused
guesses cost no argon2 time — until the window has passed (``Retry-After``).
"""

from __future__ import annotations

import math
import time

from flask import current_app
from limits import RateLimitItem, parse

from survey.extensions import limiter

ACCOUNT = "login-failures-account"
CLIENT = "login-failures-client"


def _limits(account: str, client: str) -> list[tuple[RateLimitItem, str, str]]:
    """(limit, namespace, key); the namespace carries ``RATELIMIT_KEY_PREFIX`` so that
    instances sharing one Redis keep apart."""
    prefix = current_app.config["RATELIMIT_KEY_PREFIX"]
    return [(parse(current_app.config["LOGIN_FAILURES_PER_ACCOUNT"]), f"{prefix}/{ACCOUNT}",
             account),
            (parse(current_app.config["LOGIN_FAILURES_PER_CLIENT"]), f"{prefix}/{CLIENT}",
             client)]


def _wait(item: RateLimitItem, namespace: str, key: str) -> int:
    reset, _remaining = limiter.limiter.get_window_stats(item, namespace, key)
    return max(1, math.ceil(reset - time.time()))


def retry_after(account: str, client: str) -> int | None:
    """Seconds until ``account`` from ``client`` may try again, or ``None`` if it may now."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return None
    for item, namespace, key in _limits(account, client):
        if not limiter.limiter.test(item, namespace, key):
            return _wait(item, namespace, key)
    return None


def record_failure(account: str, client: str) -> int | None:
    """Count one failure; returns the wait in seconds if this failure used up a limit."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return None
    for item, namespace, key in _limits(account, client):
        limiter.limiter.hit(item, namespace, key)
    return retry_after(account, client)
