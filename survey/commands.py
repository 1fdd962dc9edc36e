"""``manyi`` sub-commands beyond ``db``: users, demo and the rest."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click
from flask.cli import with_appcontext

from survey.db import get_session


def register(cli: click.Group) -> None:
    """Add every sub-command (imported here: the modules import the app's models)."""
    from survey.agency_cli import agency_group
    from survey.demo import demo_command
    from survey.export_cli import export_command

    for command in (users, demo_command, agency_group, export_command, weights):
        cli.add_command(command)


@click.group()
def users() -> None:
    """Accounts."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--role", required=True,
              type=click.Choice(["admin", "official", "researcher", "agency"]))
@click.option("--city", "city_code", help="City code (officials)")
@click.option("--agency", "agency_code", help="Agency code (agency users)")
@with_appcontext
def users_create(email: str, role: str, city_code: str | None, agency_code: str | None) -> None:
    """Create an account; the password is read from stdin or a prompt, never an option."""
    from survey import audit
    from survey.accounts import AccountError, create_user

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    session = get_session()
    try:
        user = create_user(session, email=email, password=password, role=role,
                           city_code=city_code, agency_code=agency_code)
    except AccountError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from None
    audit.record(session, "user_created", actor="cli", city_id=user.city_id, email=user.email,
                 role=role)
    session.commit()
    click.echo(f"created {role} {user.email}")


@click.group()
def weights() -> None:
    """Survey weights."""


@weights.command("rake")
@click.option("--city", "city_code", required=True)
@click.option("--questionnaire", required=True)
@click.option("--wave", required=True, help="e.g. 2026Q4")
@click.option("--margins", "margins_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="YAML: variable → {level: count or share} (see survey/weights.py)")
@click.option("--trim", default=None, help="LOW,HIGH as multiples of the mean weight, e.g. 0.3,3")
@with_appcontext
def weights_rake(city_code: str, questionnaire: str, wave: str, margins_path: Path,
                 trim: str | None) -> None:
    """Rake one city's responses of a questionnaire and wave to population margins and
    store them as final weights (the dashboard and export use them)."""
    import json

    from survey.places import city_by_code
    from survey.weights import WeightingError, rake_city, read_margins, weights_summary

    session = get_session()
    city = city_by_code(session, city_code)
    if city is None:
        _fail(f"city: no city with code {city_code!r}")
    bounds = None
    if trim:
        try:
            low, high = (float(x) for x in trim.split(","))
        except ValueError:
            _fail(f"trim: expected LOW,HIGH, got {trim!r}")
        bounds = (low, high)
    try:
        margins = read_margins(margins_path, session, city)
        result = rake_city(session, city=city, questionnaire=questionnaire, wave=wave,
                           margins=margins, trim=bounds)
    except WeightingError as exc:
        session.rollback()
        _fail(str(exc))
    click.echo(json.dumps(weights_summary(result)))


def _fail(message: str) -> NoReturn:
    """One line on stderr and exit code 2 (bad input; nothing was changed)."""
    click.echo(f"manyi: {message}", err=True)
    sys.exit(2)
