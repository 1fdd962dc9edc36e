"""Agency batch files: reading CSV/XLSX, validating every row, importing, screening.

A batch is one file for one city. The header names the columns::

    client_uuid, questionnaire, version, site, interviewer, channel, started_at,
    submitted_at, [consent_version], <item id>, <item id>, …

Every data row becomes the payload of :func:`survey.core.responses.ingest.prepare` — the one
validation and scoring path — and the valid rows are stored with
:func:`survey.core.responses.ingest.bulk_store` as ``pending`` (outside every index until an admin
decides, :mod:`survey.agency.acceptance`). Rows are numbered from 1 = the first data row (the
header is not counted). Import semantics (docs/agencies.md):

* a problem with the file itself (not CSV/XLSX, undecodable, no header, a missing or
  unknown column, too large, a city the agency does not serve) refuses the whole file:
  :class:`BatchFileError`, nothing stored;
* a bad row is not stored and is listed in ``Batch.row_errors`` as ``{row, column,
  reason}``; the batch's valid rows are stored (``pending``) in the same transaction;
* a row whose ``client_uuid`` is already stored with the same content is skipped
  (``n_skipped``: it was uploaded before); with other content it is a row error;
* the same file again (same sha256, same agency) returns the existing batch.

Cells: empty = not answered; ``na`` = not applicable; ``multi`` items as ``a;b``.
An item whose id is also a batch column (``channel`` in the community questionnaire) is
written ``item:<id>``; any item may be. CSV is UTF-8 (with or without BOM), else GB18030.
XLSX date cells carry no time zone and are read as China Standard Time (UTC+8).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import zipfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.agency import acceptance, screening
from survey.core import audit
from survey.core.models import (
    Agency,
    AgencyCity,
    Batch,
    City,
    Decision,
    District,
    Response,
    ResponseStatus,
)
from survey.core.places import site_refs
from survey.core.questionnaires import NA, Questionnaire
from survey.core.responses.ingest import (
    AGENCY,
    Prepared,
    SiteRef,
    SubmissionInvalid,
    bulk_store,
    prepare,
)
from survey.core.responses.scoring import OVERALL
from survey.core.waves import CHINA_TZ, is_wave, wave_bounds

MAX_BYTES = 20 * 1024 * 1024
FIELDS = ("client_uuid", "questionnaire", "version", "site", "interviewer", "channel",
          "started_at", "submitted_at")
OPTIONAL_FIELDS = ("consent_version",)
ITEM_PREFIX = "item:"
MAX_ROW_ERRORS_SHOWN = 1000


class BatchFileError(ValueError):
    """The file as a whole cannot be imported (nothing was stored)."""


class NotServed(LookupError):
    """The agency does not serve that city (shown as 404 on the web and the API)."""


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class ImportResult:
    batch: Batch
    created: bool


# --------------------------------------------------------------------------- reading


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=CHINA_TZ)
        return moment.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_table(filename: str, data: bytes) -> Table:
    """The header and data rows of a CSV or XLSX file, every cell as stripped text.

    Raises :class:`BatchFileError` naming the problem.
    """
    if len(data) > MAX_BYTES:
        raise BatchFileError(f"file: {len(data)} bytes; the limit is {MAX_BYTES} bytes "
                             f"({MAX_BYTES >> 20} MB)")
    if not data:
        raise BatchFileError("file: empty")
    name = filename.lower()
    if data[:4] == b"PK\x03\x04" or name.endswith(".xlsx"):
        rows = _read_xlsx(data)
    elif name.endswith((".csv", ".txt")) or not name.rsplit(".", 1)[-1:] or "." not in name:
        rows = _read_csv(data)
    else:
        raise BatchFileError(f"file: {filename!r} is neither .csv nor .xlsx")
    if not rows or not any(rows[0]):
        raise BatchFileError("file: the first row must be the header")
    header = [h.strip() for h in rows[0]]
    while len(rows) > 1 and not any(rows[-1]):
        rows.pop()
    body = [r + [""] * (len(header) - len(r)) for r in rows[1:]]
    return Table(header, body)


def _read_csv(data: bytes) -> list[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise BatchFileError("file: neither UTF-8 nor GB18030 text") from None
    try:
        return [[c.strip() for c in row] for row in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as exc:
        raise BatchFileError(f"file: not a valid CSV ({exc})") from None


def _read_xlsx(data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise BatchFileError(f"file: not a readable XLSX workbook ({exc})") from None
    try:
        sheet = book.worksheets[0]
        return [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


# --------------------------------------------------------------------------- rows → payloads


@dataclass(frozen=True)
class Columns:
    """Where each batch field and each item is in the header."""

    fields: dict[str, int]
    items: dict[str, int]


def columns_of(header: Sequence[str], questionnaires: Mapping[str, Questionnaire]) -> Columns:
    """Map the header; :class:`BatchFileError` for missing, repeated or unknown columns."""
    known_items = {item.id for q in questionnaires.values() for item in q.items}
    fields: dict[str, int] = {}
    items: dict[str, int] = {}
    problems: list[str] = []
    for i, raw in enumerate(header):
        name = raw.strip().lower() if raw.strip().lower() in FIELDS + OPTIONAL_FIELDS else raw
        if name in FIELDS or name in OPTIONAL_FIELDS:
            target, key = fields, name
        else:
            key = name[len(ITEM_PREFIX):] if name.startswith(ITEM_PREFIX) else name
            if key not in known_items:
                problems.append(f"column {i + 1} {raw!r} is neither a batch field nor an item "
                                "of any questionnaire")
                continue
            target = items
        if key in target:
            problems.append(f"column {i + 1} {raw!r} repeats column {target[key] + 1}")
            continue
        target[key] = i
    missing = [f for f in FIELDS if f not in fields]
    if missing:
        problems.insert(0, f"missing column(s): {', '.join(missing)}")
    if problems:
        raise BatchFileError("header: " + "; ".join(problems))
    return Columns(fields, items)


def row_payload(row: Sequence[str], cols: Columns,
                questionnaires: Mapping[str, Questionnaire]
                ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The ``prepare`` payload of one row, and the row's own errors (column, reason) that
    ``prepare`` cannot see (an answer in a column its questionnaire does not have)."""
    get = {f: row[i] for f, i in cols.fields.items()}
    q = questionnaires.get(get["questionnaire"])
    answers: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    for item_id, i in cols.items.items():
        cell = row[i]
        if cell == "":
            continue
        if q is not None and not q.has_item(item_id):
            errors.append((item_id, f"not an item of questionnaire {q.id}; leave it empty"))
            continue
        if cell.lower() == "na":
            answers[item_id] = "na"
        elif q is not None and q.item(item_id).type == "multi":
            answers[item_id] = [p.strip() for p in cell.replace("；", ";").split(";")
                                if p.strip()]
        else:
            answers[item_id] = cell
    payload: dict[str, Any] = {
        "client_uuid": get["client_uuid"], "questionnaire": get["questionnaire"],
        "version": get["version"], "site": get["site"], "answers": answers,
        "consent_version": get.get("consent_version") or (q.consent_version if q else ""),
        "channel": get["channel"], "started_at": get["started_at"],
        "submitted_at": get["submitted_at"],
    }
    return payload, errors


def _column_of(key: str) -> str:
    """The column a ``prepare`` error key refers to (``answers.x`` → ``x``)."""
    return key.removeprefix("answers.")


# --------------------------------------------------------------------------- import


def served_city_ids(session: Session, agency_id: int) -> set[int]:
    return set(session.scalars(select(AgencyCity.city_id)
                               .where(AgencyCity.agency_id == agency_id)))


@dataclass
class _Parsed:
    prepared: list[Prepared]
    rows: list[int]
    interviewers: list[str]
    errors: list[dict[str, Any]]
    skipped: int


def _parse_rows(session: Session, table: Table, cols: Columns,
                questionnaires: Mapping[str, Questionnaire], sites: Mapping[str, SiteRef],
                city_id: int, now: datetime) -> _Parsed:
    out = _Parsed([], [], [], [], 0)
    seen: dict[str, int] = {}
    for number, row in enumerate(table.rows, start=1):
        if not any(row):
            continue
        payload, errors = row_payload(row, cols, questionnaires)
        interviewer = row[cols.fields["interviewer"]]
        if not interviewer:
            errors.append(("interviewer", "required: the interviewer's code"))
        elif len(interviewer) > 64:
            errors.append(("interviewer", "longer than 64 characters"))
        site = sites.get(payload["site"])
        if site is not None and site.city_id != city_id:
            errors.append(("site", f"site {site.code} is not in this batch's city"))
        prepared = None
        try:
            prepared = prepare(questionnaires, payload, sites, now=now,
                               intake=AGENCY)
        except SubmissionInvalid as exc:
            errors.extend((_column_of(k), v) for k, v in exc.errors.items())
        if prepared is not None and prepared.client_uuid in seen:
            errors.append(("client_uuid", f"repeats row {seen[prepared.client_uuid]}"))
        if errors or prepared is None:
            out.errors.extend({"row": number, "column": c, "reason": r} for c, r in errors)
            continue
        seen[prepared.client_uuid] = number
        out.prepared.append(prepared)
        out.rows.append(number)
        out.interviewers.append(interviewer)
    # Rows already stored (an earlier upload): same content → skipped, else a conflict.
    stored: dict[str, str] = {}
    uuids = [p.client_uuid for p in out.prepared]
    for start in range(0, len(uuids), 1000):
        stored.update(session.execute(
            select(Response.client_uuid, Response.payload_hash)
            .where(Response.client_uuid.in_(uuids[start:start + 1000]))).all())
    if stored:
        keep = _Parsed([], [], [], out.errors, 0)
        for p, number, who in zip(out.prepared, out.rows, out.interviewers, strict=True):
            digest = stored.get(p.client_uuid)
            if digest is None:
                keep.prepared.append(p)
                keep.rows.append(number)
                keep.interviewers.append(who)
            elif digest == p.payload_hash:
                keep.skipped += 1
            else:
                keep.errors.append({"row": number, "column": "client_uuid",
                                    "reason": "already stored with different content "
                                              "(conflict)"})
        out = keep
    out.errors.sort(key=lambda e: (e["row"], e["column"]))
    return out


def _infer_city(table: Table, cols: Columns, sites: Mapping[str, SiteRef]) -> int:
    cities = Counter(sites[r[cols.fields["site"]]].city_id for r in table.rows
                     if r[cols.fields["site"]] in sites)
    if not cities:
        raise BatchFileError("city: no row names a known site, so the batch's city is "
                             "unknown (give the city)")
    if len(cities) > 1:
        raise BatchFileError("city: the rows' sites are in more than one city; upload one "
                             "batch per city (or give the city)")
    return next(iter(cities))


def import_batch(session: Session, questionnaires: Mapping[str, Questionnaire], *,
                 agency: Agency, filename: str, data: bytes, city_code: str | None = None,
                 actor: str, wave: str | None = None, uploaded_by: int | None = None,
                 now: datetime | None = None,
                 settings: screening.Settings = screening.DEFAULT_SETTINGS) -> ImportResult:
    """Validate, store (``pending``) and screen one file; commits.

    Raises :class:`BatchFileError` (nothing stored) or :class:`NotServed`.
    """
    now = now or datetime.now(UTC)
    digest = hashlib.sha256(data).hexdigest()
    existing = session.scalar(select(Batch).where(Batch.agency_id == agency.id,
                                                  Batch.sha256 == digest))
    if existing is not None:
        return ImportResult(existing, False)
    if wave is not None and not is_wave(wave):
        raise BatchFileError(f"wave: expected YYYYQn, e.g. 2026Q4, got {wave!r}")
    table = read_table(filename, data)
    cols = columns_of(table.header, questionnaires)
    if not any(any(r) for r in table.rows):
        raise BatchFileError("file: a header but no data rows")
    sites = site_refs(session, {r[cols.fields["site"]] for r in table.rows})
    served = served_city_ids(session, agency.id)
    if city_code:
        city = session.scalar(select(City).where(City.code == city_code))
        if city is None or city.id not in served:
            raise NotServed(f"city: agency {agency.code} does not serve {city_code!r}")
        city_id = city.id
    else:
        city_id = _infer_city(table, cols, sites)
        if city_id not in served:
            raise NotServed(f"city: agency {agency.code} does not serve the city of these "
                            "sites")
    parsed = _parse_rows(session, table, cols, questionnaires, sites, city_id, now)
    if wave is None and parsed.prepared:
        wave = Counter(p.wave for p in parsed.prepared).most_common(1)[0][0]
    batch = Batch(agency_id=agency.id, city_id=city_id, wave=wave, filename=filename[:255],
                  sha256=digest, uploaded_by=uploaded_by, uploaded_at=now,
                  n_rows=sum(1 for r in table.rows if any(r)), n_valid=len(parsed.prepared),
                  n_invalid=len({e["row"] for e in parsed.errors}), n_skipped=parsed.skipped,
                  row_errors=parsed.errors, response_rows=[], report={},
                  auto_decision=Decision.rejected, decision_reasons=[])
    session.add(batch)
    session.flush()
    ids = bulk_store(session, parsed.prepared, status=ResponseStatus.pending.value,
                     agency_id=agency.id, batch_id=batch.id, interviewers=parsed.interviewers)
    batch.response_rows = [[r, i] for r, i in zip(parsed.rows, ids, strict=True)]
    population = dict(session.execute(select(District.id, District.population)
                                      .where(District.city_id == city_id)).all())
    data_arrays = batch_data(parsed.prepared, parsed.rows, parsed.interviewers, wave,
                             population)
    checks = screening.screen(data_arrays, settings)
    decision = acceptance.auto_decide(checks, n_rows=batch.n_rows, n_valid=batch.n_valid,
                                      n_invalid=batch.n_invalid)
    batch.report = {"checks": [c.as_dict() for c in checks],
                    "row_numbering": "1-based data rows; the header row is not counted",
                    "flagged_rows": decision.flagged_rows}
    batch.auto_decision = decision.decision
    batch.decision_reasons = decision.reasons
    audit.record(session, "agency_batch_uploaded", city_id=city_id, actor=actor,
                 user_id=uploaded_by, batch_id=batch.id, agency=agency.code,
                 rows=batch.n_rows, stored=batch.n_valid, invalid=batch.n_invalid,
                 skipped=batch.n_skipped, auto_decision=decision.decision, sha256=digest)
    session.commit()
    return ImportResult(batch, True)


def _epoch(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else math.nan


def batch_data(prepared: Sequence[Prepared], rows: Sequence[int],
               interviewers: Sequence[str], wave: str | None,
               district_population: Mapping[int, int | None]) -> screening.BatchData:
    """The arrays :func:`survey.agency.screening.screen` needs, from the prepared rows."""
    scale_items: list[str] = []
    other_items: list[str] = []
    for q in {p.questionnaire.id: p.questionnaire for p in prepared}.values():
        for item in q.items:
            target = scale_items if item.type in ("scale", "nps") else other_items
            if item.type != "text" and item.id not in target:
                target.append(item.id)
    all_items = scale_items + [i for i in other_items if i not in scale_items]
    n = len(prepared)
    answers = np.full((n, len(scale_items)), np.nan)
    vectors = np.full((n, len(all_items)), np.nan)
    asked = np.zeros((n, len(all_items)), dtype=bool)
    missing = np.zeros((n, len(all_items)), dtype=bool)
    position = {item: j for j, item in enumerate(all_items)}
    codes = {item.id: {o.value: k for k, o in enumerate(item.options or [])}
             for p in {p.questionnaire.id: p.questionnaire for p in prepared}.values()
             for item in p.items if item.type == "single"}
    for r, p in enumerate(prepared):
        q = p.questionnaire
        for item in q.items:
            j = position.get(item.id)
            if j is None or not q.is_visible(item, p.answers):
                continue
            asked[r, j] = True
            value = p.answers.get(item.id)
            if value is None or value is NA:
                missing[r, j] = True
            elif j < len(scale_items):
                answers[r, j] = vectors[r, j] = float(value)
            elif item.type == "single":
                vectors[r, j] = float(codes[item.id].get(str(value), -1))
    start, end = wave_bounds(wave) if wave else (None, None)
    started = np.array([_epoch(p.started_at) for p in prepared], dtype=float)
    submitted = np.array([_epoch(p.submitted_at) for p in prepared], dtype=float)
    return screening.BatchData(
        rows=np.asarray(rows, dtype=np.int64), answers=answers, vectors=vectors,
        groups=np.array([p.questionnaire.id for p in prepared], dtype=str),
        overall=np.array([p.scores.get(OVERALL) if p.scores.get(OVERALL) is not None
                          else math.nan for p in prepared], dtype=float),
        durations=submitted - started,
        interviewers=np.array(list(interviewers), dtype=str),
        started=started, submitted=submitted,
        wave_start=start.timestamp() if start else None,
        wave_end=end.timestamp() if end else None,
        asked=asked, missing=missing, item_names=all_items,
        age_band=np.array([p.demographics.get("age_band") or "" for p in prepared], dtype=str),
        gender=np.array([p.demographics.get("gender") or "" for p in prepared], dtype=str),
        districts=np.array([p.site.district_id for p in prepared], dtype=np.int64),
        district_population={k: v for k, v in district_population.items() if v},
    )
