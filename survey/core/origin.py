"""The instance's one public origin and the headers that depend on how it is served.

* ``BASE_URL`` (``MANYI_BASE_URL``) builds every absolute link and QR code
  (:func:`external_url`), never the request's ``Host``; requests for another host are
  answered 400 by Flask's ``TRUSTED_HOSTS`` (BASE_URL's host, ``MANYI_TRUSTED_HOSTS``, and
  localhost / 127.0.0.1 in development).
* ``HTTPS`` (``MANYI_HTTPS=true``): HSTS, Secure session and remember cookies, https as
  the preferred URL scheme.
* ``Cache-Control: no-store`` on every page for a signed-in user and on the respondent's
  pages that show answers or the receipt: shared caches and the browser's back/forward
  history must not keep them. Static files and Plotly's JavaScript keep their own caching.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, request, session, url_for
from werkzeug.exceptions import SecurityError
from werkzeug.wrappers import Response

from survey.config import Config

HSTS = "max-age=31536000; includeSubDomains"
DEVELOPMENT_HOSTS = ("localhost", "127.0.0.1")
PRIVATE_RESPONDENT_ENDPOINTS = frozenset(
    {"respond.page", "respond.review", "respond.submit", "respond.done"})
"""The questionnaire pages that show a respondent's answers or receipt (the consent page
and the site pages are public and stay cacheable)."""
OWN_CACHING_ENDPOINTS = frozenset({"static", "assets.asset"})
"""Endpoints whose responses carry their own, deliberate caching (ETag revalidation for
``/static/``, one year immutable for the versioned Plotly file)."""


def trusted_hosts(config: Config) -> list[str]:
    """The host names a request may name in ``Host`` (ports are not compared)."""
    hosts = [config.base_host, *config.TRUSTED_HOSTS]
    if config.ENV == "development":
        hosts.extend(DEVELOPMENT_HOSTS)
    return list(dict.fromkeys(h.strip().lower() for h in hosts if h.strip()))


def external_url(endpoint: str, **values: Any) -> str:
    """``url_for(endpoint, **values)`` as an absolute URL on ``BASE_URL`` (the request's
    Host never appears in it)."""
    # Any: url_for's values are route arguments and query parameters of any type.
    return current_app.config["BASE_URL"] + url_for(endpoint, **values)


def _signed_in() -> bool:
    """Whether the request comes with a signed-in user's session, read from the session
    cookie alone: no database query for anonymous requests (Flask-Login keeps the user's
    id under ``_user_id``)."""
    return "_user_id" in session


def origin_headers(response: Response) -> Response:
    """HSTS when served over HTTPS; ``no-store`` on private pages."""
    if current_app.config["HTTPS"]:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    endpoint = request.endpoint
    if endpoint in OWN_CACHING_ENDPOINTS:
        return response
    if endpoint in PRIVATE_RESPONDENT_ENDPOINTS or _signed_in():
        response.headers["Cache-Control"] = "no-store"
        response.headers.pop("Expires", None)
    return response


def _untrusted_host(_exc: SecurityError) -> Response:
    """400 for a ``Host`` not in TRUSTED_HOSTS: a plain page, since no URL can be built
    for a request whose host was refused (the HTML error page links to /static/)."""
    return Response("400 Bad Request: this server does not answer for that host name\n",
                    400, mimetype="text/plain")


def init_app(app: Flask, config: Config) -> None:
    """Trusted hosts, the HTTPS settings and the header hook."""
    app.config["TRUSTED_HOSTS"] = trusted_hosts(config)
    secure = config.HTTPS or config.SESSION_COOKIE_SECURE
    app.config["SESSION_COOKIE_SECURE"] = app.config["REMEMBER_COOKIE_SECURE"] = secure
    if config.HTTPS:
        app.config["PREFERRED_URL_SCHEME"] = "https"
    app.after_request(origin_headers)
    app.register_error_handler(SecurityError, _untrusted_host)
