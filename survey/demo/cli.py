"""``manyi demo``: load synthetic demo cities, sites, responses and accounts."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from survey.core.commands import fail
from survey.core.db import get_session
from survey.demo.data import create_demo_accounts, has_data, load_demo


@click.command("demo")
@click.option("--cities", default=3, show_default=True, type=click.IntRange(1, 50))
@click.option("--responses", default=5000, show_default=True, type=click.IntRange(0))
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--end-wave", default=None, help="Last wave, e.g. 2026Q4 (default: current)")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has data.")
@click.option("--no-accounts", is_flag=True, help="Do not create demo accounts.")
@click.option("--no-agency", is_flag=True,
              help="Do not create the demo measurement agency and its pending batch.")
@with_appcontext
def demo_command(cities: int, responses: int, seed: int, end_wave: str | None,
                 if_empty: bool, no_accounts: bool, no_agency: bool) -> None:
    """Load synthetic demo cities, sites and responses."""
    session = get_session()
    if has_data(session):
        if if_empty:
            click.echo("demo: the database already has data; nothing done")
            return
        fail("the database already has data (use --if-empty to skip)")
    result = load_demo(session, current_app.extensions["manyi.questionnaires"], cities=cities,
                       responses=responses, seed=seed, end_wave=end_wave,
                       agency=not no_agency, tourism=True)
    click.echo(f"demo: {result.cities} cities, {result.sites} sites, "
               f"{result.responses} responses in {result.seconds:.1f} s")
    if not no_accounts:
        path = Path(current_app.config["INSTANCE_DIR"]) / "demo-credentials.txt"
        create_demo_accounts(session, path)
        click.echo(f"demo: accounts written to {path}")
