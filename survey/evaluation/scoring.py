"""The scoring and ranking arithmetic of the evaluation, without a database.

Inputs per city (:class:`CityInputs`): for each component of the rules, its raw figures
(estimates with their sampling error for the satisfaction components, plain shares for
the others). :func:`score_cities` gives every component's points, the totals, the ranks,
their simulated intervals (:func:`simulate_totals`, :func:`rank_intervals`), the tied
groups (:func:`tied_groups`) and the provinces' scores. docs/evaluation.md has the formulas.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from survey.core.i18n import N_
from survey.evaluation.rules import (
    Breakpoints,
    ComplaintHandling,
    DataQuality,
    Improvement,
    Linear,
    Part,
    Publication,
    Rules,
    SatisfactionLevel,
    SurveyCoverage,
)

ROUND = 9
"""Totals are compared rounded to 9 decimals (float noise never decides a rank)."""


def score(fn: Linear | Breakpoints, x: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """The score in [0, 1] of ``x`` under a scoring function (vectorised).

    >>> float(score(Linear(type="linear", low=60, high=90), 75.0))
    0.5
    >>> float(score(Breakpoints(type="breakpoints", steps=[{"at": 80, "score": 0.5},
    ...                                                    {"at": 90, "score": 1}]), 85.0))
    0.5
    """
    values = np.asarray(x, dtype=np.float64)
    if isinstance(fn, Linear):
        return np.clip((values - fn.low) / (fn.high - fn.low), 0.0, 1.0)
    ats = np.array([s.at for s in fn.steps])
    scores = np.array([fn.below, *(s.score for s in fn.steps)])
    return scores[np.searchsorted(ats, values, side="right")]


@dataclass(frozen=True)
class Note:
    """Why a component scored as it did: an English msgid (translated on the page with
    :func:`survey.core.i18n.translate`) and its ``%(name)s`` parameters."""

    msgid: str
    params: Mapping[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.msgid % dict(self.params) if self.params else self.msgid


NO_ESTIMATE = N_("no estimate")
FIXED = N_("no sampling interval: points fixed in the rank simulation")
NO_CHANGE = N_("no estimate for both periods")
NOT_SIGNIFICANT = N_("change not significant or not an improvement: 0 points")
MISSING = N_("not computable: score %(score)s")
MISSING_PART = {"on_time": N_("no complaint deadline due in the period: score %(score)s"),
                "rating": N_("too few handling ratings: score %(score)s"),
                "batches": N_("no agency batch decided in the period: score %(score)s"),
                "flagged": N_("no web responses in the period: score %(score)s")}


@dataclass(frozen=True)
class Sampled:
    """An estimate with its design-based standard error and degrees of freedom."""

    estimate: float
    standard_error: float
    df: float

    @property
    def varies(self) -> bool:
        """Whether it has a sampling distribution to draw from (SE > 0, df > 0)."""
        return (math.isfinite(self.standard_error) and self.standard_error > 0
                and math.isfinite(self.df) and self.df > 0)


@dataclass(frozen=True)
class Change:
    """Current and previous estimate (independent samples) and their difference's SE and
    Welch–Satterthwaite df (:func:`analysis.difference`)."""

    current: Sampled
    previous: Sampled
    standard_error: float
    df: float


@dataclass(frozen=True)
class CityInputs:
    """What a city's components are scored from, by component name: a :class:`Sampled`
    (satisfaction level), a :class:`Change` (improvement), ``{part: value}`` (complaint
    handling: on_time, rating; data quality: batches, flagged) or a value (coverage,
    publication); ``None`` = not computable. ``notes`` say why, by component name."""

    code: str
    province: str
    values: Mapping[str, object]
    notes: Mapping[str, Note] = field(default_factory=dict)


@dataclass(frozen=True)
class ComponentScore:
    name: str
    kind: str
    raw: float | None
    points: float
    max_points: float
    varies: bool = False
    notes: tuple[Note, ...] = ()
    parts: Mapping[str, float | None] = field(default_factory=dict)

    @property
    def note(self) -> str | None:
        """The notes in English, joined (``None`` without any)."""
        return "; ".join(str(n) for n in self.notes) or None


@dataclass(frozen=True)
class Ranked:
    """A unit (city or province) with its total, rank (1 = best), the simulated rank
    interval and its tied group (1, 2, …: units whose intervals chain together)."""

    code: str
    total: float
    rank: int
    rank_low: int
    rank_high: int
    group: int = 0


@dataclass(frozen=True)
class CityScore:
    code: str
    province: str
    components: tuple[ComponentScore, ...]
    ranked: Ranked

    @property
    def total(self) -> float:
        return self.ranked.total


@dataclass(frozen=True)
class Scored:
    cities: tuple[CityScore, ...]
    provinces: tuple[Ranked, ...]
    province_members: Mapping[str, tuple[str, ...]]
    draws: int
    seed: int
    level: float


# --------------------------------------------------------------------------- components

def _part(part: Part, value: float | None) -> float:
    return part.missing_score if value is None else float(score(part.scoring, value))


def _significant_gain(d: NDArray[np.float64], change: Change,
                      significance: float) -> NDArray[np.bool_]:
    """Positive and significant: d / SE > t_{df, 1 − α/2} (two-sided test at α, so p < α)."""
    if not (change.standard_error > 0 and change.df > 0):
        return np.zeros(np.shape(d), dtype=bool)
    critical = stats.t.ppf(1 - significance / 2, change.df)
    return np.asarray(d / change.standard_error > critical)


def component_score(component: object, value: object, note: Note | None = None
                    ) -> ComponentScore:
    """Points = weight × score of one component from its observed inputs; ``note`` (from
    the caller, e.g. why there is no estimate) comes first among the notes."""
    c = component
    assert isinstance(c, (SatisfactionLevel, Improvement, ComplaintHandling, SurveyCoverage,
                          DataQuality, Publication))
    weight = float(c.weight)
    notes = [note] if note is not None else []
    if isinstance(c, SatisfactionLevel):
        if not isinstance(value, Sampled):
            return ComponentScore(c.name, c.kind, None, 0.0, weight,
                                  notes=tuple(notes or [Note(NO_ESTIMATE)]))
        pts = weight * float(score(c.scoring, value.estimate))
        if not value.varies and not notes:
            notes.append(Note(FIXED))
        return ComponentScore(c.name, c.kind, value.estimate, pts, weight, value.varies,
                              tuple(notes))
    if isinstance(c, Improvement):
        if not isinstance(value, Change):
            return ComponentScore(c.name, c.kind, None, 0.0, weight,
                                  notes=tuple(notes or [Note(NO_CHANGE)]))
        d = value.current.estimate - value.previous.estimate
        gain = bool(_significant_gain(np.asarray(d), value, c.significance))
        pts = weight * float(score(c.scoring, d)) if gain else 0.0
        varies = value.current.varies or value.previous.varies
        if not gain:
            notes.append(Note(NOT_SIGNIFICANT))
        if not varies:
            notes.append(Note(FIXED))
        return ComponentScore(c.name, c.kind, d, pts, weight, varies, tuple(notes))
    if isinstance(c, (ComplaintHandling, DataQuality)):
        parts = dict(value) if isinstance(value, Mapping) else {}
        names = ("on_time", "rating") if isinstance(c, ComplaintHandling) else (
            "batches", "flagged")
        got: dict[str, float | None] = {n: _number(parts.get(n)) for n in names}
        fraction = sum(getattr(c, n).share * _part(getattr(c, n), got[n]) for n in names)
        notes += [Note(MISSING_PART[n], {"score": f"{getattr(c, n).missing_score:g}"})
                  for n in names if got[n] is None]
        return ComponentScore(c.name, c.kind, got[names[0]], weight * fraction, weight,
                              notes=tuple(notes), parts=got)
    number = _number(value)
    if number is None:
        notes.append(Note(MISSING, {"score": f"{c.missing_score:g}"}))
        return ComponentScore(c.name, c.kind, None, weight * c.missing_score, weight,
                              notes=tuple(notes))
    return ComponentScore(c.name, c.kind, number, weight * float(score(c.scoring, number)),
                          weight, notes=tuple(notes))


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


# --------------------------------------------------------------------------- simulation

def _draw(rng: np.random.Generator, s: Sampled, draws: int) -> NDArray[np.float64]:
    """Draws from the estimate's sampling distribution: estimate + SE · t_df."""
    if not s.varies:
        return np.full(draws, s.estimate)
    return s.estimate + s.standard_error * rng.standard_t(s.df, draws)


def simulate_totals(rules: Rules, inputs: Sequence[CityInputs],
                    fixed: Sequence[Sequence[ComponentScore]], draws: int,
                    seed: int) -> NDArray[np.float64]:
    """Totals (draws × cities) with the satisfaction components redrawn from their sampling
    distributions; every other component keeps its points. Draws come in city order, then
    component order, from ``numpy.random.default_rng(seed)``; one estimate used by two
    components (level and improvement) is drawn once."""
    rng = np.random.default_rng(seed)
    totals = np.zeros((draws, len(inputs)))
    for j, (city, scores) in enumerate(zip(inputs, fixed, strict=True)):
        cache: dict[tuple[float, float, float], NDArray[np.float64]] = {}

        def drawn(s: Sampled, cache: dict = cache) -> NDArray[np.float64]:
            key = (s.estimate, s.standard_error, s.df)
            if key not in cache:
                cache[key] = _draw(rng, s, draws)
            return cache[key]

        for c, got in zip(rules.components, scores, strict=True):
            value = city.values.get(c.name)
            if isinstance(c, SatisfactionLevel) and isinstance(value, Sampled) and value.varies:
                totals[:, j] += c.weight * score(c.scoring, drawn(value))
            elif isinstance(c, Improvement) and isinstance(value, Change) and (
                    value.current.varies or value.previous.varies):
                d = drawn(value.current) - drawn(value.previous)
                gain = _significant_gain(d, value, c.significance)
                totals[:, j] += np.where(gain, c.weight * score(c.scoring, d), 0.0)
            else:
                totals[:, j] += got.points
    return totals


def ranks_of(totals: NDArray[np.float64],
             rng: np.random.Generator | None = None) -> NDArray[np.int64]:
    """Rank 1 = highest total, along the last axis; every row is a permutation of 1…n.

    Equal totals are ordered by position (city code order) — the observed ranking — or, with
    ``rng``, at random: in the simulation a tie must not always favour the same city (a
    step scoring function makes ties common), so tied cities share the tied ranks."""
    values = np.round(np.atleast_2d(totals), ROUND)
    if rng is None:
        order = np.argsort(-values, axis=-1, kind="stable")
    else:
        order = np.lexsort((rng.random(values.shape), -values), axis=-1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, values.shape[-1] + 1)[None, :], axis=-1)
    return ranks.astype(np.int64)


def rank_intervals(simulated: NDArray[np.int64], observed: NDArray[np.int64],
                   level: float) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The central ``level`` interval of each unit's simulated ranks (quantiles of the
    empirical distribution, ``inverted_cdf``), widened to contain the observed rank."""
    alpha = (1 - level) / 2
    low = np.quantile(simulated, alpha, axis=0, method="inverted_cdf").astype(np.int64)
    high = np.quantile(simulated, 1 - alpha, axis=0, method="inverted_cdf").astype(np.int64)
    return np.minimum(low, observed), np.maximum(high, observed)


def tied_groups(ranks: Sequence[int], lows: Sequence[int], highs: Sequence[int]) -> list[int]:
    """Group number per unit: in rank order, a unit joins the current group when its
    interval overlaps the union of the group's intervals (low ≤ the group's highest high);
    otherwise it starts the next group. Units of one group are not told apart.

    >>> tied_groups([1, 2, 3], [1, 1, 3], [2, 2, 3])
    [1, 1, 2]
    """
    order = sorted(range(len(ranks)), key=lambda i: ranks[i])
    groups = [0] * len(ranks)
    group, reach = 0, -1
    for i in order:
        if lows[i] > reach:
            group += 1
        reach = max(reach, highs[i])
        groups[i] = group
    return groups


def _ranked(codes: Sequence[str], totals: NDArray[np.float64],
            simulated_totals: NDArray[np.float64], level: float,
            rng: np.random.Generator) -> list[Ranked]:
    observed = ranks_of(totals)[0]
    low, high = rank_intervals(ranks_of(simulated_totals, rng), observed, level)
    groups = tied_groups(observed.tolist(), low.tolist(), high.tolist())
    return [Ranked(code, float(totals[i]), int(observed[i]), int(low[i]), int(high[i]),
                   groups[i]) for i, code in enumerate(codes)]


def score_cities(rules: Rules, inputs: Sequence[CityInputs]) -> Scored:
    """Every city's component points and total, ranks with simulated intervals and tied
    groups; provinces scored as the mean of their cities' totals (in every draw too).
    ``inputs`` are ordered by city code (the tie-break order)."""
    sim = rules.simulation
    fixed = [[component_score(c, city.values.get(c.name), city.notes.get(c.name))
              for c in rules.components] for city in inputs]
    totals = np.array([sum(s.points for s in scores) for scores in fixed], dtype=np.float64)
    if not inputs:
        return Scored((), (), {}, sim.draws, sim.seed, sim.level)
    simulated = simulate_totals(rules, inputs, fixed, sim.draws, sim.seed)
    ties = np.random.default_rng([sim.seed, 1])  # tie-breaks: their own stream
    cities = _ranked([c.code for c in inputs], totals, simulated, sim.level, ties)
    members: dict[str, list[int]] = {}
    for j, city in enumerate(inputs):
        members.setdefault(city.province, []).append(j)
    provinces = sorted(members)
    p_totals = np.array([totals[members[p]].mean() for p in provinces])
    p_sim = np.stack([simulated[:, members[p]].mean(axis=1) for p in provinces], axis=1)
    return Scored(
        tuple(CityScore(city.code, city.province, tuple(scores), ranked)
              for city, scores, ranked in zip(inputs, fixed, cities, strict=True)),
        tuple(_ranked(provinces, p_totals, p_sim, sim.level, ties)),
        {p: tuple(inputs[j].code for j in members[p]) for p in provinces},
        sim.draws, sim.seed, sim.level)
