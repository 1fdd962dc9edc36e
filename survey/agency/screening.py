"""Data-quality screening of an agency batch: pure numpy (and one scipy p-value).

Every check takes arrays — one entry per stored row of the batch, in file order — and
returns a :class:`CheckResult` with the check's ``figure`` (what was measured), the
``threshold`` it is compared with (``passed = figure <= threshold``), the 1-based data row
numbers it flags and a ``detail`` dict with the per-row criteria and intermediate numbers.
:func:`screen` runs all seven checks in the order of :data:`CHECK_NAMES`.

Answers are the raw scale points (e.g. 1–5, 0–10), ``NaN`` where the item was not asked,
not answered or answered N/A. Times are POSIX seconds (UTC), ``NaN`` when unknown.

An empty batch (no stored row, e.g. every row of the file was invalid) is screened too:
every check then passes with ``figure`` 0.0 and no flagged row — nothing was measured,
so nothing is held against the batch here; the acceptance rule ``no_valid_rows``
(:mod:`survey.agency.acceptance`) rejects it. Statistics that need rows (medians, F, p)
are ``None``/``NaN`` in ``detail`` (``null`` in JSON).

Example
-------
>>> import numpy as np
>>> r = speeders(np.array([300.0, 280, 310, 60, 295]), np.arange(1, 6))
>>> r.flagged_rows, round(r.figure, 2)
((4,), 0.2)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special

CHECK_NAMES = ("duplicates", "speeders", "straightlining", "interviewer_effect",
               "timestamps", "composition", "item_nonresponse")

CHINA_OFFSET_SECONDS = 8 * 3600

# Shares of the population aged 14 and over by the questionnaires' age bands, from the
# 7th national population census (2020, 《中国人口普查年鉴-2020》 table 1-7, five-year groups
# split evenly where a band cuts one), and the census sex ratio (51.24 % male).
NATIONAL_AGE_SHARES: Mapping[str, float] = {
    "14_17": 0.051, "18_29": 0.167, "30_44": 0.269, "45_59": 0.287, "60_69": 0.126,
    "70_79": 0.069, "80_plus": 0.031,
}
NATIONAL_GENDER_SHARES: Mapping[str, float] = {"male": 0.5124, "female": 0.4876}


@dataclass(frozen=True)
class Settings:
    """Every threshold of the screening, with the documented defaults (docs/agencies.md).

    Shares are fractions (0.05 = 5 %); durations in seconds; hours in China time.
    """

    near_duplicate_share: float = 0.95   # ≥ this share of common items identical
    near_duplicate_min_items: int = 8    # compare only rows with ≥ this many common items
    duplicates_threshold: float = 0.0    # tolerated share of duplicate rows
    speeder_factor: float = 1 / 3        # duration < factor × median is a speeder
    speeders_threshold: float = 0.05
    straightline_min_items: int = 8      # all identical across ≥ this many scale answers
    straightlining_threshold: float = 0.10
    icc_threshold: float = 0.15          # share of variance between interviewers
    interviewer_min_rows: int = 5        # interviewers with fewer rows are not judged
    interviewer_mean_z: float = 3.5      # |z| of an interviewer's mean score
    interviewer_sd_ratio: float = 0.35   # own SD < ratio × pooled SD of the others: too uniform
    interviewer_problem_share: float = 0.5  # ≥ this share of own rows duplicate/straight-lined
    night_start_hour: int = 22
    night_end_hour: int = 7
    night_burst_size: int = 3            # ≥ this many night interviews by one interviewer …
    night_burst_window: float = 3600.0   # … within this many seconds
    timestamps_threshold: float = 0.0
    composition_threshold: float = 0.15  # max |sample share − reference share| over margins
    composition_min_rows: int = 30
    item_nonresponse_threshold: float = 0.20  # an item above this share missing/N/A
    row_nonresponse_share: float = 0.5   # a row with more than this share missing/N/A


DEFAULT_SETTINGS = Settings()


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check (``figure`` and ``threshold`` are shares unless the check's
    docstring says otherwise)."""

    name: str
    figure: float
    threshold: float
    flagged_rows: tuple[int, ...]
    passed: bool
    detail: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["flagged_rows"] = list(self.flagged_rows)
        out["detail"] = _jsonable(dict(self.detail))
        return out


@dataclass(frozen=True)
class BatchData:
    """What the screening needs of a batch, one entry per stored row, in file order.

    ``answers``: (n, k) raw scale answers, NaN = not asked / missing / N/A.
    ``vectors``: (n, m) every scale and single-choice answer as a number (choices by their
    option index), NaN likewise: the answer vectors compared for duplicates.
    ``groups``: questionnaire of each row (answer vectors are compared within a group).
    ``asked`` / ``missing``: (n, m) booleans over the non-text items (visible to the
    respondent; visible but unanswered or N/A). ``item_names``: the m item ids.
    ``districts`` / ``district_population``: district id of each row and the population of
    every district of the city (the composition reference).
    """

    rows: NDArray[np.int64]
    answers: NDArray[np.float64]
    vectors: NDArray[np.float64]
    groups: NDArray[np.str_]
    overall: NDArray[np.float64]
    durations: NDArray[np.float64]
    interviewers: NDArray[np.str_]
    started: NDArray[np.float64]
    submitted: NDArray[np.float64]
    wave_start: float | None
    wave_end: float | None
    asked: NDArray[np.bool_]
    missing: NDArray[np.bool_]
    item_names: Sequence[str]
    age_band: NDArray[np.str_]
    gender: NDArray[np.str_]
    districts: NDArray[np.int64]
    district_population: Mapping[int, int]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        v = float(value)
        return None if not np.isfinite(v) else round(v, 6)
    return value


def _rows(rows: NDArray[np.int64], mask: NDArray[np.bool_]) -> tuple[int, ...]:
    return tuple(int(r) for r in rows[mask])


def _share(mask: NDArray[np.bool_]) -> float:
    return float(mask.mean()) if mask.size else 0.0


# --------------------------------------------------------------------------- checks


def straightline_mask(answers: NDArray[np.float64], min_items: int = 8) -> NDArray[np.bool_]:
    """Rows whose scale answers are all identical (SD = 0) across ≥ ``min_items`` items."""
    answers = np.asarray(answers, dtype=float)
    answered = np.isfinite(answers)
    count = answered.sum(axis=1)
    # ``initial``: no row (n = 0) or no scale item (k = 0) is an empty reduction, not an error
    filled_hi = np.where(answered, answers, -np.inf).max(axis=1, initial=-np.inf)
    filled_lo = np.where(answered, answers, np.inf).min(axis=1, initial=np.inf)
    return (count >= min_items) & (filled_hi == filled_lo)


def straightlining(answers: NDArray[np.float64], rows: NDArray[np.int64],
                   settings: Settings = DEFAULT_SETTINGS) -> CheckResult:
    """Rows answering every scale item (≥ ``straightline_min_items`` answered) the same.

    ``figure`` = share of such rows.
    """
    mask = straightline_mask(answers, settings.straightline_min_items)
    figure = _share(mask)
    return CheckResult("straightlining", figure, settings.straightlining_threshold,
                       _rows(rows, mask), figure <= settings.straightlining_threshold,
                       {"min_items": settings.straightline_min_items,
                        "count": int(mask.sum())})


def duplicate_mask(answers: NDArray[np.float64], groups: NDArray[np.str_],
                   settings: Settings = DEFAULT_SETTINGS,
                   exclude: NDArray[np.bool_] | None = None
                   ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """``(exact, near)``: rows that repeat an *earlier* row of the same group exactly
    (same items answered, same answers) or nearly (≥ ``near_duplicate_share`` of the items
    both answered identical, with ≥ ``near_duplicate_min_items`` such items). The first
    row of a set of copies is not flagged. Rows in ``exclude`` are neither flagged nor
    compared. Cost: O(n² k) within a group, in chunks of 256 rows.
    """
    answers = np.asarray(answers, dtype=float)
    n = answers.shape[0]
    exact = np.zeros(n, dtype=bool)
    near = np.zeros(n, dtype=bool)
    skip = np.zeros(n, dtype=bool) if exclude is None else np.asarray(exclude, dtype=bool)
    coded = np.where(np.isfinite(answers), answers, -1.0)
    for g in np.unique(groups):
        idx = np.flatnonzero((groups == g) & ~skip)
        if idx.size < 2:
            continue
        sub = coded[idx]
        seen: dict[bytes, int] = {}
        for j, row in enumerate(sub):
            key = row.tobytes()
            if key in seen:
                exact[idx[j]] = True
            else:
                seen[key] = j
        valid = sub >= 0
        for start in range(1, idx.size, 256):
            stop = min(start + 256, idx.size)
            a = sub[start:stop, None, :]
            b = sub[None, :stop, :]
            both = valid[start:stop, None, :] & valid[None, :stop, :]
            common = both.sum(axis=2)
            same = ((a == b) & both).sum(axis=2)
            earlier = np.arange(stop)[None, :] < np.arange(start, stop)[:, None]
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.where(common > 0, same / np.maximum(common, 1), 0.0)
            hit = (earlier & (common >= settings.near_duplicate_min_items)
                   & (ratio >= settings.near_duplicate_share)).any(axis=1)
            near[idx[start:stop]] |= hit
    return exact, near & ~exact


def duplicates(vectors: NDArray[np.float64], answers: NDArray[np.float64],
               groups: NDArray[np.str_], rows: NDArray[np.int64],
               settings: Settings = DEFAULT_SETTINGS) -> CheckResult:
    """Exact and near duplicate answer ``vectors`` (see :func:`duplicate_mask`).

    Rows straight-lined on the scale ``answers`` are left to :func:`straightlining` (two
    all-5 rows are one problem, not two). ``figure`` = share of rows that duplicate an
    earlier row.
    """
    flat = straightline_mask(answers, settings.straightline_min_items)
    exact, near = duplicate_mask(vectors, groups, settings, exclude=flat)
    mask = exact | near
    figure = _share(mask)
    return CheckResult("duplicates", figure, settings.duplicates_threshold, _rows(rows, mask),
                       figure <= settings.duplicates_threshold,
                       {"exact": int(exact.sum()), "near": int(near.sum()),
                        "near_share": settings.near_duplicate_share,
                        "min_items": settings.near_duplicate_min_items})


def speeders(durations: NDArray[np.float64], rows: NDArray[np.int64],
             settings: Settings = DEFAULT_SETTINGS) -> CheckResult:
    """Interviews shorter than ``speeder_factor`` × the batch's median duration.

    ``figure`` = share of rows that are speeders; ``detail.min_seconds`` the cut-off.
    Rows without a duration are not judged.
    """
    durations = np.asarray(durations, dtype=float)
    known = np.isfinite(durations)
    if not known.any():
        return CheckResult("speeders", 0.0, settings.speeders_threshold, (), True,
                           {"median_seconds": None, "min_seconds": None,
                            "factor": settings.speeder_factor, "rows_with_duration": 0})
    median = float(np.median(durations[known]))
    cut = settings.speeder_factor * median
    mask = known & (durations < cut)
    figure = _share(mask)
    return CheckResult("speeders", figure, settings.speeders_threshold, _rows(rows, mask),
                       figure <= settings.speeders_threshold,
                       {"median_seconds": median, "min_seconds": cut,
                        "factor": settings.speeder_factor,
                        "rows_with_duration": int(known.sum())})


def variance_between(scores: NDArray[np.float64], labels: NDArray[np.str_]
                     ) -> tuple[float, float, float]:
    """One-way ANOVA: ``(icc, F, p)`` of ``scores`` grouped by ``labels``.

    ICC(1) = (MSB − MSW) / (MSB + (n₀ − 1)·MSW), n₀ the ANOVA average group size,
    truncated at 0: the share of the score's variance that lies between interviewers.
    """
    scores = np.asarray(scores, dtype=float)
    keep = np.isfinite(scores)
    scores, labels = scores[keep], np.asarray(labels)[keep]
    names, inverse = np.unique(labels, return_inverse=True)
    k, n = names.size, scores.size
    if k < 2 or n <= k:
        return 0.0, float("nan"), float("nan")
    counts = np.bincount(inverse, minlength=k).astype(float)
    means = np.bincount(inverse, weights=scores, minlength=k) / counts
    grand = scores.mean()
    ssb = float((counts * (means - grand) ** 2).sum())
    ssw = float(((scores - means[inverse]) ** 2).sum())
    msb, msw = ssb / (k - 1), ssw / (n - k)
    n0 = (n - (counts ** 2).sum() / n) / (k - 1)
    if msw == 0:
        icc = 1.0 if msb > 0 else 0.0
        f_stat, p = float("inf") if msb > 0 else float("nan"), 0.0 if msb > 0 else float("nan")
    else:
        icc = max(0.0, (msb - msw) / (msb + (n0 - 1) * msw))
        f_stat = msb / msw
        p = float(special.fdtrc(k - 1, n - k, f_stat))
    return float(icc), float(f_stat), p


def interviewer_effect(overall: NDArray[np.float64], interviewers: NDArray[np.str_],
                       problem: NDArray[np.bool_], rows: NDArray[np.int64],
                       settings: Settings = DEFAULT_SETTINGS) -> CheckResult:
    """Share of variance of the overall score between interviewers, and outlier
    interviewers (each judged against the pooled rows of all the others):

    * ``mean``: |z| of their mean score > ``interviewer_mean_z``, z = (mean − others'
      mean) / (others' SD · √(1/nᵢ + 1/n_others));
    * ``uniform``: their SD < ``interviewer_sd_ratio`` × the others' SD (answers too alike
      to come from different people);
    * ``problems``: ≥ ``interviewer_problem_share`` of their rows are duplicates or
      straight-lined (``problem``).

    ``figure`` = ICC(1); the check fails when it exceeds ``icc_threshold`` or any
    interviewer is an outlier; every row of an outlier interviewer is flagged.
    """
    overall = np.asarray(overall, dtype=float)
    labels = np.asarray(interviewers).astype(str)
    icc, f_stat, p = variance_between(overall, labels)
    outliers: list[dict[str, Any]] = []
    flagged = np.zeros(labels.size, dtype=bool)
    finite = np.isfinite(overall)
    for name in np.unique(labels):
        own = labels == name
        mine = own & finite
        others = ~own & finite
        if mine.sum() < settings.interviewer_min_rows or others.sum() < 2:
            continue
        m_i, m_o = overall[mine].mean(), overall[others].mean()
        sd_i, sd_o = overall[mine].std(ddof=1), overall[others].std(ddof=1)
        reasons: list[str] = []
        z = float("nan")
        if sd_o > 0:
            z = float((m_i - m_o) / (sd_o * np.sqrt(1 / mine.sum() + 1 / others.sum())))
            if abs(z) > settings.interviewer_mean_z:
                reasons.append("mean")
            if sd_i < settings.interviewer_sd_ratio * sd_o:
                reasons.append("uniform")
        problem_share = float(np.asarray(problem)[own].mean())
        if problem_share >= settings.interviewer_problem_share:
            reasons.append("problems")
        if reasons:
            flagged |= own
            outliers.append({"interviewer": str(name), "rows": int(own.sum()),
                             "mean": float(m_i), "sd": float(sd_i), "z": z,
                             "sd_ratio": float(sd_i / sd_o) if sd_o > 0 else None,
                             "problem_share": problem_share, "reasons": reasons})
    passed = icc <= settings.icc_threshold and not outliers
    return CheckResult("interviewer_effect", icc, settings.icc_threshold,
                       _rows(rows, flagged), passed,
                       {"icc": icc, "f": f_stat, "p": p,
                        "interviewers": int(np.unique(labels).size),
                        "outliers": outliers, "mean_z": settings.interviewer_mean_z,
                        "sd_ratio": settings.interviewer_sd_ratio,
                        "problem_share": settings.interviewer_problem_share})


def _china_hour(seconds: NDArray[np.float64]) -> NDArray[np.float64]:
    return ((seconds + CHINA_OFFSET_SECONDS) % 86400) / 3600


def timestamps(started: NDArray[np.float64], submitted: NDArray[np.float64],
               interviewers: NDArray[np.str_], rows: NDArray[np.int64],
               wave_start: float | None, wave_end: float | None,
               settings: Settings = DEFAULT_SETTINGS) -> CheckResult:
    """Implausible times: ``outside_wave`` (started or submitted outside ``[wave_start,
    wave_end)``), ``night_burst`` (≥ ``night_burst_size`` interviews by one interviewer
    starting between 22:00 and 07:00 China time within ``night_burst_window`` seconds) and
    ``overlap`` (an interviewer starting an interview before their previous one ended).

    ``figure`` = share of rows with any of the three.
    """
    started = np.asarray(started, dtype=float)
    submitted = np.asarray(submitted, dtype=float)
    labels = np.asarray(interviewers).astype(str)
    n = submitted.size
    outside = np.zeros(n, dtype=bool)
    if wave_start is not None and wave_end is not None:
        for t in (started, submitted):
            known = np.isfinite(t)
            outside |= known & ((t < wave_start) | (t >= wave_end))
    begin = np.where(np.isfinite(started), started, submitted)
    hour = _china_hour(begin)
    night = (hour >= settings.night_start_hour) | (hour < settings.night_end_hour)
    burst = np.zeros(n, dtype=bool)
    overlap = np.zeros(n, dtype=bool)
    for name in np.unique(labels):
        idx = np.flatnonzero(labels == name)
        order = idx[np.argsort(begin[idx], kind="stable")]
        t0, t1 = begin[order], submitted[order]
        if order.size > 1:
            running_end = np.maximum.accumulate(t1)[:-1]
            hit = t0[1:] < running_end
            overlap[order[1:][hit]] = True
            # the earlier interview(s) still running are part of the overlap too
            for j in np.flatnonzero(hit) + 1:
                overlap[order[:j][t1[:j] > t0[j]]] = True
        night_idx = order[night[order]]
        if night_idx.size >= settings.night_burst_size:
            tn = begin[night_idx]
            for k in range(night_idx.size):
                window = np.abs(tn - tn[k]) <= settings.night_burst_window
                if window.sum() >= settings.night_burst_size:
                    burst[night_idx[k]] = True
    mask = outside | burst | overlap
    figure = _share(mask)
    return CheckResult("timestamps", figure, settings.timestamps_threshold, _rows(rows, mask),
                       figure <= settings.timestamps_threshold,
                       {"outside_wave": int(outside.sum()), "night_burst": int(burst.sum()),
                        "overlap": int(overlap.sum()),
                        "outside_wave_rows": list(_rows(rows, outside)),
                        "night_burst_rows": list(_rows(rows, burst)),
                        "overlap_rows": list(_rows(rows, overlap)),
                        "night_hours": [settings.night_start_hour, settings.night_end_hour],
                        "burst": [settings.night_burst_size, settings.night_burst_window]})


def _margin(values: NDArray[np.str_], reference: Mapping[Any, float]
            ) -> dict[str, Any] | None:
    keys = list(reference)
    total_ref = sum(reference.values())
    if not keys or total_ref <= 0:
        return None
    counted = np.array([(values == k).sum() for k in keys], dtype=float)
    n = counted.sum()
    if n == 0:
        return None
    sample = counted / n
    ref = np.array([reference[k] for k in keys], dtype=float) / total_ref
    expected = ref * n
    chi2 = float(((counted - expected) ** 2 / np.where(expected > 0, expected, 1)).sum())
    p = float(special.chdtrc(len(keys) - 1, chi2)) if len(keys) > 1 else 1.0
    deviation = np.abs(sample - ref)
    return {"n": int(n), "max_deviation": float(deviation.max()), "chi2": chi2, "p": p,
            "cells": [{"value": str(k), "sample": float(s), "reference": float(r)}
                      for k, s, r in zip(keys, sample, ref, strict=True)]}


def composition(age_band: NDArray[np.str_], gender: NDArray[np.str_],
                districts: NDArray[np.int64], district_population: Mapping[int, int],
                settings: Settings = DEFAULT_SETTINGS,
                age_reference: Mapping[str, float] = NATIONAL_AGE_SHARES,
                gender_reference: Mapping[str, float] = NATIONAL_GENDER_SHARES
                ) -> CheckResult:
    """Sample shares by age band, gender and district against the reference margins
    (national census age/sex shares, the city's district populations).

    ``figure`` = the largest absolute difference between a sample share and its reference
    share over all three margins (chi-square and p per margin in ``detail``). A batch-level
    check: it flags no rows. Batches under ``composition_min_rows`` rows are not judged.
    """
    margins: dict[str, Any] = {}
    ages = np.asarray(age_band).astype(str)
    known_ages = ages[np.isin(ages, list(age_reference))]
    margins["age_band"] = _margin(known_ages, age_reference)
    margins["gender"] = _margin(np.asarray(gender).astype(str), gender_reference)
    population = {str(k): float(v) for k, v in district_population.items() if v}
    margins["district"] = _margin(np.asarray(districts).astype(str), population)
    n = int(np.asarray(districts).size)
    figures = [m["max_deviation"] for m in margins.values() if m is not None]
    figure = max(figures) if figures else 0.0
    judged = n >= settings.composition_min_rows
    return CheckResult("composition", figure, settings.composition_threshold, (),
                       (not judged) or figure <= settings.composition_threshold,
                       {"margins": margins, "judged": judged,
                        "min_rows": settings.composition_min_rows})


def item_nonresponse(asked: NDArray[np.bool_], missing: NDArray[np.bool_],
                     item_names: Sequence[str], rows: NDArray[np.int64],
                     settings: Settings = DEFAULT_SETTINGS) -> CheckResult:
    """Share missing or N/A per item among the rows that were asked it.

    ``figure`` = the largest item share; items above ``item_nonresponse_threshold`` are
    listed in ``detail.items``; rows missing more than ``row_nonresponse_share`` of the
    items they were asked are flagged.
    """
    asked = np.asarray(asked, dtype=bool)
    missing = np.asarray(missing, dtype=bool) & asked
    n_asked = asked.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_item = np.where(n_asked > 0, missing.sum(axis=0) / np.maximum(n_asked, 1), 0.0)
        per_row = np.where(asked.sum(axis=1) > 0,
                           missing.sum(axis=1) / np.maximum(asked.sum(axis=1), 1), 0.0)
    figure = float(per_item.max()) if per_item.size else 0.0
    over = [{"item": name, "share": float(s), "asked": int(a)}
            for name, s, a in zip(item_names, per_item, n_asked, strict=True)
            if s > settings.item_nonresponse_threshold]
    mask = per_row > settings.row_nonresponse_share
    return CheckResult("item_nonresponse", figure, settings.item_nonresponse_threshold,
                       _rows(rows, mask), figure <= settings.item_nonresponse_threshold,
                       {"items": over, "row_share": settings.row_nonresponse_share,
                        "worst_item": item_names[int(per_item.argmax())]
                        if per_item.size and n_asked.any() else None})  # None: none asked


def screen(data: BatchData, settings: Settings = DEFAULT_SETTINGS) -> list[CheckResult]:
    """All checks of :data:`CHECK_NAMES` on one batch, in that order."""
    rows = np.asarray(data.rows, dtype=np.int64)
    dup = duplicates(data.vectors, data.answers, data.groups, rows, settings)
    flat = straightlining(data.answers, rows, settings)
    problem = np.isin(rows, np.array(dup.flagged_rows + flat.flagged_rows, dtype=np.int64))
    return [
        dup,
        speeders(data.durations, rows, settings),
        flat,
        interviewer_effect(data.overall, data.interviewers, problem, rows, settings),
        timestamps(data.started, data.submitted, data.interviewers, rows, data.wave_start,
                   data.wave_end, settings),
        composition(data.age_band, data.gender, data.districts, data.district_population,
                    settings),
        item_nonresponse(data.asked, data.missing, data.item_names, rows, settings),
    ]
