"""Online reviews (for the tourist satisfaction composite, :mod:`.composite`): importing a
platform's export as CSV or XLSX.

Columns (header names, any order): ``platform``, ``site`` (site code), ``rating``,
``max_rating``, ``reviewed_on`` (YYYY-MM-DD); ``text`` optional — kept only because a file
may carry it, never shown or exported. Rows are numbered from 1 = the first data row (as in
agency batches). Import semantics:

* a problem with the file itself (not CSV/XLSX, undecodable, over a limit of
  :mod:`survey.agency.batches`, a missing, repeated or unknown column, no data row) →
  :class:`ReviewFileError`, nothing stored;
* any bad row → :class:`ReviewRowsError` listing every problem as ``{row, column, reason}``,
  and **nothing** is stored (no half-imported file);
* the same file again (same sha256) → :class:`AlreadyImported`, nothing stored.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.agency.batches import NUL_REASON, BatchFileError, read_table
from survey.core import audit
from survey.core.models import OnlineReview, Site

FIELDS = ("platform", "site", "rating", "max_rating", "reviewed_on")
OPTIONAL_FIELDS = ("text",)
MAX_PLATFORM = 32


class ReviewFileError(ValueError):
    """The file as a whole cannot be imported (nothing was stored)."""


class AlreadyImported(ReviewFileError):
    """This exact file (sha256) was imported before."""

    def __init__(self, digest: str, count: int) -> None:
        super().__init__(f"file: already imported (sha256 {digest}, {count} reviews); "
                         "nothing was imported again")
        self.digest = digest
        self.count = count


class ReviewRowsError(ValueError):
    """Rows with problems (nothing was stored): ``errors`` = ``[{row, column, reason}]``."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        rows = len({e["row"] for e in errors})
        super().__init__(f"file: {rows} row(s) with errors; nothing was imported")
        self.errors = errors


@dataclass(frozen=True)
class ImportResult:
    imported: int
    sha256: str


def _columns(header: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    problems: list[str] = []
    for i, raw in enumerate(header):
        name = raw.strip().lower()
        if name not in FIELDS + OPTIONAL_FIELDS:
            problems.append(f"column {i + 1} {raw!r} is not one of "
                            f"{', '.join(FIELDS + OPTIONAL_FIELDS)}")
        elif name in columns:
            problems.append(f"column {i + 1} {raw!r} repeats column {columns[name] + 1}")
        else:
            columns[name] = i
    missing = [f for f in FIELDS if f not in columns]
    if missing:
        problems.insert(0, f"missing column(s): {', '.join(missing)}")
    if problems:
        raise ReviewFileError("header: " + "; ".join(problems))
    return columns


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _row(cells: list[str], columns: dict[str, int], sites: dict[str, int], today: date
         ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    get = {name: cells[i] for name, i in columns.items()}
    errors: list[tuple[str, str]] = []
    for name, value in get.items():
        if "\x00" in value:
            errors.append((name, NUL_REASON))
    if errors:
        return {}, errors
    platform = get["platform"]
    if not platform:
        errors.append(("platform", "empty; name the platform (e.g. ctrip, meituan)"))
    elif len(platform) > MAX_PLATFORM:
        errors.append(("platform", f"longer than {MAX_PLATFORM} characters"))
    site_id = sites.get(get["site"])
    if site_id is None:
        errors.append(("site", f"unknown site code {get['site']!r}"))
    rating, top = _number(get["rating"]), _number(get["max_rating"])
    if top is None or top <= 0:
        errors.append(("max_rating", f"{get['max_rating']!r} is not a positive number"))
    if rating is None:
        errors.append(("rating", f"{get['rating']!r} is not a number"))
    elif rating < 0 or (top is not None and top > 0 and rating > top):
        errors.append(("rating", f"{get['rating']} is outside 0–max_rating"))
    reviewed_on: date | None = None
    try:
        raw = get["reviewed_on"]  # an XLSX date cell reads as an ISO datetime
        reviewed_on = datetime.fromisoformat(raw).date() if "T" in raw \
            else date.fromisoformat(raw)
    except ValueError:
        errors.append(("reviewed_on", f"{get['reviewed_on']!r} is not a date (YYYY-MM-DD)"))
    if reviewed_on is not None and reviewed_on > today:
        errors.append(("reviewed_on", f"{reviewed_on.isoformat()} is in the future"))
    if errors:
        return {}, errors
    text = get.get("text") or None
    return {"platform": platform, "site_id": site_id, "rating": rating, "max_rating": top,
            "reviewed_on": reviewed_on, "text": text}, []


def import_reviews(session: Session, *, filename: str, data: bytes, actor: str,
                   today: date) -> ImportResult:
    """Validate every row and store them all, or nothing (module docstring). Commits."""
    digest = hashlib.sha256(data).hexdigest()
    before = session.scalar(select(func.count()).select_from(OnlineReview)
                            .where(OnlineReview.import_sha256 == digest)) or 0
    if before:
        raise AlreadyImported(digest, int(before))
    try:
        table = read_table(filename, data, _columns)
    except BatchFileError as exc:
        raise ReviewFileError(str(exc)) from None
    columns = _columns(table.header)
    if not table.rows:
        raise ReviewFileError("file: no data rows")
    sites = {code: sid for code, sid in session.execute(select(Site.code, Site.id))}
    errors: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for number, cells in enumerate(table.rows, 1):
        if not any(cells):
            continue
        row, problems = _row(cells, columns, sites, today)
        errors.extend({"row": number, "column": c, "reason": r} for c, r in problems)
        if row:
            rows.append(row)
    if errors:
        raise ReviewRowsError(errors)
    if not rows:
        raise ReviewFileError("file: no data rows")
    session.add_all(OnlineReview(import_sha256=digest, **row) for row in rows)
    audit.record(session, "reviews_imported", actor=actor, filename=filename,
                 count=len(rows), sha256=digest)
    session.commit()
    return ImportResult(len(rows), digest)
