"""Survey weights: raking a city's responses to population margins (:mod:`.service`) and
``manyi weights``."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from survey.weights import cli

    app.cli.add_command(cli.weights)
