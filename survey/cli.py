"""The ``manyi`` command: a Flask ``FlaskGroup`` bound to ``survey.create_app``.

``db`` is the core's; every feature adds its own sub-commands in its ``init_app``.
"""

from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy.exc import OperationalError

from survey.config import ConfigError
from survey.core.db import DatabaseConfigError
from survey.core.migrate import upgrade
from survey.core.questionnaires import QuestionnaireError


def _create_app() -> Flask:
    from survey.app import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False,
             load_dotenv=False)
def cli() -> None:
    """manyi 满意 — satisfaction measurement for city public services."""


@cli.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Bring the database to the newest schema (or REVISION)."""
    upgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"database at {revision}")


def main() -> None:
    """Entry point: turns configuration mistakes into one clear line and exit code 2."""
    try:
        cli.main(standalone_mode=True)
    except DatabaseConfigError as exc:
        click.echo(f"manyi: {exc}", err=True)
        sys.exit(2)
    except ConfigError as exc:
        click.echo(f"manyi: configuration error: {exc}", err=True)
        sys.exit(2)
    except QuestionnaireError as exc:
        click.echo(f"manyi: questionnaire error: {exc}", err=True)
        sys.exit(2)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        click.echo(f"manyi: cannot use the database: {reason}", err=True)
        sys.exit(2)
