"""Survey tokens: a signed, time-limited ticket bound to one site and one questionnaire.

A QR scan (the web flow's "I agree") or ``GET /api/v1/survey-token`` issues one; a response
is stored only with a token that is well-formed, signed with the app's secret key (salt
:data:`SALT`), unexpired, for the response's site and questionnaire, and not yet used (the
token's random id is stored in ``Response.survey_token``, a unique index: one response per
token). The token carries no personal data: ``{"i": random id, "s": site code,
"q": questionnaire id}`` and the signing time (itsdangerous ``URLSafeTimedSerializer``).

A refusal is a :class:`TokenRefused` whose ``reason`` is one of :data:`REASONS`.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadPayload, BadSignature, URLSafeTimedSerializer

SALT = "manyi.survey-token.v1"
MAX_LENGTH = 512
_SHAPE = re.compile(r"^\.?[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")

MISSING = "missing"
MALFORMED = "malformed"
BAD_SIGNATURE = "bad signature"
EXPIRED = "expired"
OTHER_SITE = "other site"
OTHER_QUESTIONNAIRE = "other questionnaire"
ALREADY_USED = "already used"
PREDATES = "predates token"
REASONS = (MISSING, MALFORMED, BAD_SIGNATURE, EXPIRED, OTHER_SITE, OTHER_QUESTIONNAIRE,
           ALREADY_USED, PREDATES)


class TokenRefused(ValueError):
    """The submission's survey token is not acceptable; ``reason`` is one of
    :data:`REASONS`, ``message`` says what to do."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        self.message = message
        super().__init__(f"survey token {reason}: {message}")


@dataclass(frozen=True)
class SurveyToken:
    """A token whose signature has been checked (not yet its lifetime or binding)."""

    id: str
    site: str
    questionnaire: str
    issued_at: datetime

    def expires_at(self, lifetime: timedelta) -> datetime:
        return self.issued_at + lifetime


def current_time() -> datetime:
    """Now, in UTC (one function, so a test can move the clock)."""
    return datetime.now(UTC)


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def issue(secret: str, site_code: str, questionnaire: str) -> tuple[str, SurveyToken]:
    """A new signed token for ``site_code`` and ``questionnaire`` and what it holds."""
    token_id = secrets.token_urlsafe(16)
    text = _serializer(secret).dumps({"i": token_id, "s": site_code, "q": questionnaire})
    return text, read(secret, text)


def read(secret: str, text: object) -> SurveyToken:
    """Check the shape and signature of ``text``; :class:`TokenRefused` (missing, malformed,
    bad signature) otherwise. Lifetime and binding are :func:`check`'s."""
    if text is None or text == "":
        raise TokenRefused(MISSING, "send the survey_token issued for this site and "
                                    "questionnaire (GET /api/v1/survey-token)")
    if not isinstance(text, str) or len(text) > MAX_LENGTH or not _SHAPE.match(text):
        raise TokenRefused(MALFORMED, "not a survey token (send it exactly as issued)")
    try:
        payload, signed_at = _serializer(secret).loads(text, return_timestamp=True)
    except BadPayload:
        raise TokenRefused(MALFORMED, "the token's content cannot be read") from None
    except BadSignature:
        raise TokenRefused(BAD_SIGNATURE, "the token was not issued by this server or was "
                                          "altered") from None
    fields: Any = payload
    if (not isinstance(fields, dict)
            or not all(isinstance(fields.get(k), str) and fields.get(k) for k in "isq")):
        raise TokenRefused(MALFORMED, "the token's content is incomplete")
    return SurveyToken(fields["i"], fields["s"], fields["q"], signed_at.astimezone(UTC))


def check(token: SurveyToken, *, site: str, questionnaire: str, lifetime: timedelta,
          now: datetime | None = None) -> None:
    """:class:`TokenRefused` when ``token`` has expired or is for another site or
    questionnaire."""
    now = now or current_time()
    expires = token.expires_at(lifetime)
    if now > expires:
        raise TokenRefused(EXPIRED, f"the token expired at {expires.isoformat()}; "
                                    "get a new one (scan the QR code again)")
    if token.site != site:
        raise TokenRefused(OTHER_SITE, f"the token was issued for site {token.site}, "
                                       f"not {site}")
    if token.questionnaire != questionnaire:
        raise TokenRefused(OTHER_QUESTIONNAIRE,
                           f"the token was issued for questionnaire {token.questionnaire}, "
                           f"not {questionnaire}")


def usable(secret: str, text: object, *, lifetime: timedelta,
           now: datetime | None = None) -> bool:
    """Whether ``text`` is a token that has not expired yet (binding not checked)."""
    try:
        token = read(secret, text)
    except TokenRefused:
        return False
    return (now or current_time()) <= token.expires_at(lifetime)
