"""``manyi weights rake``: rake one city's responses to population margins."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import with_appcontext

from survey.core.commands import fail
from survey.core.db import get_session
from survey.core.places import city_by_code
from survey.weights.service import WeightingError, rake_city, read_margins, weights_summary


@click.group()
def weights() -> None:
    """Survey weights."""


@weights.command("rake")
@click.option("--city", "city_code", required=True)
@click.option("--questionnaire", required=True)
@click.option("--wave", required=True, help="e.g. 2026Q4")
@click.option("--margins", "margins_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="YAML: variable → {level: count or share} (see survey/weights/service.py)")
@click.option("--trim", default=None,
              help="LOW,HIGH bounds (LOW < 1 < HIGH) on each weight's ratio to its design "
                   "weight scaled to the population total (with equal design weights: "
                   "multiples of the mean weight), e.g. 0.3,3; the margins are still met "
                   "(bounded raking)")
@with_appcontext
def weights_rake(city_code: str, questionnaire: str, wave: str, margins_path: Path,
                 trim: str | None) -> None:
    """Rake one city's responses of a questionnaire and wave to population margins and
    store them as final weights (the dashboard and export use them)."""
    session = get_session()
    city = city_by_code(session, city_code)
    if city is None:
        fail(f"city: no city with code {city_code!r}")
    bounds = None
    if trim:
        try:
            low, high = (float(x) for x in trim.split(","))
        except ValueError:
            fail(f"trim: expected LOW,HIGH, got {trim!r}")
        bounds = (low, high)
    try:
        margins = read_margins(margins_path, session, city)
        result = rake_city(session, city=city, questionnaire=questionnaire, wave=wave,
                           margins=margins, trim=bounds)
    except WeightingError as exc:
        session.rollback()
        fail(str(exc))
    click.echo(json.dumps(weights_summary(result)))
