"""Web helpers every feature shares: security headers (CSP), HTML error pages (JSON under
``/api/``, :mod:`survey.core.hygiene`) and the 503 answer when the database is
unavailable. No views of its own."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response

from survey.core import hygiene, safelog

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
    "form-action 'self'"
)
CSP_INLINE_STYLES = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
"""Only for the endpoints a feature lists in ``app.config["CSP_INLINE_STYLE_ENDPOINTS"]``
(the dashboard's chart pages: Plotly injects ``<style>`` elements, docs/decisions.md)."""
ERROR_PAGES = (400, 403, 404, 405, 429, 500)
OTHER_API_ERRORS = (401, 413, 415)
"""Codes with no HTML page of their own that are JSON under ``/api/`` too."""


# Not "nothing was stored": a connection can fail after a commit (the load benchmark saw
# it); a client that resends the same submission gets the stored one back (200).
UNAVAILABLE_MESSAGE = ("database unavailable; retry later (resending the same submission "
                       "is safe: a stored one answers 200)")

# The 503 and last-resort 500 pages are constants: rendering a template would run the
# context processors, and Flask-Login's loads the user from the database that just failed.
_STATIC_PAGE = """<!doctype html>
<html lang="zh-Hans">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{code} · 满意 manyi</title>
<link rel="stylesheet" href="/static/manyi.css"></head>
<body>
<main>
<h1>{code}</h1>
<p>{zh}</p>
<p lang="en">{en}</p>
<p><a href="/">首页</a> · <a href="/?lang=en" lang="en">Home</a></p>
</main>
</body>
</html>
"""
UNAVAILABLE_PAGE = _STATIC_PAGE.format(
    code=503,
    zh="数据库暂时不可用，请过几秒钟再试。重新提交同一份问卷不会重复计入。",
    en="The database is unavailable at the moment. Please try again in a few seconds; "
       "sending the same answers again never counts them twice.")
SERVER_ERROR_PAGE = _STATIC_PAGE.format(
    code=500,
    zh="服务器出错了。请稍后重试。",
    en="Something went wrong on our side. Please try again later.")


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached or a lock or statement timed
    out (SQLite ``database is locked``, a refused or lost PostgreSQL connection,
    ``lock_timeout`` / ``statement_timeout``, an exhausted pool) rather than a bug."""
    if isinstance(exc, (OperationalError, PoolTimeoutError)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _rollback_request_session() -> None:
    session = g.get("db_session")
    if session is None:
        return
    try:
        session.rollback()
    except Exception:  # the connection may be gone too; teardown closes the session
        current_app.logger.warning("rollback after a database error failed")


def _unavailable(exc: Exception) -> ResponseReturnValue:
    """503 with ``Retry-After``: JSON under ``/api/``, a static bilingual page elsewhere.
    Logs the error class and the route pattern only (no SQL, parameters or values)."""
    if not database_unavailable(exc):
        raise exc
    _rollback_request_session()
    rule = request.url_rule.rule if request.url_rule is not None else "?"
    current_app.logger.warning("database unavailable (%s) on %s %s",
                               type(getattr(exc, "orig", None) or exc).__name__,
                               request.method, rule)
    retry = str(current_app.config.get("RETRY_AFTER_SECONDS", 5))
    response: Response
    if request.path.startswith("/api/"):
        response = jsonify({"error": UNAVAILABLE_MESSAGE})
        response.status_code = 503
    else:
        response = Response(UNAVAILABLE_PAGE, 503, mimetype="text/html")
    response.headers["Retry-After"] = retry
    response.headers["Cache-Control"] = "no-store"
    return response


def _server_error(exc: Exception) -> ResponseReturnValue:
    """The 500 page; the static one when the page itself cannot be rendered (the database
    behind the logged-in user is gone) or the error came from the database."""
    original = exc.original_exception if isinstance(exc, InternalServerError) else None
    _rollback_request_session()
    api = hygiene.api_error(exc, 500)
    if api is not None:
        return api
    if isinstance(original, DBAPIError):
        return Response(SERVER_ERROR_PAGE, 500, mimetype="text/html")
    try:
        return render_template("error.html", code=500), 500
    except Exception:
        current_app.logger.exception("the 500 page could not be rendered")
        return Response(SERVER_ERROR_PAGE, 500, mimetype="text/html")


def security_headers(response: Response) -> Response:
    """CSP (``script-src 'self'``, no inline script; ``style-src 'self'`` except on the
    pages listed in ``CSP_INLINE_STYLE_ENDPOINTS``) and the usual hardening headers."""
    inline = request.endpoint in current_app.config.get("CSP_INLINE_STYLE_ENDPOINTS", ())
    response.headers.setdefault("Content-Security-Policy", CSP_INLINE_STYLES if inline else CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def _error_page(code: int) -> Callable[[Exception], ResponseReturnValue]:
    """The HTML error page (JSON under ``/api/``: :func:`hygiene.api_error`), with
    werkzeug's headers (``Allow`` on 405)."""
    def handler(exc: Exception) -> ResponseReturnValue:
        return hygiene.api_error(exc, code) or (render_template("error.html", code=code),
                                                code, hygiene.http_headers(exc))

    return handler


def _other_error(exc: HTTPException) -> ResponseReturnValue:
    """JSON under ``/api/`` for the codes without an HTML page (401, 413, 415), werkzeug's
    own answer elsewhere."""
    return hygiene.api_error(exc, exc.code or 500) or exc.get_response()


def init_app(app: Flask) -> None:
    """Security headers on every response, the HTML error page for every error code (JSON
    under ``/api/``), 503 + ``Retry-After`` when the database is unavailable, NUL characters
    refused first (:mod:`survey.core.hygiene`) and database messages kept out of the log
    (:mod:`survey.core.safelog`)."""
    app.after_request(security_headers)
    for code in ERROR_PAGES:
        app.register_error_handler(code, _server_error if code == 500 else _error_page(code))
    app.register_error_handler(DBAPIError, _unavailable)
    app.register_error_handler(PoolTimeoutError, _unavailable)
    for code in OTHER_API_ERRORS:
        app.register_error_handler(code, _other_error)
    # First of all request hooks: no NUL character reaches a view, a hook or a query.
    app.before_request_funcs.setdefault(None, []).insert(0, hygiene.reject_nul)
    app.logger.addFilter(safelog.RedactDatabaseErrors())  # no SQL values in the log
