"""Web-response integrity — a city must not be able to fill its own index: signed survey
tokens bound to a site and questionnaire (:mod:`.tokens`), admission of web responses with a
per-client daily cap (:mod:`.service`), screening at submit and daily (:mod:`.checks`) and
the admin's review of what was flagged (:mod:`.review`); adapters: the ``/integrity`` page
(:mod:`.views`) and ``manyi integrity`` (:mod:`.cli`)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from survey.integrity import cli, views

    app.register_blueprint(views.bp)
    app.cli.add_command(cli.integrity_group)
