"""The public JSON API (``/api/v1``): submit responses, read questionnaires and sites."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from survey.api import views

    app.register_blueprint(views.bp)
