"""SQL aggregates → :mod:`analysis`: every number the dashboard shows comes from here.

The design (docs/dashboard.md): stratum = district, PSU = site, weight =
``Response.final_weight``, only ``status == 'valid'`` responses. One helper,
:func:`aggregate`, runs::

    SELECT district_id, site_id, <split cols>, <domain cols>,
           SUM(w*y), SUM(w), SUM(w*y*y), COUNT(*)      -- per measure, inside the domain
    FROM response ... WHERE <scope> GROUP BY district_id, site_id, <split>, <domain>

and pivots the (few) aggregate rows into one :class:`analysis.PsuTotals` per split key
(PSU × domain, zeros outside the domain, every PSU of the scope kept). Every estimate is
then :func:`analysis.mean_from_psu_totals`; there is no variance formula in ``survey/``.

*Split* keys (wave, city, questionnaire) are separate samples, each with its own design;
*domains* (district, site, dimension) and the filters (age band, gender, channel, district,
site kind) are subpopulations that keep the full design of their sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import (
    ColumnElement,
    SQLColumnExpression,
    and_,
    case,
    func,
    literal,
    select,
    true,
)
from sqlalchemy.orm import Session

import analysis
from analysis import Difference, Estimate, PsuTotals
from analysis.design import SinglePsu
from survey.core.models import Answer, Response, ResponseStatus, Score, Site
from survey.core.responses.scoring import OVERALL

SATISFIED = "satisfied"
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Filters:
    """Subpopulation filters (already validated; ``None`` = all)."""

    district_id: int | None = None
    site_kind: str | None = None
    age_band: str | None = None
    gender: str | None = None
    channel: str | None = None

    def condition(self, *, with_district: bool = True) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = []
        if with_district and self.district_id is not None:
            parts.append(Response.district_id == self.district_id)
        if self.site_kind is not None:
            parts.append(Response.site_id.in_(select(Site.id).where(Site.kind == self.site_kind)))
        if self.age_band is not None:
            parts.append(Response.age_band == self.age_band)
        if self.gender is not None:
            parts.append(Response.gender == self.gender)
        if self.channel is not None:
            parts.append(Response.channel == self.channel)
        return and_(true(), *parts)

    def without_district(self) -> Filters:
        return replace(self, district_id=None)

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.district_id, self.site_kind, self.age_band,
                                            self.gender, self.channel))


@dataclass(frozen=True)
class Scope:
    """Which sample(s): a questionnaire (or several), a city (or all), wave(s)."""

    questionnaires: tuple[str, ...]
    waves: tuple[str, ...]
    city_id: int | None = None

    def condition(self) -> ColumnElement[bool]:
        parts = [Response.status == ResponseStatus.valid.value,
                 Response.questionnaire.in_(self.questionnaires),
                 Response.wave.in_(self.waves)]
        if self.city_id is not None:
            parts.insert(0, Response.city_id == self.city_id)
        return and_(*parts)


@dataclass(frozen=True)
class Cell:
    """One published number: suppressed (no estimate kept) when ``n`` < the minimum.

    ``versus`` is the contrast unit − benchmark in one design (covariance included), when the
    cell was computed against a benchmark that contains it (:func:`compare_units`)."""

    n: int
    estimate: Estimate | None
    min_cell: int
    versus: Difference | None = None

    @property
    def suppressed(self) -> bool:
        return self.n < self.min_cell

    @property
    def value(self) -> Estimate | None:
        return None if self.suppressed else self.estimate


@dataclass(frozen=True)
class Design:
    """Per-measure :class:`PsuTotals` of one sample (split key)."""

    totals: dict[str, PsuTotals] = field(default_factory=dict)


# --------------------------------------------------------------------------- core helper

def aggregate(session: Session, *, where: ColumnElement[bool],
              measures: Mapping[str, SQLColumnExpression[Any]],
              subpop: ColumnElement[bool] | None = None,
              split: Sequence[SQLColumnExpression[Any]] = (),
              by: Sequence[SQLColumnExpression[Any]] = (),
              join: tuple[Any, ColumnElement[bool]] | None = None,
              stratum: SQLColumnExpression[Any] = Response.district_id,
              psu: SQLColumnExpression[Any] = Response.site_id) -> dict[tuple, Design]:
    """Run the per-PSU SUM query and pivot it into ``{split key: Design}``.

    ``measures`` maps a name to its value expression ``y``; a row counts for a measure in a
    domain when it is in ``subpop``, ``y`` is not NULL and its weight is positive. Domain
    keys containing NULL (e.g. a response without a score row) only keep their PSU in the
    design. ``join`` = (table, on) adds a LEFT OUTER JOIN (dimension scores). ``stratum`` and
    ``psu`` default to the dashboard design (district, site).
    """
    w = Response.final_weight
    inside_base = w > 0 if subpop is None else and_(subpop, w > 0)
    keys: list[Any] = [stratum, psu, *split, *by]
    columns: list[Any] = list(keys)
    for y in measures.values():
        inside = and_(inside_base, y.is_not(None))
        columns += [func.sum(case((inside, w * y), else_=literal(0.0))),
                    func.sum(case((inside, w), else_=literal(0.0))),
                    func.sum(case((inside, w * y * y), else_=literal(0.0))),
                    func.sum(case((inside, 1), else_=0))]
    stmt = select(*columns)
    if join is not None:
        stmt = stmt.select_from(Response).outerjoin(*join)
    stmt = stmt.where(where).group_by(*keys)
    rows = session.execute(stmt).all()
    return pivot(rows, list(measures), len(split), len(by))


def _factorize(columns: NDArray[np.object_]) -> tuple[list[tuple], NDArray[np.intp]]:
    """Unique rows of object columns (R, c) → (keys, code per row), vectorised."""
    size, width = columns.shape
    if width == 0:
        return [()], np.zeros(size, dtype=np.intp)
    labels, codes = [], []
    for j in range(width):
        lab, code = np.unique(columns[:, j], return_inverse=True)
        labels.append(lab)
        codes.append(code.ravel())
    unique, inverse = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
    keys = [tuple(labels[j][row[j]] for j in range(width)) for row in unique]
    return keys, inverse.ravel()


def pivot(rows: Sequence[Sequence[Any]], names: list[str], n_split: int,
          n_by: int) -> dict[tuple, Design]:
    """Aggregate rows ``(stratum, psu, *split, *by, sums…)`` → one :class:`PsuTotals` per
    measure and split key (PSU × domain; every PSU of the split kept). Vectorised numpy."""
    if not rows:
        return {}
    table = np.array(rows, dtype=object)
    offset = 2 + n_split + n_by
    values = table[:, offset:].astype(np.float64).reshape(len(table), len(names), 4)
    split_keys, split_code = _factorize(table[:, 2:2 + n_split])
    by_cols = table[:, 2 + n_split:offset]
    # None as a 0-d object array: numpy's stubs accept no bare None operand in a ufunc.
    has_domain = ~np.equal(by_cols, np.array(None, dtype=object)).any(axis=1)
    out: dict[tuple, Design] = {}
    for s, key in enumerate(split_keys):
        mine = split_code == s
        psu_keys, psu_code = _factorize(table[mine][:, :2])
        inside = has_domain[mine]
        if not inside.any():
            continue
        dom_keys, dom_code = _factorize(by_cols[mine][inside])
        sums = np.zeros((len(psu_keys), len(dom_keys), len(names), 4))
        np.add.at(sums, (psu_code[inside], dom_code), values[mine][inside])
        stratum = np.asarray([k[0] for k in psu_keys])
        out[key] = Design({name: PsuTotals(stratum=stratum, sum_wy=sums[:, :, m, 0],
                                           sum_w=sums[:, :, m, 1], sum_wyy=sums[:, :, m, 2],
                                           n=sums[:, :, m, 3], domains=tuple(dom_keys))
                           for m, name in enumerate(names)})
    return out


def _columns(totals: PsuTotals, keep: NDArray[np.intp]) -> PsuTotals:
    """The domain columns ``keep`` of ``totals``."""
    domains = list(totals.domains or ())
    return PsuTotals(stratum=totals.stratum, sum_wy=totals.sum_wy[:, keep],
                     sum_w=totals.sum_w[:, keep], n=totals.n[:, keep],
                     sum_wyy=None if totals.sum_wyy is None else totals.sum_wyy[:, keep],
                     domains=tuple(domains[j] for j in keep))


def estimate_cells(totals: PsuTotals, *, single_psu: SinglePsu, min_cell: int,
                   proportion: bool = False) -> dict[Any, Cell]:
    """``{domain: Cell}`` from ``totals`` via :func:`analysis.mean_from_psu_totals`.

    Domains with no weight get ``Cell(n=0, estimate=None)`` (analysis would refuse them).
    ``proportion`` applies the interval of :func:`analysis.proportion` (``method="auto"``:
    logit, or Korn–Graubard when everyone or no one in the cell is satisfied).
    """
    weight = totals.sum_w.sum(axis=0)
    count = totals.n.sum(axis=0)
    domains = list(totals.domains or ())
    keep = np.flatnonzero(weight > 0)
    cells: dict[Any, Cell] = {_unwrap(d): Cell(int(round(count[j])), None, min_cell)
                              for j, d in enumerate(domains)}
    if keep.size:
        kept = _columns(totals, keep)
        estimator = (analysis.proportion_from_psu_totals if proportion
                     else analysis.mean_from_psu_totals)
        result = estimator(kept, single_psu=single_psu)
        assert isinstance(result, dict)
        for d, e in result.items():
            cells[_unwrap(d)] = Cell(e.n, e, min_cell)
    return cells


def _unwrap(domain: object) -> Any:
    """A domain key of :func:`pivot` (a tuple) → its only value, or the tuple itself."""
    if isinstance(domain, tuple) and len(domain) == 1:
        return domain[0]
    return domain  # () = the whole sample


def significant(d: Difference | None) -> bool:
    return d is not None and math.isfinite(d.p_value) and d.p_value < SIGNIFICANCE


def change(current: Cell, previous: Cell | None) -> Difference | None:
    """Difference between two waves (independent samples), None if either is suppressed."""
    if previous is None or current.value is None or previous.value is None:
        return None
    if not (current.value.df > 0 and previous.value.df > 0):
        return None
    return analysis.difference(current.value, previous.value)


def versus(cell: Cell) -> str | None:
    """"better" / "worse" when the contrast unit − benchmark is significant (two-sided t test
    at :data:`SIGNIFICANCE`, covariance included), "same" when it is not, "unknown" when the
    unit or the contrast has no interval (one PSU, SE 0): a unit without an interval is never
    called better or worse, so it never reaches a red or black list. None: not compared."""
    e, d = cell.value, cell.versus
    if e is None or d is None:
        return None
    if not (e.has_interval and d.has_interval and math.isfinite(d.p_value)):
        return "unknown"
    if d.p_value < SIGNIFICANCE:
        return "better" if d.estimate > 0 else "worse"
    return "same"


# --------------------------------------------------------------------------- queries

@dataclass(frozen=True)
class Settings:
    single_psu: SinglePsu
    min_cell: int

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> Settings:
        """The estimation settings of an app (``SINGLE_PSU``, ``MIN_CELL_SIZE``)."""
        return cls(config["SINGLE_PSU"], config["MIN_CELL_SIZE"])


def _measures() -> dict[str, SQLColumnExpression[Any]]:
    return {OVERALL: Response.overall_score, SATISFIED: Response.satisfied}


def _cells(design: Design | None, settings: Settings, measure: str) -> dict[Any, Cell]:
    if design is None:
        return {}
    return estimate_cells(design.totals[measure], single_psu=settings.single_psu,
                          min_cell=settings.min_cell, proportion=measure == SATISFIED)


def empty_cell(settings: Settings) -> Cell:
    return Cell(0, None, settings.min_cell)


@dataclass(frozen=True)
class Kpi:
    """Index and satisfaction rate of one sample (questionnaire × wave [× city])."""

    index: Cell
    rate: Cell


def kpis_by_split(session: Session, settings: Settings, scope: Scope, filters: Filters,
                  split: Sequence[SQLColumnExpression[Any]]) -> dict[tuple, Kpi]:
    """Overall index and satisfaction rate for every split key (e.g. questionnaire × wave)."""
    designs = aggregate(session, where=scope.condition(), measures=_measures(),
                        subpop=filters.condition(), split=split)
    out = {}
    for key, design in designs.items():
        out[key] = Kpi(_cells(design, settings, OVERALL).get((), empty_cell(settings)),
                       _cells(design, settings, SATISFIED).get((), empty_cell(settings)))
    return out


@dataclass(frozen=True)
class Compared:
    """Units of one sample with their contrasts against the benchmark (the whole sample)."""

    cells: dict[Any, Cell]
    benchmark: Cell


def compare_units(session: Session, settings: Settings, scope: Scope, filters: Filters,
                  unit: SQLColumnExpression[Any], measure: str = OVERALL) -> Compared:
    """Each unit (district_id, city_id…) as a domain of the benchmark's design (scope ×
    filters: the benchmark contains every unit), its contrast unit − benchmark with the
    linearised covariance (:meth:`analysis.DomainCovariance.contrast`), and the benchmark."""
    designs = aggregate(session, where=scope.condition(), measures=_measures(),
                        subpop=filters.condition(), by=[unit])
    design = designs.get(())
    if design is None:
        return Compared({}, empty_cell(settings))
    totals = design.totals[measure]
    cells = estimate_cells(totals, single_psu=settings.single_psu, min_cell=settings.min_cell,
                           proportion=measure == SATISFIED)
    keep = np.flatnonzero(totals.sum_w.sum(axis=0) > 0)
    if not keep.size:
        return Compared(cells, empty_cell(settings))
    kept = _columns(totals, keep)
    cov = analysis.covariance_from_psu_totals(kept, single_psu=settings.single_psu)
    whole = PsuTotals(stratum=kept.stratum, sum_wy=kept.sum_wy.sum(axis=1),
                      sum_w=kept.sum_w.sum(axis=1), n=kept.n.sum(axis=1),
                      sum_wyy=None if kept.sum_wyy is None else kept.sum_wyy.sum(axis=1),
                      domains=((),))
    bench = estimate_cells(whole, single_psu=settings.single_psu, min_cell=settings.min_cell,
                           proportion=measure == SATISFIED)[()]
    for domain in kept.domains or ():
        key = _unwrap(domain)
        cells[key] = replace(cells[key], versus=cov.contrast({domain: 1, analysis.TOTAL: -1}))
    return Compared(cells, bench)


def compare_sites(session: Session, settings: Settings, scope: Scope,
                  filters: Filters) -> Compared:
    """Each site's index from its own respondents (a site is a single PSU of the survey
    design, so its variance comes from within: stratum = site, respondent = PSU), the
    benchmark over every site, and each site − benchmark contrast in that one design
    (:func:`analysis.units_versus_overall`, from seven sums per site: one GROUP BY)."""
    w, y = Response.final_weight, Response.overall_score
    inside = and_(filters.condition(), w > 0, y.is_not(None))

    def total(value: Any) -> Any:
        return func.sum(case((inside, value), else_=literal(0.0)))

    stmt = (select(Response.site_id, func.sum(case((inside, 1), else_=0)), total(w),
                   total(w * y), total(w * y * y), total(w * w), total(w * w * y),
                   total(w * w * y * y))
            .where(scope.condition()).group_by(Response.site_id))
    rows = [r for r in session.execute(stmt).all() if r[1] and r[2] and r[2] > 0]
    if not rows:
        return Compared({}, empty_cell(settings))
    columns = list(zip(*rows, strict=True))
    moments = analysis.UnitMoments(np.asarray(columns[0]),
                                   *(np.asarray(c, dtype=np.float64) for c in columns[1:]))
    result = analysis.units_versus_overall(moments, single_psu=settings.single_psu)
    cells = {key: Cell(e.n, e, settings.min_cell, result.versus_overall[key])
             for key, e in result.units.items()}
    return Compared(cells, Cell(result.overall.n, result.overall, settings.min_cell))


def dimension_scores(session: Session, settings: Settings, scope: Scope,
                     filters: Filters) -> dict[str, Cell]:
    """Dimension scores (score table, dimension as the domain) of one sample."""
    designs = aggregate(
        session, where=scope.condition(), measures={"score": Score.value},
        subpop=filters.condition(), by=[Score.dimension],
        join=(Score, and_(Score.response_id == Response.id, Score.dimension != OVERALL)))
    return _cells(designs.get(()), settings, "score")


def waves_with_data(session: Session, city_id: int | None,
                    questionnaire: str | None = None) -> list[str]:
    stmt = select(Response.wave).where(Response.status == ResponseStatus.valid.value)
    if city_id is not None:
        stmt = stmt.where(Response.city_id == city_id)
    if questionnaire is not None:
        stmt = stmt.where(Response.questionnaire == questionnaire)
    return sorted(session.scalars(stmt.group_by(Response.wave)))


@dataclass(frozen=True)
class Ipa:
    dimensions: tuple[str, ...]
    result: analysis.ImportancePerformance | None
    n: int
    reason: str | None = None


def importance_performance(session: Session, scope: Scope, filters: Filters,
                           criterion_item: str, dimensions: Iterable[str],
                           min_cell: int) -> Ipa:
    """Derived importance (regression of the overall-satisfaction item on dimension scores)
    × performance, from the weighted moments of the complete respondents computed in one
    SQL aggregate (:func:`analysis.importance_performance_from_moments`): no per-respondent
    rows reach Python (at 350,000 respondents that was 1.7 million rows per page view)."""
    dims = tuple(sorted(dimensions))
    if not dims:
        return Ipa(dims, None, 0, "no data")
    per_respondent = (
        select(Response.final_weight.label("w"), func.max(Answer.value_num).label("y"),
               *(func.max(case((Score.dimension == d, Score.value))).label(f"x{i}")
                 for i, d in enumerate(dims)))
        .select_from(Response)
        .join(Answer, and_(Answer.response_id == Response.id, Answer.item == criterion_item,
                           Answer.is_na.is_(False), Answer.value_num.is_not(None)))
        .join(Score, and_(Score.response_id == Response.id, Score.dimension.in_(dims)))
        .where(scope.condition(), filters.condition(), Response.final_weight > 0)
        .group_by(Response.id, Response.final_weight)
        .subquery())
    z = [per_respondent.c[f"x{i}"] for i in range(len(dims))] + [per_respondent.c.y]
    w = per_respondent.c.w
    pairs = [(i, j) for i in range(len(z)) for j in range(i, len(z))]
    stmt = (select(func.count(), func.sum(w), *(func.sum(w * c) for c in z),
                   *(func.sum(w * z[i] * z[j]) for i, j in pairs))
            .where(*(c.is_not(None) for c in z)))
    row = session.execute(stmt).one()
    n = int(row[0] or 0)
    if n == 0:
        return Ipa(dims, None, 0, "no data")
    if n < max(min_cell, len(dims) + 2):
        return Ipa(dims, None, n, "too few complete respondents")
    k = len(z)
    sum_wz = np.array([float(v) for v in row[2:2 + k]])
    sum_wzz = np.zeros((k, k))
    for (i, j), v in zip(pairs, row[2 + k:], strict=True):
        sum_wzz[i, j] = sum_wzz[j, i] = float(v)
    try:
        result = analysis.importance_performance_from_moments(float(row[1]), sum_wz, sum_wzz, n)
    except ValueError as exc:
        return Ipa(dims, None, n, str(exc))
    return Ipa(dims, result, n)
