"""Measurement agencies (测评机构) and acceptance (采信): batch import (:mod:`.batches`),
screening (:mod:`.screening`), decisions and scorecards (:mod:`.acceptance`), agencies
(:mod:`.service`); adapters: the web pages (:mod:`.views`), the JSON API (:mod:`.api`) and
``manyi agency`` (:mod:`.cli`)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from survey.agency import api, cli, views

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.cli.add_command(cli.agency_group)
