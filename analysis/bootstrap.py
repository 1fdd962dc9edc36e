"""Rao–Wu rescaling bootstrap of the ratio mean, as a cross-check of Taylor linearisation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analysis._validation import check_confidence_level, plain
from analysis.design import psu_totals, summarize_design


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap estimate: ``standard_error`` is the SD of the replicates (divisor B),
    ``ci_low``/``ci_high`` are percentile limits; ``replicates`` holds every replicate mean."""

    estimate: float
    standard_error: float
    ci_low: float
    ci_high: float
    confidence_level: float
    replicates: NDArray[np.float64]


def bootstrap(
    y: ArrayLike,
    *,
    rng: np.random.Generator,
    weights: ArrayLike | None = None,
    strata: ArrayLike | None = None,
    clusters: ArrayLike | None = None,
    replicates: int = 1000,
    confidence_level: float = 0.95,
) -> BootstrapResult:
    """Rao & Wu (1988) / Rao, Wu & Yue (1992) bootstrap of the weighted mean.

    In each replicate, ``n_h − 1`` PSUs are drawn with replacement in every stratum; PSU
    ``i`` gets multiplier ``n_h/(n_h − 1) · count_i`` on its weights. Works on per-PSU sums
    (rows reduced with :func:`~analysis.design.psu_totals`). Strata need ≥ 2 PSUs.

    Examples
    --------
    >>> import numpy as np
    >>> r = bootstrap([3.0, 5, 4, 8, 6, 7], rng=np.random.default_rng(1), replicates=200)
    >>> round(r.estimate, 4)
    5.5
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError("`rng` must be a numpy.random.Generator (np.random.default_rng(seed))")
    if int(replicates) < 2:
        raise ValueError("`replicates` must be at least 2")
    level = check_confidence_level(confidence_level)
    totals = psu_totals(y, weights=weights, strata=strata, clusters=clusters)
    design = summarize_design(totals)
    counts = design.psus_per_stratum
    if (counts < 2).any():
        label = plain(design.stratum_labels[np.flatnonzero(counts < 2)[0]])
        raise ValueError(f"stratum {label!r} has a single PSU: the bootstrap needs two")
    n_psu = design.stratum_code.size
    order = np.argsort(design.stratum_code, kind="stable")
    sum_wy = totals.sum_wy.ravel()[order]
    sum_w = totals.sum_w.ravel()[order]
    values = np.empty(int(replicates))
    batch = max(1, 4_000_000 // n_psu)
    for first in range(0, values.size, batch):
        size = min(batch, values.size - first)
        multipliers = np.empty((size, n_psu))
        start = 0
        for n_h in counts:
            draws = rng.multinomial(n_h - 1, np.full(n_h, 1.0 / n_h), size=size)
            multipliers[:, start : start + n_h] = draws * (n_h / (n_h - 1))
            start += n_h
        values[first : first + size] = (multipliers @ sum_wy) / (multipliers @ sum_w)
    estimate = float(sum_wy.sum() / sum_w.sum())
    alpha = 1.0 - level
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    se = math.sqrt(float(np.mean((values - values.mean()) ** 2)))
    return BootstrapResult(estimate, se, float(low), float(high), level, values)
