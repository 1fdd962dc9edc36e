"""Tourist complaints (投诉渠道, issue 15; docs/complaints.md): the workflow and its audit
trail (:mod:`.service`), deadlines on China's working-day calendar (:mod:`.deadlines`,
:mod:`.workdays`), the encrypted phone number (:mod:`.crypto`), hotline imports
(:mod:`.imports`), categories (:mod:`.categories`), the figures and the tourist
satisfaction composite (:mod:`.figures`, :mod:`.composite`), online reviews
(:mod:`.reviews`); adapters: ``manyi complaints`` (:mod:`.cli`), ``manyi reviews``
(:mod:`.reviews_cli`), the web pages (:mod:`.views`) and the JSON API (:mod:`.api`).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from survey.complaints import cli, reviews_cli

    app.cli.add_command(cli.complaints_group)
    app.cli.add_command(reviews_cli.reviews)
    from survey.complaints import api, views

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
