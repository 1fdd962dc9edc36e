"""Complaint figures (issue 15) per city, site and category and per wave.

A complaint counts for the city of its **site** (the place complained about) and for the
wave (quarter, China Standard Time) of its ``received_at``, like ``Response.wave``. For a
group of complaints (a site, a category, the whole city) in a wave (docs/complaints.md,
"Figures"):

* ``complaints`` — the number of complaints;
* ``per_1000_responses`` = 1000 × complaints / R, R = valid responses to the tourism
  questionnaire of the same site (for a city or a category: of the city) and wave; None when
  R = 0;
* ``per_10000_visitors`` = 10000 × complaints / V, V = ``SiteVisitors.visitors`` of the site
  and wave (for a city or a category: the sum over the city's tourism sites and every site
  complained about, computed only when each of them has a count); None otherwise;
* ``on_time[name]`` for each deadline (accept, reply, mediation of
  :func:`survey.complaints.deadlines.deadlines`): met / eligible, eligible = the complaints
  whose deadline was met or has passed (``today`` > due: ``Deadline.met`` is not None) — a
  deadline still running and not yet met is left out;
* ``median_days_to_close`` — median of (closed_at − received_at) in days (86,400 s) over
  the closed complaints (a rejected case is closed with its reason, so it counts);
* ``rating`` — mean handling rating (1–5) over the complainants who rated, with the
  interval of :func:`analysis.mean` for a simple random sample (respondents = raters,
  df = n − 1; NaN interval with a note when it cannot be computed); not computed (None) when
  fewer than ``min_cell`` rated (a respondent statistic, suppressed like the dashboard's).

No variance formula here: the interval is :func:`analysis.mean`'s.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

import analysis
from analysis import Estimate
from survey.complaints.deadlines import deadlines, is_overdue
from survey.core.models import (
    Complaint,
    Response,
    ResponseStatus,
    Site,
    SiteVisitors,
    as_utc,
)
from survey.core.waves import CHINA_TZ, wave_bounds, wave_of

DEADLINE_NAMES = ("accept", "reply", "mediation")
"""The deadlines reported, in workflow order (names of ``Deadline.name``)."""

CITY = ("city",)


def site_key(site_id: int) -> tuple[str, int]:
    return ("site", site_id)


def category_key(code: str) -> tuple[str, str]:
    return ("category", code)


@dataclass(frozen=True)
class Share:
    """Deadlines met among the eligible complaints (met, or due date passed)."""

    met: int
    eligible: int

    @property
    def value(self) -> float | None:
        return self.met / self.eligible if self.eligible else None


@dataclass(frozen=True)
class Figures:
    """The complaint figures of one group (city, site or category) in one wave."""

    complaints: int
    responses: int
    visitors: int | None
    visitors_missing: int
    on_time: dict[str, Share]
    closed: int
    median_days_to_close: float | None
    rated: int
    rating: Estimate | None

    @property
    def per_1000_responses(self) -> float | None:
        return 1000.0 * self.complaints / self.responses if self.responses else None

    @property
    def per_10000_visitors(self) -> float | None:
        if self.visitors is None or self.visitors <= 0:
            return None
        return 10000.0 * self.complaints / self.visitors

    @property
    def on_time_overall(self) -> Share:
        """Every deadline pooled: met / eligible over all deadline instances."""
        return Share(sum(s.met for s in self.on_time.values()),
                     sum(s.eligible for s in self.on_time.values()))


@dataclass(frozen=True)
class CityFigures:
    """``{(group key, wave): Figures}`` with group keys :data:`CITY`, ``site_key(id)``,
    ``category_key(code)``; ``sites`` are the city's tourism sites plus every site
    complained about (those of the figures)."""

    figures: dict[tuple[tuple, str], Figures] = field(default_factory=dict)
    sites: tuple[int, ...] = ()
    categories: tuple[str, ...] = ()

    def get(self, key: tuple, wave: str) -> Figures | None:
        return self.figures.get((key, wave))


def _days(start: datetime, end: datetime) -> float:
    return (_aware(end) - _aware(start)).total_seconds() / 86400.0


def _aware(moment: datetime) -> datetime:
    return as_utc(moment)


def mean_rating(ratings: Sequence[int], min_cell: int) -> Estimate | None:
    """Mean rating with its 95% interval (simple random sample of the raters,
    :func:`analysis.mean`: df = n − 1; NaN interval when n = 1 or every rating is the
    same); None when fewer than ``min_cell`` rated (not computed at all)."""
    if len(ratings) < min_cell or not ratings:
        return None
    # One rater is one PSU in its stratum: "certainty" lets analysis return the estimate
    # with df = 0, i.e. a NaN interval and its note (never a zero-width one).
    result = analysis.mean(np.asarray(ratings, dtype=np.float64), single_psu="certainty")
    assert isinstance(result, Estimate)
    return result


def group_figures(complaints: Iterable[Complaint], *, responses: int, visitors: int | None,
                  visitors_missing: int, today: date, min_cell: int) -> Figures:
    """The figures of one group of complaints (see the module docstring)."""
    items = list(complaints)
    met = dict.fromkeys(DEADLINE_NAMES, 0)
    eligible = dict.fromkeys(DEADLINE_NAMES, 0)
    for c in items:
        for d in deadlines(c, today):
            if d.name not in met:
                continue
            if d.met is not None:  # met, or due and not met (None: still running)
                eligible[d.name] += 1
                met[d.name] += int(d.met)
    closing = [_days(c.received_at, c.closed_at) for c in items if c.closed_at is not None]
    ratings = [int(c.rating) for c in items if c.rating is not None]
    return Figures(
        complaints=len(items), responses=responses, visitors=visitors,
        visitors_missing=visitors_missing,
        on_time={n: Share(met[n], eligible[n]) for n in DEADLINE_NAMES},
        closed=len(closing),
        median_days_to_close=float(np.median(closing)) if closing else None,
        rated=len(ratings), rating=mean_rating(ratings, min_cell))


def tourism_site_ids(session: Session, city_id: int, site_kinds: Sequence[str]) -> list[int]:
    return list(session.scalars(select(Site.id).where(Site.city_id == city_id,
                                                      Site.kind.in_(site_kinds))
                                .order_by(Site.code)))


def response_counts(session: Session, city_id: int, questionnaire: str,
                    waves: Sequence[str]) -> dict[tuple[int, str], int]:
    """Valid responses to ``questionnaire`` per (site, wave) in the city."""
    rows = session.execute(
        select(Response.site_id, Response.wave, func.count())
        .where(Response.city_id == city_id, Response.questionnaire == questionnaire,
               Response.status == ResponseStatus.valid.value, Response.wave.in_(waves))
        .group_by(Response.site_id, Response.wave)).all()
    return {(s, w): int(n) for s, w, n in rows}


def visitor_counts(session: Session, site_ids: Sequence[int],
                   waves: Sequence[str]) -> dict[tuple[int, str], int]:
    rows = session.execute(select(SiteVisitors.site_id, SiteVisitors.wave,
                                  SiteVisitors.visitors)
                           .where(SiteVisitors.site_id.in_(site_ids),
                                  SiteVisitors.wave.in_(waves))).all()
    return {(s, w): int(v) for s, w, v in rows}


def city_complaints(session: Session, city_id: int, waves: Sequence[str]) -> list[Complaint]:
    """Complaints about the city's sites received in ``waves``."""
    if not waves:
        return []
    # Stored timestamps are UTC (SQLite compares them as naive text): bounds in UTC too.
    bounds = [tuple(b.astimezone(UTC) for b in wave_bounds(w)) for w in waves]
    period = or_(*(and_(Complaint.received_at >= s, Complaint.received_at < e)
                   for s, e in bounds))
    return list(session.scalars(
        select(Complaint).join(Site, Site.id == Complaint.site_id)
        .where(Site.city_id == city_id, period).order_by(Complaint.id)))


def city_figures(session: Session, city_id: int, *, questionnaire: str,
                 site_kinds: Sequence[str], waves: Sequence[str], today: date,
                 min_cell: int) -> CityFigures:
    """Every figure of a city (whole city, each site, each category) for each wave."""
    complaints = city_complaints(session, city_id, waves)
    by_wave: dict[str, list[Complaint]] = {}
    for c in complaints:
        by_wave.setdefault(wave_of(_aware(c.received_at)), []).append(c)
    sites = tourism_site_ids(session, city_id, site_kinds)
    sites += sorted({c.site_id for c in complaints} - set(sites))
    categories = sorted({c.category for c in complaints})
    responses = response_counts(session, city_id, questionnaire, waves)
    visitors = visitor_counts(session, sites, waves)
    out: dict[tuple[tuple, str], Figures] = {}
    for wave in waves:
        mine = by_wave.get(wave, [])
        city_responses = sum(n for (_s, w), n in responses.items() if w == wave)
        missing = [s for s in sites if (s, wave) not in visitors]
        city_visitors = None if missing else sum(visitors[(s, wave)] for s in sites)
        groups: list[tuple[tuple, list[Complaint]]] = [(CITY, mine)]
        groups += [(category_key(code), [c for c in mine if c.category == code])
                   for code in categories]
        for key, group in groups:  # the city's denominators
            out[(key, wave)] = group_figures(group, responses=city_responses,
                                             visitors=city_visitors,
                                             visitors_missing=len(missing), today=today,
                                             min_cell=min_cell)
        for s in sites:
            count = visitors.get((s, wave))
            out[(site_key(s), wave)] = group_figures(
                [c for c in mine if c.site_id == s], responses=responses.get((s, wave), 0),
                visitors=count, visitors_missing=int(count is None), today=today,
                min_cell=min_cell)
    return CityFigures(out, tuple(sites), tuple(categories))


def overdue(session: Session, city_id: int, today: date) -> list[Complaint]:
    """The city's open complaints (owner ``city_id``) with a deadline passed and not met."""
    open_ = session.scalars(select(Complaint).where(
        Complaint.city_id == city_id, Complaint.closed_at.is_(None))
        .order_by(Complaint.id))
    return [c for c in open_ if is_overdue(c, today)]


def china_today(now: datetime | None = None) -> date:
    """Today's date in China Standard Time."""
    return (now or datetime.now(UTC)).astimezone(CHINA_TZ).date()


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
