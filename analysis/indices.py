"""Satisfaction indices: item rescaling, dimension/overall indices, AHP and entropy weights,
Cronbach's alpha, importance–performance analysis, satisfaction rate and NPS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analysis._validation import as_float_vector, check_confidence_level
from analysis.design import SinglePsu
from analysis.estimators import EstimateOrDomains, ProportionMethod, mean, proportion

#: Saaty's random consistency index RI for n = 1..10 (Saaty 2008, Int. J. Services Sciences 1:1).
SAATY_RANDOM_INDEX: tuple[float, ...] = (0.0, 0.0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49)


def _matrix(values: ArrayLike, name: str) -> NDArray[np.float64]:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be numeric") from None
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"`{name}` must be a non-empty 2-D array, got shape {array.shape}")
    return array


def rescale(
    values: ArrayLike,
    *,
    scale_min: float,
    scale_max: float,
    reverse: bool = False,
    not_applicable: Sequence[float] = (),
) -> NDArray[np.float64]:
    """Rescale answers on ``[scale_min, scale_max]`` to 0–100: ``(x − min)/(max − min)·100``.

    Reverse-worded items are flipped (``100 − score``). Codes in ``not_applicable`` and NaN
    become NaN (skipped later, never 0). Values outside the scale raise ``ValueError``.

    Examples
    --------
    >>> rescale([1, 3, 5, 9], scale_min=1, scale_max=5, not_applicable=[9]).tolist()
    [0.0, 50.0, 100.0, nan]
    >>> rescale([1, 5], scale_min=1, scale_max=5, reverse=True).tolist()
    [100.0, 0.0]
    """
    x = as_float_vector(values, "values", allow_nan=True)
    if not scale_max > scale_min:
        raise ValueError("`scale_max` must be greater than `scale_min`")
    x = np.where(np.isin(x, np.asarray(not_applicable, dtype=np.float64)), np.nan, x)
    outside = np.flatnonzero((x < scale_min) | (x > scale_max))
    if outside.size:
        raise ValueError(
            f"`values` row {outside[0]} is {x[outside[0]]:g}, outside the scale "
            f"[{scale_min:g}, {scale_max:g}]"
        )
    score = (x - scale_min) / (scale_max - scale_min) * 100.0
    return 100.0 - score if reverse else score


def weighted_index(scores: ArrayLike, weights: ArrayLike | None = None) -> NDArray[np.float64]:
    """Per-respondent weighted mean of columns, skipping NaN and renormalising the weights.

    Used for dimension indices (columns = items) and the overall index (columns =
    dimensions). A row with every column NaN gives NaN.

    Examples
    --------
    >>> weighted_index([[50.0, 100.0], [np.nan, 80.0]], [1.0, 3.0]).tolist()
    [87.5, 80.0]
    """
    x = _matrix(scores, "scores")
    w = np.ones(x.shape[1]) if weights is None else as_float_vector(weights, "weights")
    if w.size != x.shape[1]:
        raise ValueError(f"`weights` has {w.size} entries for {x.shape[1]} columns")
    if (w < 0).any() or not (w > 0).any():
        raise ValueError("`weights` must be non-negative and not all zero")
    present = ~np.isnan(x)
    weight_sum = present @ w
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight_sum > 0, np.where(present, x, 0.0) @ w / weight_sum, np.nan)


dimension_index = weighted_index
overall_index = weighted_index


@dataclass(frozen=True)
class AhpResult:
    """AHP priority vector and consistency (Saaty): CI = (λmax − n)/(n − 1), CR = CI/RI(n)."""

    weights: NDArray[np.float64]
    lambda_max: float
    consistency_index: float
    consistency_ratio: float


def ahp_weights(
    matrix: ArrayLike, *, random_index: Sequence[float] = SAATY_RANDOM_INDEX
) -> AhpResult:
    """Principal-eigenvector weights of a reciprocal pairwise comparison matrix.

    Saaty (2008): ``A w = λmax w``; weights normalised to sum 1; CR ≤ 0.10 is acceptable.
    ``random_index[n − 1]`` is RI for an n × n matrix (CR is NaN when RI is 0, n ≤ 2).

    Examples
    --------
    >>> r = ahp_weights([[1, 3], [1 / 3, 1]])
    >>> r.weights.tolist(), round(r.lambda_max, 6)
    ([0.75, 0.25], 2.0)
    """
    a = _matrix(matrix, "matrix")
    n = a.shape[0]
    if a.shape != (n, n):
        raise ValueError(f"`matrix` must be square, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or (a <= 0).any():
        raise ValueError("`matrix` entries must be positive and finite")
    if not np.allclose(a * a.T, 1.0, rtol=1e-6):
        raise ValueError("`matrix` must be reciprocal: a[j, i] = 1 / a[i, j]")
    if len(random_index) < n:
        raise ValueError(f"`random_index` has no entry for n = {n}")
    eigenvalues, eigenvectors = np.linalg.eig(a)
    k = int(np.argmax(eigenvalues.real))
    vector = np.abs(eigenvectors[:, k].real)
    weights = vector / vector.sum()
    lambda_max = float(eigenvalues[k].real)
    ci = (lambda_max - n) / (n - 1) if n > 1 else 0.0
    ri = float(random_index[n - 1])
    cr = ci / ri if ri > 0 else float("nan")
    return AhpResult(weights, lambda_max, ci, cr)


@dataclass(frozen=True)
class EntropyResult:
    """Entropy weight method: ``entropy`` e_j per indicator and ``weights`` (1 − e_j)/Σ(1 − e)."""

    entropy: NDArray[np.float64]
    weights: NDArray[np.float64]


def entropy_weights(data: ArrayLike) -> EntropyResult:
    """Entropy weights of indicators (columns) from alternatives (rows), raw shares.

    ``p_ij = x_ij / Σ_i x_ij``, ``e_j = −Σ_i p_ij ln p_ij / ln m``, ``w_j = (1 − e_j)/Σ(1 − e)``
    (Shannon entropy weighting, e.g. Zou, Yun & Sun 2006); 0·ln 0 = 0. No min–max step:
    normalise beforehand if wanted.

    Examples
    --------
    >>> entropy_weights([[1.0, 1.0], [1.0, 3.0]]).weights.round(4).tolist()
    [0.0, 1.0]
    """
    x = _matrix(data, "data")
    if x.shape[0] < 2:
        raise ValueError("`data` needs at least two rows (alternatives)")
    if not np.all(np.isfinite(x)) or (x < 0).any():
        raise ValueError("`data` must be finite and non-negative")
    column_sums = x.sum(axis=0)
    if (column_sums <= 0).any():
        raise ValueError("`data` has a column of zeros")
    p = x / column_sums
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(p), 0.0)
    entropy = -plogp.sum(axis=0) / np.log(x.shape[0])
    divergence = 1.0 - entropy
    if not divergence.sum() > 0:
        raise ValueError("`data` columns are all uniform: entropy weights are undefined")
    return EntropyResult(entropy, divergence / divergence.sum())


def cronbach_alpha(items: ArrayLike) -> float:
    """Cronbach's (1951) alpha ``k/(k−1)·(1 − Σ var(item)/var(total))``; rows with NaN dropped.

    Examples
    --------
    >>> round(cronbach_alpha([[1, 2, 2], [2, 3, 3], [3, 3, 4], [4, 5, 5]]), 4)
    0.9825
    """
    x = _matrix(items, "items")
    x = x[~np.isnan(x).any(axis=1)]
    if x.shape[1] < 2 or x.shape[0] < 2:
        raise ValueError("`items` needs at least two complete rows and two columns")
    k = x.shape[1]
    total_variance = x.sum(axis=1).var(ddof=1)
    if total_variance == 0:
        raise ValueError("`items` total score has zero variance")
    return float(k / (k - 1) * (1.0 - x.var(axis=0, ddof=1).sum() / total_variance))


@dataclass(frozen=True)
class ImportancePerformance:
    """Importance–performance analysis per dimension.

    ``importance``: relative weights (Johnson 2000), summing to ``r_squared``;
    ``coefficients``: standardised regression coefficients; ``performance``: weighted mean
    score; ``quadrant``: "concentrate here" (important, low), "keep up the good work"
    (important, high), "low priority" (unimportant, low), "possible overkill".
    """

    importance: NDArray[np.float64]
    coefficients: NDArray[np.float64]
    performance: NDArray[np.float64]
    r_squared: float
    quadrant: tuple[str, ...]


def importance_performance(
    dimensions: ArrayLike, overall: ArrayLike, *, weights: ArrayLike | None = None
) -> ImportancePerformance:
    """Derived importance by regressing overall satisfaction on dimension scores.

    Relative weights (Johnson 2000, Multivariate Behav. Res. 35:1): with the weighted
    correlation matrix R_xx = VΛVᵀ, Λ^{1/2} = R_xx^{1/2}, β* = (R_xx^{1/2})⁻¹ r_xy and
    ``importance_j = Σ_k (R_xx^{1/2})²_jk β*_k²``, which sums to R². Quadrant cut points are
    the means of importance and of performance across dimensions.

    Examples
    --------
    >>> x = [[60.0, 70], [70, 65], [80, 90], [90, 80], [75, 60]]
    >>> r = importance_performance(x, [62.0, 66, 86, 84, 66])
    >>> round(float(r.importance.sum()), 6) == round(r.r_squared, 6)
    True
    """
    x = _matrix(dimensions, "dimensions")
    y = as_float_vector(overall, "overall")
    if y.size != x.shape[0]:
        raise ValueError(f"`overall` has length {y.size}, expected {x.shape[0]}")
    if not np.all(np.isfinite(x)):
        raise ValueError("`dimensions` contains NaN or infinite values")
    w = np.ones(y.size) if weights is None else as_float_vector(weights, "weights")
    if w.size != y.size or (w < 0).any() or not (w > 0).any():
        raise ValueError("`weights` must be non-negative, not all zero, one per row")
    if x.shape[0] <= x.shape[1] + 1:
        raise ValueError("`dimensions` needs more rows than columns + 1")
    w = w / w.sum()
    xc = x - w @ x
    yc = y - w @ y
    sx = np.sqrt(w @ (xc * xc))
    sy = np.sqrt(w @ (yc * yc))
    if (sx == 0).any() or sy == 0:
        raise ValueError("`dimensions` or `overall` has a constant column")
    zx, zy = xc / sx, yc / sy
    rxx = (zx * w[:, None]).T @ zx
    rxy = (zx * w[:, None]).T @ zy
    return _relative_weights(rxx, rxy, w @ x)


def importance_performance_from_moments(
    sum_w: float, sum_wz: ArrayLike, sum_wzz: ArrayLike, n: int
) -> ImportancePerformance:
    """:func:`importance_performance` from weighted moments instead of rows, so the sums
    can be computed where the data is (one SQL aggregate) — the same relative weights.

    ``z`` is a respondent's vector (dimension scores …, overall): ``sum_w = Σ w``,
    ``sum_wz = Σ w z`` (length k + 1), ``sum_wzz = Σ w z zᵀ`` ((k + 1) × (k + 1)), ``n``
    the number of complete respondents. The weighted covariance is
    ``sum_wzz / sum_w − m mᵀ`` with ``m = sum_wz / sum_w``; everything after it is the row
    version's algebra.

    Examples
    --------
    >>> x = np.array([[60.0, 70], [70, 65], [80, 90], [90, 80], [75, 60]])
    >>> z = np.column_stack([x, [62.0, 66, 86, 84, 66]])
    >>> a = importance_performance(x, z[:, 2])
    >>> b = importance_performance_from_moments(5.0, z.sum(axis=0), z.T @ z, 5)
    >>> bool(np.allclose(a.importance, b.importance, rtol=1e-12))
    True
    """
    sz = np.asarray(sum_wz, dtype=np.float64)
    szz = np.asarray(sum_wzz, dtype=np.float64)
    k = sz.size - 1
    if k < 1 or szz.shape != (k + 1, k + 1):
        raise ValueError("`sum_wz` needs k + 1 entries and `sum_wzz` (k + 1) × (k + 1)")
    if not (sum_w > 0 and np.all(np.isfinite(sz)) and np.all(np.isfinite(szz))):
        raise ValueError("moments must be finite with a positive total weight")
    if n <= k + 1:
        raise ValueError("`dimensions` needs more rows than columns + 1")
    mean = sz / sum_w
    cov = szz / sum_w - np.outer(mean, mean)
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    if (sd <= 1e-12 * np.maximum(np.abs(mean), 1.0)).any():
        raise ValueError("`dimensions` or `overall` has a constant column")
    corr = cov / np.outer(sd, sd)
    return _relative_weights(corr[:k, :k], corr[:k, k], mean[:k])


def _relative_weights(rxx: NDArray[np.float64], rxy: NDArray[np.float64],
                      performance: NDArray[np.float64]) -> ImportancePerformance:
    """Johnson's relative weights and the quadrants from the correlation matrix of the
    dimensions (``rxx``), their correlations with overall (``rxy``) and their means."""
    values, vectors = np.linalg.eigh(rxx)
    if values.min() <= 1e-12:
        raise ValueError("`dimensions` are collinear")
    root = vectors @ np.diag(np.sqrt(values)) @ vectors.T
    beta_star = np.linalg.solve(root, rxy)
    importance = (root**2) @ (beta_star**2)
    coefficients = np.asarray(np.linalg.solve(rxx, rxy), dtype=np.float64)
    r_squared = float(rxy @ coefficients)
    high_importance = importance >= importance.mean()
    high_performance = performance >= performance.mean()
    labels = {
        (True, False): "concentrate here",
        (True, True): "keep up the good work",
        (False, False): "low priority",
        (False, True): "possible overkill",
    }
    quadrant = tuple(
        labels[(bool(i), bool(p))] for i, p in zip(high_importance, high_performance, strict=True)
    )
    return ImportancePerformance(importance, coefficients, performance, r_squared, quadrant)


def satisfaction_rate(
    answers: ArrayLike,
    *,
    scale_max: int,
    boxes: int = 2,
    weights: ArrayLike | None = None,
    strata: ArrayLike | None = None,
    clusters: ArrayLike | None = None,
    fpc: ArrayLike | None = None,
    by: ArrayLike | None = None,
    method: ProportionMethod = "logit",
    single_psu: SinglePsu = "error",
    confidence_level: float = 0.95,
) -> EstimateOrDomains:
    """满意率: weighted share answering in the top ``boxes`` boxes (``x > scale_max − boxes``).

    NaN answers (N/A) are outside the estimate (subpopulation), the design is kept.

    Examples
    --------
    >>> satisfaction_rate([5, 4, 3, 2, 5], scale_max=5).estimate
    0.6
    """
    check_confidence_level(confidence_level)
    x = as_float_vector(answers, "answers", allow_nan=True)
    if boxes < 1:
        raise ValueError("`boxes` must be at least 1")
    top = np.where(np.isnan(x), 0, (x > scale_max - boxes).astype(np.int8))
    return proportion(
        top,
        1,
        weights=weights,
        strata=strata,
        clusters=clusters,
        fpc=fpc,
        by=by,
        where=~np.isnan(x),
        method=method,
        single_psu=single_psu,
        confidence_level=confidence_level,
    )


def nps(
    answers: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    strata: ArrayLike | None = None,
    clusters: ArrayLike | None = None,
    fpc: ArrayLike | None = None,
    by: ArrayLike | None = None,
    single_psu: SinglePsu = "error",
    confidence_level: float = 0.95,
) -> EstimateOrDomains:
    """Net Promoter Score on a 0–10 item: % promoters (9–10) − % detractors (0–6), −100…100.

    Computed as the design-based mean of the score 100 (promoter), 0 (passive),
    −100 (detractor), so the standard error is the linearised SE of that mean.

    Examples
    --------
    >>> nps([10, 9, 8, 3, 10]).estimate
    40.0
    """
    x = as_float_vector(answers, "answers", allow_nan=True)
    valid = ~np.isnan(x)
    if ((x[valid] < 0) | (x[valid] > 10)).any():
        raise ValueError("`answers` must be on the 0–10 scale")
    score = np.where(x >= 9, 100.0, np.where(x <= 6, -100.0, 0.0))
    return mean(
        score,
        weights=weights,
        strata=strata,
        clusters=clusters,
        fpc=fpc,
        by=by,
        where=valid,
        single_psu=single_psu,
        confidence_level=confidence_level,
    )
