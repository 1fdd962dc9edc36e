"""``manyi export``: anonymized microdata for researchers, from the command line."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from survey.core.db import engine_of, get_session
from survey.export.columns import BOOTSTRAP_REPLICATES, MIN_VARIANCE_UNIT
from survey.export.service import (
    FORMATS,
    REPLICATE_METHODS,
    ExportError,
    ExportRequest,
    export_files,
)


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
@click.option("--public-use", is_flag=True,
              help="Public-use file: replicate weights rw_1 … rw_R over masked variance units "
                   "instead of the stratum/psu labels")
@click.option("--replicate-method", default=None, type=click.Choice(REPLICATE_METHODS),
              help="With --public-use: jkn (default; one replicate per variance unit) or "
                   "bootstrap (Rao–Wu)")
@click.option("--replicates", default=None, type=int,
              help=f"With --replicate-method bootstrap: number of replicates (default "
                   f"{BOOTSTRAP_REPLICATES})")
@click.option("--min-variance-unit", default=None, type=int,
              help="With --public-use: smallest variance unit, respondents per wave (default: "
                   f"config EXPORT_MIN_VARIANCE_UNIT, else {MIN_VARIANCE_UNIT})")
@with_appcontext
def export_command(questionnaire: str, city: str | None, wave: str | None, out: Path,
                   bom: bool, no_text: bool, fmt: str, public_use: bool,
                   replicate_method: str | None, replicates: int | None,
                   min_variance_unit: int | None) -> None:
    """Export anonymized microdata (k ≥ 5, scrubbed text, random ids); audit-logged."""
    if out.suffix.lower() != ".csv":
        raise click.BadParameter(f"must end in .csv, got {out.name!r}", param_hint="--out")
    if not out.parent.is_dir():
        raise click.BadParameter(f"directory {str(out.parent)!r} does not exist",
                                 param_hint="--out")
    if not public_use:
        for name, value in (("--replicate-method", replicate_method),
                            ("--replicates", replicates),
                            ("--min-variance-unit", min_variance_unit)):
            if value is not None:
                raise click.BadParameter("applies only with --public-use", param_hint=name)
    if min_variance_unit is None:
        min_variance_unit = current_app.config.get("EXPORT_MIN_VARIANCE_UNIT",
                                                   MIN_VARIANCE_UNIT)
    request = ExportRequest(questionnaire, city, wave, bom=bom, include_text=not no_text,
                            format=fmt, design="replicates" if public_use else "labels",
                            replicate_method=replicate_method or "jkn",
                            replicates=replicates, min_variance_unit=min_variance_unit)
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
    design = result.codebook["design"]
    if design["variant"] == "replicates":
        units = design["variance_units"]
        click.echo(f"export: public-use file, {design['method']} replicate weights rw_1 … "
                   f"rw_{design['replicates']} over {units['units']} variance units in "
                   f"{units['pseudo_strata']} pseudo-strata (no stratum/psu labels)")
    else:
        small = design["labels_are_quasi_identifiers"]["rows_in_small_classes"]
        click.echo(f"export: stratum/psu labels kept; counted as quasi-identifiers, {small} "
                   f"rows are in groups smaller than {plan.k}: not for publication")
    click.echo(f"export: codebook {result.codebook_json} and {result.codebook_md}")
    if result.extra_path is not None:
        click.echo(f"export: {fmt} file {result.extra_path}")
