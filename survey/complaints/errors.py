"""The two failures of the complaints package: bad input or an impossible step
(:class:`ComplaintError`, names the field), and a missing or unusable encryption key
(:class:`ComplaintKeyError`, a configuration error naming ``MANYI_COMPLAINT_KEY``)."""

from __future__ import annotations

from survey.core.i18n import translate


class ComplaintError(ValueError):
    """Bad input or an impossible step: ``field`` names what was wrong, ``message`` is an
    English msgid (marked with ``N_``, translated by :meth:`text`) with ``%(name)s``
    placeholders filled from ``params``. ``str(exc)`` is ``"<field>: <English message>"``."""

    def __init__(self, field: str, message: str, **params: object) -> None:
        self.field = field
        self.msgid = message
        self.params = params
        self.message = message % params if params else message
        super().__init__(f"{field}: {self.message}")

    def text(self, lang: str) -> str:
        """The message in ``lang`` (``"zh-Hans"`` or ``"en"``), placeholders filled."""
        return translate(self.msgid, lang, **self.params)


class ComplaintKeyError(RuntimeError):
    """``MANYI_COMPLAINT_KEY`` is missing, malformed or not the key the data was written
    with: phone numbers can be neither stored nor read (never stored unencrypted)."""
