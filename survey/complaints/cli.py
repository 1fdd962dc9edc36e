"""``manyi complaints``: import hotline files, the deadline (SLA) list, escalation and the
erasure of expired phone numbers. Never prints contact data (no phone, no tracking code,
no description).

Bad input prints one line to stderr and exits with code 2 (``survey.core.commands.fail``).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from survey.complaints import imports, service
from survey.complaints.deadlines import current_deadline, local_today, stage
from survey.complaints.errors import ComplaintKeyError
from survey.core.commands import fail
from survey.core.db import get_session
from survey.core.models import City, Complaint


@click.group("complaints")
def complaints_group() -> None:
    """Tourist complaints (投诉): hotline imports, deadlines, escalation, erasure."""


@complaints_group.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True,
              help="Store nothing when any row is bad (default: store the valid rows)")
@with_appcontext
def import_command(file: Path, strict: bool) -> None:
    """Import FILE.csv of hotline complaints (idempotent by source and external_id).

    The valid rows are stored in one transaction; bad rows are listed on stderr (row,
    column, reason). With --strict a bad row stores nothing and the exit code is 2.
    """
    try:
        with file.open("rb") as fh:
            data = fh.read(imports.MAX_BYTES + 1)
    except OSError as exc:
        fail(f"{file}: {exc.strerror or exc}")
    session = get_session()
    try:
        result = imports.import_csv(session, data, actor="cli", strict=strict)
    except (imports.ImportFileError, ComplaintKeyError) as exc:
        fail(f"{file.name}: {exc}")
    bad = len({e["row"] for e in result.errors})
    click.echo(f"{file.name}: {result.n_rows} rows, {len(result.stored)} stored, "
               f"{len(result.already_present)} already present, {bad} with errors",
               err=True)
    for e in result.errors[:50]:
        click.echo(f"  row {e['row']}, {e['column']}: {e['reason']}", err=True)
    if len(result.errors) > 50:
        click.echo(f"  … {len(result.errors) - 50} more", err=True)
    if strict and result.errors:
        fail(f"{file.name}: {bad} bad row(s), nothing stored (--strict)")


def _city(code: str | None) -> City | None:
    if code is None:
        return None
    city = get_session().scalar(select(City).where(City.code == code))
    if city is None:
        fail(f"--city: no city with code {code!r}")
    return city


def _row(complaint: Complaint) -> dict[str, object]:
    due = current_deadline(complaint, local_today())
    return {"id": complaint.id, "city": complaint.city.code, "site": complaint.site.code,
            "category": complaint.category, "status": complaint.status,
            "stage": stage(complaint), "due": due.due.isoformat() if due else None,
            "days_overdue": due.overdue_days if due else 0,
            "provisional": due.provisional if due else False,
            "escalated": complaint.escalated_at is not None}


COLUMNS = ("id", "city", "site", "category", "status", "stage", "due", "days_overdue",
           "provisional", "escalated")


def _print(rows: list[dict[str, object]], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = [COLUMNS] + [tuple("" if r[c] is None else str(r[c]) for c in COLUMNS)
                         for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    for line in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
                   .rstrip())


@complaints_group.command("sla")
@click.option("--city", "city_code", default=None, help="City code (default: every city)")
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="table",
              show_default=True)
@with_appcontext
def sla(city_code: str | None, fmt: str) -> None:
    """Open complaints with their stage, due date and days overdue (most overdue first)."""
    city = _city(city_code)
    rows = [_row(c) for c in service.open_complaints(get_session(),
                                                     city.id if city else None)]
    rows.sort(key=lambda r: (-int(str(r["days_overdue"])), str(r["due"] or "9999"),
                             int(str(r["id"]))))
    _print(rows, fmt)


@complaints_group.command("escalate")
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="table",
              show_default=True)
@with_appcontext
def escalate(fmt: str) -> None:
    """Escalate every overdue open complaint (sets escalated_at) and list those escalated
    now."""
    escalated = service.escalate_overdue(get_session())
    _print([_row(c) for c in escalated], fmt)
    click.echo(f"{len(escalated)} complaint(s) escalated", err=True)


@complaints_group.command("erase-phones")
@with_appcontext
def erase_phones() -> None:
    """Erase the phone numbers of complaints closed 180 days ago or more."""
    n = service.erase_expired_phones(get_session())
    click.echo(f"{n} phone number(s) erased")
