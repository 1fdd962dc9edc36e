"""Anonymized microdata for researchers: columns (:mod:`.columns`), the export
(:mod:`.service`), k-anonymity and scrubbing (:mod:`.anonymize`), the codebook
(:mod:`.codebook`); adapters: ``/export`` (:mod:`.views`) and ``manyi export`` (:mod:`.cli`)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from survey.export import cli, views

    app.register_blueprint(views.bp)
    app.cli.add_command(cli.export_command)
