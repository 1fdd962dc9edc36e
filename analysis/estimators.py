"""Design-based means, proportions, totals, ratios and differences (Taylor linearisation).

All row-level functions reduce rows to :class:`~analysis.design.PsuTotals` and call the
``*_from_psu_totals`` functions, which call the one variance formula
:func:`~analysis.design.stratified_variance`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Literal, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from analysis._validation import as_label_vector, check_confidence_level, factorize
from analysis.design import (
    DesignSummary,
    PsuTotals,
    SinglePsu,
    collapse_single_psu_strata,
    domain_df,
    psu_sums,
    psu_totals,
    stratified_covariance,
    stratified_variance,
    summarize_design,
)
from analysis.results import NO_DF, ZERO_SE, Difference, Estimate

ProportionMethod = Literal["auto", "logit", "korn-graubard", "wilson"]
PROPORTION_METHODS: tuple[str, ...] = ("auto", "logit", "korn-graubard", "wilson")
DfRule = Literal["domain", "design"]
DF_RULES: tuple[str, ...] = ("domain", "design")
EstimateOrDomains = Estimate | dict[object, Estimate]
LOGIT_UNDEFINED = "logit interval undefined at an estimate of 0 or 1 or a standard error of 0"


def _t_quantile(confidence_level: float, df: float) -> float:
    if df <= 0:
        return math.nan
    return float(special.stdtrit(df, 0.5 + confidence_level / 2.0))


def _design_effect(variance: float, srs_variance: float) -> float:
    if not srs_variance > 0:
        return math.nan
    return variance / srs_variance


def _check_df_rule(df: str) -> None:
    if df not in DF_RULES:
        raise ValueError(f"`df` must be one of {DF_RULES}, got {df!r}")


def t_interval(
    point: float, se: float, df: float, level: float
) -> tuple[float, float, str | None]:
    """``point ± t_{df} · se``, or NaN limits with the reason when there is no honest
    interval: df ≤ 0 (:data:`~analysis.results.NO_DF`) or SE 0
    (:data:`~analysis.results.ZERO_SE`) — never an interval of zero width."""
    if not df > 0:
        return math.nan, math.nan, NO_DF
    if not se > 0:
        return math.nan, math.nan, ZERO_SE
    quantile = _t_quantile(level, df)
    return point - quantile * se, point + quantile * se, None


def linearised_scores(
    totals: PsuTotals, kind: Literal["mean", "total"]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Point estimates (D,) and per-PSU totals of the linearised variable (P, D).

    Mean (ratio) of domain d: ``z_id = (Σwy_id − R̂_d Σw_id)/Σw_d`` (Woodruff 1971); total:
    ``z_id = Σwy_id``. Raises ``ValueError`` naming a domain whose weights sum to zero."""
    sum_wy, sum_w = totals.sum_wy, totals.sum_w
    value_total = sum_wy.sum(axis=0)
    if kind == "total":
        return value_total, sum_wy
    weight_total = sum_w.sum(axis=0)
    empty = np.flatnonzero(weight_total <= 0)
    if empty.size:
        where = "" if totals.domains is None else f" in domain {totals.domains[empty[0]]!r}"
        raise ValueError(f"`weights` sum to zero{where}: the mean is undefined")
    ratio = value_total / weight_total
    return ratio, (sum_wy - ratio * sum_w) / weight_total


def _linearised(
    totals: PsuTotals,
    kind: Literal["mean", "total"],
    confidence_level: float,
    single_psu: SinglePsu,
    df: DfRule = "domain",
    z: NDArray[np.float64] | None = None,
) -> list[Estimate]:
    """Estimates for every column (domain) of ``totals``; ``z`` replaces the linearised
    PSU totals (calibrated designs)."""
    level = check_confidence_level(confidence_level)
    _check_df_rule(df)
    if single_psu == "collapse":
        totals = collapse_single_psu_strata(totals)
    design = summarize_design(totals)
    point, scores = linearised_scores(totals, kind)
    if z is not None:
        scores = z
    weight_total = totals.sum_w.sum(axis=0)
    value_total = totals.sum_wy.sum(axis=0)
    n = totals.n.sum(axis=0)
    variance = np.atleast_1d(stratified_variance(scores, design, single_psu))
    if df == "domain":
        dfs = domain_df(totals.n > 0, design)
    else:
        dfs = np.full(point.shape, design.df, dtype=np.int64)
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
    results = []
    for j in range(point.size):
        se = math.sqrt(max(float(variance[j]), 0.0))
        deff = _design_effect(float(variance[j]), float(srs[j]))
        count = int(round(float(n[j])))
        low, high, note = t_interval(float(point[j]), se, int(dfs[j]), level)
        results.append(
            Estimate(
                estimate=float(point[j]),
                standard_error=se,
                ci_low=low,
                ci_high=high,
                confidence_level=level,
                df=int(dfs[j]),
                n=count,
                n_effective=count / deff if deff > 0 else math.nan,
                design_effect=deff,
                note=note,
            )
        )
    return results


class RowAdjustment(Protocol):
    """Calibrated weights that adjust row-level influence values
    (:class:`analysis.calibration.Calibration`)."""

    @property
    def weights(self) -> NDArray[np.float64]: ...

    def residuals(self, x: ArrayLike) -> NDArray[np.float64]: ...


def _estimate_rows(
    kind: Literal["mean", "total"],
    y: ArrayLike,
    *,
    weights: ArrayLike | None,
    strata: ArrayLike | None,
    clusters: ArrayLike | None,
    fpc: ArrayLike | None,
    by: ArrayLike | None,
    where: ArrayLike | None,
    single_psu: SinglePsu,
    confidence_level: float,
    df: DfRule,
    calibration: RowAdjustment | None,
    transform: Callable[[Estimate], Estimate] | None = None,
) -> EstimateOrDomains:
    """Rows → PSU totals → estimates; with ``calibration`` the linearised scores are its
    residuals (R ``svyrecvar`` on a calibrated design) summed per PSU."""
    if calibration is not None:
        if weights is None:
            weights = calibration.weights
        else:
            given = np.asarray(weights, dtype=np.float64)
            if given.shape != calibration.weights.shape:
                raise ValueError(f"`weights` has {given.size} rows but `calibration` has "
                                 f"{calibration.weights.size}")
            if not np.array_equal(given, calibration.weights):
                raise ValueError("`weights` differ from the calibrated weights of `calibration`")
    totals = psu_totals(
        y, weights=weights, strata=strata, clusters=clusters, fpc=fpc, by=by, where=where
    )
    z = None
    if calibration is not None:
        z = _calibrated_scores(kind, totals, y, calibration.weights, by, where, calibration,
                               strata, clusters)
    results = _linearised(totals, kind, confidence_level, single_psu, df, z)
    if transform is not None:
        results = [transform(e) for e in results]
    return _package(totals, results)


def _calibrated_scores(
    kind: Literal["mean", "total"],
    totals: PsuTotals,
    y: ArrayLike,
    w: NDArray[np.float64],
    by: ArrayLike | None,
    where: ArrayLike | None,
    calibration: RowAdjustment,
    strata: ArrayLike | None,
    clusters: ArrayLike | None,
) -> NDArray[np.float64]:
    """Per-PSU sums of the calibration residuals of the row-level influence values
    ``x_k = w_k (y_k − θ̂_d)/Σw_d`` (mean) or ``w_k y_k`` (total) of row k's domain d."""
    values = np.asarray(y, dtype=np.float64)
    if values.shape != w.shape:
        raise ValueError(f"`y` has {values.size} rows but `calibration` has {w.size}")
    keep = w > 0
    if where is not None:
        keep &= np.asarray(where, dtype=bool)
    if by is None:
        code = np.zeros(values.size, dtype=np.intp)
    else:
        _labels, code = factorize(as_label_vector(by, "by"))
    point, _scores = linearised_scores(totals, kind)
    x = np.zeros((values.size, point.size))
    rows = np.flatnonzero(keep)
    if kind == "mean":
        weight_total = totals.sum_w.sum(axis=0)
        x[rows, code[rows]] = w[rows] * (values[rows] - point[code[rows]]) / weight_total[
            code[rows]]
    else:
        x[rows, code[rows]] = w[rows] * values[rows]
    return psu_sums(calibration.residuals(x), strata=strata, clusters=clusters)


def _package(totals: PsuTotals, results: list[Estimate]) -> EstimateOrDomains:
    if totals.domains is None:
        if len(results) != 1:
            return dict(enumerate(results))
        return results[0]
    return dict(zip(totals.domains, results, strict=True))


def mean_from_psu_totals(
    totals: PsuTotals,
    *,
    single_psu: SinglePsu = "error",
    confidence_level: float = 0.95,
    df: DfRule = "domain",
) -> EstimateOrDomains:
    """Ratio mean Σwy/Σw from per-PSU sums, Taylor-linearised standard error.

    The per-PSU totals of the linearised variable are ``z_i = (Σwy_i − R̂ Σw_i)/Σw``
    (Woodruff 1971; Wolter 2007 §6.5), fed to :func:`~analysis.design.stratified_variance`.
    With 2-D ``totals`` (domains) returns ``{domain: Estimate}``. ``df="domain"`` (default):
    each domain's df counts the PSUs and strata where it has respondents
    (:func:`~analysis.design.domain_df`); ``"design"``: the whole design's.

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
    return _package(totals, _linearised(totals, "mean", confidence_level, single_psu, df))


def total_from_psu_totals(
    totals: PsuTotals,
    *,
    single_psu: SinglePsu = "error",
    confidence_level: float = 0.95,
    df: DfRule = "domain",
) -> EstimateOrDomains:
    """Horvitz–Thompson total Σwy from per-PSU sums (``z_i = Σwy_i``); ``df`` as
    :func:`mean_from_psu_totals`.

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
    return _package(totals, _linearised(totals, "total", confidence_level, single_psu, df))


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
    df: DfRule = "domain",
    calibration: RowAdjustment | None = None,
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
    single_psu : strata with one PSU: "error" (default), "certainty", "center" (from the mean
        PSU total, Stata), "adjust" (from 0, R), or "collapse" (pool them into one stratum;
        see ``collapse_single_psu_strata``).
    confidence_level : in (0, 1); t quantile with ``df`` degrees of freedom.
    df : "domain" (default): #PSU − #strata where the (domain) estimate has respondents, R
        ``degf(subset(design, …))``; "design": of the whole design. With df ≤ 0 or SE 0 the
        interval is NaN and ``note`` says why.
    calibration : the ``calibration`` of a :func:`~analysis.weighting.rake` or
        :func:`~analysis.weighting.poststratify` result: the weights are its calibrated
        weights and the variance uses its residuals (R ``svymean`` on a ``calibrate()`` /
        ``postStratify()`` design), not the weights treated as fixed.

    Examples
    --------
    >>> e = mean([3.0, 5, 4, 8], weights=[1.0, 1, 2, 2])
    >>> round(e.estimate, 4), round(e.standard_error, 4), e.df
    (5.3333, 1.234, 3)
    """
    return _estimate_rows("mean", y, weights=weights, strata=strata, clusters=clusters, fpc=fpc,
                          by=by, where=where, single_psu=single_psu,
                          confidence_level=confidence_level, df=df, calibration=calibration)


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
    df: DfRule = "domain",
    calibration: RowAdjustment | None = None,
) -> EstimateOrDomains:
    """Weighted population total Σ w·y with linearised SE (arguments as :func:`mean`).

    Examples
    --------
    >>> e = total([3.0, 5, 4, 8], weights=[10.0, 10, 20, 20])
    >>> e.estimate, round(e.standard_error, 3)
    (320.0, 114.31)
    """
    return _estimate_rows("total", y, weights=weights, strata=strata, clusters=clusters,
                          fpc=fpc, by=by, where=where, single_psu=single_psu,
                          confidence_level=confidence_level, df=df, calibration=calibration)


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
    df: DfRule = "domain",
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
    return mean_from_psu_totals(
        totals, single_psu=single_psu, confidence_level=confidence_level, df=df
    )


def _logit_interval(p: float, se: float, quantile: float) -> tuple[float, float]:
    half = quantile * se / (p * (1.0 - p))
    centre = special.logit(p)
    return float(special.expit(centre - half)), float(special.expit(centre + half))


def _korn_graubard_interval(
    p: float, se: float, n: int, df: int, level: float
) -> tuple[float, float]:
    """Korn & Graubard (1998): Clopper–Pearson limits with the effective sample size
    ``p̂(1−p̂)/SE² · (t_{n−1}/t_df)²``; at p̂ = 0 or 1 (or SE 0) the effective size is ``n``
    (their rule for an estimate on the boundary), so the interval still has width."""
    alpha = 1.0 - level
    if se > 0 and 0 < p < 1:
        n_eff = p * (1.0 - p) / se**2
    else:
        n_eff = float(n)
    if n > 1:
        n_eff *= (special.stdtrit(n - 1, alpha / 2) / special.stdtrit(df, alpha / 2)) ** 2
    x = n_eff * p
    low = 0.0 if x <= 0 else float(special.betaincinv(x, n_eff - x + 1.0, alpha / 2))
    high = 1.0 if n_eff - x <= 0 else float(special.betaincinv(x + 1.0, n_eff - x, 1 - alpha / 2))
    return low, high


def _wilson_interval(p: float, n_eff: float, level: float) -> tuple[float, float]:
    zq = float(special.ndtri(0.5 + level / 2.0))
    denominator = 1.0 + zq * zq / n_eff
    centre = (p + zq * zq / (2.0 * n_eff)) / denominator
    half = zq * math.sqrt(p * (1.0 - p) / n_eff + zq * zq / (4.0 * n_eff * n_eff)) / denominator
    return centre - half, centre + half


def _with_interval(e: Estimate, method: str) -> Estimate:
    p, se = e.estimate, e.standard_error
    note: str | None = None
    low = high = math.nan
    degenerate = not (0.0 < p < 1.0 and se > 0.0)
    if not e.df > 0:
        note = NO_DF
    elif method == "logit" or (method == "auto" and not degenerate):
        if degenerate:
            note = LOGIT_UNDEFINED
        else:
            low, high = _logit_interval(p, se, _t_quantile(e.confidence_level, e.df))
    elif method in ("auto", "korn-graubard"):
        low, high = _korn_graubard_interval(p, se, e.n, e.df, e.confidence_level)
    else:
        size = e.n_effective if math.isfinite(e.n_effective) else float(e.n)
        if size > 0:
            low, high = _wilson_interval(p, size, e.confidence_level)
        else:
            note = ZERO_SE
    return replace(e, ci_low=low, ci_high=high, note=note)


def proportion_from_psu_totals(
    totals: PsuTotals,
    *,
    method: ProportionMethod = "auto",
    single_psu: SinglePsu = "error",
    confidence_level: float = 0.95,
    df: DfRule = "domain",
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
    raw = mean_from_psu_totals(
        totals, single_psu=single_psu, confidence_level=confidence_level, df=df
    )
    if isinstance(raw, Estimate):
        return _with_interval(raw, method)
    return {key: _with_interval(value, method) for key, value in raw.items()}


def indicator(y: ArrayLike, level: object, where: ArrayLike | None) -> NDArray[np.float64]:
    """0/1 indicator of ``y == level``, refusing missing values inside ``where``."""
    return _is_level(y, level, where).astype(np.float64)


def _is_level(y: ArrayLike, level: object, where: ArrayLike | None) -> NDArray[np.bool_]:
    """``y == level`` as booleans (:func:`indicator`'s checks; rows reduce it as 0/1)."""
    values = np.asarray(y)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("`y` must be a non-empty one-dimensional array")
    if values.dtype.kind == "f":
        inside = np.ones(values.size, dtype=bool) if where is None else np.asarray(where)
        if inside.shape == values.shape and np.isnan(values[inside]).any():
            raise ValueError("`y` contains NaN (use `where` to leave rows out)")
    elif values.dtype.kind == "O" and any(v is None for v in values):
        raise ValueError("`y` contains missing (None) values")
    equal: NDArray[np.bool_] = values == level
    return equal


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
    method: ProportionMethod = "auto",
    single_psu: SinglePsu = "error",
    confidence_level: float = 0.95,
    df: DfRule = "domain",
    calibration: RowAdjustment | None = None,
) -> EstimateOrDomains:
    """Weighted share of rows with ``y == level``; design-based SE and interval.

    ``method``: ``"logit"`` (R ``svyciprop(method="logit")``, Stata ``svy: proportion``):
    expit(logit p̂ ± t·SE/(p̂(1−p̂))), undefined (NaN) at p̂ = 0 or 1 or SE 0;
    ``"korn-graubard"`` (Korn & Graubard 1998; R ``svyciprop(method="beta")``):
    Clopper–Pearson with effective n = p̂(1−p̂)/SE² × (t_{n−1}/t_df)², n itself at p̂ = 0 or 1;
    ``"wilson"`` (Wilson 1927) with n = ``n_effective`` (= n for an unweighted simple random
    sample); ``"auto"`` (default): logit when 0 < p̂ < 1 and SE > 0, else Korn–Graubard, so
    a cell where everyone (or no one) is satisfied still gets an interval of positive width.
    Every method gives NaN limits when df ≤ 0. Levels never observed give estimate 0.
    ``calibration``: as :func:`mean` (R ``svyciprop`` on a calibrated design).

    Examples
    --------
    >>> e = proportion(["yes", "no", "yes", "yes"], "yes")
    >>> e.estimate, round(e.ci_low, 4), round(e.ci_high, 4)
    (0.75, 0.0413, 0.9952)
    >>> e = proportion(["yes"] * 20, "yes")
    >>> e.estimate, round(e.ci_low, 4), e.ci_high
    (1.0, 0.8316, 1.0)
    """
    if method not in PROPORTION_METHODS:
        raise ValueError(f"`method` must be one of {PROPORTION_METHODS}, got {method!r}")
    return _estimate_rows("mean", _is_level(y, level, where), weights=weights, strata=strata,
                          clusters=clusters, fpc=fpc, by=by, where=where, single_psu=single_psu,
                          confidence_level=confidence_level, df=df, calibration=calibration,
                          transform=lambda e: _with_interval(e, method))


def t_test(
    estimate: float, se: float, df: float, level: float
) -> tuple[float, float, float, float, str | None]:
    """Interval, t statistic and two-sided p-value; NaN (with the reason) when df ≤ 0 or SE 0."""
    low, high, note = t_interval(estimate, se, df, level)
    if note is not None:
        return low, high, math.nan, math.nan, note
    statistic = estimate / se
    return low, high, statistic, float(2 * special.stdtr(df, -abs(statistic))), None


def difference(a: Estimate, b: Estimate | float) -> Difference:
    """Difference ``a − b`` of estimates from independent samples (e.g. two waves).

    ``b`` may be a fixed benchmark number (SE 0). Variance ``se_a² + se_b²``; df by
    Welch–Satterthwaite ``(v_a + v_b)² / (v_a²/df_a + v_b²/df_b)``; t test of zero difference.
    Not valid for overlapping samples (a domain against its own total, two domains of one
    sample): use :func:`contrast`, which includes their covariance. An estimate without
    degrees of freedom, or a difference with SE 0, gives NaN interval and p-value.

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
    if not (a.df > 0 and b_df > 0):
        df = 0.0
    elif variance == 0:
        df = min(float(a.df), b_df)  # no variance to weight: the smaller df; SE 0 → no test
    else:
        terms = a_var**2 / a.df + (b_var**2 / b_df if b_var else 0.0)
        df = variance**2 / terms if terms > 0 else math.nan
    low, high, statistic, p_value, note = t_test(estimate, se, df, a.confidence_level)
    return Difference(estimate, se, low, high, a.confidence_level, df, statistic, p_value, note)


TOTAL = "@total"


@dataclass(frozen=True)
class DomainCovariance:
    """Domain estimates of one sample, the overall estimate (label :data:`TOTAL`) and their
    full linearised covariance (R ``svyby(..., covmat=TRUE)``).

    ``present`` (P, K) marks the PSUs where each estimate has respondents (for the df of a
    contrast); use :meth:`contrast` for linear combinations."""

    labels: tuple[object, ...]
    estimates: NDArray[np.float64]
    covariance: NDArray[np.float64]
    present: NDArray[np.bool_]
    design: DesignSummary
    confidence_level: float

    def contrast(self, coefficients: Mapping[object, float]) -> Difference:
        """``Σ c_k θ_k`` with variance ``cᵀVc`` (R ``svycontrast``); df = PSUs − strata
        where any estimate with a non-zero coefficient has respondents; NaN interval and
        p-value (with ``note``) when that df ≤ 0 or the SE is 0."""
        index = {label: k for k, label in enumerate(self.labels)}
        c = np.zeros(len(self.labels))
        for label, value in coefficients.items():
            if label not in index:
                known = ", ".join(repr(x) for x in self.labels)
                raise ValueError(f"contrast names unknown domain {label!r} (known: {known})")
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(f"contrast coefficient of {label!r} is not finite")
            c[index[label]] = number
        if not c.any():
            raise ValueError("contrast has no non-zero coefficient")
        estimate = float(c @ self.estimates)
        variance = float(c @ self.covariance @ c)
        se = math.sqrt(max(variance, 0.0))
        involved = np.asarray(self.present[:, np.flatnonzero(c)].any(axis=1)).reshape(-1, 1)
        df = int(domain_df(involved, self.design)[0])
        low, high, statistic, p_value, note = t_test(estimate, se, df, self.confidence_level)
        return Difference(estimate, se, low, high, self.confidence_level, float(df), statistic,
                          p_value, note)


def covariance_from_psu_totals(
    totals: PsuTotals,
    *,
    kind: Literal["mean", "total"] = "mean",
    single_psu: SinglePsu = "error",
    confidence_level: float = 0.95,
) -> DomainCovariance:
    """Domain means (or totals) of ``totals``' columns plus the overall one, with their
    covariance from :func:`~analysis.design.stratified_covariance` on the stacked
    linearised PSU totals. The columns must be disjoint domains (as from ``psu_totals(by=…)``),
    so the overall sums are the column sums.

    Examples
    --------
    >>> import numpy as np
    >>> t = psu_totals([1.0, 2, 3, 4, 5, 9], by=["a", "a", "b", "b", "b", "a"])
    >>> cov = covariance_from_psu_totals(t)
    >>> cov.labels, cov.estimates.round(4).tolist()
    (('a', 'b', '@total'), [4.0, 4.0, 4.0])
    """
    level = check_confidence_level(confidence_level)
    if single_psu == "collapse":
        totals = collapse_single_psu_strata(totals)
    labels = tuple(totals.domains) if totals.domains is not None else tuple(
        range(totals.sum_wy.shape[1]))
    if TOTAL in labels:
        raise ValueError(f"a domain is labelled {TOTAL!r}, the name of the overall estimate")
    overall = replace(totals, sum_wy=totals.sum_wy.sum(axis=1), sum_w=totals.sum_w.sum(axis=1),
                      n=totals.n.sum(axis=1), sum_wyy=None, domains=None)
    point, scores = linearised_scores(totals, kind)
    whole, whole_scores = linearised_scores(overall, kind)
    z = np.column_stack([scores, whole_scores])
    design = summarize_design(totals)
    present = np.column_stack([totals.n > 0, overall.n > 0])
    return DomainCovariance((*labels, TOTAL), np.concatenate([point, whole]),
                            stratified_covariance(z, design, single_psu), present, design,
                            level)


def contrast(
    y: ArrayLike,
    coefficients: Mapping[object, float],
    *,
    by: ArrayLike,
    level: object | None = None,
    kind: Literal["mean", "total"] = "mean",
    weights: ArrayLike | None = None,
    strata: ArrayLike | None = None,
    clusters: ArrayLike | None = None,
    fpc: ArrayLike | None = None,
    where: ArrayLike | None = None,
    single_psu: SinglePsu = "error",
    confidence_level: float = 0.95,
) -> Difference:
    """Linear contrast ``Σ c_d θ_d`` of domain means (proportions of ``level`` when given, or
    totals with ``kind="total"``) of one sample, the overall estimate named :data:`TOTAL`
    (``"@total"``), e.g. ``{"north": 1, "@total": -1}`` for a district against the whole
    city that contains it. Covariance included (R ``svycontrast(svyby(~y, ~by, design,
    svymean, covmat=TRUE), …)``); see :meth:`DomainCovariance.contrast` for df.

    Examples
    --------
    >>> d = contrast([1.0, 2, 3, 4, 6, 8], {"a": 1, "b": -1}, by=["a", "a", "a", "b", "b", "b"])
    >>> d.estimate, round(d.standard_error, 4), d.df
    (-4.0, 1.1547, 5.0)
    """
    values: ArrayLike = y if level is None else indicator(y, level, where)
    totals = psu_totals(values, weights=weights, strata=strata, clusters=clusters, fpc=fpc,
                        by=by, where=where)
    return covariance_from_psu_totals(totals, kind=kind, single_psu=single_psu,
                                      confidence_level=confidence_level).contrast(coefficients)
