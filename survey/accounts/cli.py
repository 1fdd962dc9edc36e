"""``manyi users``: create accounts (the password from stdin or a prompt, never an option)."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from survey.accounts.users import AccountError, create_user
from survey.core import audit
from survey.core.commands import fail
from survey.core.db import get_session
from survey.core.models import Role


@click.group()
def users() -> None:
    """Accounts."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--city", "city_code", help="City code (officials)")
@click.option("--agency", "agency_code", help="Agency code (agency users)")
@with_appcontext
def users_create(email: str, role: str, city_code: str | None, agency_code: str | None) -> None:
    """Create an account; the password is read from stdin or a prompt, never an option."""
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
        fail(str(exc))
    audit.record(session, "user_created", actor="cli", city_id=user.city_id, email=user.email,
                 role=role)
    session.commit()
    click.echo(f"created {role} {user.email}")
