"""Replicate-weight designs: jackknife (JK1, JKn), BRR, Fay's BRR and the Rao–Wu bootstrap.

A :class:`ReplicateDesign` holds the full-sample weights and R sets of replicate weights,
stored compactly as one factor per PSU and replicate (``factors`` (P, R), ``psu`` (N,)),
so ``replicate_weights = weights[:, None] * factors[psu]``. Every estimator computes the
statistic once with the full weights (θ̂) and once per replicate (θ̂_r) and combines them
with R ``survey``'s ``svrVar`` (Lumley 2010, §2.3; Wolter 2007, ch. 3–5)::

    v(θ̂) = scale · Σ_r rscales_r · (θ̂_r − θ̄)²

with θ̄ = mean of the replicate estimates whose ``rscales`` > 0 (R's default,
``options(survey.replicates.mse = FALSE)``), or θ̄ = θ̂ when ``mse=True``.

The constructions follow R ``survey`` 4.1 ``as.svrepdesign`` exactly (``jk1weights``,
``jknweights``, ``brrweights``, ``hadamard``), except ``"bootstrap"``, which is the Rao–Wu
rescaled bootstrap with m_h = n_h − 1 (R's ``bootweights`` is Canty & Davison's version);
see ``docs/statistics.md`` §11.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

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
from analysis.design import PsuTotals, summarize_design
from analysis.estimators import EstimateOrDomains
from analysis.results import ZERO_SE, Estimate

ReplicateKind = Literal["jk1", "jkn", "brr", "bootstrap"]
REPLICATE_KINDS: tuple[str, ...] = ("jk1", "jkn", "brr", "bootstrap")
MatrixKind = Literal["jk1", "jkn", "brr", "fay", "bootstrap", "other"]
MATRIX_KINDS: tuple[str, ...] = ("jk1", "jkn", "brr", "fay", "bootstrap", "other")
ReplicateSinglePsu = Literal["error", "certainty"]

RANK_TOLERANCE = 1e-5  # R degf.svyrep.design: qr(weights, tol = 1e-5)$rank − 1


def _rank(matrix: NDArray[np.float64]) -> int:
    """Numerical rank: singular values above ``RANK_TOLERANCE`` × the largest."""
    if matrix.size == 0:
        return 0
    if matrix.shape[0] > matrix.shape[1]:
        matrix = np.unique(matrix, axis=0)
    singular = np.linalg.svd(matrix, compute_uv=False)
    if not singular.size or singular[0] <= 0:
        return 0
    return int((singular > RANK_TOLERANCE * singular[0]).sum())


@dataclass(frozen=True)
class ReplicateDesign:
    """Full-sample weights plus R sets of replicate weights (R ``svyrep.design``).

    Attributes
    ----------
    weights : (N,) full-sample weights.
    factors : (P, R) replicate factor of each PSU (row group) in each replicate.
    psu : (N,) row of ``factors`` for each respondent.
    scale, rscales : variance multipliers (R ``scale``, ``rscales``), see the module docstring.
    mse : centre the squared deviations on the full-sample estimate (True) or on the mean
        of the replicates (False, R's default).
    kind : "jk1", "jkn", "brr", "fay", "bootstrap" or "other".
    df : degrees of freedom, R ``degf()`` of a replicate design: rank of the replicate-weight
        matrix − 1 (``RANK_TOLERANCE``).
    combined : True when ``factors`` rows are replicate weights themselves (a user matrix,
        R ``combined.weights=TRUE``); then ``psu`` is 0…N−1 and weights are not multiplied.
    fay_rho : Fay's ρ (0 except for "fay").

    Use :func:`replicate_weights` or :meth:`from_matrix` to build one.

    Examples
    --------
    >>> d = replicate_weights("jk1", weights=[1.0, 1, 2, 2], clusters=["a", "a", "b", "c"])
    >>> d.replicate_weights.tolist()
    [[0.0, 1.5, 1.5], [0.0, 1.5, 1.5], [3.0, 0.0, 3.0], [3.0, 3.0, 0.0]]
    >>> round(d.scale, 4), d.df
    (0.6667, 2)
    """

    weights: NDArray[np.float64]
    factors: NDArray[np.float64]
    psu: NDArray[np.intp]
    scale: float
    rscales: NDArray[np.float64]
    mse: bool
    kind: str
    df: int
    combined: bool = False
    fay_rho: float = 0.0

    def __post_init__(self) -> None:
        weights = check_weights(self.weights, np.asarray(self.weights).size)
        factors = np.asarray(self.factors, dtype=np.float64)
        if factors.ndim != 2 or factors.shape[1] == 0:
            raise ValueError("`factors` must be a 2-D array with at least one replicate")
        if not np.isfinite(factors).all():
            raise ValueError("`factors` contains NaN or infinite values")
        psu = np.asarray(self.psu)
        if psu.shape != weights.shape or psu.dtype.kind not in "iu":
            raise ValueError("`psu` must be one integer row index of `factors` per weight")
        if psu.size and (psu.min() < 0 or psu.max() >= factors.shape[0]):
            raise ValueError("`psu` points outside the rows of `factors`")
        rscales = as_float_vector(self.rscales, "rscales")
        if rscales.size != factors.shape[1]:
            raise ValueError(
                f"`rscales` has {rscales.size} values for {factors.shape[1]} replicates"
            )
        if (rscales < 0).any():
            raise ValueError("`rscales` must be non-negative")
        scale = float(self.scale)
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"`scale` must be a positive number, got {self.scale!r}")
        if self.kind not in MATRIX_KINDS:
            raise ValueError(f"`kind` must be one of {MATRIX_KINDS}, got {self.kind!r}")
        for name, value in (
            ("weights", weights),
            ("factors", factors),
            ("psu", psu.astype(np.intp)),
            ("scale", scale),
            ("rscales", rscales),
            ("mse", bool(self.mse)),
        ):
            object.__setattr__(self, name, value)

    @property
    def replicates(self) -> int:
        """Number of replicates R."""
        return int(self.factors.shape[1])

    @property
    def replicate_weights(self) -> NDArray[np.float64]:
        """The (N, R) matrix of replicate weights (R ``weights(design, "analysis")``)."""
        rows = self.factors[self.psu]
        return rows if self.combined else self.weights[:, None] * rows

    @classmethod
    def from_matrix(
        cls,
        replicate_weights: ArrayLike,
        kind: MatrixKind,
        *,
        weights: ArrayLike,
        scale: float | None = None,
        rscales: ArrayLike | None = None,
        fay_rho: float | None = None,
        combined_weights: bool = True,
        mse: bool = False,
    ) -> ReplicateDesign:
        """A design from a user's (N, R) replicate-weight matrix (R ``svrepdesign``).

        ``combined_weights=True`` (R's default): the matrix holds the replicate weights;
        False: it holds factors that multiply ``weights``. ``scale``/``rscales`` as R
        ``svrepdesign``: "brr" scale = 1/R (``scale`` must not be given); "fay" needs
        ``fay_rho``, scale = 1/(R(1 − ρ)²); "bootstrap" scale defaults to 1/(R − 1);
        "jk1" needs ``scale`` (R would guess (R − 1)/R); "jkn" needs ``rscales``; "other"
        needs both. ``rscales`` defaults to ones; one number is recycled. A finite
        population correction is folded into ``rscales`` by the caller (R ``fpc=``
        multiplies ``rscales`` by 1 − f).

        Examples
        --------
        >>> m = [[0.0, 3.0], [4.0, 0.0], [2.0, 2.0]]
        >>> d = ReplicateDesign.from_matrix(m, "jk1", weights=[1.0, 2, 1], scale=0.5)
        >>> d.replicates, d.df
        (2, 1)
        """
        if kind not in MATRIX_KINDS:
            raise ValueError(f"`kind` must be one of {MATRIX_KINDS}, got {kind!r}")
        matrix = np.asarray(replicate_weights, dtype=np.float64)
        if matrix.ndim != 2:
            raise ValueError("`replicate_weights` must be a 2-D array (rows × replicates)")
        size, count = matrix.shape
        w = check_weights(weights, size)
        if count < 2:
            raise ValueError("`replicate_weights` must have at least 2 replicate columns")
        if not np.isfinite(matrix).all():
            raise ValueError("`replicate_weights` contains NaN or infinite values")
        if (matrix < 0).any():
            raise ValueError("`replicate_weights` must be non-negative")
        rho = 0.0
        if fay_rho is not None and kind != "fay":
            raise ValueError("`fay_rho` applies only to kind='fay'")
        if kind == "brr":
            if scale is not None:
                raise ValueError("kind='brr' has scale 1/R; do not pass `scale` (R ignores it)")
            scale = 1.0 / count
        elif kind == "fay":
            if fay_rho is None:
                raise ValueError("kind='fay' needs `fay_rho` (R: you must supply the correct rho)")
            rho = _check_rho(fay_rho)
            if scale is not None:
                raise ValueError("kind='fay' has scale 1/(R(1 − ρ)²); do not pass `scale`")
            scale = 1.0 / (count * (1.0 - rho) ** 2)
        elif kind == "bootstrap":
            scale = 1.0 / (count - 1) if scale is None else scale
        elif kind == "jk1" and scale is None:
            raise ValueError("kind='jk1' needs `scale` ((n − 1)/n for n PSUs, times 1 − f)")
        elif kind == "jkn" and rscales is None:
            raise ValueError("kind='jkn' needs `rscales` ((n_h − 1)/n_h of each replicate)")
        elif kind == "other" and (scale is None or rscales is None):
            raise ValueError("kind='other' needs both `scale` and `rscales`")
        if rscales is None:
            rscale_array = np.ones(count)
        else:
            rscale_array = np.atleast_1d(np.asarray(rscales, dtype=np.float64))
            if rscale_array.size == 1:
                rscale_array = np.full(count, rscale_array[0])
            if rscale_array.ndim != 1 or rscale_array.size != count:
                raise ValueError(
                    f"`rscales` has {rscale_array.size} values, expected {count} (one per "
                    "replicate column)"
                )
        scale = 1.0 if scale is None else scale  # R svrepdesign: scale NULL → 1 ("jkn")
        factors = matrix
        base = np.ones(size) if combined_weights else w
        return cls(
            weights=w,
            factors=factors,
            psu=np.arange(size, dtype=np.intp),
            scale=float(scale),
            rscales=rscale_array,
            mse=mse,
            kind=kind,
            df=_rank(base[:, None] * factors) - 1,
            combined=combined_weights,
            fay_rho=rho,
        )


def _check_rho(fay_rho: float) -> float:
    try:
        rho = float(fay_rho)
    except (TypeError, ValueError):
        raise ValueError("`fay_rho` must be a number in [0, 1)") from None
    if not 0.0 <= rho < 1.0:
        raise ValueError(f"`fay_rho` must be in [0, 1), got {fay_rho!r}")
    return rho


# --- Hadamard matrices exactly as R survey::hadamard -------------------------------------

_R_PRECOOKED = (4, 16, 28, 36)  # survey:::hadamard.sizes
_PALEY_MAX_PRIME = 7919  # largest of survey:::paley's small.primes (primes ≡ 3 mod 4)


def _is_prime(p: int) -> bool:
    if p < 2:
        return False
    return all(p % d for d in range(2, math.isqrt(p) + 1))


def _paley_prime(n: int) -> bool:
    return 3 <= n <= _PALEY_MAX_PRIME and n % 4 == 3 and _is_prime(n)


def _sylvester(order: int) -> NDArray[np.int8]:
    """0/1 Sylvester matrix in natural order: 1 where popcount(i & j) is even."""
    index = np.arange(order)
    bits = np.bitwise_and.outer(index, index)
    parity = np.zeros_like(bits)
    while bits.any():
        parity ^= bits & 1
        bits >>= 1
    return (1 - parity).astype(np.int8)


def _double(h: NDArray[np.int8]) -> NDArray[np.int8]:
    """R ``hadamard.doubler``: rbind(cbind(H, H), cbind(H, 1 − H))."""
    return np.block([[h, h], [h, 1 - h]]).astype(np.int8)


def _paley_matrix(p: int) -> NDArray[np.int8]:
    """R ``paley(prime = p)``: quadratic residues of (i + j) mod p (and 0) → 0, else 1."""
    residues = {0, 1} | {(i * i) % p for i in range(2, (p - 1) // 2 + 1)}
    sums = np.add.outer(np.arange(p), np.arange(p)) % p
    core = np.where(np.isin(sums, list(residues)), 0, 1)
    out = np.ones((p + 1, p + 1), dtype=np.int8)
    out[1:, 1:] = core
    return out


def _paley(n: int, nmax: int | None = None) -> NDArray[np.int8] | None:
    """R ``survey:::paley(n, nmax)`` with ``prime = NULL``."""
    nmax = 2 * n if nmax is None else nmax
    nceil = nn = n + 4 - n % 4
    if n % 4 + 4 == n % 8:
        while nn % 8 == 0:
            nn //= 2
        if _paley_prime(nn - 1):
            m = _paley_matrix(nn - 1)
            while nn < nceil:
                m = np.block([[m, m], [m, 1 - m]]).astype(np.int8)
                nn *= 2
            return m
    if n > _PALEY_MAX_PRIME:
        return None
    p = next(q for q in range(max(n, 3), _PALEY_MAX_PRIME + 1) if _paley_prime(q))
    if p + 1 > nceil + 4 and nceil + 4 < nmax:
        return _paley(nceil + 3)
    if p > nmax:
        return None
    return _paley_matrix(p)


def _paley_two(q: int) -> NDArray[np.int8]:
    """Paley's second construction, order 2(q + 1) for a prime q ≡ 1 (mod 4), normalised so
    the first row and column are ones (0/1 coding). Stands in for R's tabulated 28 and 36."""
    chi = np.zeros(q, dtype=np.int64)
    chi[[(i * i) % q for i in range(1, q)]] = 1
    chi = np.where(chi == 1, 1, -1)
    chi[0] = 0
    jacobsthal = chi[(np.arange(q)[None, :] - np.arange(q)[:, None]) % q]
    conference = np.zeros((q + 1, q + 1), dtype=np.int64)
    conference[0, 1:] = conference[1:, 0] = 1
    conference[1:, 1:] = jacobsthal
    h = np.kron(conference, np.array([[1, 1], [1, -1]])) + np.kron(
        np.eye(q + 1, dtype=np.int64), np.array([[1, -1], [-1, -1]])
    )
    h = h * h[0][None, :]
    h = h * h[:, 0][:, None]
    return ((h + 1) // 2).astype(np.int8)


def _precooked(index: int) -> tuple[NDArray[np.int8], bool]:
    """R ``hadamard.list[[index + 1]]``; the 28 and 36 tables are replaced (second value
    False) by Paley II matrices of the same order (q = 13, 17)."""
    if index == 0:
        return _sylvester(4), True
    if index == 1:
        return _sylvester(16), True
    return _paley_two(13 if index == 2 else 17), False


def hadamard_r(n: int) -> tuple[NDArray[np.int8], bool]:
    """R ``survey::hadamard(n)`` (0/1 coding, order > n) and whether it is R's very matrix.

    Reproduces R's choice of order and construction (tabulated Sylvester 4 and 16, doubling,
    Paley with primes ≡ 3 mod 4 up to 7919). Where R uses its tabulated orders 28 or 36 (or
    their doublings) this returns a Paley-II matrix of the same order instead (flag False):
    same number of replicates and the same balance, different rows.

    Examples
    --------
    >>> h, same = hadamard_r(5)
    >>> h.shape, same, int((2 * h[1:] - 1).sum())
    ((8, 8), True, 0)
    """
    if int(n) != n or n < 1:
        raise ValueError(f"`n` must be a positive integer, got {n!r}")
    n = int(n)
    m = n - n % 4
    precooked = [i for i, size in enumerate(_R_PRECOOKED) if m < size <= m + 4]
    if precooked:
        return _precooked(min(precooked))
    if all(m < size for size in _R_PRECOOKED):
        return _precooked(0)
    doublings = [max(0, math.ceil(math.log2((n + 1) / size))) for size in _R_PRECOOKED]
    sizes = [size * 2**k for size, k in zip(_R_PRECOOKED, doublings, strict=True)]
    best = int(np.argmin([size - n for size in sizes]))
    found: NDArray[np.int8] | None = None
    if sizes[best] - n > 4:
        found = _paley(n, sizes[best])
    if found is not None:
        return found, True
    base, exact = _precooked(best)
    for _ in range(doublings[best]):
        base = _double(base)
    return base, exact


# --- building replicate designs ----------------------------------------------------------


def _appearance(labels: NDArray[np.generic]) -> NDArray[np.intp]:
    """Integer codes numbered in order of first appearance (R ``unique()`` order)."""
    _, code = factorize(labels)
    first = np.full(int(code.max()) + 1, code.size, dtype=np.intp)
    np.minimum.at(first, code, np.arange(code.size))
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[code]


@dataclass(frozen=True)
class _Psus:
    row_psu: NDArray[np.intp]  # (N,) PSU number in order of first appearance
    psu_stratum: NDArray[np.intp]  # (P,) stratum number in order of first appearance
    stratum_labels: list[object]  # label of each stratum number
    fpc_factor: NDArray[np.float64]  # (H,) 1 − f_h


def _psus(
    size: int, strata: ArrayLike | None, clusters: ArrayLike | None, fpc: ArrayLike | None
) -> _Psus:
    if strata is None:
        row_stratum = np.zeros(size, dtype=np.intp)
        first_label: list[object] = [None]
        strata_array = None
    else:
        strata_array = as_label_vector(strata, "strata")
        check_same_length(size, strata=strata_array)
        row_stratum = _appearance(strata_array)
    if clusters is None:
        row_psu = np.arange(size, dtype=np.intp)
    else:
        cluster_array = as_label_vector(clusters, "clusters")
        check_same_length(size, clusters=cluster_array)
        cluster_code = _appearance(cluster_array).astype(np.int64)
        row_psu = _appearance(row_stratum.astype(np.int64) * (cluster_code.max() + 1)
                              + cluster_code)
    count = int(row_psu.max()) + 1
    psu_stratum = np.empty(count, dtype=np.intp)
    psu_stratum[row_psu] = row_stratum
    first_row = np.full(int(row_stratum.max()) + 1, size, dtype=np.intp)
    np.minimum.at(first_row, row_stratum, np.arange(size))
    if strata_array is not None:
        first_label = [plain(strata_array[i]) for i in first_row]
    fpc_psu = None
    if fpc is not None:
        fpc_rows = as_float_vector(fpc, "fpc")
        check_same_length(size, fpc=fpc_rows)
        fpc_psu = np.empty(count)
        fpc_psu[row_psu] = fpc_rows
        if not np.array_equal(fpc_psu[row_psu], fpc_rows):
            raise ValueError("`fpc` is not constant within a cluster")
    labels = np.array([str(x) for x in first_label], dtype=object)
    summary = summarize_design(
        PsuTotals(stratum=labels[psu_stratum], sum_wy=np.zeros(count), sum_w=np.zeros(count),
                  n=np.zeros(count), fpc=fpc_psu)
    )
    # summarize_design orders strata by sorted label; map back to appearance order
    sorted_index = {str(plain(label)): i for i, label in enumerate(summary.stratum_labels)}
    factor = np.array([summary.fpc_factor[sorted_index[str(x)]] for x in first_label])
    return _Psus(row_psu, psu_stratum, first_label, factor)


def _jackknife_one(psus: _Psus) -> tuple[NDArray[np.float64], float, NDArray[np.float64]]:
    count = psus.psu_stratum.size
    if count < 2:
        raise ValueError("'jk1' needs at least 2 PSUs")
    if psus.fpc_factor[0] <= 0:
        raise ValueError("`fpc` says every PSU was sampled (a census): the variance is 0 "
                         "and there are no replicates")
    factors = np.full((count, count), count / (count - 1))
    np.fill_diagonal(factors, 0.0)
    scale = float(psus.fpc_factor[0]) * (count - 1) / count
    return factors, scale, np.ones(count)


def _jackknife_strata(
    psus: _Psus, single_psu: ReplicateSinglePsu
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    count = psus.psu_stratum.size
    columns: list[NDArray[np.float64]] = []
    rscales: list[float] = []
    for h, label in enumerate(psus.stratum_labels):
        members = np.flatnonzero(psus.psu_stratum == h)
        n_h = members.size
        if psus.fpc_factor[h] <= 0:
            continue  # census stratum: R drops its replicates (survey.drop.replicates)
        if n_h == 1:
            if single_psu == "error":
                raise ValueError(
                    f"stratum {label!r} has a single PSU; pass single_psu='certainty' "
                    "(R survey.lonely.psu = 'certainty': the stratum gets no replicate)"
                )
            continue
        block = np.ones((count, n_h))
        block[members, :] = n_h / (n_h - 1)
        block[members, np.arange(n_h)] = 0.0
        columns.append(block)
        rscales += [float(psus.fpc_factor[h]) * (n_h - 1) / n_h] * n_h
    if not columns:
        raise ValueError("no stratum gives a replicate: every stratum is a census or has "
                         "a single PSU")
    return np.hstack(columns), np.array(rscales)


def _brr(psus: _Psus, fay_rho: float) -> NDArray[np.float64]:
    counts = np.bincount(psus.psu_stratum, minlength=len(psus.stratum_labels))
    bad = [i for i, c in enumerate(counts) if c != 2]
    if bad:
        h = bad[0]
        raise ValueError(
            f"'brr' needs exactly 2 PSUs in every stratum; stratum "
            f"{psus.stratum_labels[h]!r} has {counts[h]}"
        )
    # R brrweights: pairs numbered by stratum label sorted as character, PSUs within a
    # stratum by first row; Hadamard row k + 1 (0-based k) decides pair k.
    order = sorted(range(counts.size), key=lambda h: str(psus.stratum_labels[h]))
    h_matrix, _ = hadamard_r(counts.size)
    factors = np.empty((psus.psu_stratum.size, h_matrix.shape[1]))
    for pair, h in enumerate(order):
        first, second = np.flatnonzero(psus.psu_stratum == h)  # PSU numbers by first row
        chosen = h_matrix[pair + 1] == 1
        factors[first] = np.where(chosen, 2.0 - fay_rho, fay_rho)
        factors[second] = np.where(chosen, fay_rho, 2.0 - fay_rho)
    return factors


def _rao_wu(
    psus: _Psus, replicates: int, rng: np.random.Generator, single_psu: ReplicateSinglePsu
) -> NDArray[np.float64]:
    factors = np.ones((psus.psu_stratum.size, replicates))
    for h, label in enumerate(psus.stratum_labels):
        members = np.flatnonzero(psus.psu_stratum == h)
        n_h = members.size
        if n_h == 1:
            if single_psu == "error":
                raise ValueError(
                    f"stratum {label!r} has a single PSU: the bootstrap needs two (or pass "
                    "single_psu='certainty' to give it factor 1)"
                )
            continue
        lam = math.sqrt(float(psus.fpc_factor[h]))  # Rao–Wu λ with m_h = n_h − 1
        draws = rng.multinomial(n_h - 1, np.full(n_h, 1.0 / n_h), size=replicates)
        factors[members, :] = (1.0 - lam + lam * n_h / (n_h - 1) * draws).T
    return factors


def replicate_weights(
    kind: ReplicateKind,
    *,
    weights: ArrayLike | None = None,
    strata: ArrayLike | None = None,
    clusters: ArrayLike | None = None,
    fpc: ArrayLike | None = None,
    replicates: int | None = None,
    rng: np.random.Generator | None = None,
    fay_rho: float = 0.0,
    single_psu: ReplicateSinglePsu = "error",
    mse: bool = False,
) -> ReplicateDesign:
    """Replicate weights for a stratified cluster design (R ``as.svrepdesign``).

    ``kind``:

    * ``"jk1"`` (R type="JK1"): unstratified delete-one-PSU jackknife; replicate i gives
      PSU i factor 0 and the others n/(n − 1); scale = (1 − f)(n − 1)/n, rscales 1.
    * ``"jkn"`` (R "JKn"): one replicate per PSU of every stratum h (in order of first
      appearance); the deleted PSU 0, the rest of its stratum n_h/(n_h − 1), other strata 1;
      scale 1, rscales (1 − f_h)(n_h − 1)/n_h. Census strata (f_h = 1) give no replicate
      (R ``survey.drop.replicates``); a single-PSU stratum is an error, or with
      ``single_psu="certainty"`` gives no replicate (R lonely.psu "certainty").
    * ``"brr"`` (R "BRR"): exactly two PSUs per stratum, Hadamard matrix of
      :func:`hadamard_r` (R ``brrweights``); factors 2 and 0 — with ``fay_rho`` = ρ > 0,
      Fay's method (R "Fay"), factors 2 − ρ and ρ; scale 1/(R(1 − ρ)²), rscales 1.
      ``fpc`` is refused (R drops it with a warning).
    * ``"bootstrap"``: Rao & Wu (1988) rescaled bootstrap with m_h = n_h − 1: per stratum
      draw n_h − 1 of its n_h PSUs with replacement; factor 1 − λ + λ·n_h/(n_h − 1)·count with
      λ = √(1 − f_h) (λ = 1 without fpc). Needs ``replicates`` and a
      ``numpy.random.Generator`` ``rng``; scale 1/(R − 1), rscales 1 (R
      ``svrepdesign(type="bootstrap")``).

    ``fpc`` per row as in :func:`analysis.mean` (population PSUs > 1 or fraction ≤ 1); for
    "jk1" it must be one value. ``df`` is the rank of the replicate weights − 1 (R ``degf``).

    Examples
    --------
    >>> d = replicate_weights("jkn", strata=[1, 1, 2, 2, 2], weights=[1.0, 1, 1, 1, 1])
    >>> d.replicates, d.rscales.round(4).tolist(), d.df
    (5, [0.5, 0.5, 0.6667, 0.6667, 0.6667], 3)
    """
    if kind not in REPLICATE_KINDS:
        raise ValueError(f"`kind` must be one of {REPLICATE_KINDS}, got {kind!r}")
    if single_psu not in ("error", "certainty"):
        raise ValueError(f"`single_psu` must be 'error' or 'certainty', got {single_psu!r}")
    rho = _check_rho(fay_rho)
    if rho and kind != "brr":
        raise ValueError("`fay_rho` applies only to kind='brr' (Fay's BRR)")
    if kind != "bootstrap" and (replicates is not None or rng is not None):
        raise ValueError(f"`replicates` and `rng` apply only to 'bootstrap', not {kind!r}")
    lengths = [np.asarray(a).size for a in (weights, strata, clusters, fpc) if a is not None]
    if not lengths:
        raise ValueError("give `weights`, `strata` or `clusters` (one value per respondent)")
    size = lengths[0]
    w = check_weights(weights, size)
    if kind == "jk1" and strata is not None:
        raise ValueError("'jk1' is for unstratified designs (R: can't use JK1 for a "
                         "stratified design); use 'jkn'")
    if kind in ("jkn", "brr") and strata is None:
        raise ValueError(f"{kind!r} needs `strata` (R: must use JK1 or bootstrap for an "
                         "unstratified design)")
    if kind == "brr" and fpc is not None:
        raise ValueError("`fpc` cannot be used with 'brr' (R drops it; BRR has no fpc)")
    if kind == "bootstrap":
        if not isinstance(rng, np.random.Generator):
            raise ValueError("'bootstrap' needs `rng`, a numpy.random.Generator "
                             "(np.random.default_rng(seed))")
        if replicates is None or int(replicates) != replicates or replicates < 2:
            raise ValueError(f"'bootstrap' needs `replicates`, an integer ≥ 2, got {replicates!r}")
    psus = _psus(size, strata, clusters, fpc)
    name: str = kind
    if kind == "jk1":
        factors, scale, rscales = _jackknife_one(psus)
    elif kind == "jkn":
        factors, rscales = _jackknife_strata(psus, single_psu)
        scale = 1.0
    elif kind == "brr":
        factors = _brr(psus, rho)
        scale = 1.0 / (factors.shape[1] * (1.0 - rho) ** 2)
        rscales = np.ones(factors.shape[1])
        name = "fay" if rho else "brr"
    else:
        assert rng is not None and replicates is not None
        factors = _rao_wu(psus, int(replicates), rng, single_psu)
        scale = 1.0 / (int(replicates) - 1)
        rscales = np.ones(int(replicates))
    used = np.unique(psus.row_psu[w > 0])
    return ReplicateDesign(
        weights=w,
        factors=factors,
        psu=psus.row_psu,
        scale=scale,
        rscales=rscales,
        mse=mse,
        kind=name,
        df=_rank(factors[used]) - 1,
        fay_rho=rho,
    )


# --- estimators --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reduced:
    domains: tuple[object, ...] | None
    full_num: NDArray[np.float64]  # (D,) Σ w y
    full_den: NDArray[np.float64]  # (D,) Σ w
    full_sq: NDArray[np.float64]  # (D,) Σ w y²
    rep_num: NDArray[np.float64]  # (R, D)
    rep_den: NDArray[np.float64]  # (R, D)
    n: NDArray[np.int64]  # (D,)
    df: NDArray[np.int64]  # (D,)


def _reduce(
    y: NDArray[np.float64], design: ReplicateDesign, by: ArrayLike | None,
    where: ArrayLike | None,
) -> _Reduced:
    if not isinstance(design, ReplicateDesign):
        raise ValueError("`design` must be a ReplicateDesign (see replicate_weights)")
    size = design.weights.size
    check_same_length(size, y=y)
    mask = np.ones(size, dtype=bool)
    if where is not None:
        mask = np.asarray(where)
        if mask.dtype != bool:
            raise ValueError("`where` must be a boolean array")
        check_same_length(size, where=mask)
    if not np.isfinite(y[mask]).all():
        raise ValueError("`y` contains NaN or infinite values (use `where` to leave rows out)")
    domains: tuple[object, ...] | None = None
    code = np.zeros(size, dtype=np.intp)
    count = 1
    if by is not None:
        by_array = as_label_vector(by, "by")
        check_same_length(size, by=by_array)
        labels, code = factorize(by_array)
        domains = tuple(plain(label) for label in labels)
        count = labels.size
    values = np.where(mask, y, 0.0)
    w = design.weights
    base = np.ones(size) if design.combined else w
    psu_count = design.factors.shape[0]
    cell = design.psu * count + code
    length = psu_count * count

    def by_psu(v: NDArray[np.float64]) -> NDArray[np.float64]:
        sums = np.bincount(cell, weights=v, minlength=length).astype(np.float64)
        return sums.reshape(psu_count, count)

    def by_domain(v: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.bincount(code, weights=v, minlength=count).astype(np.float64)

    inside = mask.astype(np.float64)
    rep_num = design.factors.T @ by_psu(base * values)
    rep_den = design.factors.T @ by_psu(base * inside)
    n = np.bincount(code[mask & (w > 0)], minlength=count).astype(np.int64)
    df = np.empty(count, dtype=np.int64)
    for d in range(count):
        rows = mask & (code == d) & (base != 0)
        used = np.unique(design.psu[rows])
        df[d] = _rank(design.factors[used]) - 1
    return _Reduced(domains, by_domain(w * values), by_domain(w * inside),
                    by_domain(w * values * values), rep_num, rep_den, n, df)


def _variance(
    thetas: NDArray[np.float64], full: float, design: ReplicateDesign
) -> tuple[float, int]:
    """R ``svrVar``: scale Σ rscales (θ_r − θ̄)²; undefined replicates are left out (R's
    na.omit). Deviations within 64 ulp of the values are rounding noise: variance 0.
    Returns (variance, number left out)."""
    ok = np.isfinite(thetas)
    dropped = int((~ok).sum())
    if not ok.any():
        return math.nan, dropped
    values, rscales = thetas[ok], design.rscales[ok]
    if design.mse:
        centre = full
    elif (rscales > 0).any():
        centre = float(values[rscales > 0].mean())
    else:
        return 0.0, dropped
    deviations = values - centre
    size = max(float(np.abs(values).max()), abs(centre))
    if float(np.abs(deviations).max()) <= 64 * np.finfo(np.float64).eps * size:
        return 0.0, dropped  # rounding noise: every replicate equals the centre
    return float(design.scale * (rscales * deviations**2).sum()), dropped


def _t(level: float, df: int) -> float:
    return float(special.stdtrit(df, 0.5 + level / 2.0)) if df > 0 else math.nan


def _interval_note(se: float, df: int, dropped: int, total: int) -> str | None:
    notes = []
    if dropped:
        notes.append(f"{dropped} of {total} replicate estimates undefined (no weight in the "
                     "domain) and left out, as R svrVar")
    if not math.isfinite(se):
        notes.append("standard error undefined: no replicate estimate")
    elif se == 0:
        notes.append(ZERO_SE)
    if df <= 0:
        notes.append(f"no degrees of freedom (df = {df}: the replicate weights of the domain "
                     "have rank ≤ 1)")
    return "; ".join(notes) or None


def _make(
    point: float, se: float, low: float, high: float, level: float, df: int, n: int,
    deff: float, note: str | None,
) -> Estimate:
    return Estimate(
        estimate=point, standard_error=se, ci_low=low, ci_high=high, confidence_level=level,
        df=df, n=n, n_effective=n / deff if deff > 0 else math.nan, design_effect=deff,
        note=note,
    )


def _srs_variance(r: _Reduced, d: int, kind: str) -> float:
    """With-replacement SRS variance of the same n (as analysis.estimators; R deff="replace")."""
    n, total_w = int(r.n[d]), float(r.full_den[d])
    if n <= 1 or total_w <= 0:
        return math.nan
    mean = r.full_num[d] / total_w
    second = r.full_sq[d] / total_w
    spread = second - mean * mean
    spread = spread if spread > 1e-12 * second else 0.0
    unit = max(spread, 0.0) * n / (n - 1)
    return float(unit / n if kind == "mean" else unit * total_w**2 / n)


def _estimates(r: _Reduced, design: ReplicateDesign, kind: str, level: float) -> list[Estimate]:
    results = []
    for d in range(r.full_num.size):
        df = int(r.df[d])
        if kind == "mean":
            if r.full_den[d] <= 0:
                where = "" if r.domains is None else f" in domain {r.domains[d]!r}"
                raise ValueError(f"`weights` sum to zero{where}: the mean is undefined")
            point = float(r.full_num[d] / r.full_den[d])
            with np.errstate(divide="ignore", invalid="ignore"):
                thetas = r.rep_num[:, d] / r.rep_den[:, d]
        else:
            point = float(r.full_num[d])
            thetas = r.rep_num[:, d]
        variance, dropped = _variance(thetas, point, design)
        se = math.sqrt(variance) if math.isfinite(variance) else math.nan
        note = _interval_note(se, df, dropped, design.replicates)
        quantile = _t(level, df)
        if se > 0 and math.isfinite(quantile):
            low, high = point - quantile * se, point + quantile * se
        else:
            low = high = math.nan
        srs = _srs_variance(r, d, kind)
        deff = variance / srs if srs > 0 and math.isfinite(variance) else math.nan
        results.append(_make(point, se, low, high, level, df, int(r.n[d]), deff, note))
    return results


def _package(r: _Reduced, results: list[Estimate]) -> EstimateOrDomains:
    if r.domains is None:
        return results[0]
    return dict(zip(r.domains, results, strict=True))


def replicate_mean(
    y: ArrayLike,
    design: ReplicateDesign,
    *,
    by: ArrayLike | None = None,
    where: ArrayLike | None = None,
    confidence_level: float = 0.95,
) -> EstimateOrDomains:
    """Weighted mean Σwy/Σw with the replicate variance (R ``svymean`` on a svyrep design).

    θ̂_r = Σ w_kr y_k / Σ w_kr; v = scale Σ_r rscales_r (θ̂_r − θ̄)² (R ``svrVar``). ``by``
    gives ``{domain: Estimate}``: rows outside a domain get weight 0 in every replicate (R
    ``svyby`` / ``subset``); a replicate in which a domain has no weight is left out (R's
    na.omit, noted). ``where`` restricts to a subpopulation (``y`` may be NaN outside).
    Interval θ̂ ± t_df·SE with df = rank of the domain's replicate weights − 1 (R
    ``confint(svymean(...), df = degf(subset(design, ...)))``); NaN with a note when SE is
    0 or df ≤ 0. ``design_effect`` as :func:`analysis.mean` (with-replacement SRS).

    Examples
    --------
    >>> d = replicate_weights("jk1", weights=[1.0, 1, 1, 1])
    >>> e = replicate_mean([3.0, 5, 4, 8], d)
    >>> e.estimate, round(e.standard_error, 4), e.df
    (5.0, 1.0801, 3)
    """
    values = as_float_vector(y, "y", allow_nan=True)
    level = check_confidence_level(confidence_level)
    reduced = _reduce(values, design, by, where)
    return _package(reduced, _estimates(reduced, design, "mean", level))


def replicate_total(
    y: ArrayLike,
    design: ReplicateDesign,
    *,
    by: ArrayLike | None = None,
    where: ArrayLike | None = None,
    confidence_level: float = 0.95,
) -> EstimateOrDomains:
    """Weighted total Σwy with the replicate variance (R ``svytotal``); arguments as
    :func:`replicate_mean`.

    Examples
    --------
    >>> d = replicate_weights("jk1", weights=[10.0, 10, 10, 10])
    >>> e = replicate_total([3.0, 5, 4, 8], d)
    >>> e.estimate, round(e.standard_error, 3)
    (200.0, 43.205)
    """
    values = as_float_vector(y, "y", allow_nan=True)
    level = check_confidence_level(confidence_level)
    reduced = _reduce(values, design, by, where)
    return _package(reduced, _estimates(reduced, design, "total", level))


def _logit_interval(
    e: Estimate, thetas: NDArray[np.float64], design: ReplicateDesign
) -> Estimate:
    p, level, df = e.estimate, e.confidence_level, e.df
    base_note = e.note
    problem = None
    ok = np.isfinite(thetas)
    if not 0.0 < p < 1.0:
        problem = f"estimate is {p:g}: no logit interval"
    elif ((thetas[ok] <= 0.0) | (thetas[ok] >= 1.0)).any():
        problem = "a replicate proportion is 0 or 1: no logit interval"
    low = high = math.nan
    if problem is None:
        with np.errstate(divide="ignore"):
            logits = special.logit(thetas)
        centre = float(special.logit(p))
        variance, _ = _variance(logits, centre, design)
        quantile = _t(level, df)
        if variance > 0 and math.isfinite(quantile):
            half = quantile * math.sqrt(variance)
            low, high = float(special.expit(centre - half)), float(special.expit(centre + half))
        elif variance == 0 and base_note is None:
            problem = ZERO_SE
    notes = "; ".join(x for x in (base_note, problem) if x) or None
    return _make(p, e.standard_error, low, high, level, df, e.n, e.design_effect, notes)


def replicate_proportion(
    y: ArrayLike,
    level: object,
    design: ReplicateDesign,
    *,
    by: ArrayLike | None = None,
    where: ArrayLike | None = None,
    confidence_level: float = 0.95,
) -> EstimateOrDomains:
    """Share of rows with ``y == level``; replicate SE and logit interval (R
    ``svyciprop(~I(y == level), design, method = "logit")`` on a svyrep design).

    As R (which fits ``svyglm(quasibinomial)`` to every replicate), the interval is
    expit(logit p̂ ± t_df · s) with s² = scale Σ rscales (logit p̂_r − mean)²: the replicate
    variance of the logit, not a delta method. ``standard_error`` is the replicate SE of p̂
    (R's ``vcov`` of svyciprop). The interval is NaN (with a note) when p̂ or a replicate
    p̂_r is 0 or 1, the SE is 0 or df ≤ 0. Other arguments as :func:`replicate_mean`.

    Examples
    --------
    >>> d = replicate_weights("jk1", weights=[1.0, 1, 1, 1, 1])
    >>> e = replicate_proportion(["y", "n", "y", "y", "n"], "y", d)
    >>> e.estimate, round(e.ci_low, 4), round(e.ci_high, 4)
    (0.6, 0.0702, 0.9675)
    """
    values = np.asarray(y)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("`y` must be a non-empty one-dimensional array")
    inside = np.ones(values.size, dtype=bool) if where is None else np.asarray(where)
    if values.dtype.kind == "f" and inside.shape == values.shape and \
            np.isnan(values[inside]).any():
        raise ValueError("`y` contains NaN (use `where` to leave rows out)")
    if values.dtype.kind == "O" and any(v is None for v in values):
        raise ValueError("`y` contains missing (None) values")
    indicator = (values == level).astype(np.float64)
    ci_level = check_confidence_level(confidence_level)
    reduced = _reduce(indicator, design, by, where)
    raw = _estimates(reduced, design, "mean", ci_level)
    results = []
    for d, e in enumerate(raw):
        with np.errstate(divide="ignore", invalid="ignore"):
            thetas = reduced.rep_num[:, d] / reduced.rep_den[:, d]
        results.append(_logit_interval(e, thetas, design))
    return _package(reduced, results)
