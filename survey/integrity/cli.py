"""``manyi integrity``: the daily screening of web responses.

Bad input prints one line to stderr and exits with code 2 (nothing changed).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from survey.core.commands import fail
from survey.core.db import get_session
from survey.core.waves import CHINA_TZ
from survey.integrity import service, tokens


@click.group("integrity")
def integrity_group() -> None:
    """Web-response integrity: survey tokens, caps, screening (docs/decisions.md)."""


@integrity_group.command("screen")
@click.option("--day", default=None, metavar="YYYY-MM-DD",
              help="Screen that calendar day (China time); default: the last 24 hours")
@with_appcontext
def screen(day: str | None) -> None:
    """Re-check the web responses of a day, site by site, and flag what the checks find
    (straight-lining, speeders, duplicates, bursts). One line per site with findings."""
    if day is None:
        end = tokens.current_time()
        start = end - timedelta(hours=24)
    else:
        try:
            chosen = date.fromisoformat(day)
        except ValueError:
            fail(f"--day: expected YYYY-MM-DD, e.g. 2026-11-25, got {day!r}")
        start = datetime(chosen.year, chosen.month, chosen.day, tzinfo=CHINA_TZ)
        end = start + timedelta(days=1)
    reports = service.screen(get_session(), current_app.extensions["manyi.questionnaires"],
                             start, end, actor="cli")
    for r in reports:
        if r.flagged:
            checks = ", ".join(f"{name} {n}" for name, n in sorted(r.by_check.items()))
            click.echo(f"{r.site}: {r.flagged} of {r.screened} flagged ({checks})")
    click.echo(f"screened {sum(r.screened for r in reports)} web responses at "
               f"{len(reports)} sites from {start.isoformat()} to {end.isoformat()}: "
               f"{sum(r.flagged for r in reports)} flagged")
