"""Hotline imports (12345, 12301…): a CSV file of complaints, one per row.

Columns (header, any order, all required): ``source, external_id, site, category,
description, received_at, contact_phone``. ``site`` is the site code; ``category`` a code
of :data:`~survey.complaints.categories.CATEGORIES` or its Chinese or English label;
``received_at`` ISO 8601 (``2026-09-29 10:30``; without a time zone it is China Standard
Time); ``contact_phone`` may be empty. UTF-8 (with or without BOM), else GB18030.

Semantics (docs/complaints.md):

* a problem with the file (undecodable, no header, a missing or unknown column, over
  :data:`MAX_BYTES` / :data:`MAX_ROWS`, no usable MANYI_COMPLAINT_KEY while a row has a
  phone) refuses it whole: :class:`ImportFileError` / ``ComplaintKeyError``, nothing stored;
* a row already imported (same ``source`` and ``external_id``) is *already present*: left
  as it is and counted, a re-import changes nothing; with other content (site, category,
  description or time) it is a row error;
* a bad row is reported as ``{row, column, reason}`` (rows numbered from 1 = the first
  data row after the header) and not stored;
* all the valid rows are stored in **one transaction** (an interruption stores none);
  with ``strict`` nothing is stored when any row is bad.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.complaints import crypto, service
from survey.complaints.categories import category_code
from survey.complaints.deadlines import CHINA_TZ
from survey.complaints.errors import ComplaintError
from survey.core.models import Complaint, Site, as_utc, utcnow

COLUMNS = ("source", "external_id", "site", "category", "description", "received_at",
           "contact_phone")
MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000


class ImportFileError(ValueError):
    """The file as a whole cannot be imported; nothing was stored."""


@dataclass
class ImportResult:
    n_rows: int = 0
    stored: list[Complaint] = field(default_factory=list)
    already_present: list[int] = field(default_factory=list)  # row numbers
    errors: list[dict[str, object]] = field(default_factory=list)  # {row, column, reason}
    committed: bool = False


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            raise ImportFileError("neither UTF-8 nor GB18030 text") from None


def read_rows(data: bytes) -> list[dict[str, str]]:
    """The data rows of a CSV file as ``{column: cell}`` (cells stripped)."""
    if len(data) > MAX_BYTES:
        raise ImportFileError(f"the file is over {MAX_BYTES // (1024 * 1024)} MB")
    text = _decode(data)
    if "\x00" in text:
        raise ImportFileError("the file contains NUL characters")
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ImportFileError(f"not a CSV file: {exc}") from None
    if not records or not any(c.strip() for c in records[0]):
        raise ImportFileError("no header row")
    header = [c.strip() for c in records[0]]
    missing = [c for c in COLUMNS if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if missing or unknown or duplicated:
        parts = ([f"missing column(s) {', '.join(missing)}"] if missing else []) + \
                ([f"unknown column(s) {', '.join(unknown)}"] if unknown else []) + \
                ([f"repeated column(s) {', '.join(duplicated)}"] if duplicated else [])
        raise ImportFileError("; ".join(parts) + f" (expected: {', '.join(COLUMNS)})")
    body = records[1:]
    if len(body) > MAX_ROWS:
        raise ImportFileError(f"more than {MAX_ROWS} rows")
    rows = []
    for record in body:
        cells = [c.strip() for c in record] + [""] * (len(header) - len(record))
        rows.append(dict(zip(header, cells[:len(header)], strict=True)))
        if len(record) > len(header):
            rows[-1]["\x00extra"] = "1"
    return rows


def _received_at(cell: str) -> datetime:
    try:
        moment = datetime.fromisoformat(cell)
    except ValueError:
        raise ComplaintError("received_at", "not an ISO 8601 date and time "
                                            "(e.g. 2026-09-29 10:30)") from None
    return moment.replace(tzinfo=CHINA_TZ) if moment.tzinfo is None else moment


def _same(existing: Complaint, site: Site, category: str, description: str,
          received_at: datetime) -> bool:
    return (existing.site_id == site.id and existing.category == category
            and existing.description == description
            and as_utc(existing.received_at) == as_utc(received_at))


def import_csv(session: Session, data: bytes, *, actor: str,
               strict: bool = False) -> ImportResult:
    """Import a hotline CSV file (module docstring); commits once, or not at all (strict
    with a bad row, or nothing new)."""
    rows = read_rows(data)
    result = ImportResult(n_rows=len(rows))
    if any(r.get("contact_phone") for r in rows):
        crypto.check_key()
    sites = {s.code: s for s in session.scalars(
        select(Site).where(Site.code.in_({r["site"] for r in rows if r["site"]})))}
    pairs = {(r["source"], r["external_id"]) for r in rows}
    sources = {source for source, _ in pairs if source}
    existing = {(c.source, c.external_id): c for c in session.scalars(
        select(Complaint).where(Complaint.source.in_(sources)))
        if (c.source, c.external_id) in pairs}
    seen: dict[tuple[str, str], int] = {}
    now = utcnow()

    def error(number: int, column: str, reason: str) -> None:
        result.errors.append({"row": number, "column": column, "reason": reason})

    try:
        for number, row in enumerate(rows, start=1):
            if row.pop("\x00extra", None):
                error(number, "(row)", f"more cells than the {len(COLUMNS)} columns")
                continue
            missing = [c for c in ("source", "external_id", "site", "category",
                                   "description", "received_at") if not row[c]]
            if missing:
                for column in missing:
                    error(number, column, "empty")
                continue
            key = (row["source"], row["external_id"])
            if key in seen:
                error(number, "external_id", f"the same source and external_id as row "
                                             f"{seen[key]}")
                continue
            seen[key] = number
            site = sites.get(row["site"])
            if site is None:
                error(number, "site", f"no site with code {row['site']!r}")
                continue
            category = category_code(row["category"])
            if category is None:
                error(number, "category", f"unknown category {row['category']!r}")
                continue
            try:
                received_at = _received_at(row["received_at"])
                if key in existing:
                    if _same(existing[key], site, category, row["description"], received_at):
                        result.already_present.append(number)
                    else:
                        error(number, "external_id", "imported before with other content")
                    continue
                complaint = service.build(
                    session, site=site, category=category, description=row["description"],
                    occurred_on=None, phone=row["contact_phone"] or None, channel="hotline",
                    source=row["source"], external_id=row["external_id"],
                    received_at=received_at, actor=actor, now=now)
            except ComplaintError as exc:
                column = {"phone": "contact_phone"}.get(exc.field, exc.field)
                error(number, column, exc.message)
                continue
            result.stored.append(complaint)
        if (strict and result.errors) or not result.stored:
            session.rollback()
            result.stored = []
            return result
        session.commit()
    except BaseException:
        session.rollback()
        raise
    result.committed = True
    return result
