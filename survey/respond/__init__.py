"""The citizen's survey (no JavaScript): pages (:mod:`.views`), forms built from the
questionnaire (:mod:`.forms`), server-side drafts (:mod:`.drafts`)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from survey.respond import views

    app.register_blueprint(views.bp)
