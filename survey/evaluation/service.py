"""Evaluating the cities' quality work for one period (item 十五, docs/evaluation.md).

:func:`evaluate` reads every figure a rule file scores (satisfaction estimates from
:mod:`survey.dashboard.estimates`, complaint handling from :mod:`survey.complaints.figures`,
response counts, agency batches, flagged web responses, releases) and hands them to the
pure arithmetic of :mod:`survey.evaluation.scoring`.

A period is a calendar year ``"2026"`` = waves 2026Q1–2026Q4; the previous period is the
year before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.complaints import figures
from survey.core.i18n import N_
from survey.core.models import (
    Batch,
    Channel,
    City,
    Decision,
    District,
    Release,
    Response,
    ResponseStatus,
)
from survey.core.waves import CHINA_TZ, wave_bounds, wave_of
from survey.dashboard import estimates
from survey.evaluation import rules as rules_module
from survey.evaluation.rules import (
    ComplaintHandling,
    DataQuality,
    Improvement,
    Publication,
    Rules,
    SatisfactionLevel,
    SurveyCoverage,
)
from survey.evaluation.scoring import (
    Change,
    CityInputs,
    CityScore,
    Note,
    Ranked,
    Sampled,
    Scored,
    score_cities,
)

PERIOD_RE = re.compile(r"^(\d{4})$")


class PeriodError(ValueError):
    """A period that is not a year ``YYYY``."""


def period_waves(period: str) -> list[str]:
    """``"2026"`` → ``["2026Q1", …, "2026Q4"]``; :class:`PeriodError` otherwise."""
    m = PERIOD_RE.match(str(period))
    if not m:
        raise PeriodError(f"expected a year YYYY (a period is the year's four waves), "
                          f"got {period!r}")
    return [f"{m.group(1)}Q{q}" for q in range(1, 5)]


def previous_period(period: str) -> str:
    period_waves(period)
    return str(int(period) - 1)


def periods_with_data(session: Session) -> list[str]:
    """Years that have valid responses, oldest first."""
    waves = estimates.waves_with_data(session, None)
    return sorted({w[:4] for w in waves})


def load(path: str | Path, session: Session, questionnaires: Sequence[str]) -> Rules:
    """A rule file checked against the app's questionnaires and districts."""
    districts = session.scalars(select(District.code))
    return rules_module.load_rules(path, questionnaires, list(districts))


@dataclass(frozen=True)
class CityResult:
    city: City
    score: CityScore

    @property
    def ranked(self) -> Ranked:
        return self.score.ranked


@dataclass(frozen=True)
class ProvinceResult:
    code: str
    name_zh: str
    name_en: str
    cities: tuple[City, ...]
    ranked: Ranked


@dataclass(frozen=True)
class Evaluation:
    rules: Rules
    period: str
    waves: tuple[str, ...]
    as_of: date
    cities: tuple[CityResult, ...]   # by rank
    provinces: tuple[ProvinceResult, ...]  # by rank
    scored: Scored

    def city(self, code: str) -> CityResult | None:
        return next((c for c in self.cities if c.city.code == code), None)

    def rows(self) -> list[dict[str, Any]]:
        """The command's JSON: one object per city, by rank."""
        return [city_row(c) for c in self.cities]


def city_row(c: CityResult) -> dict[str, Any]:
    r = c.ranked
    return {"city": c.city.code, "province": c.city.province_code,
            "total": round(r.total, 6), "rank": r.rank, "rank_low": r.rank_low,
            "rank_high": r.rank_high, "tied_group": r.group,
            "components": [{"name": s.name, "raw": None if s.raw is None else round(s.raw, 6),
                            "points": round(s.points, 6), "max_points": s.max_points,
                            **({"note": s.note} if s.note else {})}
                           for s in c.score.components]}


# --------------------------------------------------------------------------- inputs

def _sampled(cell: estimates.Cell | None, measure: str) -> Sampled | None:
    e = cell.value if cell is not None else None
    if e is None:
        return None
    scale = 100.0 if measure == "rate" else 1.0
    return Sampled(scale * e.estimate, scale * e.standard_error,
                   float(e.df) if e.has_interval else 0.0)


def _kpis(session: Session, settings: estimates.Settings, questionnaires: Sequence[str],
          waves: Sequence[str]) -> dict[int, estimates.Kpi]:
    scope = estimates.Scope(tuple(questionnaires), tuple(waves))
    found = estimates.kpis_by_split(session, settings, scope, estimates.Filters(),
                                    [Response.city_id])
    return {int(key[0]): kpi for key, kpi in found.items()}


def _cell(kpi: estimates.Kpi | None, measure: str) -> estimates.Cell | None:
    if kpi is None:
        return None
    return kpi.rate if measure == "rate" else kpi.index


def _satisfaction_note(cell: estimates.Cell | None) -> Note | None:
    if cell is None or cell.n == 0:
        return Note(N_("no valid responses in the period"))
    if cell.suppressed:
        return Note(N_("suppressed: %(n)s responses (fewer than %(min)s)"),
                    {"n": cell.n, "min": cell.min_cell})
    if cell.value is not None and not cell.value.has_interval:
        return Note(N_("no sampling interval (one PSU per district, or SE 0): points fixed "
                       "in the rank simulation"))
    return None


def _coverage(session: Session, component: SurveyCoverage, city: City,
              waves: Sequence[str]) -> tuple[float | None, Note | None]:
    districts = list(session.scalars(select(District).where(District.city_id == city.id)
                                     .order_by(District.code)))
    counts = {(q, d, w): int(n) for q, d, w, n in session.execute(
        select(Response.questionnaire, Response.district_id, Response.wave, func.count())
        .where(Response.city_id == city.id, Response.status == ResponseStatus.valid.value,
               Response.wave.in_(waves), Response.questionnaire.in_(list(component.quotas)))
        .group_by(Response.questionnaire, Response.district_id, Response.wave))}
    ratios = []
    for q, quota in component.quotas.items():
        for d in districts:
            required = quota.districts.get(d.code, quota.default)
            if required <= 0:
                continue
            for w in waves:
                ratios.append(min(counts.get((q, d.id, w), 0) / required, 1.0))
    if not ratios:
        return None, Note(N_("no questionnaire × district × wave with a quota"))
    return sum(ratios) / len(ratios), None


def _complaints(session: Session, city: City, waves: Sequence[str], today: date,
                min_cell: int) -> dict[str, float | None]:
    group = figures.group_figures(figures.city_complaints(session, city.id, waves),
                                  responses=0, visitors=None, visitors_missing=0,
                                  today=today, min_cell=min_cell)
    rating = group.rating.estimate if group.rating is not None else None
    return {"on_time": group.on_time_overall.value, "rating": rating}


def _data_quality(session: Session, component: DataQuality, city: City,
                  waves: Sequence[str]) -> dict[str, float | None]:
    wanted = set(waves)
    decided = accepted = 0.0
    for wave, uploaded_at, decision in session.execute(
            select(Batch.wave, Batch.uploaded_at, Batch.final_decision)
            .where(Batch.city_id == city.id)):
        batch_wave = wave or wave_of(uploaded_at)
        if batch_wave not in wanted or decision is None:
            continue
        decided += 1
        if decision == Decision.accepted.value:
            accepted += 1
        elif decision == Decision.conditional.value:
            accepted += component.conditional_counts
    web = {status: int(n) for status, n in session.execute(
        select(Response.status, func.count())
        .where(Response.city_id == city.id, Response.channel == Channel.web.value,
               Response.wave.in_(waves))
        .group_by(Response.status))}
    n_web = sum(web.values())
    flagged = web.get(ResponseStatus.flagged.value, 0)
    return {"batches": accepted / decided if decided else None,
            "flagged": flagged / n_web if n_web else None}


def _publication(session: Session, component: Publication, city: City,
                 waves: Sequence[str], today: date) -> float | None:
    released: dict[str, datetime] = {}
    for w, at in session.execute(
            select(Release.wave, Release.released_at)
            .where(Release.city_id == city.id, Release.number == 1, Release.wave.in_(waves))):
        aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        if aware.astimezone(CHINA_TZ).date() <= today:  # released by the evaluation date
            released[w] = aware
    on_time = eligible = 0
    for w in waves:
        due = wave_bounds(w)[1] + timedelta(days=component.within_days)  # end of the wave
        first = released.get(w)
        if first is None and today < due.astimezone(CHINA_TZ).date():
            continue  # not released, not due yet
        eligible += 1
        if first is not None:
            on_time += int(first <= due)
    return on_time / eligible if eligible else None


def city_inputs(session: Session, rules: Rules, cities: Sequence[City], period: str, *,
                settings: estimates.Settings, today: date) -> list[CityInputs]:
    """The raw figures of every component for each city (in the given order)."""
    waves = period_waves(period)
    before = period_waves(previous_period(period))
    current = _kpis(session, settings, rules.questionnaires, waves)
    previous = _kpis(session, settings, rules.questionnaires, before)
    out = []
    for city in cities:
        values: dict[str, object] = {}
        notes: dict[str, Note] = {}
        complaint_cache: dict[str, float | None] | None = None
        for c in rules.components:
            note: Note | None = None
            if isinstance(c, SatisfactionLevel):
                cell = _cell(current.get(city.id), c.measure)
                values[c.name] = _sampled(cell, c.measure)
                note = _satisfaction_note(cell)
            elif isinstance(c, Improvement):
                now_cell = _cell(current.get(city.id), c.measure)
                then_cell = _cell(previous.get(city.id), c.measure)
                a, b = _sampled(now_cell, c.measure), _sampled(then_cell, c.measure)
                diff = estimates.change(now_cell, then_cell) if now_cell is not None else None
                if a is None:
                    note = Note(N_("no estimate for the period"))
                elif b is None:
                    note = Note(N_("no estimate for the previous period %(period)s"),
                                {"period": previous_period(period)})
                else:
                    scale = 100.0 if c.measure == "rate" else 1.0
                    se = scale * diff.standard_error if diff is not None else 0.0
                    df = diff.df if diff is not None else 0.0
                    values[c.name] = Change(a, b, se, df)
            elif isinstance(c, ComplaintHandling):
                if complaint_cache is None:
                    complaint_cache = _complaints(session, city, waves, today,
                                                  settings.min_cell)
                values[c.name] = complaint_cache
            elif isinstance(c, SurveyCoverage):
                values[c.name], note = _coverage(session, c, city, waves)
            elif isinstance(c, DataQuality):
                values[c.name] = _data_quality(session, c, city, waves)
            elif isinstance(c, Publication):
                values[c.name] = _publication(session, c, city, waves, today)
            if note:
                notes[c.name] = note
        out.append(CityInputs(city.code, city.province_code, values, notes))
    return out


def china_today() -> date:
    return datetime.now(UTC).astimezone(CHINA_TZ).date()


def evaluate(session: Session, rules: Rules, period: str, *, settings: estimates.Settings,
             today: date | None = None) -> Evaluation:
    """Score every city for ``period`` (a year) under ``rules``."""
    today = today or china_today()
    waves = period_waves(period)
    cities = list(session.scalars(select(City).order_by(City.code)))
    inputs = city_inputs(session, rules, cities, period, settings=settings, today=today)
    scored = score_cities(rules, inputs)
    by_code = {c.code: c for c in cities}
    results = sorted((CityResult(by_code[s.code], s) for s in scored.cities),
                     key=lambda r: r.ranked.rank)
    provinces = []
    for p in sorted(scored.provinces, key=lambda r: r.rank):
        members = tuple(by_code[code] for code in scored.province_members[p.code])
        first = members[0]
        provinces.append(ProvinceResult(p.code, first.province_zh, first.province_en,
                                        members, p))
    return Evaluation(rules, period, tuple(waves), today, tuple(results), tuple(provinces),
                      scored)


def trend(session: Session, rules: Rules, *, settings: estimates.Settings,
          today: date | None = None, periods: Sequence[str] | None = None
          ) -> dict[str, Evaluation]:
    """One evaluation per period with data (oldest first)."""
    chosen = periods if periods is not None else periods_with_data(session)
    return {p: evaluate(session, rules, p, settings=settings, today=today) for p in chosen}
