"""The researcher export: anonymized microdata streamed to CSV, with a codebook.

One export = one questionnaire, optionally one city and one wave, ``status == 'valid'``
responses only, one row per response. It runs in one read transaction (REPEATABLE READ on
PostgreSQL) in three steps:

1. *Plan.* A ``GROUP BY`` over the quasi-identifiers gives the equivalence-class counts;
   :func:`survey.anonymize.plan_k_anonymity` decides generalisation and suppression. Two
   small ``GROUP BY`` queries list the districts and sites of the scope, which get random
   labels (``stratum``, ``psu``) drawn for this export only.
2. *Stream.* The responses are read ordered by a keyed hash of their id with a random
   per-export salt (``md5(salt || id)`` in PostgreSQL, an HMAC-BLAKE2b function registered
   on the SQLite connection) through a server-side cursor, in chunks; each chunk's answers
   and scores come from a few more queries (``string_agg`` / ``group_concat`` of
   ``item, code`` pairs per response; free text on its own), so memory does not grow
   with the number of rows.
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
import secrets
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, String, and_, case, cast, func, literal, select
from sqlalchemy.orm import Session, aliased

from survey import audit
from survey.anonymize import (
    KPlan,
    QuasiIdentifier,
    ScrubCounts,
    escape_formula,
    plan_k_anonymity,
    quasi_identifiers,
    scrub_text,
)
from survey.models import Answer, City, District, Response, ResponseStatus, Score, Site
from survey.questionnaires import Questionnaire

__all__ = ["FORMATS", "NA_EXPORT", "ExportError", "ExportRequest", "ExportResult",
           "Variable", "export_files", "variables"]

FORMATS = ("csv", "sav", "dta")
NA_EXPORT = -9
"""Code written for an N/A answer ("not applicable / did not experience")."""
QI_COLUMNS = ("wave", "city", "district", "site_kind", "age_band", "gender")
CHUNK = 5000
K = 5


class ExportError(ValueError):
    """The export cannot be made as asked; the message says what and where."""


@dataclass(frozen=True)
class ExportRequest:
    """What to export. ``city``/``wave`` = ``None`` means all."""

    questionnaire: str
    city: str | None = None
    wave: str | None = None
    bom: bool = False
    include_text: bool = True
    format: str = "csv"
    k: int = K
    max_suppression: float = 0.02

    def filters(self) -> dict[str, Any]:
        return {"questionnaire": self.questionnaire, "city": self.city, "wave": self.wave,
                "text": self.include_text, "format": self.format, "bom": self.bom}


@dataclass(frozen=True)
class Variable:
    """One column of the export, as the codebook describes it."""

    name: str
    label: dict[str, str]
    type: str  # "string" | "integer" | "float"
    role: str  # id | design | quasi_identifier | item | score | outcome | text
    value_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    dimension: str | None = None
    item: str | None = None


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


# --------------------------------------------------------------------------- columns


def _t(zh: str, en: str) -> dict[str, str]:
    return {"zh-Hans": zh, "en": en}


def _extra_demographics(q: Questionnaire) -> list[str]:
    return [d.id for d in q.demographics if d.id not in ("age_band", "gender", "visit_type")]


def qi_names(q: Questionnaire) -> list[str]:
    """Quasi-identifier columns of ``q``'s export, in column order."""
    names = list(QI_COLUMNS)
    if q.has_item("visit_type"):
        names.append("visit_type")
    return names + _extra_demographics(q)


def variables(q: Questionnaire, include_text: bool = True) -> list[Variable]:
    """Every column of ``q``'s export, in order."""
    out = [
        Variable("rid", _t("本次导出的随机行号（每次导出重新生成）",
                           "Random row id, new in every export"), "string", "id"),
        Variable("stratum", _t("分层（区县）随机编码，每次导出重新生成",
                               "Stratum (district), random code per export"), "string", "design"),
        Variable("psu", _t("初级抽样单元（服务点）随机编码，每次导出重新生成",
                           "Primary sampling unit (site), random code per export"),
                 "string", "design"),
        Variable("final_weight", _t("最终权重", "Final weight"), "float", "design"),
        Variable("wave", _t("调查期（季度）", "Wave (quarter)"), "string", "quasi_identifier"),
        Variable("city", _t("城市代码", "City code"), "string", "quasi_identifier"),
        Variable("district", _t("区县代码（可能被泛化为 *）",
                                "District code (may be generalised to *)"),
                 "string", "quasi_identifier"),
        Variable("site_kind", _t("服务点类型", "Site kind"), "string", "quasi_identifier"),
    ]
    by_id = {item.id: item for item in q.items}
    for name in qi_names(q)[len(QI_COLUMNS) - 2:]:
        item = by_id[name]
        labels = {o.value: o.label.as_dict() for o in item.options or []}
        out.append(Variable(name, item.text.as_dict(), "string", "quasi_identifier", labels,
                            item=name))
    skip = set(qi_names(q))
    texts = []
    for item in q.items:
        if item.id in skip:
            continue
        if item.type in ("scale", "nps"):
            scale = q.scale_for(item)
            assert scale is not None
            labels = {str(scale.min + i): lab.as_dict() for i, lab in enumerate(scale.labels)}
            if scale.na:
                labels[str(NA_EXPORT)] = (scale.na_label.as_dict() if scale.na_label
                                          else _t("不适用", "Not applicable"))
            out.append(Variable(item.id, item.text.as_dict(), "integer", "item", labels,
                                item.dimension, item.id))
        elif item.type == "single":
            labels = {str(i): o.label.as_dict() for i, o in enumerate(item.options or [], 1)}
            out.append(Variable(item.id, item.text.as_dict(), "integer", "item", labels,
                                item=item.id))
        elif item.type == "multi":
            for o in item.options or []:
                label = {lang: f"{item.text.get(lang)} — {o.label.get(lang)}"
                         for lang in ("zh-Hans", "en")}
                out.append(Variable(f"{item.id}__{o.value}", label, "integer", "item",
                                    {"0": _t("未选", "Not chosen"), "1": _t("选择", "Chosen")},
                                    item=item.id))
        elif item.type == "text":
            texts.append(Variable(item.id, {
                "zh-Hans": item.text.zh_hans + "（已去除个人信息）",
                "en": item.text.en + " (personal data removed)"}, "string", "text",
                item=item.id))
    for dim in q.dimensions:
        out.append(Variable(f"score_{dim.id}", {
            "zh-Hans": f"{dim.title.zh_hans}得分（0–100）",
            "en": f"{dim.title.en} score (0–100)"}, "float", "score", dimension=dim.id))
    out.append(Variable("overall", _t("总体满意度指数（0–100）",
                                      "Overall satisfaction index (0–100)"), "float", "outcome"))
    out.append(Variable("satisfied", _t("满意（前两档）", "Satisfied (top two boxes)"), "integer",
                        "outcome", {"0": _t("否", "No"), "1": _t("是", "Yes")}))
    if include_text:
        out.extend(texts)
    return out


# --------------------------------------------------------------------------- row building


def _item_writers(q: Questionnaire, cols: list[Variable],
                  unknown: Counter[str]) -> list[Callable[[Mapping[str, Any]], Any]]:
    """One function per item column: answers dict → the cell."""
    writers: list[Callable[[Mapping[str, Any]], Any]] = []
    seen_multi: set[str] = set()
    for v in cols:
        if v.role != "item" or v.item is None:
            continue
        item = q.item(v.item)
        if item.type in ("scale", "nps"):
            scale = q.scale_for(item)
            assert scale is not None
            table = {str(x): str(x) for x in range(scale.min, scale.max + 1)}
            table["na"] = str(NA_EXPORT)
            writers.append(_coded(item.id, table, unknown))
        elif item.type == "single":
            table = {o.value: str(i) for i, o in enumerate(item.options or [], 1)}
            writers.append(_coded(item.id, table, unknown))
        elif item.type == "multi":
            if item.id in seen_multi:
                continue
            seen_multi.add(item.id)
            writers.append(_multi(item.id, [o.value for o in item.options or []]))
    return writers


def _coded(item_id: str, table: Mapping[str, str],
           unknown: Counter[str]) -> Callable[[Mapping[str, Any]], Any]:
    def cell(answers: Mapping[str, Any]) -> Any:
        raw = answers.get(item_id)
        if raw is None:
            return ""
        code = table.get(raw)
        if code is None:
            unknown[item_id] += 1
            return ""
        return code

    return cell


def _multi(item_id: str, options: list[str]) -> Callable[[Mapping[str, Any]], Any]:
    empty = [""] * len(options)

    def cells(answers: Mapping[str, Any]) -> Any:
        raw = answers.get(item_id)
        if raw is None:
            return empty
        chosen = set(json.loads(raw))
        return ["1" if o in chosen else "0" for o in options]

    cells.multi = True  # type: ignore[attr-defined]
    return cells


# --------------------------------------------------------------------------- SQL


def _scope(q: Questionnaire, city_id: int | None, wave: str | None) -> Any:
    parts = [Response.status == ResponseStatus.valid.value, Response.questionnaire == q.id]
    if city_id is not None:
        parts.append(Response.city_id == city_id)
    if wave is not None:
        parts.append(Response.wave == wave)
    return and_(*parts)


def _shuffle_key(conn: Connection, salt: str) -> Any:
    """A per-export keyed pseudo-random order (see the module docstring)."""
    if conn.dialect.name == "postgresql":
        return func.md5(literal(salt) + cast(Response.id, String))
    key = salt.encode()

    def shuffle(value: int) -> bytes:
        return hmac.new(key, str(value).encode(), hashlib.blake2b).digest()[:16]

    conn.connection.driver_connection.create_function(  # type: ignore[union-attr]
        "manyi_shuffle", 1, shuffle, deterministic=True)
    return func.manyi_shuffle(Response.id)


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
    if request.wave is not None and not _wave_ok(request.wave):
        raise ExportError(f"wave: expected a wave such as 2026Q4, got {request.wave!r}")
    return questionnaires[request.questionnaire], city


def _wave_ok(wave: str) -> bool:
    return len(wave) == 6 and wave[:4].isdigit() and wave[4] == "Q" and wave[5] in "1234"


def _labels(prefix: str, keys: list[Any]) -> dict[Any, str]:
    shuffled = list(keys)
    secrets.SystemRandom().shuffle(shuffled)
    width = max(2, len(str(len(keys))))
    return {key: f"{prefix}{i:0{width}d}" for i, key in enumerate(shuffled, 1)}


def export_files(engine: Engine, session: Session, questionnaires: Mapping[str, Questionnaire],
                 request: ExportRequest, out_csv: Path, *, actor: str | None = None,
                 user_id: int | None = None) -> ExportResult:
    """Write ``out_csv``, ``<stem>.codebook.json``, ``<stem>.codebook.md`` (and
    ``<stem>.sav``/``.dta`` for those formats); audit-log the export on ``session``
    (committed). Raises :class:`ExportError` for bad requests (nothing is written)."""
    from survey import codebook

    q, city = _resolve(session, request, questionnaires)
    out_csv = Path(out_csv)
    stem = out_csv.with_suffix("")
    paths = {"json": Path(f"{stem}.codebook.json"), "md": Path(f"{stem}.codebook.md")}
    cols = variables(q, request.include_text)
    scope = _scope(q, city.id if city else None, request.wave)
    scrub = ScrubCounts()
    unknown: Counter[str] = Counter()
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            names = qi_names(q)
            qis = quasi_identifiers(names)
            counts = _qi_counts(conn, q, scope, names)
            plan = plan_k_anonymity(counts, qis, request.k, request.max_suppression)
            strata = _labels("s", list(conn.scalars(
                select(Response.district_id).where(scope).group_by(Response.district_id))))
            psus = _labels("p", list(conn.scalars(
                select(Response.site_id).where(scope).group_by(Response.site_id))))
            try:
                written = _stream(conn, q, scope, cols, plan, qis, strata, psus, request,
                                  out_csv, scrub, unknown)
            except BaseException:
                out_csv.unlink(missing_ok=True)
                raise
    if written != Counter({raw: n for raw, n in counts.items() if plan.mapping[raw] is not None}):
        out_csv.unlink(missing_ok=True)
        raise ExportError("the data changed while the export ran; please export again")
    rows = sum(written.values())
    book = codebook.build(q, cols, plan, scrub.as_dict(), request, rows, dict(unknown),
                          n_strata=len(strata), n_psu=len(psus))
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


def _qi_counts(conn: Connection, q: Questionnaire, scope: Any,
               names: list[str]) -> dict[tuple[str, ...], int]:
    """Rows per raw quasi-identifier tuple (one GROUP BY; missing values as "")."""
    cols: list[Any] = [Response.wave, City.code, District.code, Site.kind,
                       func.coalesce(Response.age_band, ""), func.coalesce(Response.gender, "")]
    stmt_from = (select(Response.id).join(City, City.id == Response.city_id)
                 .join(District, District.id == Response.district_id)
                 .join(Site, Site.id == Response.site_id))
    joins = []
    for name in names[len(QI_COLUMNS):]:
        if name == "visit_type":
            cols.append(func.coalesce(Response.visit_type, ""))
            continue
        a = aliased(Answer)
        joins.append((a, and_(a.response_id == Response.id, a.item == name)))
        cols.append(func.coalesce(a.value_text, ""))
    stmt = stmt_from.with_only_columns(*cols, func.count())
    for a, on in joins:
        stmt = stmt.outerjoin(a, on)
    stmt = stmt.where(scope).group_by(*cols)
    return {tuple(row[:-1]): int(row[-1]) for row in conn.execute(stmt)}


def _stream(conn: Connection, q: Questionnaire, scope: Any, cols: list[Variable], plan: KPlan,
            qis: list[QuasiIdentifier], strata: Mapping[int, str], psus: Mapping[int, str],
            request: ExportRequest, out_csv: Path, scrub: ScrubCounts,
            unknown: Counter[str]) -> Counter[tuple[str, ...]]:
    salt = secrets.token_hex(16)
    extras = [n for n in qi_names(q)[len(QI_COLUMNS):] if n != "visit_type"]
    has_visit = q.has_item("visit_type")
    writers = _item_writers(q, cols, unknown)
    dims = [v.dimension for v in cols if v.role == "score"]
    driver = (select(Response.id, Response.wave, City.code, District.code, Site.kind,
                     Response.age_band, Response.gender, Response.visit_type,
                     Response.district_id, Response.site_id, Response.final_weight,
                     Response.overall_score, Response.satisfied)
              .join(City, City.id == Response.city_id)
              .join(District, District.id == Response.district_id)
              .join(Site, Site.id == Response.site_id)
              .where(scope).order_by(_shuffle_key(conn, salt)))
    mapping = plan.mapping
    written: Counter[tuple[str, ...]] = Counter()
    sqlite = conn.dialect.name == "sqlite"
    text_items = [v.item for v in cols if v.role == "text" and v.item is not None]
    all_text = [item.id for item in q.items if item.type == "text"] or [""]
    multi_cols = [bool(getattr(w, "multi", False)) for w in writers]
    with out_csv.open("w", encoding="utf-8-sig" if request.bom else "utf-8",
                      newline="") as fh:
        out = csv.writer(fh)
        out.writerow([v.name for v in cols])
        result = conn.execute(driver, execution_options={"stream_results": True,
                                                         "yield_per": CHUNK})
        for part in result.partitions(CHUNK):
            ids = [r[0] for r in part]
            answers = dict(conn.execute(
                select(Answer.response_id, _pairs(conn, Answer.item, _code_expr()))
                .where(_in_ids(conn, Answer.response_id, ids), Answer.item.not_in(all_text))
                .group_by(Answer.response_id)).all())
            texts: dict[tuple[int, str], str] = {}
            if text_items:
                texts = {(r, i): t for r, i, t in conn.execute(
                    select(Answer.response_id, Answer.item, Answer.value_text)
                    .where(_in_ids(conn, Answer.response_id, ids), Answer.item.in_(text_items)))}
            scores = dict(conn.execute(
                select(Score.response_id, _pairs(conn, Score.dimension, _score_value(conn)))
                .where(_in_ids(conn, Score.response_id, ids)).group_by(Score.response_id)).all())
            rids = secrets.token_hex(8 * len(part))
            rows = []
            for i, (rid_db, wave, city, district, kind, age, gender, visit, district_id,
                    site_id, weight, overall, satisfied) in enumerate(part):
                a = _unpack(answers.get(rid_db))
                raw = [wave, city, district, kind, age or "", gender or ""]
                if has_visit:
                    raw.append(visit or "")
                raw.extend(a.get(n) or "" for n in extras)
                key = tuple(raw)
                written[key] += 1
                qi_out = mapping.get(key)
                if qi_out is None:
                    continue
                row: list[Any] = [rids[16 * i:16 * i + 16], strata[district_id],
                                  psus[site_id], weight]
                row.extend(escape_formula(v) for v in qi_out)
                for w, is_multi in zip(writers, multi_cols, strict=True):
                    if is_multi:
                        row.extend(w(a))
                    else:
                        row.append(w(a))
                s = _unpack(scores.get(rid_db))
                for d in dims:
                    value = s.get(d)
                    row.append("" if value is None else (float(value) if sqlite else value))
                row.append("" if overall is None else overall)
                row.append("" if satisfied is None else satisfied)
                for item_id in text_items:
                    value = texts.get((rid_db, item_id))
                    row.append("" if not value else escape_formula(scrub_text(value, scrub)))
                rows.append(row)
            out.writerows(rows)
    return written


def iter_file(path: Path, chunk: int = 1 << 16) -> Iterator[bytes]:
    """A file's bytes in chunks (for streaming a download)."""
    with path.open("rb") as fh:
        while data := fh.read(chunk):
            yield data
