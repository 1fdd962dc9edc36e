"""``manyi release``: freeze and publish a city's figures for a wave (docs/public.md).

Bad input prints one line to stderr and exits with code 2 (``survey.core.commands.fail``).
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from survey.core.commands import fail
from survey.core.db import get_session
from survey.dashboard import estimates
from survey.public import service


@click.command("release")
@click.option("--city", required=True, help="City code, e.g. hangzhou")
@click.option("--wave", required=True, help="Wave, e.g. 2026Q4")
@click.option("--questionnaire", default=None,
              help="Release (or correct) only this questionnaire; default: every one")
@click.option("--note", default="", help="Public note: what this release changes and why "
              "(required from release 2 on)")
@click.option("--dry-run", is_flag=True, help="Show what would be published; store nothing")
@with_appcontext
def release_command(city: str, wave: str, questionnaire: str | None, note: str,
                    dry_run: bool) -> None:
    """Publish CITY's figures of WAVE as its next numbered release (a frozen snapshot)."""
    session = get_session()
    try:
        plan = service.preview(session, estimates.Settings.of(current_app.config),
                               current_app.extensions["manyi.questionnaires"], city, wave,
                               questionnaire)
        for qid, figures in plan.snapshot["questionnaires"].items():
            cells = [figures["index"], figures["rate"], *figures["dimensions"],
                     *figures["districts"], *figures["sites"]]
            hidden = sum(c["status"] == "suppressed" for c in cells)
            marked = sum(c["status"] == "marked" for c in cells)
            state = "recomputed" if qid in plan.questionnaires else "carried over"
            click.echo(f"{qid}: {len(cells)} cells ({marked} marked, {hidden} suppressed), "
                       f"{state}")
        if dry_run:
            click.echo(f"{plan.city.code} {plan.wave}: release {plan.number} not stored "
                       "(--dry-run)", err=True)
            return
        row = service.release(session, plan, note=note, actor="cli", user_id=None)
    except service.PublicError as exc:
        fail(str(exc))
    session.commit()
    proposed = len([e for e in service.proposals(session, [plan.city.id])
                    if e.release_id == row.id])
    click.echo(f"{plan.city.code} {plan.wave}: release {row.number} published "
               f"(sha256 {row.digest[:12]}…); {proposed} list entries proposed for review",
               err=True)
