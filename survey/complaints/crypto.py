"""The complainant's phone number: validated, normalised, encrypted with Fernet under
``current_app.config["COMPLAINT_KEY"]`` (``MANYI_COMPLAINT_KEY``), shown masked.

Without a usable key nothing is stored: :class:`ComplaintKeyError` names the variable. A
phone number is never stored, logged or audited in clear.
"""

from __future__ import annotations

import re

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app

from survey.complaints.errors import ComplaintError, ComplaintKeyError
from survey.core.i18n import N_

MOBILE_RE = re.compile(r"1[3-9]\d{9}")
# Area codes: 010 and 020–029 have three digits, every other (03xx–09xx) four.
LANDLINE_RE = re.compile(r"(?:(0(?:10|2\d|[3-9]\d{2}))-?)?([2-9]\d{6,7})")
_SPACES = re.compile(r"[\s\u3000]+")
KEY_HINT = ("generate one with: python -c \"from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())\"")


def normalise_phone(raw: str) -> str:
    """A Chinese mobile number (``1[3-9]`` + 9 digits; spaces, ``-`` and a ``+86`` prefix
    dropped) → 11 digits; a landline (7–8 digits, optional area code ``010``/``02x``/``0xxx``
    with or without ``-``) → ``0571-87654321`` or ``87654321``. Anything else:
    :class:`ComplaintError` on ``phone``.

    >>> normalise_phone("+86 138-1234-5678"), normalise_phone("0571 8765 4321")
    ('13812345678', '0571-87654321')
    """
    text = _SPACES.sub("", raw or "")
    for prefix in ("+86", "0086"):
        if text.startswith(prefix):
            text = text[len(prefix):].lstrip("-")
    if MOBILE_RE.fullmatch(text.replace("-", "")):
        return text.replace("-", "")
    m = LANDLINE_RE.fullmatch(text)
    if m:
        area, number = m.groups()
        return f"{area}-{number}" if area else number
    raise ComplaintError("phone", N_("Not a Chinese mobile or landline number."))


def mask(number: str) -> str:
    """``13812345678`` → ``138****5678``; a landline keeps its area code and last 4 digits
    (``0571-****4321``)."""
    if "-" in number:
        area, local = number.split("-", 1)
        return f"{area}-{'*' * (len(local) - 4)}{local[-4:]}"
    if len(number) == 11:
        return f"{number[:3]}****{number[-4:]}"
    return "*" * (len(number) - 4) + number[-4:]


def _fernet() -> Fernet:
    key = current_app.config.get("COMPLAINT_KEY") or ""
    if not key:
        raise ComplaintKeyError("MANYI_COMPLAINT_KEY is not set: complainants' phone numbers "
                                "are never stored unencrypted; " + KEY_HINT)
    try:
        return Fernet(key)
    except (ValueError, TypeError) as exc:
        raise ComplaintKeyError("MANYI_COMPLAINT_KEY is not a Fernet key (32 bytes, "
                                f"url-safe base64): {exc}; {KEY_HINT}") from None


def check_key() -> None:
    """Raise :class:`ComplaintKeyError` unless the configured key is usable."""
    _fernet()


def encrypt(number: str) -> bytes:
    """The Fernet token of a normalised number."""
    return _fernet().encrypt(number.encode("utf-8"))


def decrypt(token: bytes) -> str:
    """The number from its token; :class:`ComplaintKeyError` when the key does not fit."""
    try:
        return _fernet().decrypt(bytes(token)).decode("utf-8")
    except InvalidToken:
        raise ComplaintKeyError("a phone number cannot be decrypted with MANYI_COMPLAINT_KEY "
                                "(not the key it was stored with)") from None
