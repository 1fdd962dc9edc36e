"""Design-based quantiles with Woodruff (1952) confidence intervals.

The point estimate is R ``survey``'s ``qrule="math"`` weighted quantile (the inverse of the
weighted empirical distribution function). The interval is Woodruff's: a confidence
interval for the share ``F̂(q̂)`` of the population at or below ``q̂`` — the design-based mean
of the indicator ``1{y ≤ q̂}``, whose Taylor-linearised standard error comes from the one
variance formula of the package (:func:`~analysis.design.psu_totals` +
:func:`~analysis.estimators.mean_from_psu_totals` →
:func:`~analysis.design.stratified_variance`) — read back through the same quantile rule.
Equal to R ``survey`` 4.1 ``svyquantile(..., interval.type = "mean", qrule = "math")``
(``svyquantile.survey.design``, ``woodruffCI``, ``qrule_math``, ``qs``).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from analysis._validation import (
    as_float_vector,
    as_label_vector,
    check_confidence_level,
    check_same_length,
    check_weights,
    factorize,
    plain,
)
from analysis.design import (
    SINGLE_PSU_CHOICES,
    SinglePsu,
    collapse_single_psu_strata,
    psu_totals,
)
from analysis.estimators import mean_from_psu_totals
from analysis.results import NO_DF, ZERO_SE, Estimate

LOWER_BELOW_ZERO = "lower limit undefined: the share's interval starts below 0"
UPPER_ABOVE_ONE = "upper limit undefined: the share's interval ends above 1"


class _Distribution:
    """Weighted empirical distribution of one domain, as R ``survey:::qs`` builds it.

    Rows are sorted by value (stable, as R ``order``); cumulative weights and the total are
    accumulated in extended precision and rounded to double, as R's ``cumsum`` and ``sum``
    do, so that the ``cumw ≤ p·Σw`` comparisons give R's answers, ties included.
    """

    def __init__(self, values: NDArray[np.float64], weights: NDArray[np.float64]) -> None:
        order = np.argsort(values, kind="stable")
        self.values = values[order]
        self.cumulative = np.cumsum(weights[order].astype(np.longdouble)).astype(np.float64)
        self.total = float(np.cumsum(weights.astype(np.longdouble))[-1])

    def quantile(self, p: float) -> float:
        """R ``qrule_math``: x[pos] if ``cumw[pos] == p·Σw`` exactly, else x[pos + 1],
        where pos is the last row with ``cumw ≤ p·Σw`` (the first row if there is none,
        as R ``survey:::last``)."""
        below = np.flatnonzero(self.cumulative <= p * self.total)
        pos = int(below[-1]) if below.size else 0
        following = pos if pos == self.values.size - 1 else pos + 1
        at_pos = p - self.cumulative[pos] / self.total
        return float(self.values[pos] if at_pos == 0 else self.values[following])


def _check_q(q: float) -> float:
    if isinstance(q, bool | np.bool_):
        raise ValueError(f"`q` must be a number in (0, 1), got {q!r}")
    try:
        value = float(q)
    except (TypeError, ValueError):
        raise ValueError(f"`q` must be a number in (0, 1), got {q!r}") from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"`q` must be in (0, 1) (open interval), got {q!r}")
    return value


def _woodruff(
    distribution: _Distribution, share: Estimate, df: int, level: float, n: int, point: float
) -> Estimate:
    """R ``woodruffCI(method = "mean")`` and the SE of ``svyquantile.survey.design``."""
    nan = math.nan
    if df <= 0:
        return Estimate(point, nan, nan, nan, level, df, n, nan, nan, NO_DF)
    if not share.standard_error > 0:
        return Estimate(point, nan, nan, nan, level, df, n, nan, nan, ZERO_SE)
    alpha = 1.0 - level
    tail = (1.0 - (1.0 - alpha)) / 2.0  # R: confint(m, level = 1 - alpha) -> (1 - level)/2
    p_low = share.estimate + share.standard_error * float(special.stdtrit(df, tail))
    p_high = share.estimate + share.standard_error * float(special.stdtrit(df, 1.0 - tail))
    note = None
    low = high = nan
    if p_low < 0:
        note = LOWER_BELOW_ZERO
    else:
        low = distribution.quantile(p_low)
    if p_high > 1:
        note = UPPER_ABOVE_ONE if note is None else f"{note}; {UPPER_ABOVE_ONE}"
    else:
        high = distribution.quantile(p_high)
    se = (high - low) / (2.0 * float(special.stdtrit(df, 1.0 - alpha / 2.0)))
    return Estimate(point, se, low, high, level, df, n, nan, nan, note)


def quantile(
    y: ArrayLike,
    q: float,
    *,
    weights: ArrayLike | None = None,
    strata: ArrayLike | None = None,
    clusters: ArrayLike | None = None,
    fpc: ArrayLike | None = None,
    by: ArrayLike | None = None,
    where: ArrayLike | None = None,
    single_psu: SinglePsu = "error",
    confidence_level: float = 0.95,
) -> Estimate | dict[object, Estimate]:
    """Design-based ``q`` quantile of ``y`` with a Woodruff confidence interval.

    Point estimate (R ``qrule_math``; Hyndman & Fan 1996 type 1 with weights): sort the
    domain's rows by ``y``, ``W_k`` = cumulative weight; ``q̂ = y_(k)`` if ``W_k = q·W``
    exactly for the last ``k`` with ``W_k ≤ q·W``, else ``y_(k+1)``; when even ``W_1 > q·W``
    R takes ``k = 1`` (``survey:::last``), so the result is ``y_(2)``, and so is it here.

    Interval (Woodruff 1952, JASA 47:635; Lumley 2010 §2.4.1; R ``survey`` 4.1
    ``svyquantile(interval.type = "mean")``): ``p̂ = F̂(q̂)`` is the design-based mean of
    ``1{y ≤ q̂}`` with its linearised SE ``s``; ``(p_L, p_U) = p̂ ± t_{df, 1−α/2}·s``; the
    limits are ``q̂(p_L)`` and ``q̂(p_U)`` by the same rule (NaN if ``p_L < 0`` or
    ``p_U > 1``, as R); ``standard_error = (ci_high − ci_low) / (2 t_{df, 1−α/2})``.

    ``df`` is the domain's: PSUs containing a row of the domain with a value − strata
    containing them (R ``degf(subset(design, …))``). If ``df ≤ 0`` or ``s = 0`` the interval
    and SE are NaN and ``note`` says why (R would give a zero-width interval for ``s = 0``).
    ``n_effective`` and ``design_effect`` are NaN (not defined for a quantile).

    Parameters
    ----------
    y : values; NaN rows are left out (R ``na.rm = TRUE``) but the design is kept.
    q : the quantile, a number in (0, 1) (0.5: median).
    weights, strata, clusters, fpc, where, single_psu, confidence_level : as
        :func:`analysis.mean`. ``single_psu="center"`` is R ``survey.lonely.psu = "adjust"``.
    by : domain label per row; returns ``{label: Estimate}`` for the labels present among
        rows with a positive weight inside ``where``; each domain is R ``svyby(~y, ~by,
        design, svyquantile, quantiles = q, ci = TRUE, na.rm = TRUE)``.

    Examples
    --------
    >>> e = quantile([3.0, 1, 4, 1, 5, 9, 2, 6, 5, 3], 0.5)
    >>> e.estimate, e.ci_low, e.ci_high, e.df
    (3.0, 1.0, 6.0, 9)
    >>> round(e.standard_error, 4)
    1.1051
    """
    level = check_confidence_level(confidence_level)
    p = _check_q(q)
    if single_psu not in SINGLE_PSU_CHOICES:
        raise ValueError(f"`single_psu` must be one of {SINGLE_PSU_CHOICES}, got {single_psu!r}")
    values = as_float_vector(y, "y", allow_nan=True)
    if np.isinf(values).any():
        raise ValueError("`y` contains infinite values")
    size = values.size
    w = check_weights(weights, size)
    inside = np.ones(size, dtype=bool)
    if where is not None:
        inside = np.asarray(where)
        if inside.dtype != bool:
            raise ValueError("`where` must be a boolean array")
        check_same_length(size, where=inside)
    population = inside & (w > 0)
    valid = population & ~np.isnan(values)

    labels: list[object] = [None]
    code = np.zeros(size, dtype=np.intp)
    if by is not None:
        by_array = as_label_vector(by, "by")
        check_same_length(size, by=by_array)
        all_labels, all_code = factorize(by_array)
        seen = np.zeros(all_labels.size, dtype=bool)
        seen[all_code[population]] = True
        if not seen.any():
            raise ValueError("no row has a positive weight inside `where`")
        renumber = np.cumsum(seen) - 1
        labels = [plain(label) for label in all_labels[seen]]
        code = np.where(seen[all_code], renumber[all_code], 0).astype(np.intp)
    counts = np.bincount(code[valid], minlength=len(labels))
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        where_text = "" if by is None else f" in domain {labels[empty[0]]!r} of `by`"
        raise ValueError(
            f"no row{where_text} has a value of `y` (not NaN), a positive weight and "
            "`where` True: the quantile is undefined"
        )

    rows = np.flatnonzero(valid)
    grouped = rows[np.argsort(code[rows], kind="stable")]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    distributions = [
        _Distribution(values[grouped[s : s + c]], w[grouped[s : s + c]])
        for s, c in zip(starts, counts, strict=True)
    ]
    points = np.array([d.quantile(p) for d in distributions])

    below = np.zeros(size)
    below[valid] = (values[valid] <= points[code[valid]]).astype(np.float64)
    totals = psu_totals(
        below,
        weights=w,
        strata=strata,
        clusters=clusters,
        fpc=fpc,
        by=None if by is None else code,
        where=valid,
    )
    if single_psu == "collapse":
        totals = collapse_single_psu_strata(totals)
    shares = mean_from_psu_totals(totals, single_psu=single_psu, confidence_level=level)
    if isinstance(shares, Estimate):
        share_list = [shares]
    else:
        share_list = [shares[j] for j in range(len(labels))]
    df = [share.df for share in share_list]  # the domain's (analysis.design.domain_df)
    results = [
        _woodruff(distribution, share, int(dfj), level, int(count), float(point))
        for distribution, share, dfj, count, point in zip(
            distributions, share_list, df, counts, points, strict=True
        )
    ]
    if by is None:
        return results[0]
    return dict(zip(labels, results, strict=True))
