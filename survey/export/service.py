"""The researcher export: anonymized microdata streamed to CSV, with a codebook.

One export = one questionnaire, optionally one city and one wave, ``status == 'valid'``
responses only, one row per response. It runs in one read transaction (REPEATABLE READ on
PostgreSQL) in three steps:

1. *Plan.* A ``GROUP BY`` over the quasi-identifiers gives the equivalence-class counts;
   :func:`survey.export.anonymize.plan_k_anonymity` decides generalisation and suppression. Two
   small ``GROUP BY`` queries list the districts and sites of the scope, which get random
   labels (``stratum``, ``psu``) drawn for this export only.
2. *Stream.* The responses are read ordered by a keyed hash of their id with a random
   per-export salt (``md5(salt || id)`` in PostgreSQL, an HMAC-BLAKE2b function registered
   on the SQLite connection) through one server-side-cursor query over ``response``
   (outer-joined to its free-text answers), in chunks. A row's answer and score cells are
   the CSV fragments stored at submit (``item_codes``, ``dimension_scores``, see
   :mod:`survey.core.responses.codes`); responses without them are encoded from their ``answer``
   and ``score`` rows per chunk with the same functions. Memory does not grow with the
   number of rows.
3. *Check.* Rows written per raw quasi-identifier combination must equal the planned
   counts (otherwise data changed between the steps and the export fails, leaving nothing).

Every row gets a fresh random ``rid`` (64 random bits from :mod:`secrets`); no database id,
site code, timestamp, receipt or client UUID is written.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import re
import secrets
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import cast as cast_type

from sqlalchemy import (
    Connection,
    Engine,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Session, aliased

from survey.core import audit
from survey.core.models import Answer, City, District, Response, ResponseStatus, Score, Site
from survey.core.questionnaires import Questionnaire
from survey.core.responses.codes import (
    encode_items,
    encode_scores,
    layout,
    qi_names,
)
from survey.core.spreadsheet import escape_formula
from survey.core.waves import is_wave
from survey.export.anonymize import (
    KPlan,
    QuasiIdentifier,
    ScrubCounts,
    plan_k_anonymity,
    quasi_identifiers,
    scrub_text,
)
from survey.export.columns import (
    DESIGNS,
    FORMATS,
    MAX_REPLICATES,
    REPLICATE_METHODS,
    ExportRequest,
    Variable,
    variables,
)
from survey.export.replicates import (
    ReplicateFactors,
    VarianceUnitError,
    VarianceUnits,
    replicate_factors,
    variance_units,
)

__all__ = ["DESIGNS", "FORMATS", "REPLICATE_METHODS", "ExportError", "ExportRequest",
           "ExportResult", "export_files", "parse_count"]

CHUNK = 5000
RW_CACHE = 50_000
"""Most (site, weight) → replicate-weight cells kept at once (rows share weights)."""
VARIANCE_UNIT = "variance_unit"
"""The implicit quasi-identifier of the public-use variant: rows of one masked variance
unit share one replicate-weight pattern (``rw_r / final_weight``), so the unit counts in
the k-anonymity plan, fixed like wave and city (it cannot be generalised away)."""

# A row of the streaming query (:func:`_driver`) as text: id, wave, site id, age, gender,
# visit, weight, overall, satisfied, version (NOT NULL or coalesced to ""), item_codes and
# dimension_scores (None when not stored), then one coalesced cell per free-text item.
_DriverRow = tuple[str, str, str, str, str, str, str, str, str, str, str | None, str | None,
                   *tuple[str, ...]]


class ExportError(ValueError):
    """The export cannot be made as asked; the message says what and where."""


@dataclass(frozen=True)
class ExportResult:
    """Files written and what was done to the data."""

    csv_path: Path
    codebook_json: Path
    codebook_md: Path
    extra_path: Path | None
    rows: int
    plan: KPlan
    scrub: dict[str, int]
    codebook: dict[str, Any]


# --------------------------------------------------------------------------- SQL


def _scope(q: Questionnaire, city_id: int | None, wave: str | None) -> Any:
    parts = [Response.status == ResponseStatus.valid.value, Response.questionnaire == q.id]
    if city_id is not None:
        parts.append(Response.city_id == city_id)
    if wave is not None:
        parts.append(Response.wave == wave)
    return and_(*parts)


def _dbapi_connection(conn: Connection) -> Any:
    """The driver's own connection under ``conn`` (sqlite3 or psycopg)."""
    raw = conn.connection.driver_connection
    if raw is None:  # only once the connection was invalidated (lost) mid-export
        raise ExportError("the database connection was lost during the export")
    return raw


def _shuffle_key(conn: Connection, salt: str) -> Any:
    """A per-export keyed pseudo-random order (see the module docstring)."""
    if conn.dialect.name == "postgresql":
        # As uuid: 16 bytes compared with memcmp, not 32 characters under a collation.
        return cast(func.md5(literal(salt) + cast(Response.id, String)), UUID)
    key = salt.encode()

    def shuffle(value: int) -> bytes:
        return hmac.new(key, str(value).encode(), hashlib.blake2b).digest()[:16]

    _dbapi_connection(conn).create_function("manyi_shuffle", 1, shuffle, deterministic=True)
    return func.manyi_shuffle(Response.id)


def _field(conn: Connection, column: Any, n: int) -> Any:
    """The ``n``-th (1-based) comma-separated field of ``column`` (``split_part``; a
    function registered on the SQLite connection)."""
    if conn.dialect.name == "postgresql":
        return func.split_part(column, literal(","), n)

    def field(value: str | None, index: int) -> str | None:
        if value is None:
            return None
        parts = value.split(",")
        return parts[index - 1] if index <= len(parts) else ""

    _dbapi_connection(conn).create_function("manyi_field", 2, field, deterministic=True)
    return func.manyi_field(column, n)


def _encoded(q: Questionnaire) -> Any:
    """Responses whose stored export codes are those of ``q`` (else: read ``answer``)."""
    return and_(Response.item_codes.is_not(None), Response.dimension_scores.is_not(None),
                Response.version == q.version)


def _code_expr() -> Any:
    return case((Answer.is_na.is_(True), literal("na")),
                (Answer.value_num.is_not(None),
                 cast(cast(Answer.value_num, _integer()), String)),
                else_=Answer.value_text)


def _integer() -> Any:
    from sqlalchemy import Integer

    return Integer()


SEP = "\x1f"
"""Separator of the per-response ``item, code, item, code…`` lists (unit separator)."""


def _pairs(conn: Connection, key: Any, value: Any) -> Any:
    """``key SEP value SEP key SEP value…`` aggregated per group (one string)."""
    pair = key + literal(SEP) + value
    if conn.dialect.name == "postgresql":
        return func.string_agg(pair, literal(SEP))
    return func.group_concat(pair, literal(SEP))


def _score_value(conn: Connection) -> Any:
    """A score as text that round-trips the float (PostgreSQL ≥ 12 prints the shortest
    exact form; SQLite needs 17 significant digits)."""
    if conn.dialect.name == "postgresql":
        return cast(Score.value, String)
    return func.printf("%!.17g", Score.value)


def _in_ids(conn: Connection, column: Any, ids: list[int]) -> Any:
    """``column IN ids``: one array parameter on PostgreSQL (``= ANY``), a list on SQLite."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy import Integer, any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam("ids", ids, type_=ARRAY(Integer)))
    return column.in_(ids)


def _unpack(value: str | None) -> dict[str, str]:
    if not value:
        return {}
    parts = iter(value.split(SEP))
    return dict(zip(parts, parts, strict=True))


# --------------------------------------------------------------------------- export


def _resolve(session: Session, request: ExportRequest,
             questionnaires: Mapping[str, Questionnaire]) -> tuple[Questionnaire, City | None]:
    if request.questionnaire not in questionnaires:
        raise ExportError(f"questionnaire: unknown questionnaire {request.questionnaire!r} "
                          f"(known: {', '.join(sorted(questionnaires))})")
    if request.format not in FORMATS:
        raise ExportError(f"format: must be one of {', '.join(FORMATS)}, got {request.format!r}")
    city = None
    if request.city is not None:
        city = session.scalar(select(City).where(City.code == request.city))
        if city is None:
            raise ExportError(f"city: unknown city code {request.city!r}")
    if request.wave is not None and not is_wave(request.wave):
        raise ExportError(f"wave: expected a wave such as 2026Q4, got {request.wave!r}")
    _check_design(request)
    return questionnaires[request.questionnaire], city


def parse_count(field: str, value: str | None) -> int | None:
    """A whole number typed into a form field (empty: ``None``); :class:`ExportError`
    naming ``field`` otherwise."""
    if value is None or not value.strip():
        return None
    text_value = value.strip()
    if not re.fullmatch(r"[0-9]{1,9}", text_value):
        raise ExportError(f"{field}: expected a whole number, got {value!r}")
    return int(text_value)


def _check_design(request: ExportRequest) -> None:
    if request.design not in DESIGNS:
        raise ExportError(f"design: must be one of {', '.join(DESIGNS)}, got "
                          f"{request.design!r}")
    if request.design != "replicates":
        return
    if request.replicate_method not in REPLICATE_METHODS:
        raise ExportError(f"replicate_method: must be one of {', '.join(REPLICATE_METHODS)}, "
                          f"got {request.replicate_method!r}")
    if request.replicates is not None:
        if request.replicate_method != "bootstrap":
            raise ExportError("replicates: the number of replicates is set only for the "
                              "bootstrap (JKn has one replicate per variance unit)")
        if (isinstance(request.replicates, bool) or not isinstance(request.replicates, int)
                or not 2 <= request.replicates <= MAX_REPLICATES):
            raise ExportError(f"replicates: must be a whole number from 2 to "
                              f"{MAX_REPLICATES}, got {request.replicates!r}")
    unit = request.min_variance_unit
    if isinstance(unit, bool) or not isinstance(unit, int) or unit < request.k:
        raise ExportError(f"min_variance_unit: must be a whole number of at least k = "
                          f"{request.k} (respondents per wave), got {unit!r}")


def _labels(prefix: str, keys: list[Any]) -> dict[Any, str]:
    shuffled = list(keys)
    secrets.SystemRandom().shuffle(shuffled)
    width = max(2, len(str(len(keys))))
    return {key: f"{prefix}{i:0{width}d}" for i, key in enumerate(shuffled, 1)}


def export_files(engine: Engine, session: Session, questionnaires: Mapping[str, Questionnaire],
                 request: ExportRequest, out_csv: Path, *, actor: str,
                 user_id: int | None = None) -> ExportResult:
    """Write ``out_csv``, ``<stem>.codebook.json``, ``<stem>.codebook.md`` (and
    ``<stem>.sav``/``.dta`` for those formats); audit-log the export on ``session``
    (committed). Raises :class:`ExportError` for bad requests (nothing is written)."""
    from survey.export import codebook

    q, city = _resolve(session, request, questionnaires)
    out_csv = Path(out_csv)
    stem = out_csv.with_suffix("")
    paths = {"json": Path(f"{stem}.codebook.json"), "md": Path(f"{stem}.codebook.md")}
    public = request.design == "replicates"
    base_cols = variables(q, request.include_text)
    scope = _scope(q, city.id if city else None, request.wave)
    scrub = ScrubCounts()
    unknown: Counter[str] = Counter()
    with ExitStack() as stack:
        conn = stack.enter_context(engine.connect())
        postgresql = conn.dialect.name == "postgresql"
        if postgresql:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        stack.enter_context(conn.begin())
        if postgresql:
            _tune(conn)
        driver = _driver(conn, q, scope, base_cols, secrets.token_hex(16))
        source = None
        # COPY holds its connection until it ends, and rows without stored codes need
        # per-chunk queries: COPY only when every row has its codes (the usual case once
        # migration 0005 has run), else a server-side cursor on ``conn``.
        if postgresql and not conn.scalar(select(func.count()).select_from(Response)
                                          .where(scope, ~_encoded(q))):
            source = _start_copy(stack, engine, conn, driver)
        names = qi_names(q)
        qis = quasi_identifiers(names)
        by_site = _qi_counts(conn, q, scope, names)
        units: VarianceUnits | None = None
        factors: ReplicateFactors | None = None
        design: dict[str, str] = {}
        if public:
            units, factors = _replicates(conn, scope, request)
            qis.append(QuasiIdentifier(VARIANCE_UNIT, (None,), fixed=True))
            unit_of = units.unit_of_site
            counts = _merge({(site, (*raw, str(unit_of[site]))): n
                             for (site, raw), n in by_site.items()})
        else:
            counts = _merge(by_site)
        plan = plan_k_anonymity(counts, qis, request.k, request.max_suppression)
        cols = variables(q, request.include_text, factors.replicates if factors else 0)
        if not public:
            strata = _labels("s", list(conn.scalars(
                select(Response.district_id).where(scope).group_by(Response.district_id))))
            psus = _labels("p", list(conn.scalars(
                select(Response.site_id).where(scope).group_by(Response.site_id))))
            design = {str(site): f"{strata[district]},{psus[site]}" for site, district in
                      conn.execute(select(Site.id, Site.district_id)
                                   .where(Site.id.in_(list(psus))))}
        rw = None if units is None or factors is None else _ReplicateCells(units, factors)
        try:
            written = _stream(conn, q, driver, source, plan, cols, design, rw, request,
                              out_csv, scrub, unknown)
        except BaseException:
            out_csv.unlink(missing_ok=True)
            raise
    if written != Counter(counts):  # every row read, written or dropped, was planned
        out_csv.unlink(missing_ok=True)
        raise ExportError("the data changed while the export ran; please export again")
    rows = sum(n for raw, n in written.items() if plan.mapping[raw] is not None)
    if units is not None and factors is not None:
        design_book = codebook.replicate_design(request, units, factors)
    else:
        design_book = codebook.label_design(
            len(strata), len(psus), request.k, _small_with_design(by_site, plan, request.k))
    book = codebook.build(q, cols, plan, scrub.as_dict(), request, rows, dict(unknown),
                          design_book)
    paths["json"].write_text(json.dumps(book, ensure_ascii=False, indent=2) + "\n",
                             encoding="utf-8")
    paths["md"].write_text(codebook.markdown(book), encoding="utf-8")
    extra = None
    if request.format in ("sav", "dta"):
        extra = Path(f"{stem}.{request.format}")
        codebook.write_labelled(out_csv, cols, extra, request.format)
    audit.record(session, "export", city_id=city.id if city else None, actor=actor,
                 user_id=user_id, rows=rows, **request.filters())
    session.commit()
    return ExportResult(out_csv, paths["json"], paths["md"], extra, rows, plan,
                        scrub.as_dict(), book)


def _merge(by_site: Mapping[tuple[int, tuple[str, ...]], int]) -> dict[tuple[str, ...], int]:
    """Rows per raw quasi-identifier tuple, summed over sites."""
    out: Counter[tuple[str, ...]] = Counter()
    for (_site, raw), n in by_site.items():
        out[raw] += n
    return dict(out)


def _small_with_design(by_site: Mapping[tuple[int, tuple[str, ...]], int], plan: KPlan,
                       k: int) -> int:
    """Exported rows in classes smaller than ``k`` when ``stratum`` and ``psu`` are
    counted as quasi-identifiers too: the classes as written (the plan's output) split by
    site (a PSU; its stratum is its district, so the site fixes both labels)."""
    classes: Counter[tuple[int, tuple[str, ...]]] = Counter()
    for (site, raw), n in by_site.items():
        out = plan.mapping[raw]
        if out is not None:
            classes[(site, out)] += n
    return sum(n for n in classes.values() if n < k)


def _replicates(conn: Connection, scope: Any,
                request: ExportRequest) -> tuple[VarianceUnits, ReplicateFactors]:
    """The masked variance units of ``scope`` (one GROUP BY district, site and wave) and
    their replicate factors (:mod:`survey.export.replicates`)."""
    rows = conn.execute(
        select(City.code, District.code, Response.site_id, Response.wave, func.count(),
               func.sum(Response.final_weight))
        .select_from(Response).join(City, City.id == Response.city_id)
        .join(District, District.id == Response.district_id).where(scope)
        .group_by(City.code, District.code, Response.site_id, Response.wave))
    try:
        units = variance_units(((c, d, int(s), w, int(n), float(ws or 0.0))
                                for c, d, s, w, n, ws in rows), request.min_variance_unit)
        return units, replicate_factors(units, request.replicate_method,
                                        request.bootstrap_replicates)
    except VarianceUnitError as exc:
        raise ExportError(str(exc)) from None


class _ReplicateCells:
    """The ``rw_1 … rw_R`` cells of a row: ``final_weight × factors[unit of its site]``
    (Python floats, written with ``repr``: shortest round-trip), cached per (site,
    weight) text — rows share weights — with at most :data:`RW_CACHE` entries."""

    def __init__(self, units: VarianceUnits, factors: ReplicateFactors) -> None:
        rows = [[float(f) for f in row] for row in factors.factors]
        self._factors = {str(site): rows[unit] for site, unit in units.unit_of_site.items()}
        self.unit_of = {str(site): str(unit) for site, unit in units.unit_of_site.items()}
        """Site id → variance unit (as text), both as the rows carry them."""
        self._cache: dict[tuple[str, str], str] = {}

    def __call__(self, site: str, weight: str) -> str:
        key = (site, weight)
        cells = self._cache.get(key)
        if cells is None:
            if len(self._cache) >= RW_CACHE:
                self._cache.clear()
            w = float(weight)
            cells = ",".join([repr(w * f) for f in self._factors[site]])
            self._cache[key] = cells
        return cells


def _qi_counts(conn: Connection, q: Questionnaire, scope: Any,
               names: list[str]) -> dict[tuple[int, tuple[str, ...]], int]:
    """Rows per site and raw quasi-identifier tuple (missing values as ""): one GROUP BY
    over the responses with stored codes (other demographics read from ``item_codes``),
    one over the others (other demographics joined from ``answer``). Both group by the
    site id (a site fixes its city, district and kind), mapped to codes here."""
    base: list[Any] = [Response.wave, Response.site_id,
                       func.coalesce(Response.age_band, ""), func.coalesce(Response.gender, "")]
    if "visit_type" in names:
        base.append(func.coalesce(Response.visit_type, ""))
    extras = list(layout(q).extras)
    place = _site_places(conn)

    def grouped(cols: list[Any], where: Any, joins: list[tuple[Any, Any]]) -> Any:
        stmt = select(*cols, func.count()).select_from(Response)
        for a, on in joins:
            stmt = stmt.outerjoin(a, on)
        return conn.execute(stmt.where(where).group_by(*cols))

    def add(rows: Any) -> None:
        for wave, site_id, *rest, n in rows:
            counts[(int(site_id), (wave, *place[site_id], *rest))] += int(n)

    counts: Counter[tuple[int, tuple[str, ...]]] = Counter()
    fast = base + [_field(conn, Response.item_codes, i) for i in range(1, len(extras) + 1)]
    add(grouped(fast, and_(scope, _encoded(q)), []))
    slow = list(base)
    joins = []
    for name in extras:
        a = aliased(Answer)
        joins.append((a, and_(a.response_id == Response.id, a.item == name)))
        slow.append(func.coalesce(a.value_text, ""))
    add(grouped(slow, and_(scope, ~_encoded(q)), joins))
    return dict(counts)


def _site_places(conn: Connection) -> dict[int, tuple[str, str, str]]:
    """Site id → (city code, district code, site kind): what a site fixes of the
    quasi-identifiers."""
    rows = conn.execute(select(Site.id, City.code, District.code, Site.kind)
                        .join(City, City.id == Site.city_id)
                        .join(District, District.id == Site.district_id))
    return {site: (city, district, kind) for site, city, district, kind in rows}


_QUOTE = frozenset(',"\r\n')


def csv_cell(value: str) -> str:
    """A text cell as ``csv.writer`` (QUOTE_MINIMAL, ``","``, ``"\\r\\n"``) writes it."""
    if _QUOTE.isdisjoint(value):
        return value
    return '"' + value.replace('"', '""') + '"'


def _driver(conn: Connection, q: Questionnaire, scope: Any, cols: list[Variable],
            salt: str) -> Any:
    """The streaming query: one row per response of ``scope``, in a random order keyed by
    ``salt``. Free text comes with the row: one outer join per text item (at most one
    answer per response and item), which the database does as one hash join before
    sorting. Columns that are often NULL come as "" (so a typical COPY line has no \\N
    to decode); a NULL item_codes/dimension_scores still arrives as None: the fallback."""
    has_visit = q.has_item("visit_type")
    text_items = [v.item for v in cols if v.role == "text" and v.item is not None]
    visit = func.coalesce(Response.visit_type, "") if has_visit else literal("")
    driver = select(Response.id, Response.wave, Response.site_id,
                    func.coalesce(Response.age_band, ""), func.coalesce(Response.gender, ""),
                    visit, cast(Response.final_weight, String),
                    func.coalesce(cast(Response.overall_score, String), ""),
                    func.coalesce(cast(Response.satisfied, String), ""), Response.version,
                    Response.item_codes, Response.dimension_scores)
    text_cols = []
    for item_id in text_items:
        a = aliased(Answer)
        driver = driver.outerjoin(a, and_(a.response_id == Response.id, a.item == item_id,
                                          a.value_text.is_not(None)))  # ix_answer_text
        text_cols.append(func.coalesce(a.value_text, ""))
    return driver.add_columns(*text_cols).where(scope).order_by(_shuffle_key(conn, salt))


def _stream(conn: Connection, q: Questionnaire, driver: Any,
            source: Iterator[Sequence[Sequence[str | None]]] | None, plan: KPlan,
            cols: list[Variable], design: Mapping[str, str], rw: _ReplicateCells | None,
            request: ExportRequest, out_csv: Path, scrub: ScrubCounts,
            unknown: Counter[str]) -> Counter[tuple[str, ...]]:
    """Write the CSV; returns the rows read per raw quasi-identifier tuple.

    One server-side-cursor query over ``response`` (outer-joined to its free-text
    answers; city, district and site codes come from small dicts loaded once). A row's
    answer and score cells are its stored ``item_codes``/``dimension_scores`` fragments;
    only responses without them (another questionnaire version, or not encodable by the
    migration) have their ``answer`` and ``score`` rows read, per chunk, and encoded with
    the same functions. Each line is joined from ready fragments; only text cells (quasi-
    identifier labels, once per class; scrubbed free text) are escaped and quoted.

    ``design`` maps a site id (as text) to its ``stratum,psu`` cells; in the public-use
    variant ``rw`` gives the replicate-weight cells instead and the last quasi-identifier
    of the plan (the variance unit) is not written.
    """
    lay = layout(q)
    n_extras = len(lay.extras)
    has_items = lay.n_item_cells > 0
    has_dims = bool(lay.dimensions)
    has_visit = q.has_item("visit_type")
    # Rows arrive as text, keyed by the site's id (a site fixes its city and district).
    place = {str(site): codes for site, codes in _site_places(conn).items()}
    # Public-use variant: the variance unit closes the raw tuple and is not written.
    unit = {} if rw is None else {site: (u,) for site, u in rw.unit_of.items()}
    hidden = 0 if rw is None else 1
    # The per-row class key is (wave, site id, age, gender, visit, other demographics…);
    # each key seen maps once to the plan's raw tuple and to its ready CSV fragment
    # (generalised, formula-escaped, quoted) or None when suppressed.
    ready = {raw: None if out is None else
             ",".join(csv_cell(escape_formula(v)) for v in out[:len(out) - hidden])
             for raw, out in plan.mapping.items()}
    raw_of: dict[tuple[str, ...], tuple[str, ...]] = {}
    fragment: dict[tuple[str, ...], str | None] = {}
    seen: Counter[tuple[str, ...]] = Counter()

    def resolve(key: tuple[str, ...]) -> str | None:
        wave, site, age, gender, visit_value, *extras = key
        raw = (wave, *place[site], age, gender, *((visit_value,) if has_visit else ()),
               *extras, *unit.get(site, ()))
        raw_of[key] = raw
        fragment[key] = ready.get(raw)
        return fragment[key]

    all_text = list(lay.text_items) or [""]
    version = str(q.version)
    with out_csv.open("w", encoding="utf-8-sig" if request.bom else "utf-8",
                      newline="") as fh:
        csv.writer(fh).writerow([v.name for v in cols])
        if source is None:
            source = _cursor_chunks(conn, driver)
        for chunk in source:
            # The shape of _driver's rows (one cast per chunk, not per row).
            part = cast_type("Sequence[_DriverRow]", chunk)
            slow = [int(r[0]) for r in part
                    if r[10] is None or r[11] is None or r[9] != version]
            fallback: dict[str, tuple[str, str]] = {}
            if slow:
                fallback = {str(k): v for k, v in _encode_from_answers(
                    conn, q, slow, all_text, unknown).items()}
            rids = secrets.token_hex(8 * len(part))
            lines = []
            for i, (rid_db, wave, site, age, gender, visit_value, weight, overall,
                    satisfied, ver, codes, dims, *texts) in enumerate(part):
                if codes is None or dims is None or ver != version:
                    codes, dims = fallback[rid_db]
                if n_extras:
                    extras = codes.split(",", n_extras)
                    codes = extras.pop() if has_items else ""
                    key = (wave, site, age, gender, visit_value, *extras)
                else:
                    key = (wave, site, age, gender, visit_value)
                seen[key] += 1
                qi = fragment[key] if key in fragment else resolve(key)
                if qi is None:
                    continue
                if rw is None:
                    cells = [rids[16 * i:16 * i + 16], design[site], weight, qi]
                else:
                    cells = [rids[16 * i:16 * i + 16], weight, rw(site, weight), qi]
                if has_items:
                    cells.append(codes)
                if has_dims:
                    cells.append(dims)
                cells.append(overall)
                cells.append(satisfied)
                for value in texts:
                    cells.append(csv_cell(escape_formula(scrub_text(value, scrub)))
                                 if value else "")
                lines.append(",".join(cells))
            if lines:
                fh.write("\r\n".join(lines))
                fh.write("\r\n")
    written: Counter[tuple[str, ...]] = Counter()
    for key, n in seen.items():
        written[raw_of[key]] += n
    return written


def _cursor_chunks(conn: Connection, stmt: Any) -> Iterator[Sequence[Sequence[str | None]]]:
    """The rows of ``stmt`` as text fields (``None`` for NULL) in chunks of
    :data:`CHUNK`, through SQLAlchemy streaming (a server-side cursor on PostgreSQL)."""
    result = conn.execute(stmt, execution_options={"stream_results": True,
                                                   "yield_per": CHUNK})
    for part in result.partitions(CHUNK):
        yield [tuple(None if v is None else str(v) for v in row) for row in part]


def _start_copy(stack: ExitStack, engine: Engine, conn: Connection,
                stmt: Any) -> Iterator[Sequence[Sequence[str | None]]]:
    """Start ``COPY (stmt) TO STDOUT`` now, on a second connection that shares the
    transaction snapshot of ``conn`` (``pg_export_snapshot``), and return its rows as
    text fields in chunks.

    Why: PostgreSQL sorts the whole export before its first row; started first, that sort
    runs while ``conn`` computes the k-anonymity plan. Unlike a server-side cursor, COPY
    lets PostgreSQL sort with parallel workers and has no per-FETCH round trips, and its
    lines split in bulk (1M rows: ~3 s of server time instead of ~7 s). COPY takes no bind
    parameters, so the statement is rendered with literal values — all produced by this
    module (status, questionnaire id, validated wave, integer city id, hex salt). Numbers
    stay in PostgreSQL's text form (shortest exact, e.g. ``85`` for 85.0).
    """
    snapshot = conn.scalar(text("SELECT pg_export_snapshot()"))
    other = stack.enter_context(engine.connect()).execution_options(
        isolation_level="REPEATABLE READ")
    stack.enter_context(other.begin())
    if not re.fullmatch(r"[0-9A-Fa-f-]+", str(snapshot)):  # SET takes no parameters
        raise ExportError(f"unexpected snapshot id from PostgreSQL: {snapshot!r}")
    other.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
    _tune(other)
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    raw = _dbapi_connection(other)
    cur = stack.enter_context(raw.cursor())
    copy = stack.enter_context(cur.copy(f"COPY ({sql}) TO STDOUT"))
    return _copy_chunks(copy, len(stmt.selected_columns))


def _copy_chunks(copy: Any, width: int) -> Iterator[Sequence[Sequence[str | None]]]:
    pending = b""
    buffered: list[bytes] = []
    size = 0
    for block in copy:
        buffered.append(bytes(block))
        size += len(block)
        if size >= 1 << 20:
            pending, part = copy_lines(pending + b"".join(buffered), width)
            buffered, size = [], 0
            yield part
    pending, part = copy_lines(pending + b"".join(buffered), width)
    if part:
        yield part


def _tune(conn: Connection) -> None:
    """The export's PostgreSQL settings for this transaction: the streaming query's
    estimated cost would trigger JIT compilation, which takes longer than the query it
    compiles; the plan's GROUP BY is hashed (a few thousand groups) when it may use more
    than 4 MB."""
    conn.execute(text("SET LOCAL jit = off"))
    conn.execute(text("SET LOCAL work_mem = '64MB'"))


_COPY_ESCAPE = re.compile(r"\\([\\bfnrtv])")
_COPY_CHARS = {"\\": "\\", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
               "v": "\v"}


def _copy_field(value: str) -> str | None:
    """A field of COPY's text format: ``\\N`` is NULL; backslash sequences unescaped
    (COPY TO emits only \\b \\f \\n \\r \\t \\v and \\\\)."""
    if value == "\\N":
        return None
    if "\\" in value:
        return _COPY_ESCAPE.sub(lambda m: _COPY_CHARS[m.group(1)], value)
    return value


def copy_lines(data: bytes, width: int) -> tuple[bytes, list[tuple[str | None, ...]]]:
    """Complete lines of ``data`` (rows of ``width`` fields) as tuples; returns the
    unfinished tail too. Tabs and newlines inside values are escaped by COPY, so the
    whole block splits at once and ``zip`` cuts it into rows — in C, not per row."""
    cut = data.rfind(b"\n")
    if cut < 0:
        return data, []
    text = data[:cut].decode("utf-8")
    raw_fields = text.replace("\n", "\t").split("\t")
    fields: Sequence[str | None] = raw_fields
    if "\\" in text:  # rare: NULLs and escaped characters in free text
        fields = [_copy_field(f) if "\\" in f else f for f in raw_fields]
    if len(fields) % width:
        raise ExportError(f"COPY returned rows of an unexpected width (expected {width})")
    return data[cut + 1:], list(zip(*[iter(fields)] * width, strict=True))


def _encode_from_answers(conn: Connection, q: Questionnaire, ids: list[int],
                         all_text: list[str], unknown: Counter[str]) -> dict[int, tuple[str, str]]:
    """``(item_codes, dimension_scores)`` of responses without stored codes, from their
    ``answer`` and ``score`` rows (one aggregate query each)."""
    answers: dict[int, str] = dict(conn.execute(
        select(Answer.response_id, _pairs(conn, Answer.item, _code_expr()))
        .where(_in_ids(conn, Answer.response_id, ids), Answer.item.not_in(all_text))
        .group_by(Answer.response_id)).all())
    scores: dict[int, str] = dict(conn.execute(
        select(Score.response_id, _pairs(conn, Score.dimension, _score_value(conn)))
        .where(_in_ids(conn, Score.response_id, ids)).group_by(Score.response_id)).all())
    return {i: (encode_items(q, _unpack(answers.get(i)), unknown),
                encode_scores(q, _unpack(scores.get(i)))) for i in ids}


def iter_file(path: Path, chunk: int = 1 << 16) -> Iterator[bytes]:
    """A file's bytes in chunks (for streaming a download)."""
    with path.open("rb") as fh:
        while data := fh.read(chunk):
            yield data
