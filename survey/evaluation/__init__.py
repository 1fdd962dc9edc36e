"""Evaluating the cities' quality work (考核评分细则, item 十五, issue 17; docs/evaluation.md):
rule files (:mod:`.rules`), the scoring and rank-interval arithmetic (:mod:`.scoring`, no
database), the figures of a period (:mod:`.service`); adapters: ``manyi evaluation``
(:mod:`.cli`) and the ``/evaluation`` pages (:mod:`.views`)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from survey.evaluation import cli, views
    from survey.evaluation.rules import RULES_DIR

    app.config.setdefault("EVALUATION_DIR", str(RULES_DIR))
    app.cli.add_command(cli.evaluation_group)
    app.register_blueprint(views.bp, url_prefix="/evaluation")
