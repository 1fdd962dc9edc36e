"""The application factory: extensions, the shared core, then every feature package."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from survey import (
    accounts,
    agency,
    api,
    complaints,
    dashboard,
    demo,
    evaluation,
    export,
    integrity,
    public,
    respond,
    weights,
)
from survey.config import Config
from survey.core import db, i18n, origin, web
from survey.core.questionnaires import load_questionnaires
from survey.extensions import babel, compress, csrf, limiter, login_manager

# Each feature registers its blueprints and `manyi` sub-commands in ``init_app``;
# removing a feature is deleting its folder and its name here.
FEATURES = (respond, accounts, dashboard, export, api, agency, weights, demo, integrity,
            complaints, public, evaluation)

COMPRESSION = {
    "COMPRESS_MIMETYPES": ["text/html", "text/css", "text/javascript",
                           "application/javascript", "application/json"],
    "COMPRESS_MIN_SIZE": 500,
    "COMPRESS_ALGORITHM": ["br", "gzip"],
    # Files (/static/, Plotly's JavaScript) are streamed: compressed chunk by chunk, with
    # conditional requests still answered 304. Downloads (zip, CSV, XLSX) have other
    # mimetypes and pass through untouched.
    "COMPRESS_STREAMS": True,
    "COMPRESS_ALGORITHM_STREAMING": ["br", "gzip"],
    "COMPRESS_STREAMING_ENDPOINT_CONDITIONAL": ["static", "assets.asset"],
}
"""Flask-Compress settings: HTML, CSS, JavaScript and JSON over 500 bytes, brotli or gzip."""


def create_app(config: Config | Mapping[str, Any] | None = None) -> Flask:
    """Build a manyi app.

    ``config`` is a :class:`Config`, a mapping of overrides applied on top of the
    environment (``MANYI_*``), or ``None`` for the environment alone.
    """
    if config is None:
        config = Config.from_env()
    elif not isinstance(config, Config):
        config = Config.from_env(**dict(config))
    app = Flask(__name__, static_folder=config.STATIC_DIR, static_url_path="/static",
                instance_path=config.INSTANCE_DIR)
    app.config.from_mapping(config.flask_mapping())
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(i18n.TRANSLATIONS_DIR)
    app.config.from_mapping(COMPRESSION)
    # First after_request hook registered = the last to run: compresses the final body.
    compress.init_app(app)
    origin.init_app(app, config)

    db.init_app(app)
    i18n.compile_catalogues()
    babel.init_app(app, locale_selector=i18n.select_locale)
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    app.extensions["manyi.questionnaires"] = load_questionnaires(config.QUESTIONNAIRE_DIR)

    for feature in FEATURES:
        feature.init_app(app)

    app.add_template_filter(i18n.localized, "tr")
    app.add_template_filter(i18n.localized_name, "name")

    @app.context_processor
    def _inject() -> dict[str, Any]:
        return {"current_lang": i18n.current_lang(), "LOCALES": i18n.LOCALES,
                "lang_url": i18n.lang_url,
                "config_questionnaires": list(app.extensions["manyi.questionnaires"].values())}

    web.init_app(app)
    return app
