"""``manyi evaluation score``: every city's total, rank, rank interval and component points
for one period under a rule file. Bad input: one line on stderr, exit code 2."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from survey.core.commands import fail
from survey.core.db import get_session
from survey.dashboard.estimates import Settings
from survey.evaluation import service
from survey.evaluation.rules import RuleError

COLUMNS = ("rank", "rank_interval", "group", "city", "province", "total")


@click.group("evaluation")
def evaluation_group() -> None:
    """Evaluation of the cities' quality work (考核评分): scores and ranks."""


@evaluation_group.command("score")
@click.option("--rules", "rules_file", required=True, type=click.Path(path_type=Path),
              help="Rule file (evaluation/*.yaml)")
@click.option("--period", required=True, help="Year, e.g. 2026 (waves 2026Q1–2026Q4)")
@click.option("--as-of", "as_of", default=None,
              help="Date YYYY-MM-DD for deadlines (default: today, China time)")
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="table",
              show_default=True)
@with_appcontext
def score(rules_file: Path, period: str, as_of: str | None, fmt: str) -> None:
    """Score every city for PERIOD under the rule file: total, rank, 95% rank interval and
    each component's raw figure, points and maximum."""
    try:
        service.period_waves(period)
    except service.PeriodError as exc:
        fail(f"--period: {exc}")
    today = None
    if as_of is not None:
        try:
            today = date.fromisoformat(as_of)
        except ValueError:
            fail(f"--as-of: expected a date YYYY-MM-DD, got {as_of!r}")
    session = get_session()
    try:
        rules = service.load(rules_file, session,
                             list(current_app.extensions["manyi.questionnaires"]))
    except RuleError as exc:
        fail(str(exc))
    settings = Settings.of(current_app.config)
    result = service.evaluate(session, rules, period, settings=settings, today=today)
    rows = result.rows()
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    names = [c.name for c in rules.components]
    header = [*COLUMNS, *names]
    table = [header]
    for r in rows:
        points = {c["name"]: f"{c['points']:.2f}/{c['max_points']:g}" for c in r["components"]}
        table.append([str(r["rank"]), f"{r['rank_low']}–{r['rank_high']}",
                      str(r["tied_group"]), r["city"], r["province"], f"{r['total']:.2f}",
                      *(points[n] for n in names)])
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
                   .rstrip())
    click.echo(f"{rules.id}, period {period}: {rules.simulation.draws} draws, seed "
               f"{rules.simulation.seed}; cities in one tied group are not told apart",
               err=True)
