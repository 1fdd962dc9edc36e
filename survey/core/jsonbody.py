"""Reading a JSON request body safely: bounded size, bounded nesting, text PostgreSQL and
UTF-8 can store.

:func:`read_json_object` is what every JSON API endpoint that takes a body calls. It refuses,
with a :class:`BodyRefused` carrying the HTTP status and the JSON answer:

* a ``Content-Type`` that is not JSON (``application/json`` or ``*/*+json``) → 415;
* a body over ``MAX_JSON_BYTES`` (``Content-Length`` checked first, then at most limit + 1
  bytes read, so a chunked body is bounded too) → 413 naming the limit;
* bytes that are not UTF-8, text that is not JSON, nesting deeper than :data:`MAX_DEPTH`
  (counted by an iterative scan before :func:`json.loads`, which would recurse), a top
  level that is not an object, and any string or key holding a NUL character or a lone
  surrogate (``"\\ud800"`` decodes in Python but cannot be encoded as UTF-8 nor stored
  by PostgreSQL) → 422 ``{"error": "invalid", "errors": {<field path>: <reason>}}``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Request

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted (a submission needs 3)."""
MAX_REPORTED = 20
"""At most this many bad strings are listed in one answer."""

# A string (its closing quote optional: an unterminated one runs to the end, so the scan
# stays linear) or a bracket.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")


class BodyRefused(Exception):
    """The body cannot be used: ``status`` and ``payload`` are the answer to send."""

    def __init__(self, status: int, payload: dict[str, Any]) -> None:
        super().__init__(status, payload)
        self.status = status
        self.payload = payload


def _invalid(path: str, reason: str) -> BodyRefused:
    return BodyRefused(422, {"error": "invalid", "errors": {path: reason}})


def is_json_mimetype(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json"))


def too_large_message(limit: int) -> str:
    return f"request body too large: the limit is {limit} bytes"


def read_body(request: Request, limit: int) -> bytes:
    """At most ``limit`` bytes of the body; :class:`BodyRefused` (413) beyond."""
    length = request.content_length
    if length is not None and length > limit:
        raise BodyRefused(413, {"error": too_large_message(limit)})
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise BodyRefused(413, {"error": too_large_message(limit)})
    return data


def nesting_depth(text: str, limit: int = MAX_DEPTH) -> int:
    """The deepest nesting of ``[`` / ``{`` in JSON ``text`` (brackets inside strings
    skipped), counted without recursion; stops counting once past ``limit``."""
    depth = deepest = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif token in "]}":
            depth -= 1
    return deepest


def _describe(text: str) -> str | None:
    found = _BAD_CHAR.search(text)
    if found is None:
        return None
    char = found.group()
    if char == "\x00":
        return "contains a NUL character (\\u0000)"
    return f"contains a lone surrogate (\\u{ord(char):04x}); send valid Unicode text"


def _safe_key(key: str) -> str:
    """``key`` as it can appear in an answer (bad characters escaped)."""
    return _BAD_CHAR.sub(lambda m: f"\\u{ord(m.group()):04x}", key)


def text_problems(value: object, root: str = "") -> dict[str, str]:
    """Every string and key in ``value`` (walked iteratively) that holds a NUL character or
    a lone surrogate, by field path (``answers.comment``, ``answers.reasons[2]``; a bad
    key is named by its path with the character escaped), at most :data:`MAX_REPORTED`."""
    problems: dict[str, str] = {}
    stack: list[tuple[str, object]] = [(root, value)]
    while stack and len(problems) < MAX_REPORTED:
        path, node = stack.pop()
        if isinstance(node, str):
            reason = _describe(node)
            if reason is not None:
                problems[path or "body"] = reason
        elif isinstance(node, dict):
            for key, child in node.items():
                child_path = f"{path}.{_safe_key(key)}" if path else _safe_key(key)
                reason = _describe(key)
                if reason is not None:
                    problems[child_path] = f"the key {reason}"
                    continue
                stack.append((child_path, child))
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(node))
    return dict(sorted(problems.items()))


def parse_json_object(data: bytes, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """``data`` as a JSON object; :class:`BodyRefused` (422) naming the problem."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid("body", f"not UTF-8 text (byte {exc.start})") from None
    if nesting_depth(text, max_depth) > max_depth:
        raise _invalid("body", f"nested deeper than {max_depth} levels")
    try:
        value = json.loads(text)
    except RecursionError:  # not reached after the scan; kept as the last guard
        raise _invalid("body", f"nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        where = (f" at line {exc.lineno} column {exc.colno}"
                 if isinstance(exc, json.JSONDecodeError) else "")
        raise _invalid("body", f"not valid JSON: {message}{where}") from None
    if not isinstance(value, dict):
        raise _invalid("body", "must be a JSON object (Content-Type: application/json)")
    problems = text_problems(value)
    if problems:
        raise BodyRefused(422, {"error": "invalid", "errors": problems})
    return value


def read_json_object(request: Request, limit: int,
                     max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """The request's body as a JSON object, checked as the module describes."""
    if not is_json_mimetype(request.mimetype):
        raise BodyRefused(415, {"error": "unsupported media type: send the body as JSON "
                                         "with Content-Type: application/json"})
    return parse_json_object(read_body(request, limit), max_depth)
