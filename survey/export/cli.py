"""``manyi export``: anonymized microdata for researchers, from the command line."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from survey.core.db import engine_of, get_session
from survey.export.service import FORMATS, ExportError, ExportRequest, export_files


@click.command("export")
@click.option("--questionnaire", "-q", required=True, help="Questionnaire id, e.g. healthcare")
@click.option("--city", default=None, help="City code (default: all cities)")
@click.option("--wave", default=None, help="Wave, e.g. 2026Q4 (default: all waves)")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output FILE.csv; FILE.codebook.json and FILE.codebook.md are written next "
                   "to it (and FILE.sav / FILE.dta for those formats)")
@click.option("--bom", is_flag=True, help="UTF-8 with BOM (for Excel)")
@click.option("--no-text", is_flag=True, help="Leave free-text answers out")
@click.option("--format", "fmt", default="csv", show_default=True, type=click.Choice(FORMATS))
@with_appcontext
def export_command(questionnaire: str, city: str | None, wave: str | None, out: Path,
                   bom: bool, no_text: bool, fmt: str) -> None:
    """Export anonymized microdata (k ≥ 5, scrubbed text, random ids); audit-logged."""
    if out.suffix.lower() != ".csv":
        raise click.BadParameter(f"must end in .csv, got {out.name!r}", param_hint="--out")
    if not out.parent.is_dir():
        raise click.BadParameter(f"directory {str(out.parent)!r} does not exist",
                                 param_hint="--out")
    request = ExportRequest(questionnaire, city, wave, bom=bom, include_text=not no_text,
                            format=fmt)
    session = get_session()
    try:
        result = export_files(engine_of(current_app), session,
                              current_app.extensions["manyi.questionnaires"], request, out,
                              actor="cli")
    except ExportError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from None
    plan = result.plan
    click.echo(f"export: {result.rows} rows to {result.csv_path} (k = {plan.k_achieved}; "
               f"{plan.rows_generalised} rows generalised, {plan.rows_suppressed} suppressed, "
               f"{plan.rows_dropped} dropped)")
    click.echo(f"export: codebook {result.codebook_json} and {result.codebook_md}")
    if result.extra_path is not None:
        click.echo(f"export: {fmt} file {result.extra_path}")
