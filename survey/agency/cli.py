"""``manyi agency``: add agencies, upload batches, print acceptance reports.

Bad input (unknown city, agency or batch, unreadable file, a file over one of the limits of
``survey.agency.batches``) prints one line to stderr and exits with code 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from survey.agency import acceptance, tokens
from survey.agency.batches import MAX_BYTES, BatchFileError, NotServed, import_batch
from survey.agency.service import save_agency
from survey.core import audit
from survey.core.commands import fail
from survey.core.db import get_session
from survey.core.models import Agency, Batch, City


@click.group("agency")
def agency_group() -> None:
    """Measurement agencies (测评机构): agencies, batches, acceptance reports."""


@agency_group.command("add")
@click.option("--code", required=True, help="Short code, e.g. ACME")
@click.option("--name", required=True)
@click.option("--city", "cities", multiple=True, required=True,
              help="City code the agency serves (repeat for several)")
@click.option("--accreditation", default="", help="Accreditation number")
@click.option("--contact", default="")
@with_appcontext
def add(code: str, name: str, cities: tuple[str, ...], accreditation: str,
        contact: str) -> None:
    """Add an agency (or update it: same code) and the cities it serves."""
    session = get_session()
    known = set(session.scalars(select(City.code).where(City.code.in_(cities))))
    unknown = [c for c in cities if c not in known]
    if unknown:
        fail(f"--city: no city with code {', '.join(repr(c) for c in unknown)}")
    if len(code) > 32 or not code.replace("-", "").replace("_", "").isalnum():
        fail(f"--code: letters, digits, - and _ only, at most 32 characters: {code!r}")
    existing = session.scalar(select(Agency).where(Agency.code == code))
    agency = save_agency(session, existing, code=code, name=name,
                         accreditation_no=accreditation, contact=contact,
                         city_codes=list(cities))
    audit.record(session, "agency_saved", actor="cli", agency=code, cities=list(cities),
                 created=existing is None)
    session.commit()
    click.echo(f"agency {agency.code}: {', '.join(cities)}")


@agency_group.command("upload")
@click.option("--agency", "agency_code", required=True)
@click.option("--city", "city_code", default=None, help="City code (default: the sites' city)")
@click.option("--wave", default=None, help="Declared wave, e.g. 2026Q4 (default: inferred)")
@click.argument("file", type=click.Path(path_type=Path))
@with_appcontext
def upload(agency_code: str, city_code: str | None, wave: str | None, file: Path) -> None:
    """Import FILE (CSV/XLSX); prints the batch id, a summary goes to stderr."""
    session = get_session()
    agency = session.scalar(select(Agency).where(Agency.code == agency_code))
    if agency is None:
        fail(f"--agency: no agency with code {agency_code!r}")
    try:
        with file.open("rb") as fh:  # one byte over the limit is enough to refuse the file
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        fail(f"{file}: {exc.strerror or exc}")
    try:
        result = import_batch(session, current_app.extensions["manyi.questionnaires"],
                              agency=agency, filename=file.name, data=data,
                              city_code=city_code, wave=wave, actor="cli")
    except (BatchFileError, NotServed) as exc:
        session.rollback()
        fail(f"{file.name}: {exc}")
    b = result.batch
    click.echo(str(b.id))
    note = "" if result.created else " (this file was uploaded before)"
    click.echo(f"batch {b.id}{note}: {b.n_rows} rows, {b.n_valid} stored, "
               f"{b.n_invalid} invalid, {b.n_skipped} already stored; "
               f"automatic decision: {b.auto_decision}", err=True)
    for e in b.row_errors[:20]:
        click.echo(f"  row {e['row']}, {e['column']}: {e['reason']}", err=True)
    if len(b.row_errors) > 20:
        click.echo(f"  … {len(b.row_errors) - 20} more (manyi agency report {b.id})", err=True)


@agency_group.command("report")
@click.argument("batch_id", type=str)
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="text",
              show_default=True)
@with_appcontext
def report(batch_id: str, fmt: str) -> None:
    """Print the acceptance report of batch BATCH_ID."""
    if not batch_id.isdigit():
        fail(f"BATCH: not a batch id: {batch_id!r}")
    session = get_session()
    batch = session.get(Batch, int(batch_id))
    if batch is None:
        fail(f"BATCH: no batch {batch_id}")
    body = acceptance.report(session, batch)
    if fmt == "json":
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    b, d = body["batch"], body["decision"]
    click.echo(f"batch {b['id']} {b['filename']} agency {b['agency']} city {b['city']} "
               f"wave {b['wave']}")
    click.echo(f"rows {b['n_rows']}: {b['n_valid']} stored, {b['n_invalid']} invalid, "
               f"{b['n_skipped']} already stored ({b['row_numbering']})")
    click.echo(f"decision: automatic {d['auto']}, final {d['final'] or 'awaiting an admin'}")
    for r in d["reasons"]:
        click.echo(f"  - {r['message']}")
    for c in body["checks"]:
        mark = "ok  " if c["passed"] else "FAIL"
        click.echo(f"{mark} {c['name']:<18} figure {c['figure']:.4g}  threshold "
                   f"{c['threshold']:.4g}  flagged rows {len(c['flagged_rows'])}")
    for e in body["row_errors"]:
        click.echo(f"row {e['row']}, {e['column']}: {e['reason']}")


@agency_group.group("token")
def token_group() -> None:
    """API tokens of an agency (Authorization: Bearer …)."""


@token_group.command("create")
@click.option("--agency", "agency_code", required=True)
@click.option("--expires", "expires_days", type=int, default=None,
              help="Days until the token expires (default: never)")
@click.option("--label", default="", help="What the token is for, e.g. 'CATI server'")
@with_appcontext
def token_create(agency_code: str, expires_days: int | None, label: str) -> None:
    """Create a token and print it once (only its hash is kept)."""
    session = get_session()
    agency = session.scalar(select(Agency).where(Agency.code == agency_code))
    if agency is None:
        fail(f"--agency: no agency with code {agency_code!r}")
    try:
        row, raw = tokens.create(session, agency, actor="cli", label=label,
                                 expires_days=expires_days)
    except tokens.TokenError as exc:
        session.rollback()
        fail(str(exc))
    session.commit()
    click.echo(raw)
    until = row.expires_at.date().isoformat() if row.expires_at else "never"
    click.echo(f"token {row.id} ({row.prefix}…) for agency {agency.code}, expires {until}; "
               "it is shown only now", err=True)


@token_group.command("list")
@click.option("--agency", "agency_code", required=True)
@with_appcontext
def token_list(agency_code: str) -> None:
    """List an agency's tokens (id, prefix, state, expiry, last use) — never the token."""
    session = get_session()
    agency = session.scalar(select(Agency).where(Agency.code == agency_code))
    if agency is None:
        fail(f"--agency: no agency with code {agency_code!r}")
    for row in tokens.of_agency(session, agency.id):
        click.echo(f"{row.id}\t{row.prefix}…\t{tokens.state(row)}\t"
                   f"expires {row.expires_at.date() if row.expires_at else 'never'}\t"
                   f"last used {row.last_used_at.isoformat() if row.last_used_at else 'never'}"
                   f"\t{row.label}")


@token_group.command("revoke")
@click.argument("token_id", type=str)
@with_appcontext
def token_revoke(token_id: str) -> None:
    """Revoke token TOKEN_ID; the API refuses it from now on."""
    if not token_id.isdigit():
        fail(f"TOKEN_ID: not a token id: {token_id!r}")
    session = get_session()
    try:
        row = tokens.revoke(session, int(token_id), actor="cli")
    except tokens.TokenError as exc:
        fail(str(exc))
    session.commit()
    click.echo(f"token {row.id} ({row.prefix}…) revoked")
