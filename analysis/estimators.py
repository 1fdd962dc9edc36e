"""Design-based means, proportions, totals, ratios and differences (Taylor linearisation).

All row-level functions reduce rows to :class:`~analysis.design.PsuTotals` and call the
``*_from_psu_totals`` functions, which call the one variance formula
:func:`~analysis.design.stratified_variance`.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

from analysis._validation import check_confidence_level
from analysis.design import (
    PsuTotals,
    SinglePsu,
    collapse_single_psu_strata,
    psu_totals,
    stratified_variance,
    summarize_design,
)
from analysis.results import Difference, Estimate

ProportionMethod = Literal["logit", "korn-graubard", "wilson"]
PROPORTION_METHODS: tuple[str, ...] = ("logit", "korn-graubard", "wilson")
EstimateOrDomains = Estimate | dict[object, Estimate]


def _t_quantile(confidence_level: float, df: float) -> float:
    if df <= 0:
        return math.nan
    return float(stats.t.ppf(0.5 + confidence_level / 2.0, df))


def _design_effect(variance: float, srs_variance: float) -> float:
    if not srs_variance > 0:
        return math.nan
    return variance / srs_variance


def _linearised(
    totals: PsuTotals,
    kind: Literal["mean", "total"],
    confidence_level: float,
    single_psu: SinglePsu,
) -> list[Estimate]:
    """Estimates for every column (domain) of ``totals``."""
    level = check_confidence_level(confidence_level)
    if single_psu == "collapse":
        totals = collapse_single_psu_strata(totals)
    design = summarize_design(totals)
    sum_wy = totals.sum_wy
    sum_w = totals.sum_w
    weight_total = sum_w.sum(axis=0)
    value_total = sum_wy.sum(axis=0)
    n = totals.n.sum(axis=0)
    if kind == "mean":
        empty = np.flatnonzero(weight_total <= 0)
        if empty.size:
            where = "" if totals.domains is None else f" in domain {totals.domains[empty[0]]!r}"
            raise ValueError(f"`weights` sum to zero{where}: the mean is undefined")
        ratio = value_total / weight_total
        z = (sum_wy - ratio * sum_w) / weight_total
        point = ratio
    else:
        z = sum_wy
        point = value_total
    variance = np.atleast_1d(stratified_variance(z, design, single_psu))
    srs = np.full(point.shape, np.nan)
    if totals.sum_wyy is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = value_total / weight_total
            second_moment = totals.sum_wyy.sum(axis=0) / weight_total
            spread = second_moment - mean * mean
            spread = np.where(spread > 1e-12 * second_moment, spread, 0.0)  # rounding noise
            unit_variance = np.maximum(spread, 0.0) * n / (n - 1)
            srs = unit_variance / n if kind == "mean" else unit_variance * weight_total**2 / n
            srs = np.where(n > 1, srs, np.nan)
    quantile = _t_quantile(level, design.df)
    results = []
    for j in range(point.size):
        se = math.sqrt(max(float(variance[j]), 0.0))
        deff = _design_effect(float(variance[j]), float(srs[j]))
        count = int(round(float(n[j])))
        results.append(
            Estimate(
                estimate=float(point[j]),
                standard_error=se,
                ci_low=float(point[j]) - quantile * se,
                ci_high=float(point[j]) + quantile * se,
                confidence_level=level,
                df=design.df,
                n=count,
                n_effective=count / deff if deff > 0 else math.nan,
                design_effect=deff,
            )
        )
    return results


def _package(totals: PsuTotals, results: list[Estimate]) -> EstimateOrDomains:
    if totals.domains is None:
        if len(results) != 1:
            return dict(enumerate(results))
        return results[0]
    return dict(zip(totals.domains, results, strict=True))


def mean_from_psu_totals(
    totals: PsuTotals, *, single_psu: SinglePsu = "error", confidence_level: float = 0.95
) -> EstimateOrDomains:
    """Ratio mean Σwy/Σw from per-PSU sums, Taylor-linearised standard error.

    The per-PSU totals of the linearised variable are ``z_i = (Σwy_i − R̂ Σw_i)/Σw``
    (Woodruff 1971; Wolter 2007 §6.5), fed to :func:`~analysis.design.stratified_variance`.
    With 2-D ``totals`` (domains) returns ``{domain: Estimate}``.

    Examples
    --------
    >>> import numpy as np
    >>> from analysis import PsuTotals
    >>> t = PsuTotals(stratum=np.zeros(3), sum_wy=np.array([10.0, 20, 60]),
    ...               sum_w=np.array([10.0, 10, 10]), n=np.array([5, 5, 5]))
    >>> e = mean_from_psu_totals(t)
    >>> round(e.estimate, 4), round(e.standard_error, 4), e.df
    (3.0, 1.5275, 2)
    """
    return _package(totals, _linearised(totals, "mean", confidence_level, single_psu))


def total_from_psu_totals(
    totals: PsuTotals, *, single_psu: SinglePsu = "error", confidence_level: float = 0.95
) -> EstimateOrDomains:
    """Horvitz–Thompson total Σwy from per-PSU sums (``z_i = Σwy_i``).

    Examples
    --------
    >>> import numpy as np
    >>> from analysis import PsuTotals
    >>> t = PsuTotals(stratum=np.zeros(3), sum_wy=np.array([10.0, 20, 60]),
    ...               sum_w=np.array([10.0, 10, 10]), n=np.array([5, 5, 5]))
    >>> e = total_from_psu_totals(t)
    >>> e.estimate, round(e.standard_error, 4)
    (90.0, 45.8258)
    """
    return _package(totals, _linearised(totals, "total", confidence_level, single_psu))


def mean(
    y: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    strata: ArrayLike | None = None,
    clusters: ArrayLike | None = None,
    fpc: ArrayLike | None = None,
    by: ArrayLike | None = None,
    where: ArrayLike | None = None,
    single_psu: SinglePsu = "error",
    confidence_level: float = 0.95,
) -> EstimateOrDomains:
    """Weighted (ratio) mean of ``y`` under a stratified cluster design.

    Parameters
    ----------
    y : values, one per respondent (NaN allowed only where ``where`` is False).
    weights : survey weights ≥ 0, not all zero (default 1).
    strata : stratum label per row. clusters : PSU label per row, nested in strata.
    fpc : per row, population number of PSUs in the stratum (> 1) or sampling fraction (≤ 1).
    by : domain label per row; returns ``{label: Estimate}``; each domain keeps the full design.
    where : boolean subpopulation mask (rows outside contribute zeros, design kept).
    single_psu : strata with one PSU: "error" (default), "certainty", "center", or
        "collapse" (pool them into one stratum; see ``collapse_single_psu_strata``).
    confidence_level : in (0, 1); t quantile with df = #PSU − #strata.

    Examples
    --------
    >>> e = mean([3.0, 5, 4, 8], weights=[1.0, 1, 2, 2])
    >>> round(e.estimate, 4), round(e.standard_error, 4), e.df
    (5.3333, 1.234, 3)
    """
    totals = psu_totals(
        y, weights=weights, strata=strata, clusters=clusters, fpc=fpc, by=by, where=where
    )
    return mean_from_psu_totals(totals, single_psu=single_psu, confidence_level=confidence_level)


def total(
    y: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    strata: ArrayLike | None = None,
    clusters: ArrayLike | None = None,
    fpc: ArrayLike | None = None,
    by: ArrayLike | None = None,
    where: ArrayLike | None = None,
    single_psu: SinglePsu = "error",
    confidence_level: float = 0.95,
) -> EstimateOrDomains:
    """Weighted population total Σ w·y with linearised SE (arguments as :func:`mean`).

    Examples
    --------
    >>> e = total([3.0, 5, 4, 8], weights=[10.0, 10, 20, 20])
    >>> e.estimate, round(e.standard_error, 3)
    (320.0, 114.31)
    """
    totals = psu_totals(
        y, weights=weights, strata=strata, clusters=clusters, fpc=fpc, by=by, where=where
    )
    return total_from_psu_totals(totals, single_psu=single_psu, confidence_level=confidence_level)


def ratio(
    y: ArrayLike,
    x: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    strata: ArrayLike | None = None,
    clusters: ArrayLike | None = None,
    fpc: ArrayLike | None = None,
    by: ArrayLike | None = None,
    where: ArrayLike | None = None,
    single_psu: SinglePsu = "error",
    confidence_level: float = 0.95,
) -> EstimateOrDomains:
    """Ratio of totals Σwy / Σwx (R ``svyratio``); ``design_effect`` is NaN.

    Examples
    --------
    >>> e = ratio([2.0, 3, 5], [4.0, 6, 9])
    >>> round(e.estimate, 4)
    0.5263
    """
    totals = psu_totals(
        y, weights=weights, strata=strata, clusters=clusters, fpc=fpc, by=by, where=where, x=x
    )
    return mean_from_psu_totals(totals, single_psu=single_psu, confidence_level=confidence_level)


def _logit_interval(p: float, se: float, quantile: float) -> tuple[float, float]:
    if p <= 0.0 or p >= 1.0 or se == 0.0:
        return p, p
    half = quantile * se / (p * (1.0 - p))
    centre = special.logit(p)
    return float(special.expit(centre - half)), float(special.expit(centre + half))


def _korn_graubard_interval(
    p: float, se: float, n: int, df: int, level: float
) -> tuple[float, float]:
    alpha = 1.0 - level
    if se > 0 and 0 < p < 1:
        n_eff = p * (1.0 - p) / se**2
    else:
        n_eff = float(n)
    if n > 1 and df > 0:
        n_eff *= (stats.t.ppf(alpha / 2, n - 1) / stats.t.ppf(alpha / 2, df)) ** 2
    x = n_eff * p
    low = 0.0 if x <= 0 else float(stats.beta.ppf(alpha / 2, x, n_eff - x + 1.0))
    high = 1.0 if n_eff - x <= 0 else float(stats.beta.ppf(1 - alpha / 2, x + 1.0, n_eff - x))
    return low, high


def _wilson_interval(p: float, n_eff: float, level: float) -> tuple[float, float]:
    if not n_eff > 0:
        return math.nan, math.nan
    zq = float(stats.norm.ppf(0.5 + level / 2.0))
    denominator = 1.0 + zq * zq / n_eff
    centre = (p + zq * zq / (2.0 * n_eff)) / denominator
    half = zq * math.sqrt(p * (1.0 - p) / n_eff + zq * zq / (4.0 * n_eff * n_eff)) / denominator
    return centre - half, centre + half


def _with_interval(e: Estimate, method: str) -> Estimate:
    p, se = e.estimate, e.standard_error
    if method == "logit":
        low, high = _logit_interval(p, se, _t_quantile(e.confidence_level, e.df))
    elif method == "korn-graubard":
        low, high = _korn_graubard_interval(p, se, e.n, e.df, e.confidence_level)
    else:
        size = e.n_effective if math.isfinite(e.n_effective) else float(e.n)
        low, high = _wilson_interval(p, size, e.confidence_level)
    return Estimate(p, se, low, high, e.confidence_level, e.df, e.n, e.n_effective, e.design_effect)


def proportion_from_psu_totals(
    totals: PsuTotals,
    *,
    method: ProportionMethod = "logit",
    single_psu: SinglePsu = "error",
    confidence_level: float = 0.95,
) -> EstimateOrDomains:
    """Proportion from per-PSU sums of a 0/1 indicator (``sum_wy`` = Σw over rows with the
    level): the same linearised estimate as :func:`mean_from_psu_totals`, with the
    proportion interval of ``method`` (see :func:`proportion`).

    Examples
    --------
    >>> import numpy as np
    >>> from analysis import PsuTotals
    >>> t = PsuTotals(stratum=np.zeros(4), sum_wy=np.array([1.0, 0, 1, 1]),
    ...               sum_w=np.ones(4), n=np.ones(4))
    >>> e = proportion_from_psu_totals(t)
    >>> e.estimate, round(e.ci_low, 4), round(e.ci_high, 4)
    (0.75, 0.0413, 0.9952)
    """
    if method not in PROPORTION_METHODS:
        raise ValueError(f"`method` must be one of {PROPORTION_METHODS}, got {method!r}")
    raw = mean_from_psu_totals(totals, single_psu=single_psu, confidence_level=confidence_level)
    if isinstance(raw, Estimate):
        return _with_interval(raw, method)
    return {key: _with_interval(value, method) for key, value in raw.items()}


def proportion(
    y: ArrayLike,
    level: object,
    *,
    weights: ArrayLike | None = None,
    strata: ArrayLike | None = None,
    clusters: ArrayLike | None = None,
    fpc: ArrayLike | None = None,
    by: ArrayLike | None = None,
    where: ArrayLike | None = None,
    method: ProportionMethod = "logit",
    single_psu: SinglePsu = "error",
    confidence_level: float = 0.95,
) -> EstimateOrDomains:
    """Weighted share of rows with ``y == level``; design-based SE and interval.

    ``method``: ``"logit"`` (R ``svyciprop(method="logit")``, Stata ``svy: proportion``):
    expit(logit p̂ ± t·SE/(p̂(1−p̂))); ``"korn-graubard"`` (Korn & Graubard 1998; R
    ``svyciprop(method="beta")``): Clopper–Pearson with effective n = p̂(1−p̂)/SE² ×
    (t_{n−1}/t_df)²; ``"wilson"`` (Wilson 1927) with n = ``n_effective`` (= n for an
    unweighted simple random sample). Levels never observed give estimate 0.

    Examples
    --------
    >>> e = proportion(["yes", "no", "yes", "yes"], "yes")
    >>> e.estimate, round(e.ci_low, 4), round(e.ci_high, 4)
    (0.75, 0.0413, 0.9952)
    """
    if method not in PROPORTION_METHODS:
        raise ValueError(f"`method` must be one of {PROPORTION_METHODS}, got {method!r}")
    values = np.asarray(y)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("`y` must be a non-empty one-dimensional array")
    if values.dtype.kind == "f":
        inside = np.ones(values.size, dtype=bool) if where is None else np.asarray(where)
        if inside.shape == values.shape and np.isnan(values[inside]).any():
            raise ValueError("`y` contains NaN (use `where` to leave rows out)")
    elif values.dtype.kind == "O" and any(v is None for v in values):
        raise ValueError("`y` contains missing (None) values")
    indicator = (values == level).astype(np.float64)
    totals = psu_totals(
        indicator, weights=weights, strata=strata, clusters=clusters, fpc=fpc, by=by, where=where
    )
    return proportion_from_psu_totals(
        totals, method=method, single_psu=single_psu, confidence_level=confidence_level
    )


def difference(a: Estimate, b: Estimate | float) -> Difference:
    """Difference ``a − b`` of estimates from independent samples (e.g. two waves).

    ``b`` may be a fixed benchmark number (SE 0). Variance ``se_a² + se_b²``; df by
    Welch–Satterthwaite ``(v_a + v_b)² / (v_a²/df_a + v_b²/df_b)``; t test of zero difference.
    Not valid for overlapping samples (a domain against its own total) — the covariance is
    ignored.

    Examples
    --------
    >>> from analysis import Estimate
    >>> a = Estimate(80.0, 1.0, 78.0, 82.0, 0.95, 50, 51, 51.0, 1.0)
    >>> d = difference(a, 77.0)
    >>> d.estimate, d.df, round(d.p_value, 4)
    (3.0, 50.0, 0.0042)
    """
    if not isinstance(a, Estimate):
        raise ValueError("`a` must be an Estimate")
    if isinstance(b, Estimate):
        if not math.isclose(a.confidence_level, b.confidence_level):
            raise ValueError("`b` has a different confidence_level than `a`")
        b_value, b_var, b_df = b.estimate, b.standard_error**2, float(b.df)
    else:
        try:
            b_value = float(b)
        except (TypeError, ValueError):
            raise ValueError("`b` must be an Estimate or a number") from None
        if not math.isfinite(b_value):
            raise ValueError("`b` must be finite")
        b_var, b_df = 0.0, math.inf
    a_var = a.standard_error**2
    estimate = a.estimate - b_value
    variance = a_var + b_var
    se = math.sqrt(variance)
    terms = (a_var**2 / a.df if a.df > 0 else math.inf) + (b_var**2 / b_df if b_var else 0.0)
    df = variance**2 / terms if terms > 0 else math.nan
    if math.isfinite(df) and df > 0:
        quantile = float(stats.t.ppf(0.5 + a.confidence_level / 2, df))
        statistic = estimate / se if se > 0 else math.copysign(math.inf, estimate)
        p_value = float(2 * stats.t.sf(abs(statistic), df))
    else:
        quantile = statistic = p_value = math.nan
    return Difference(
        estimate,
        se,
        estimate - quantile * se,
        estimate + quantile * se,
        a.confidence_level,
        df,
        statistic,
        p_value,
    )
