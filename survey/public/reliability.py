"""Reliability rules for published cells (docs/public.md "Reliability rules").

Pure functions over plain numbers, so the rules can be read and tested apart from the
database. A cell is ``shown`` (a number, no mark), ``marked`` (a number with a mark and a
note), or ``suppressed`` (no number at all — not the estimate, not its interval, not even
its respondent count).

Sources:
- Proportions (the satisfaction rate): NCHS Data Presentation Standards for Proportions
  (Parker et al., Vital Health Stat 2(175), 2017): effective sample size < 30 → suppress;
  confidence-interval width ≥ 0.30 → suppress; width in (0.05, 0.30) with relative width
  (width / p) > 130 % → suppress; degrees of freedom < 8 → present, flagged for review.
  NCHS computes the widths on the Korn–Graubard interval; we apply them to the interval we
  publish (logit, Korn–Graubard at p = 0 or 1: the same family near the boundaries, where
  the rule bites).
- Means (the 0–100 index and dimension scores): NCHS has no standard for means; we follow
  the principles it states and the ACS practice of marking estimates whose coefficient of
  variation exceeds 30 %: effective n < 30, df < 8, relative standard error > 30 % → marked.
- Every cell: fewer than ``min_n`` (10) respondents → suppressed (primary suppression); no
  honest interval (df ≤ 0, SE 0) → marked "no interval" for means, suppressed for
  proportions (the NCHS width criteria cannot be evaluated). A marked or suppressed cell
  never enters a ranking or a red/black list.
- Complementary suppression (Eurostat/ESS SDC handbook, "secondary suppression"): within a
  group of cells that partition a published total (the districts of a city, the sites of a
  city), a single suppressed cell could be recovered as total − the others, so the
  next-smallest shown cell is suppressed too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MIN_N = 10
MIN_EFFECTIVE_N = 30.0
MIN_DF = 8
MAX_RSE_MEAN = 0.30
WIDTH_SUPPRESS = 0.30
WIDTH_PRESENT = 0.05
MAX_RELATIVE_WIDTH = 1.30

SHOWN, MARKED, SUPPRESSED = "shown", "marked", "suppressed"

# Reason codes (the public pages and the data dictionary explain each one).
FEW_RESPONDENTS = "n_below_10"
COMPLEMENTARY = "complementary"
LOW_EFFECTIVE_N = "effective_n_below_30"
LOW_DF = "df_below_8"
NO_INTERVAL = "no_interval"
HIGH_RSE = "rse_above_30"
WIDE_INTERVAL = "ci_width_30"
WIDE_RELATIVE = "relative_ci_width_130"

REASONS: dict[str, tuple[str, str]] = {
    FEW_RESPONDENTS: ("受访者少于10人，不公布", "fewer than 10 respondents: not published"),
    COMPLEMENTARY: ("为防止由合计推算出被隐去的数值而一并隐去",
                    "suppressed so that a suppressed cell cannot be recovered from the total"),
    LOW_EFFECTIVE_N: ("有效样本量不足30，数值不稳定", "effective sample size under 30: unstable"),
    LOW_DF: ("自由度小于8，区间仅供参考", "fewer than 8 degrees of freedom: interval is rough"),
    NO_INTERVAL: ("无法计算置信区间，数值不可比较",
                  "no confidence interval can be computed: not comparable"),
    HIGH_RSE: ("相对标准误超过30%，数值不稳定", "relative standard error above 30%: unstable"),
    WIDE_INTERVAL: ("置信区间宽度达到30个百分点，不公布",
                    "confidence interval 30 percentage points wide or more: not published"),
    WIDE_RELATIVE: ("置信区间相对宽度超过130%，不公布",
                    "relative confidence interval width above 130%: not published"),
}


@dataclass(frozen=True)
class Judgement:
    status: str
    reasons: tuple[str, ...] = field(default=())


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def judge_mean(n: int, estimate: float | None, se: float | None, low: float | None,
               high: float | None, df: float | None, n_effective: float | None,
               *, min_n: int = MIN_N) -> Judgement:
    """The rule for an index or a dimension score (a mean on 0–100)."""
    if n < min_n or estimate is None:
        return Judgement(SUPPRESSED, (FEW_RESPONDENTS,))
    marks: list[str] = []
    if not _finite(low, high):
        marks.append(NO_INTERVAL)
    if not _finite(n_effective) or (n_effective or 0.0) < MIN_EFFECTIVE_N:
        marks.append(LOW_EFFECTIVE_N)
    if _finite(df) and (df or 0.0) < MIN_DF and NO_INTERVAL not in marks:
        marks.append(LOW_DF)
    if _finite(se) and estimate and abs((se or 0.0) / estimate) > MAX_RSE_MEAN:
        marks.append(HIGH_RSE)
    return Judgement(MARKED if marks else SHOWN, tuple(marks))


def judge_proportion(n: int, estimate: float | None, low: float | None, high: float | None,
                     df: float | None, n_effective: float | None,
                     *, min_n: int = MIN_N) -> Judgement:
    """The NCHS standard for a proportion (the satisfaction rate, 0–1)."""
    if n < min_n or estimate is None:
        return Judgement(SUPPRESSED, (FEW_RESPONDENTS,))
    if not _finite(low, high):
        return Judgement(SUPPRESSED, (NO_INTERVAL,))
    n_eff = n_effective if _finite(n_effective) else None
    # NCHS: n_eff = p(1 − p) / SE², = n when p̂ is 0 or 1 (no variance to measure) — which
    # is what Estimate.n_effective holds there; never more than n.
    if n_eff is None or min(n_eff, n) < MIN_EFFECTIVE_N:
        return Judgement(SUPPRESSED, (LOW_EFFECTIVE_N,))
    assert low is not None and high is not None
    width = high - low
    if width >= WIDTH_SUPPRESS:
        return Judgement(SUPPRESSED, (WIDE_INTERVAL,))
    if width > WIDTH_PRESENT and estimate > 0 and width / estimate > MAX_RELATIVE_WIDTH:
        return Judgement(SUPPRESSED, (WIDE_RELATIVE,))
    if _finite(df) and (df or 0.0) < MIN_DF:
        return Judgement(MARKED, (LOW_DF,))
    return Judgement(SHOWN)


def complementary(statuses: Mapping[Any, Judgement], sizes: Mapping[Any, int],
                  ) -> dict[Any, Judgement]:
    """Secondary suppression in one partition: when exactly one cell is suppressed for too
    few respondents, the cell with the fewest respondents among those still showing their
    count is suppressed too (ties: the first key in sort order), so neither the count nor
    the estimate of the suppressed cell follows from total − the others. (Cells suppressed
    for reliability keep their respondent count public; they hide nothing to protect.)"""
    out = dict(statuses)
    hidden = [k for k, j in out.items() if FEW_RESPONDENTS in j.reasons]
    if len(hidden) != 1:
        return out
    others = sorted((k for k, j in out.items() if FEW_RESPONDENTS not in j.reasons),
                    key=_order(sizes))
    if others:
        out[others[0]] = Judgement(SUPPRESSED, (COMPLEMENTARY,))
    return out


def counts_hidden(judgement: Judgement) -> bool:
    """Whether the respondent count of a cell is withheld as well as its estimate."""
    return bool({FEW_RESPONDENTS, COMPLEMENTARY} & set(judgement.reasons))


def _order(sizes: Mapping[Any, int]) -> Callable[[Any], tuple[int, str]]:
    return lambda k: (sizes.get(k, 0), str(k))
