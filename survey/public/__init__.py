"""Public results and open data with red and black lists (items 十三 and 六; issue 16;
docs/public.md): releases freeze snapshots (:mod:`.service`, :mod:`.snapshot`), judged by
the reliability rules (:mod:`.reliability`); adapters: ``manyi release`` (:mod:`.cli`),
the public and admin pages (:mod:`.views`) and ``GET /api/v1/public/releases``
(:mod:`.api`).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from survey.public import api, cli, views

    app.cli.add_command(cli.release_command)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
