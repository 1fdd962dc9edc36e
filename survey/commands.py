"""``manyi`` sub-commands beyond ``db``: users, demo and the rest."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from survey.db import get_session


def register(cli: click.Group) -> None:
    """Add every sub-command (imported here: the modules import the app's models)."""
    from survey.agency_cli import agency_group
    from survey.demo import demo_command
    from survey.export_cli import export_command

    for command in (users, demo_command, agency_group, export_command):
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
