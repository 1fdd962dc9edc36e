"""Web helpers every feature shares: security headers (CSP), HTML error pages and JSON
errors for API blueprints. No views of its own."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask, jsonify, render_template
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
    "form-action 'self'"
)
ERROR_PAGES = (400, 403, 404, 405, 429, 500)
JSON_ERRORS = {404: "not found", 405: "method not allowed", 429: "too many requests"}


def security_headers(response: Response) -> Response:
    """CSP (``script-src 'self'``, no inline script) and the usual hardening headers."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def _error_page(code: int) -> Callable[[Exception], ResponseReturnValue]:
    def handler(_exc: Exception) -> ResponseReturnValue:
        return render_template("error.html", code=code), code

    return handler


def init_app(app: Flask) -> None:
    """Security headers on every response and the HTML error page for every error code."""
    app.after_request(security_headers)
    for code in ERROR_PAGES:
        app.register_error_handler(code, _error_page(code))


def json_errors(blueprint: Blueprint, messages: dict[int, str] | None = None) -> None:
    """Answer HTTP errors on ``blueprint`` with ``{"error": message}`` JSON instead of the
    HTML error page (API clients parse the body)."""
    for code, message in {**JSON_ERRORS, **(messages or {})}.items():
        def handler(_exc: Exception, code: int = code,
                    message: str = message) -> ResponseReturnValue:
            return jsonify({"error": message}), code

        blueprint.register_error_handler(code, handler)
