"""Public results and open data with red and black lists (items 十三 and 六; issue 16;
docs/public.md): releases freeze snapshots (:mod:`.service`, :mod:`.snapshot`), judged by
the reliability rules (:mod:`.reliability`); adapters: ``manyi release`` (:mod:`.cli`),
the public and admin pages (:mod:`.views`) and ``GET /api/v1/public/releases``
(:mod:`.api`).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from survey.config import ConfigError
    from survey.public import api, cli, service, views

    try:  # a bad setting stops the start, not the first confirmation
        service.display_periods(str(app.config["LIST_DISPLAY_MONTHS"]))
    except service.PublicError as exc:
        raise ConfigError(str(exc)) from None

    app.cli.add_command(cli.release_command)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
