"""Weight adjustment: raking, post-stratification, trimming, Kish effective sample size.

Raking (iterative proportional fitting; Deming & Stephan 1940; R ``survey::rake``) works on
the table of weight totals per combination of categories (``numpy.bincount``), so 1 000 000
rows cost a handful of vector operations; every respondent in a cell gets the same factor.

Standard errors of estimates computed with adjusted weights treat the weights as fixed
(they do not include the calibration variance reduction that R's ``postStratify``/``rake``
designs report).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analysis._validation import as_label_vector, check_weights, factorize


@dataclass(frozen=True)
class RakeResult:
    """Raked weights and convergence diagnostics.

    ``max_margin_error`` is the largest absolute difference between a weighted margin and
    its target after the last iteration.
    """

    weights: NDArray[np.float64]
    converged: bool
    iterations: int
    max_margin_error: float


def kish_effective_n(weights: ArrayLike) -> float:
    """Kish (1965) effective sample size ``(Σw)² / Σw²``.

    Examples
    --------
    >>> kish_effective_n([1.0, 1.0, 2.0, 4.0])
    2.909090909090909
    """
    w = check_weights(weights, np.asarray(weights).size)
    return float(w.sum() ** 2 / np.dot(w, w))


def _codes_for_margin(
    labels: NDArray[np.generic], margin: Mapping[object, float], name: str
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    levels, codes = factorize(labels)
    level_list = [level.item() if hasattr(level, "item") else level for level in levels]
    unknown = [level for level in level_list if level not in margin]
    if unknown:
        raise ValueError(f"`margins[{name!r}]` has no population total for level {unknown[0]!r}")
    empty = [level for level in margin if level not in set(level_list)]
    if empty:
        raise ValueError(
            f"`margins[{name!r}]` level {empty[0]!r} has no respondents (empty cell): "
            "collapse it with a neighbouring level"
        )
    targets = np.array([float(margin[level]) for level in level_list])
    if not np.all(np.isfinite(targets)) or (targets <= 0).any():
        raise ValueError(f"`margins[{name!r}]` totals must be positive and finite")
    return codes, targets


def rake(
    categories: Mapping[str, ArrayLike] | Sequence[ArrayLike],
    margins: Mapping[str, Mapping[object, float]] | Sequence[Mapping[object, float]],
    *,
    weights: ArrayLike | None = None,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> RakeResult:
    """Rake weights so weighted counts match population margins.

    Parameters
    ----------
    categories : one label array per raking variable (dict name → labels, or a list).
    margins : per variable, ``{level: population total}``; every variable must have the
        same grand total (relative tolerance 1e-6), every level must occur in the sample.
    weights : starting (design) weights, default 1.
    max_iter : maximum number of full IPF cycles. tol : convergence when every margin is
        within ``tol`` × its total.

    Returns
    -------
    RakeResult with ``converged`` False (not an exception) if ``max_iter`` was reached.

    Examples
    --------
    >>> r = rake({"sex": ["f", "f", "m", "m"], "age": ["y", "o", "y", "o"]},
    ...          {"sex": {"f": 60, "m": 40}, "age": {"y": 50, "o": 50}})
    >>> r.weights.round(2).tolist(), r.converged
    ([30.0, 30.0, 20.0, 20.0], True)
    """
    if isinstance(categories, Mapping):
        if not isinstance(margins, Mapping) or set(categories) != set(margins):
            raise ValueError("`margins` must have the same keys as `categories`")
        names = list(categories)
        label_arrays = [categories[name] for name in names]
        margin_list = [margins[name] for name in names]
    else:
        names = [str(i) for i in range(len(categories))]
        label_arrays = list(categories)
        if isinstance(margins, Mapping) or len(margins) != len(label_arrays):
            raise ValueError("`margins` must be a list with one mapping per categories array")
        margin_list = list(margins)
    if not label_arrays:
        raise ValueError("`categories` must not be empty")
    if max_iter < 1:
        raise ValueError("`max_iter` must be at least 1")
    if not tol > 0:
        raise ValueError("`tol` must be positive")
    size = len(np.asarray(label_arrays[0]))
    w = check_weights(weights, size)

    cell = np.zeros(size, dtype=np.int64)
    shape: list[int] = []
    targets: list[NDArray[np.float64]] = []
    for name, labels, margin in zip(names, label_arrays, margin_list, strict=True):
        array = as_label_vector(labels, f"categories[{name!r}]")
        if array.size != size:
            raise ValueError(f"`categories[{name!r}]` has length {array.size}, expected {size}")
        codes, target = _codes_for_margin(array, margin, name)
        cell = cell * target.size + codes
        shape.append(target.size)
        targets.append(target)
    grand = [t.sum() for t in targets]
    if max(grand) - min(grand) > 1e-6 * max(grand):
        raise ValueError(f"`margins` are impossible: their grand totals differ ({grand})")

    start = np.bincount(cell, weights=w, minlength=int(np.prod(shape))).reshape(shape)
    table = start.copy()
    axes = range(len(shape))
    error = np.inf
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007
        for axis, target in zip(axes, targets, strict=True):
            other = tuple(a for a in axes if a != axis)
            current = table.sum(axis=other)
            if (current <= 0).any():
                raise ValueError(
                    f"`weights` are zero for every respondent of a level of {names[axis]!r}"
                )
            factor = target / current
            table *= factor.reshape([-1 if a == axis else 1 for a in axes])
        error = max(
            float(np.abs(table.sum(axis=tuple(a for a in axes if a != axis)) - target).max())
            for axis, target in zip(axes, targets, strict=True)
        )
        if error <= tol * grand[0]:
            break
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(start > 0, table / start, 0.0).ravel()
    return RakeResult(w * ratio[cell], bool(error <= tol * grand[0]), iterations, error)


def poststratify(
    groups: ArrayLike, population: Mapping[object, float], *, weights: ArrayLike | None = None
) -> NDArray[np.float64]:
    """Post-stratified weights: within each group, weights scaled to the population count.

    ``w*_i = w_i · N_g / Σ_{j∈g} w_j`` (Holt & Smith 1979; R ``survey::postStratify``).

    Examples
    --------
    >>> poststratify(["a", "a", "b"], {"a": 10, "b": 30}, weights=[1.0, 3.0, 2.0]).tolist()
    [2.5, 7.5, 30.0]
    """
    labels = as_label_vector(groups, "groups")
    w = check_weights(weights, labels.size)
    codes, targets = _codes_for_margin(labels, population, "population")
    current = np.bincount(codes, weights=w, minlength=targets.size)
    if (current <= 0).any():
        raise ValueError("`weights` are zero for every respondent of a population group")
    return w * (targets / current)[codes]


def trim_weights(
    weights: ArrayLike,
    *,
    lower: float | None = None,
    upper: float | None = None,
    max_iter: int = 200,
) -> NDArray[np.float64]:
    """Trim weights into [lower, upper], keeping their total: ``clip(c·w, lower, upper)``
    with the one factor ``c`` that restores Σw (found by bisection; Σ clip(c·w) grows
    monotonically with c). Weights outside the bounds are set to them and the difference
    is spread over the others in proportion to their weights — the fixed point of R
    ``survey::trimWeights(strict=TRUE)``'s cap-and-redistribute, reached without
    freezing a weight at one bound when the other bound's redistribution needs it back.

    Examples
    --------
    >>> trim_weights([1.0, 1.0, 1.0, 9.0], upper=4.0).round(4).tolist()
    [2.6667, 2.6667, 2.6667, 4.0]
    """
    w = check_weights(weights, np.asarray(weights).size)
    low = 0.0 if lower is None else float(lower)
    high = np.inf if upper is None else float(upper)
    if low < 0 or not low < high:
        raise ValueError("`lower` and `upper` must satisfy 0 ≤ lower < upper")
    total = w.sum()
    if not low * w.size <= total <= high * w.size:
        raise ValueError("`lower`/`upper` cannot hold the weight total: bounds are impossible")
    if max_iter < 1:
        raise ValueError("`max_iter` must be at least 1")

    def clipped_total(c: float) -> float:
        return float(np.clip(c * w, low, high).sum())

    c_low, c_high = 0.0, 1.0
    while clipped_total(c_high) < total:  # grow until the total is bracketed
        c_high *= 2.0
        if c_high > 1e300:
            raise ValueError("`lower`/`upper` cannot hold the weight total")
    for _ in range(max_iter):
        c = 0.5 * (c_low + c_high)
        if clipped_total(c) < total:
            c_low = c
        else:
            c_high = c
        if c_high - c_low <= 1e-15 * c_high:
            break
    result = np.clip(c_high * w, low, high)
    free = (result > low) & (result < high) & (w > 0)
    if free.any():  # absorb the bisection's last rounding in the weights between the bounds
        result[free] *= (total - result[~free].sum()) / result[free].sum()
    return result
