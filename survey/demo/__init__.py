"""Synthetic demo data (:mod:`.data`) and ``manyi demo``."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from survey.demo import cli

    app.cli.add_command(cli.demo_command)
