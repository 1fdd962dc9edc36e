"""Accounts: login and logout (:mod:`.auth`), users (:mod:`.users`, ``manyi users``), and the
admin overview (:mod:`.admin`)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from survey.accounts import admin, auth, cli

    app.register_blueprint(auth.bp)
    app.register_blueprint(admin.bp)
    auth.init_login(app)
    app.cli.add_command(cli.users)
