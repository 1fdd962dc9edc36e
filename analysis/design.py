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

import math
from collections.abc import Callable
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


# Rows are reduced a block at a time: the temporaries of a block (w·y, codes, …) stay in the
# CPU cache and are reused, instead of allocating (and page-faulting) arrays of every row.
_BLOCK = 1 << 16
_ORDERED_KINDS = "biufUS"  # labels whose numpy order is the order of `factorize`


def _dense_limit(size: int) -> int:
    """Largest number of cells (PSU × domain) reduced over without compacting the codes first;
    the bound :func:`~analysis._validation.factorize` uses for integer labels."""
    return 4 * size + 1024


@dataclass(frozen=True)
class _Codes:
    """Integer code of each row into sorted candidate ``labels``: ``source - low``, computed
    per block. Integer labels of a small range are their own offsets from the minimum (every
    value of the range is a candidate; absent ones are dropped later as empty PSUs or
    domains); other labels are factorised once (all present)."""

    labels: NDArray[np.generic]
    source: NDArray[np.generic]
    low: int

    @classmethod
    def of(cls, labels: NDArray[np.generic]) -> _Codes:
        if labels.dtype.kind in "iu" and labels.size:
            low, high = int(labels.min()), int(labels.max())
            if high - low < _dense_limit(labels.size) and high <= np.iinfo(np.intp).max:
                return cls(np.arange(low, high + 1).astype(labels.dtype), labels, low)
        uniques, codes = factorize(labels)
        return cls(uniques, codes, 0)

    def __getitem__(self, rows: slice | NDArray[np.intp]) -> NDArray[np.intp]:
        """Codes of ``rows`` (possibly a view of the caller's array: never modify it)."""
        part = self.source[rows]
        if self.low == 0 and part.dtype == np.intp:
            return part  # type: ignore[return-value]  # dtype checked
        return np.subtract(part, self.low, dtype=np.intp)


@dataclass(frozen=True)
class _PsuKey:
    """Each row's PSU key ``stratum code × width + cluster code`` (codes in label order, so
    keys sort as (stratum, cluster)), or its code among the keys present (``compact``)."""

    stratum: _Codes | None
    cluster: _Codes
    compact: _Codes | None = None

    @property
    def width(self) -> int:
        return self.cluster.labels.size

    @property
    def size(self) -> int:
        if self.compact is not None:
            return self.compact.labels.size
        return self.width * (1 if self.stratum is None else self.stratum.labels.size)

    def __getitem__(self, rows: slice | NDArray[np.intp]) -> NDArray[np.intp]:
        if self.compact is not None:
            return self.compact[rows]
        if self.stratum is None:
            return self.cluster[rows]
        key = self.stratum[rows] * self.width
        key += self.cluster[rows]
        return key

    def compacted(self, rows: int) -> _PsuKey:
        present, code = factorize(self[0:rows])
        return _PsuKey(self.stratum, self.cluster, _Codes(present, code, 0))

    def original(self, keys: NDArray[np.intp]) -> NDArray[np.intp]:
        """The uncompacted keys of ``keys``."""
        if self.compact is None:
            return keys
        return self.compact.labels[keys].astype(np.intp)


def _sorted_runs(
    stratum: NDArray[np.generic] | None, cluster: NDArray[np.generic]
) -> NDArray[np.intp] | None:
    """First row of each PSU when the rows are sorted by (stratum, cluster) label, else None
    (also for labels without a numpy order equal to :func:`factorize`'s)."""
    if cluster.dtype.kind not in _ORDERED_KINDS or (
        stratum is not None and stratum.dtype.kind not in _ORDERED_KINDS
    ):
        return None
    size = cluster.size
    starts = [np.zeros(1, dtype=np.intp)]
    for a in range(0, size - 1, _BLOCK):
        b = min(a + _BLOCK, size - 1)
        before, after = cluster[a:b], cluster[a + 1 : b + 1]
        if stratum is None:
            if not np.greater_equal(after, before).all():
                return None
            change = np.not_equal(after, before)
        else:
            stratum_before, stratum_after = stratum[a:b], stratum[a + 1 : b + 1]
            if not np.greater_equal(stratum_after, stratum_before).all():
                return None
            new_stratum = np.not_equal(stratum_after, stratum_before)
            ordered = np.greater_equal(after, before)
            ordered |= new_stratum
            if not ordered.all():
                return None
            change = np.not_equal(after, before)
            change |= new_stratum
        starts.append(np.flatnonzero(change) + (a + 1))
    return np.concatenate(starts)


def _block_runs(starts: NDArray[np.intp], a: int, b: int) -> tuple[int, int, NDArray[np.intp]]:
    """Runs (PSUs) ``first:stop`` overlapping rows ``a:b`` and where each begins in the block
    (the first may have begun before it)."""
    first = int(np.searchsorted(starts, a, "right")) - 1
    stop = int(np.searchsorted(starts, b, "left"))
    local = starts[first:stop] - a
    local[0] = 0
    return first, stop, local


def _as_values(y: ArrayLike) -> NDArray[np.float64] | NDArray[np.bool_]:
    """``y`` as float values; a boolean array (a 0/1 indicator) is used as it is."""
    if isinstance(y, np.ndarray) and y.dtype == bool and y.ndim == 1 and y.size:
        return y
    return as_float_vector(y, "y", allow_nan=True)


def _all_finite(
    values: NDArray[np.float64] | NDArray[np.bool_], inside: NDArray[np.bool_] | None
) -> bool:
    if values.dtype == bool:
        return True
    if inside is None:
        # A finite sum means finite values (no allocation); an overflowing one is checked.
        return math.isfinite(values.sum()) or bool(np.isfinite(values).all())
    return bool((np.isfinite(values) | ~inside).all())


_Terms = Callable[[slice], tuple[list[NDArray[np.float64]], NDArray[np.float64] | None]]


def _reduce_runs(
    terms: _Terms, starts: NDArray[np.intp], size: int, n_terms: int,
    by: _Codes | None, n_domains: int,
) -> tuple[NDArray[np.float64], NDArray[np.intp] | None]:
    """Sums (terms + 1, PSU, domain) over rows sorted by PSU (runs beginning at ``starts``),
    and the rows per (PSU, domain) with domains (None without: each run is one PSU)."""
    psus = starts.size
    if by is None:
        sums = np.zeros((n_terms + 1, psus, 1))
        out = sums[:, :, 0]
        for a in range(0, size, _BLOCK):
            b = min(a + _BLOCK, size)
            first, stop, local = _block_runs(starts, a, b)
            values, counted = terms(slice(a, b))
            for j, value in enumerate(values):
                out[j, first:stop] += np.add.reduceat(value, local)  # pairwise sums
            if counted is not None:
                out[n_terms, first:stop] += np.add.reduceat(counted, local)
            else:
                out[n_terms, first:stop] += np.diff(np.append(local, b - a))
        return sums, None
    length = psus * n_domains
    rows = np.zeros(length, dtype=np.intp)
    flat = np.zeros((n_terms + 1, length))
    for a in range(0, size, _BLOCK):
        b = min(a + _BLOCK, size)
        first, stop, local = _block_runs(starts, a, b)
        cell = np.repeat(np.arange(first * n_domains, stop * n_domains, n_domains),
                         np.diff(np.append(local, b - a)))
        cell += by[a:b]
        _accumulate(flat, rows, cell, terms(slice(a, b)), n_terms)
    return flat.reshape(n_terms + 1, psus, n_domains), rows.reshape(psus, n_domains)


def _accumulate(
    flat: NDArray[np.float64], rows: NDArray[np.intp], cell: NDArray[np.intp],
    block: tuple[list[NDArray[np.float64]], NDArray[np.float64] | None], n_terms: int,
) -> None:
    """Add a block's terms (and row count) per cell to ``flat`` with ``numpy.bincount``."""
    length = rows.size
    values, counted = block
    count = np.bincount(cell, minlength=length)
    rows += count
    for j, value in enumerate(values):
        flat[j] += np.bincount(cell, value, length)
    flat[n_terms] += count if counted is None else np.bincount(cell, counted, length)


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
    """Reduce respondent rows to :class:`PsuTotals` with ``numpy.bincount`` (with
    ``numpy.add.reduceat`` when the rows come sorted by PSU and there are no domains).

    Cluster labels are nested in strata (Stata ``svyset``; R ``nest=TRUE``): cluster 1 of
    stratum A and cluster 1 of stratum B are different PSUs. Without ``clusters`` every row
    is its own PSU. ``where`` (boolean) restricts estimation to a subpopulation while keeping
    the full design (R ``subset()``, Stata ``subpop()``); ``y`` may be NaN outside it.
    ``x`` gives a ratio denominator: then ``sum_w`` holds Σ w·x. PSUs come in (stratum,
    cluster) label order (row order without clusters), domains in label order; a PSU whose
    rows all have weight 0 or lie outside ``where`` stays, with zero sums and ``n`` 0.

    Examples
    --------
    >>> t = psu_totals([1.0, 2, 3, 4], weights=[1.0, 1, 2, 2], clusters=["a", "a", "b", "b"])
    >>> t.sum_wy.ravel().tolist(), t.sum_w.ravel().tolist()
    ([3.0, 14.0], [2.0, 4.0])
    """
    y_array = _as_values(y)
    size = y_array.size
    w = check_weights(weights, size)
    mask: NDArray[np.bool_] | None = None
    if where is not None:
        mask = np.asarray(where)
        if mask.dtype != bool:
            raise ValueError("`where` must be a boolean array")
        check_same_length(size, where=mask)
    if not _all_finite(y_array, mask):
        raise ValueError("`y` contains NaN or infinite values (use `where` to leave rows out)")
    x_array = None
    if x is not None:
        x_array = as_float_vector(x, "x", allow_nan=True)
        check_same_length(size, x=x_array)
        if not _all_finite(x_array, mask):
            raise ValueError("`x` contains NaN or infinite values")
    # Rows left out (weight 0, outside `where`) contribute exact zeros, so every sum is the
    # one over the counted rows; without them every row counts.
    filtered = mask is not None or not w.min() > 0
    n_terms = 2 if x_array is not None else 3

    def terms(rows: slice) -> tuple[list[NDArray[np.float64]], NDArray[np.float64] | None]:
        """The w·y, w (or w·x) and w·y² (not for a ratio) of a block of rows, and 1 per
        counted row (None: every row counts)."""
        wb, yb = w[rows], y_array[rows]
        xb = None if x_array is None else x_array[rows]
        counted = None
        if filtered:
            keep = wb > 0 if mask is None else mask[rows] & (wb > 0)
            counted = keep.astype(np.float64)
            wb, yb = np.where(keep, wb, 0.0), np.where(keep, yb, 0.0)
            xb = None if xb is None else np.where(keep, xb, 0.0)
        wy = wb * yb
        values = [wy, wb if xb is None else wb * xb]
        if xb is None:
            values.append(wy * yb)
        return values, counted

    strata_array = None
    if strata is not None:
        strata_array = as_label_vector(strata, "strata")
        check_same_length(size, strata=strata_array)
    cluster_array = None
    if clusters is not None:
        cluster_array = as_label_vector(clusters, "clusters")
        check_same_length(size, clusters=cluster_array)
    by_codes: _Codes | None = None
    n_domains = 1
    if by is not None:
        by_array = as_label_vector(by, "by")
        check_same_length(size, by=by_array)
        by_codes = _Codes.of(by_array)
        n_domains = by_codes.labels.size

    rows: NDArray[np.intp] | None  # rows per (PSU, domain), to find the empty ones
    starts = None if cluster_array is None else _sorted_runs(strata_array, cluster_array)
    if starts is not None:
        # Rows sorted by PSU (as GROUP BY / ORDER BY exports come): one run per PSU, no codes.
        sums, rows = _reduce_runs(terms, starts, size, n_terms, by_codes, n_domains)
        psu_stratum = (np.zeros(starts.size, dtype=np.int64) if strata_array is None
                       else strata_array[starts])
        psu_keys = np.arange(starts.size)
    elif cluster_array is not None:
        key = _PsuKey(None if strata_array is None else _Codes.of(strata_array),
                      _Codes.of(cluster_array))
        if by_codes is not None and key.size * n_domains > _dense_limit(size):
            present, code = factorize(by_codes[0:size])  # sparse integer labels: compact
            by_codes = _Codes(by_codes.labels[present], code, 0)
            n_domains = present.size
        if key.size * n_domains > _dense_limit(size):
            key = key.compacted(size)  # sparse (stratum, cluster) pairs: number those present
        length = key.size * n_domains
        rows = np.zeros(length, dtype=np.intp)
        flat = np.zeros((n_terms + 1, length))
        for a in range(0, size, _BLOCK):
            block = slice(a, min(a + _BLOCK, size))
            cell = key[block]  # may be a view of the caller's labels: not modified
            if by_codes is not None:
                cell = cell * n_domains
                cell += by_codes[block]
            _accumulate(flat, rows, cell, terms(block), n_terms)
        rows = rows.reshape(key.size, n_domains)
        psu_keys = np.flatnonzero(rows.any(axis=1))
        sums = flat.reshape(n_terms + 1, key.size, n_domains)[:, psu_keys]
        rows = rows[psu_keys]
        stratum_index = key.original(psu_keys) // key.width
        psu_stratum = (np.zeros(psu_keys.size, dtype=np.int64) if key.stratum is None
                       else key.stratum.labels[stratum_index])
    else:
        # Every row its own PSU, in row order: its sums are its values (in its domain).
        sums = np.zeros((n_terms + 1, size, n_domains))
        in_domain = np.zeros(n_domains, dtype=bool)
        for a in range(0, size, _BLOCK):
            block = slice(a, min(a + _BLOCK, size))
            values, counted = terms(block)
            column = np.zeros(1, np.intp) if by_codes is None else by_codes[block]
            in_domain[column] = True
            index = np.arange(block.start, block.stop)
            for j, value in enumerate(values):
                sums[j, index, column] = value
            sums[n_terms, index, column] = 1.0 if counted is None else counted
        rows = in_domain[None, :]
        psu_keys = np.arange(size)
        psu_stratum = np.zeros(size, np.int64) if strata_array is None else strata_array.copy()
    domain_columns = None
    if by_codes is not None and rows is not None:
        domain_columns = np.flatnonzero(rows.any(axis=0))
        if domain_columns.size < n_domains:
            sums = sums[:, :, domain_columns]
    if by_codes is None:
        sums = sums[:, :, 0]

    fpc_psu = None
    if fpc is not None:
        fpc_rows = as_float_vector(fpc, "fpc")
        check_same_length(size, fpc=fpc_rows)
        if cluster_array is None:
            fpc_psu = fpc_rows
        else:
            if starts is not None:
                fpc_psu = fpc_rows[starts]
                spread = np.repeat(fpc_psu, np.diff(np.append(starts, size)))
            else:
                row_keys = key[0:size]
                fpc_key = np.empty(key.size)
                fpc_key[row_keys] = fpc_rows
                fpc_psu = fpc_key[psu_keys]
                spread = fpc_key[row_keys]
            if not np.array_equal(spread, fpc_rows):
                raise ValueError("`fpc` is not constant within a cluster")

    domain_labels: tuple[object, ...] | None = None
    if by_codes is not None:
        labels = by_codes.labels if domain_columns is None else by_codes.labels[domain_columns]
        domain_labels = tuple(plain(label) for label in labels)
    return PsuTotals(
        stratum=psu_stratum,
        sum_wy=sums[0],
        sum_w=sums[1],
        n=sums[n_terms],
        sum_wyy=None if x_array is not None else sums[2],
        fpc=fpc_psu,
        domains=domain_labels,
    )
