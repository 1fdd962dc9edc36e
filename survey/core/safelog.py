"""Log lines without the values of a failed SQL statement.

The engine hides bound parameters (``hide_parameters=True``, :func:`survey.core.db.make_engine`),
but the database's own message can still quote the data: PostgreSQL's ``DETAIL: Failing
row contains (…)`` or ``invalid input syntax for type integer: "…"``. When an error
reaches the application's log (Flask's "Exception on …" with its traceback),
:class:`RedactDatabaseErrors` replaces the traceback by one whose database exceptions show
their class, SQLSTATE and SQL statement (parameters are placeholders), never their
message. Other exceptions are logged unchanged.
"""

from __future__ import annotations

import logging
import traceback
from types import TracebackType

from sqlalchemy.exc import DBAPIError

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or during, innermost first."""
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not e for e in out):
        out.append(current)
        current = current.__cause__ or (None if current.__suppress_context__
                                        else current.__context__)
    return out[::-1]


def _name(exc: BaseException) -> str:
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else (
        f"{kind.__module__}.{kind.__qualname__}")


def _driver_errors(chain: list[BaseException]) -> set[int]:
    return {id(e.orig) for e in chain if isinstance(e, DBAPIError) and e.orig is not None}


def _describe(exc: BaseException, drivers: set[int]) -> str:
    if isinstance(exc, DBAPIError):
        orig = exc.orig
        code = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
        return (f"{_name(exc)}: {type(orig).__name__}{f' ({code})' if code else ''} "
                f"[SQL: {exc.statement}] (database message withheld: it can quote values)\n")
    if id(exc) in drivers:
        return f"{_name(exc)} (database message withheld: it can quote values)\n"
    return "".join(traceback.format_exception_only(type(exc), exc))


def redacted_traceback(exc_info: _ExcInfo) -> str | None:
    """The traceback of ``exc_info`` with every database message withheld, or ``None``
    when no database error is in its chain."""
    chain = _chain(exc_info[1])
    if not any(isinstance(e, DBAPIError) for e in chain):
        return None
    drivers = _driver_errors(chain)
    parts: list[str] = []
    for i, exc in enumerate(chain):
        if i:
            parts.append("\nThe above exception was the direct cause of the following "
                         "exception:\n\n" if exc.__cause__ is chain[i - 1] else
                         "\nDuring handling of the above exception, another exception "
                         "occurred:\n\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(exc.__traceback__))
        parts.append(_describe(exc, drivers))
    return "".join(parts).rstrip("\n")


class RedactDatabaseErrors(logging.Filter):
    """A filter for a logger that logs exceptions (``app.logger``): a record carrying a
    database error gets the redacted traceback as its text and no exception object."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = record.exc_info
        if info and info[1] is not None:
            text = redacted_traceback((info[0] or type(info[1]), info[1], info[2]))
            if text is not None:
                record.exc_info = None
                record.exc_text = text
        return True
