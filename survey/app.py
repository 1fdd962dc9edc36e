"""The application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, render_template

from survey import db, i18n
from survey.config import Config
from survey.extensions import babel, csrf, limiter, login_manager

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
    "form-action 'self'"
)


def create_app(config: Config | Mapping[str, Any] | None = None) -> Flask:
    """Build a manyi app.

    ``config`` is a :class:`Config`, a mapping of overrides applied on top of the
    environment (``MANYI_*``), or ``None`` for the environment alone.
    """
    if config is None:
        config = Config.from_env()
    elif not isinstance(config, Config):
        config = Config.from_env(**dict(config))
    app = Flask(__name__, static_folder="../static", static_url_path="/static",
                instance_path=config.INSTANCE_DIR)
    app.config.from_mapping(config.flask_mapping())
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(i18n.TRANSLATIONS_DIR)

    db.init_app(app)
    i18n.compile_catalogues()
    babel.init_app(app, locale_selector=i18n.select_locale)
    csrf.init_app(app)
    login_manager.init_app(app)
    app.config["RATELIMIT_ENABLED"] = config.RATELIMIT_ENABLED
    limiter.init_app(app)

    from survey.questionnaires import load_questionnaires

    app.extensions["manyi.questionnaires"] = load_questionnaires(config.QUESTIONNAIRE_DIR)

    from survey import (
        admin,
        agency,
        agency_api,
        api,
        auth,
        dashboard,
        export,
        respond,
        static_assets,
    )

    for module in (respond, auth, dashboard, export, api, admin, static_assets, agency,
                   agency_api):
        app.register_blueprint(module.bp)
    auth.init_login(app)

    app.add_template_filter(i18n.localized, "tr")

    @app.context_processor
    def _inject() -> dict[str, Any]:
        return {"current_lang": i18n.current_lang(), "LOCALES": i18n.LOCALES,
                "lang_url": i18n.lang_url,
                "config_questionnaires": list(app.extensions["manyi.questionnaires"].values())}

    @app.after_request
    def _security_headers(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    for code in (400, 403, 404, 405, 429, 500):
        app.register_error_handler(code, _error_page(code))
    return app


def _error_page(code: int):  # type: ignore[no-untyped-def]
    def handler(_exc: Exception):  # type: ignore[no-untyped-def]
        return render_template("error.html", code=code), code

    return handler
