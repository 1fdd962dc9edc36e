"""Survey design core: reduce rows to per-PSU sums, and the one variance formula.

Every estimator in :mod:`analysis` goes through :class:`PsuTotals` and
:func:`stratified_variance`, whether its input came as raw rows (reduced here with
``numpy.bincount``) or as per-PSU sums from SQL (``SELECT stratum, site, SUM(w*y), SUM(w),
SUM(w*y*y), COUNT(*) ... GROUP BY stratum, site``).

Variance (with-replacement PSU approximation; Wolter 2007, eq. 6.11; R ``survey``
``svyrecvar``; Stata ``[SVY] Variance estimation``)::

    v(θ̂) = Σ_h (1 − f_h) · n_h/(n_h − 1) · Σ_i (z_hi − z̄_h)²

where ``z_hi`` is the total of the linearised variable over PSU ``i`` of stratum ``h``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analysis._validation import (
    as_float_vector,
    as_label_vector,
    check_same_length,
    check_weights,
    factorize,
    plain,
)

SinglePsu = Literal["error", "certainty", "center", "adjust", "collapse"]
SINGLE_PSU_CHOICES: tuple[str, ...] = ("error", "certainty", "center", "adjust", "collapse")
COLLAPSED_STRATUM = "(collapsed single-PSU strata)"


def _as_columns(values: ArrayLike, name: str) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"`{name}` must be 1-D (one estimate) or 2-D (PSU × domain)")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` contains NaN or infinite values")
    return array


@dataclass(frozen=True)
class PsuTotals:
    """Per-PSU sums: everything the linearised estimators need.

    One row per PSU (a site, or a respondent when there are no clusters). Columns of the
    2-D arrays are domains (rows outside a domain contribute zeros to its column; every PSU
    stays in the design).

    Parameters
    ----------
    stratum : (P,) stratum label of each PSU (all equal for an unstratified design).
    sum_wy : (P,) or (P, D) Σ w·y over the PSU's respondents (in the domain).
    sum_w : same shape, Σ w (for a ratio y/x: Σ w·x).
    n : same shape, number of respondents with positive weight.
    sum_wyy : optional, same shape, Σ w·y²; needed only for the design effect.
    fpc : optional (P,) finite population correction of the PSU's stratum: the number of
        PSUs in the population stratum (> 1) or the first-stage sampling fraction (≤ 1).
        Must be constant within a stratum.
    domains : optional labels of the D columns.

    Examples
    --------
    >>> import numpy as np
    >>> from analysis import PsuTotals, mean_from_psu_totals
    >>> t = PsuTotals(stratum=np.array([1, 1, 2, 2]), sum_wy=np.array([30.0, 50, 20, 40]),
    ...               sum_w=np.array([10.0, 10, 5, 10]), n=np.array([4, 4, 2, 4]))
    >>> round(mean_from_psu_totals(t).estimate, 4)
    4.0
    """

    stratum: NDArray[np.generic]
    sum_wy: NDArray[np.float64]
    sum_w: NDArray[np.float64]
    n: NDArray[np.float64]
    sum_wyy: NDArray[np.float64] | None = None
    fpc: NDArray[np.float64] | None = None
    domains: tuple[object, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        stratum = as_label_vector(self.stratum, "stratum")
        size = stratum.shape[0]
        if size == 0:
            raise ValueError("`stratum` must not be empty (no PSUs)")
        sum_wy = _as_columns(self.sum_wy, "sum_wy")
        shape = sum_wy.shape
        sum_w = _as_columns(self.sum_w, "sum_w")
        n = _as_columns(self.n, "n")
        sum_wyy = None if self.sum_wyy is None else _as_columns(self.sum_wyy, "sum_wyy")
        for name, array in (("sum_w", sum_w), ("n", n), ("sum_wyy", sum_wyy)):
            if array is not None and array.shape != shape:
                raise ValueError(
                    f"`{name}` has shape {array.shape}, expected {shape} like `sum_wy`"
                )
        if shape[0] != size:
            raise ValueError(f"`sum_wy` has {shape[0]} PSUs but `stratum` has {size}")
        if (n < 0).any():
            raise ValueError("`n` must be non-negative")
        fpc = None
        if self.fpc is not None:
            fpc = as_float_vector(self.fpc, "fpc")
            check_same_length(size, fpc=fpc)
            if (fpc <= 0).any():
                raise ValueError("`fpc` must be positive (population sizes or sampling fractions)")
        domains = None if self.domains is None else tuple(self.domains)
        if domains is not None and len(domains) != shape[1]:
            raise ValueError(f"`domains` has {len(domains)} labels for {shape[1]} columns")
        for name, value in (
            ("stratum", stratum),
            ("sum_wy", sum_wy),
            ("sum_w", sum_w),
            ("n", n),
            ("sum_wyy", sum_wyy),
            ("fpc", fpc),
            ("domains", domains),
        ):
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class DesignSummary:
    """Strata structure derived from :class:`PsuTotals` (internal helper)."""

    stratum_code: NDArray[np.intp]
    stratum_labels: NDArray[np.generic]
    psus_per_stratum: NDArray[np.int64]
    fpc_factor: NDArray[np.float64]  # (1 − f_h) per stratum
    df: int


def summarize_design(totals: PsuTotals) -> DesignSummary:
    """Number of PSUs per stratum, (1 − f_h) per stratum and df = #PSU − #strata."""
    labels, code = factorize(totals.stratum)
    counts = np.bincount(code, minlength=labels.size)
    factor = np.ones(labels.size)
    if totals.fpc is not None:
        fpc = totals.fpc
        low = np.full(labels.size, np.inf)
        high = np.full(labels.size, -np.inf)
        np.minimum.at(low, code, fpc)
        np.maximum.at(high, code, fpc)
        bad = np.flatnonzero(high - low > 1e-9 * np.maximum(1.0, high))
        if bad.size:
            raise ValueError(f"`fpc` is not constant within stratum {plain(labels[bad[0]])!r}")
        fraction = np.where(low > 1.0, counts / low, low)
        too_big = np.flatnonzero(fraction > 1.0 + 1e-12)
        if too_big.size:
            h = too_big[0]
            raise ValueError(
                f"`fpc` of stratum {plain(labels[h])!r} is {low[h]:g} "
                f"but the sample has {counts[h]} PSUs"
            )
        factor = np.clip(1.0 - fraction, 0.0, 1.0)
    return DesignSummary(code, labels, counts, factor, int(code.size - labels.size))


def collapse_single_psu_strata(totals: PsuTotals) -> PsuTotals:
    """Merge every stratum that has a single PSU into one pooled stratum ("collapsed
    strata", Wolter 2007 §2.5; Rust & Kalton 1987), so its PSUs are measured against each
    other and count towards df. The pooled stratum's label is :data:`COLLAPSED_STRATUM`.
    If only one stratum is single, the pooled stratum still has one PSU and the ``"center"``
    rule applies to it. Not combinable with ``fpc`` (a pooled stratum has no single f_h).

    Examples
    --------
    >>> import numpy as np
    >>> t = PsuTotals(stratum=np.array(["a", "a", "b", "c"]), sum_wy=np.ones(4),
    ...               sum_w=np.ones(4), n=np.ones(4))
    >>> summarize_design(collapse_single_psu_strata(t)).df
    2
    """
    labels, code = factorize(totals.stratum)
    counts = np.bincount(code, minlength=labels.size)
    single = counts[code] == 1
    if not single.any():
        return totals
    if totals.fpc is not None:
        raise ValueError("`single_psu`='collapse' cannot be combined with `fpc`")
    stratum = np.where(single, COLLAPSED_STRATUM, totals.stratum.astype(str).astype(object))
    return replace(totals, stratum=stratum)


def _centred(
    z: NDArray[np.float64], design: DesignSummary, single_psu: SinglePsu
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """PSU totals ``z`` (P, K) centred at their stratum mean, in stratum order, and the factor
    ``(1 − f_h) n_h/(n_h − 1)`` of each (reordered) PSU: ``v = Σ factor · dev dev'``."""
    if single_psu not in SINGLE_PSU_CHOICES:
        raise ValueError(f"`single_psu` must be one of {SINGLE_PSU_CHOICES}, got {single_psu!r}")
    if single_psu == "collapse":  # strata already collapsed: what is left is one pooled PSU
        single_psu = "center"
    counts = design.psus_per_stratum
    singletons = np.flatnonzero(counts == 1)
    if singletons.size and single_psu == "error":
        label = plain(design.stratum_labels[singletons[0]])
        raise ValueError(
            f"stratum {label!r} has a single PSU; pass `single_psu`='certainty' or 'center'"
        )
    order = np.argsort(design.stratum_code, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    ordered = z[order]
    means = np.add.reduceat(ordered, starts, axis=0) / counts[:, None]
    deviations = ordered - np.repeat(means, counts, axis=0)
    scale = np.where(counts > 1, counts / np.maximum(counts - 1, 1), 0.0)
    if singletons.size and single_psu in ("center", "adjust"):
        # "adjust" is R's rule exactly: survey:::onestrat leaves a lonely PSU uncentred
        # (deviation from 0); "center" measures it from the mean PSU total (Stata
        # singleunit(centered)). They agree whenever the PSU totals sum to zero, as the
        # scores of an uncalibrated mean or ratio do; not for totals or calibrated scores.
        centre = z.sum(axis=0) / z.shape[0] if single_psu == "center" else 0.0
        deviations[starts[singletons]] = ordered[starts[singletons]] - centre
        scale[singletons] = 1.0
    return deviations, np.repeat(design.fpc_factor * scale, counts)


def stratified_variance(
    z: NDArray[np.float64], design: DesignSummary, single_psu: SinglePsu = "error"
) -> NDArray[np.float64]:
    """Variance of Σ z from per-PSU totals ``z`` (P,) or (P, D): the one formula of the package.

    ``v = Σ_h (1 − f_h) n_h/(n_h − 1) Σ_i (z_hi − z̄_h)²``. A stratum with one PSU:
    ``"error"`` raises ``ValueError`` naming it; ``"certainty"`` contributes zero
    (R ``survey.lonely.psu = "certainty"``); ``"center"`` uses ``(z_h1 − z̄)²`` with z̄ the
    mean PSU total over the whole design (Stata ``singleunit(centered)``); ``"adjust"`` uses
    ``z_h1²`` (R ``survey.lonely.psu = "adjust"``, which does not centre a lonely PSU). The
    two are equal for means and ratios without calibration (their PSU scores sum to 0).

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.design import PsuTotals, summarize_design, stratified_variance
    >>> t = PsuTotals(stratum=np.zeros(3), sum_wy=np.ones(3), sum_w=np.ones(3), n=np.ones(3))
    >>> stratified_variance(np.array([1.0, 2.0, 6.0]), summarize_design(t)).item()
    21.0
    """
    columns = z[:, None] if z.ndim == 1 else z
    deviations, factor = _centred(columns, design, single_psu)
    variance = (factor[:, None] * deviations * deviations).sum(axis=0)
    return variance if z.ndim == 2 else variance[:1].reshape(())


def stratified_covariance(
    z: NDArray[np.float64], design: DesignSummary, single_psu: SinglePsu = "error"
) -> NDArray[np.float64]:
    """Covariance matrix (K, K) of the K sums Σ z from per-PSU totals ``z`` (P, K).

    ``V = Σ_h (1 − f_h) n_h/(n_h − 1) Σ_i (z_hi − z̄_h)(z_hi − z̄_h)ᵀ``, the matrix form of
    :func:`stratified_variance` (whose values are its diagonal), with the same single-PSU
    rules (R ``svyrecvar``, ``svyby(..., covmat=TRUE)``).

    Examples
    --------
    >>> import numpy as np
    >>> t = PsuTotals(stratum=np.zeros(3), sum_wy=np.ones(3), sum_w=np.ones(3), n=np.ones(3))
    >>> z = np.array([[1.0, 1.0], [2.0, 0.0], [6.0, 2.0]])
    >>> stratified_covariance(z, summarize_design(t)).tolist()
    [[21.0, 6.0], [6.0, 3.0]]
    """
    if z.ndim != 2:
        raise ValueError("`z` must be 2-D (PSU × estimate)")
    deviations, factor = _centred(z, design, single_psu)
    return (deviations * factor[:, None]).T @ deviations


def domain_df(present: NDArray[np.bool_], design: DesignSummary) -> NDArray[np.int64]:
    """Degrees of freedom of each domain column: PSUs where the domain has respondents minus
    the strata containing them (R ``degf(subset(design, …))``; Korn & Graubard 1999 §5.2).

    ``present`` is (P, D), True where the PSU has a respondent of the domain.

    Examples
    --------
    >>> import numpy as np
    >>> t = PsuTotals(stratum=np.array([1, 1, 2, 2]), sum_wy=np.ones(4), sum_w=np.ones(4),
    ...               n=np.ones(4))
    >>> present = np.array([[True, True], [True, False], [True, False], [False, False]])
    >>> domain_df(present, summarize_design(t)).tolist()
    [1, 0]
    """
    psus = present.sum(axis=0)
    by_stratum = np.zeros((design.stratum_labels.size, present.shape[1]), dtype=bool)
    np.logical_or.at(by_stratum, design.stratum_code, present)
    return (psus - by_stratum.sum(axis=0)).astype(np.int64)


def _psu_codes(
    size: int, strata: ArrayLike | None, clusters: ArrayLike | None
) -> tuple[NDArray[np.generic], NDArray[np.intp], NDArray[np.intp]]:
    """Stratum labels, each row's PSU index and each PSU's stratum index (clusters nested
    in strata; without clusters every row is a PSU)."""
    if strata is None:
        stratum_labels: NDArray[np.generic] = np.zeros(1, dtype=np.int64)
        stratum_code = np.zeros(size, dtype=np.intp)
    else:
        strata_array = as_label_vector(strata, "strata")
        check_same_length(size, strata=strata_array)
        stratum_labels, stratum_code = factorize(strata_array)
    if clusters is None:
        return stratum_labels, np.arange(size, dtype=np.intp), stratum_code
    cluster_array = as_label_vector(clusters, "clusters")
    check_same_length(size, clusters=cluster_array)
    cluster_labels, cluster_code = factorize(cluster_array)
    keys, psu_code = factorize(stratum_code.astype(np.int64) * cluster_labels.size + cluster_code)
    return stratum_labels, psu_code, (keys // cluster_labels.size).astype(np.intp)


def psu_sums(
    x: NDArray[np.float64], *, strata: ArrayLike | None = None, clusters: ArrayLike | None = None
) -> NDArray[np.float64]:
    """Row values ``x`` (N,) or (N, D) summed per PSU, in the PSU order of :func:`psu_totals`
    for the same ``strata`` and ``clusters`` (for row-level scores such as calibration
    residuals).

    Examples
    --------
    >>> psu_sums(np.array([1.0, 2, 3]), clusters=["b", "a", "b"]).tolist()
    [2.0, 4.0]
    """
    columns = x[:, None] if x.ndim == 1 else x
    _labels, psu_code, psu_stratum = _psu_codes(columns.shape[0], strata, clusters)
    out = np.zeros((psu_stratum.size, columns.shape[1]))
    np.add.at(out, psu_code, columns)
    return out[:, 0] if x.ndim == 1 else out


def psu_totals(
    y: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    strata: ArrayLike | None = None,
    clusters: ArrayLike | None = None,
    fpc: ArrayLike | None = None,
    by: ArrayLike | None = None,
    where: ArrayLike | None = None,
    x: ArrayLike | None = None,
) -> PsuTotals:
    """Reduce respondent rows to :class:`PsuTotals` with ``numpy.bincount``.

    Cluster labels are nested in strata (Stata ``svyset``; R ``nest=TRUE``): cluster 1 of
    stratum A and cluster 1 of stratum B are different PSUs. Without ``clusters`` every row
    is its own PSU. ``where`` (boolean) restricts estimation to a subpopulation while keeping
    the full design (R ``subset()``, Stata ``subpop()``); ``y`` may be NaN outside it.
    ``x`` gives a ratio denominator: then ``sum_w`` holds Σ w·x.

    Examples
    --------
    >>> t = psu_totals([1.0, 2, 3, 4], weights=[1.0, 1, 2, 2], clusters=["a", "a", "b", "b"])
    >>> t.sum_wy.ravel().tolist(), t.sum_w.ravel().tolist()
    ([3.0, 14.0], [2.0, 4.0])
    """
    y_array = as_float_vector(y, "y", allow_nan=True)
    size = y_array.size
    w = check_weights(weights, size)
    mask = np.ones(size, dtype=bool)
    if where is not None:
        mask = np.asarray(where)
        if mask.dtype != bool:
            raise ValueError("`where` must be a boolean array")
        check_same_length(size, where=mask)
    if np.isnan(y_array[mask]).any() or np.isinf(y_array[mask]).any():
        raise ValueError("`y` contains NaN or infinite values (use `where` to leave rows out)")
    x_array = None
    if x is not None:
        x_array = as_float_vector(x, "x", allow_nan=True)
        check_same_length(size, x=x_array)
        if not np.isfinite(x_array[mask]).all():
            raise ValueError("`x` contains NaN or infinite values")

    stratum_labels, psu_code, psu_stratum = _psu_codes(size, strata, clusters)
    n_psu = psu_stratum.size

    fpc_psu = None
    if fpc is not None:
        fpc_rows = as_float_vector(fpc, "fpc")
        check_same_length(size, fpc=fpc_rows)
        if clusters is None:
            fpc_psu = fpc_rows
        else:
            fpc_psu = np.empty(n_psu)
            fpc_psu[psu_code] = fpc_rows
            if not np.array_equal(fpc_psu[psu_code], fpc_rows):
                raise ValueError("`fpc` is not constant within a cluster")

    domain_labels: tuple[object, ...] | None = None
    if by is None:
        n_domains = 1
        cell = psu_code
    else:
        by_array = as_label_vector(by, "by")
        check_same_length(size, by=by_array)
        by_labels, by_code = factorize(by_array)
        domain_labels = tuple(
            label.item() if hasattr(label, "item") else label for label in by_labels
        )
        n_domains = by_labels.size
        cell = psu_code * n_domains + by_code

    keep = mask & (w > 0)
    xk = x_array
    if not keep.all():
        cell, w, y_array = cell[keep], w[keep], y_array[keep]
        xk = None if x_array is None else x_array[keep]
    length = n_psu * n_domains

    def total(values: NDArray[np.float64] | None) -> NDArray[np.float64]:
        # float64 already when weighted; the count (values=None) becomes float64 as
        # PsuTotals stores it anyway.
        counts = np.bincount(cell, weights=values, minlength=length)
        return counts.astype(np.float64, copy=False).reshape(n_psu, n_domains)

    wy = w * y_array
    denominator = w if xk is None else w * xk
    squeeze = by is None
    arrays = [total(wy), total(denominator), total(None), total(wy * y_array)]
    if squeeze:
        arrays = [a[:, 0] for a in arrays]
    return PsuTotals(
        stratum=stratum_labels[psu_stratum],
        sum_wy=arrays[0],
        sum_w=arrays[1],
        n=arrays[2],
        sum_wyy=None if x_array is not None else arrays[3],
        fpc=fpc_psu,
        domains=domain_labels,
    )
