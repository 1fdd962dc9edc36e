"""The application factory: extensions, the shared core, then every feature package."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from survey import accounts, agency, api, dashboard, demo, export, respond, weights
from survey.config import Config
from survey.core import db, i18n, web
from survey.core.questionnaires import load_questionnaires
from survey.extensions import babel, csrf, limiter, login_manager

# Each feature registers its blueprints and `manyi` sub-commands in ``init_app``;
# removing a feature is deleting its folder and its name here.
FEATURES = (respond, accounts, dashboard, export, api, agency, weights, demo)


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
