"""Request hygiene every route shares: NUL characters refused before any view or query
sees them, and HTTP errors under ``/api/`` answered as JSON (registered by
:func:`survey.core.web.init_app`).

PostgreSQL text cannot hold a NUL character: a ``\\x00`` that reached a query (a path
segment such as ``/sites/x%00y/qr``, a query-string or form value) used to fail the
statement and the request with a 500. :func:`reject_nul` answers 400 instead — JSON
under ``/api/``, the HTML error page elsewhere — naming where the character is. JSON
bodies are checked by :mod:`survey.core.jsonbody`, agency batch cells by
:mod:`survey.agency.batches` (a row error).
"""

from __future__ import annotations

from flask import current_app, jsonify, render_template, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.wrappers import Response

from survey.core.jsonbody import too_large_message

NUL = "\x00"
NUL_REASON = "contains a NUL character (\\u0000)"
API_PREFIX = "/api/"
API_MESSAGES = {400: "bad request", 401: "authentication required", 403: "forbidden",
                404: "not found", 405: "method not allowed", 415: "unsupported media type",
                429: "too many requests", 500: "internal server error"}
"""The ``error`` of an HTTP error under ``/api/`` (413 names the limit)."""
FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIX)


def _first_nul(prefix: str, values: MultiDict[str, str]) -> str | None:
    for key, value in values.items(multi=True):
        if key is None:  # a multipart part whose name werkzeug could not parse: unreadable
            continue     # by name, so no view sees it
        if NUL in key:
            return f"{prefix} parameter name"
        if NUL in value:
            return f"{prefix}.{key}"
    return None


def nul_location() -> str | None:
    """Where the request carries a NUL character (``path``, ``query.<name>``,
    ``form.<name>``, ``file.<field>``), or ``None``. The form is read only when the body
    is a form whose size Flask accepts (a larger one is refused with 413 where it is read)."""
    if NUL in request.path:
        return "path"
    where = _first_nul("query", request.args)
    if where is not None:
        return where
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    length = request.content_length
    if request.mimetype not in FORM_MIMETYPES or (
            limit is not None and length is not None and length > limit):
        return None
    where = _first_nul("form", request.form)
    if where is not None:
        return where
    for field, upload in request.files.items(multi=True):
        if NUL in (field or "") or NUL in (upload.filename or ""):
            return f"file.{field}"
    return None


def reject_nul() -> Response | None:
    """``before_request``: 400 for a NUL character anywhere in the path, the query string
    or a form (values, names, file names)."""
    where = nul_location()
    if where is None:
        return None
    current_app.logger.info("request refused: NUL character in %s", where.split(".")[0])
    if is_api_request():
        response = jsonify({"error": "bad request", "errors": {where: NUL_REASON}})
        response.status_code = 400
        return response
    return Response(render_template("error.html", code=400), 400, mimetype="text/html")


def api_error(exc: Exception, code: int) -> Response | None:
    """The JSON answer ``{"error": …}`` for an HTTP error under ``/api/`` (with werkzeug's
    headers: ``Allow`` on 405), or ``None`` elsewhere."""
    if not is_api_request():
        return None
    if code == 413:
        message = too_large_message(current_app.config["MAX_CONTENT_LENGTH"])
    elif isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        message = f"method not allowed; allowed: {', '.join(exc.valid_methods or ())}"
    else:
        message = API_MESSAGES.get(code, "error")
    response = jsonify({"error": message})
    response.status_code = code
    for name, value in http_headers(exc).items():
        response.headers[name] = value
    return response


def http_headers(exc: Exception) -> dict[str, str]:
    """The headers werkzeug sends with ``exc`` besides its body's (``Allow`` on 405,
    ``WWW-Authenticate`` on 401, ``Retry-After``…)."""
    if not isinstance(exc, HTTPException):
        return {}
    return {name: value for name, value in exc.get_response().headers.items()
            if name.lower() not in ("content-type", "content-length")}
