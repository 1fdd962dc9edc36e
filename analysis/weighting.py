"""Weight adjustment: raking, bounded raking, post-stratification, trimming, Kish effective n.

Raking (iterative proportional fitting; Deming & Stephan 1940; R ``survey::rake`` and
``calibrate(calfun="raking")``) and bounded raking (Deville & Särndal 1992 logit method; R
``calibrate(calfun="logit", bounds=)``) work on the table of weight totals per observed
combination of categories (``numpy.bincount``), so 1 000 000 rows cost a handful of vector
operations; every respondent in a cell gets the same factor.

``rake`` and ``poststratify`` also return a :class:`~analysis.calibration.Calibration`,
whose ``residuals`` turn row-level influence values into the calibration residuals R's
``svyrecvar`` uses, so standard errors can include the calibration variance reduction
(see :mod:`analysis.calibration`). Estimates computed from the weights alone, without it,
treat the adjusted weights as fixed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from analysis._validation import as_label_vector, check_weights, factorize, plain
from analysis.calibration import Calibration, CalibrationMethod


@dataclass(frozen=True)
class RakeResult:
    """Raked weights and convergence diagnostics.

    ``max_margin_error`` is the largest absolute difference between a weighted margin and
    its target after the last iteration. ``calibration`` residualises influence values for
    the calibration variance (:meth:`~analysis.calibration.Calibration.residuals`).
    """

    weights: NDArray[np.float64]
    converged: bool
    iterations: int
    max_margin_error: float
    calibration: Calibration = field(repr=False)


@dataclass(frozen=True)
class PoststratifyResult:
    """Post-stratified weights and their :class:`~analysis.calibration.Calibration`."""

    weights: NDArray[np.float64]
    calibration: Calibration = field(repr=False)


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


def _logit_parts(
    bounds: tuple[float, float],
) -> tuple[float, float, float, float]:
    low, high = bounds
    slope = (high - low) / ((high - 1.0) * (1.0 - low))
    shift = float(np.log((1.0 - low) / (high - 1.0)))
    return low, high, slope, shift


def _logit_g(u: NDArray[np.float64], bounds: tuple[float, float]) -> NDArray[np.float64]:
    """Deville–Särndal logit calibration function F(u) = L + (U − L)·expit(A u + c), with
    A = (U − L)/((U − 1)(1 − L)) and c = log((1 − L)/(U − 1)), so F(0) = 1 (R ``cal.logit``:
    ``1 + Fm1(u)``)."""
    low, high, slope, shift = _logit_parts(bounds)
    return low + (high - low) * special.expit(slope * u + shift)


def _check_bounds(bounds: tuple[float, float]) -> tuple[float, float]:
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError("`bounds` must be a pair (lower, upper) of numbers") from None
    if not (np.isfinite(low) and np.isfinite(high) and 0.0 <= low < 1.0 < high):
        raise ValueError(
            f"`bounds` must satisfy 0 ≤ lower < 1 < upper (finite), got ({low:g}, {high:g})"
        )
    return low, high


def _level_name(levels: NDArray[np.generic], j: int) -> object:
    return plain(levels[j])


def rake(
    categories: Mapping[str, ArrayLike] | Sequence[ArrayLike],
    margins: Mapping[str, Mapping[object, float]] | Sequence[Mapping[object, float]],
    *,
    weights: ArrayLike | None = None,
    bounds: tuple[float, float] | None = None,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> RakeResult:
    """Rake weights so weighted counts match population margins, optionally keeping the
    calibration factors ``g = w/w0`` within ``bounds``.

    Without ``bounds``: iterative proportional fitting (Deming & Stephan 1940), the same
    weights as R ``calibrate(design, ~a + b, population, calfun = "raking")`` (and
    ``rake()``): ``g_c = exp(m_cᵀη)`` per cell c of the calibration variables.
    With ``bounds = (L, U)``: the logit method of Deville & Särndal (1992, JASA 87:376,
    §4 "case 6"; R ``calfun = "logit", bounds = c(L, U)``),
    ``g_c = L + (U − L) expit(A m_cᵀη + c)`` with ``A = (U − L)/((U − 1)(1 − L))``,
    ``c = log((1 − L)/(U − 1))``; η solves the calibration equations by damped Newton on
    the cell table, so every margin is met and L < g < U. Bounds that no weights can meet,
    or no convergence within ``max_iter`` Newton steps, raise ``ValueError`` naming the
    margin. (R rescales the design weights by the mean of population/sample totals before
    applying the bounds when every ratio exceeds 20; here the bounds always apply to
    ``w/w0`` — scale ``weights`` to the population total first for R's meaning.)

    Parameters
    ----------
    categories : one label array per raking variable (dict name → labels, or a list).
    margins : per variable, ``{level: population total}``; every variable must have the
        same grand total (relative tolerance 1e-6), every level must occur in the sample.
    weights : starting (design) weights w0, default 1.
    bounds : optional ``(L, U)`` with ``0 ≤ L < 1 < U`` for ``g = w/w0``.
    max_iter : maximum number of full IPF cycles (Newton steps with ``bounds``).
    tol : convergence when every margin is within ``tol`` × its total.

    Returns
    -------
    RakeResult with ``converged`` False (not an exception) if IPF reached ``max_iter``;
    ``calibration`` gives the residuals for the calibration variance.

    Examples
    --------
    >>> r = rake({"sex": ["f", "f", "m", "m"], "age": ["y", "o", "y", "o"]},
    ...          {"sex": {"f": 60, "m": 40}, "age": {"y": 50, "o": 50}})
    >>> r.weights.round(2).tolist(), r.converged
    ([30.0, 30.0, 20.0, 20.0], True)
    >>> b = rake({"sex": ["f", "f", "m", "m", "m"]}, {"sex": {"f": 3.0, "m": 2.0}},
    ...          weights=[1.0, 1.0, 1.0, 1.0, 1.0], bounds=(0.5, 1.6))
    >>> b.weights.round(4).tolist()
    [1.5, 1.5, 0.6667, 0.6667, 0.6667]
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
    checked_bounds = None if bounds is None else _check_bounds(bounds)
    size = len(np.asarray(label_arrays[0]))
    w = check_weights(weights, size)

    cell = np.zeros(size, dtype=np.int64)
    shape: list[int] = []
    targets: list[NDArray[np.float64]] = []
    level_labels: list[NDArray[np.generic]] = []
    for name, labels, margin in zip(names, label_arrays, margin_list, strict=True):
        array = as_label_vector(labels, f"categories[{name!r}]")
        if array.size != size:
            raise ValueError(f"`categories[{name!r}]` has length {array.size}, expected {size}")
        codes, target = _codes_for_margin(array, margin, name)
        level_labels.append(factorize(array)[0])
        cell = cell * target.size + codes
        shape.append(target.size)
        targets.append(target)
    grand = [t.sum() for t in targets]
    if max(grand) - min(grand) > 1e-6 * max(grand):
        raise ValueError(f"`margins` are impossible: their grand totals differ ({grand})")

    # The table of observed cells: cell c has level codes[k][c] of margin k.
    cell_keys, row_cell = factorize(cell)
    level_codes = [np.asarray(c, dtype=np.intp) for c in np.unravel_index(cell_keys, shape)]
    start = np.bincount(row_cell, weights=w, minlength=cell_keys.size).astype(np.float64)
    for k, name in enumerate(names):
        empty = np.flatnonzero(np.bincount(level_codes[k], weights=start,
                                           minlength=shape[k]) <= 0)
        if empty.size:
            raise ValueError(
                f"`weights` are zero for every respondent of level "
                f"{_level_name(level_labels[k], int(empty[0]))!r} of {name!r}"
            )
    model = np.concatenate(
        [np.ones((cell_keys.size, 1))]
        + [(level_codes[k][:, None] == np.arange(1, shape[k])[None, :]).astype(np.float64)
           for k in range(len(shape))],
        axis=1,
    )

    def margin_errors(table: NDArray[np.float64]) -> list[NDArray[np.float64]]:
        return [np.bincount(level_codes[k], weights=table, minlength=shape[k]) - targets[k]
                for k in range(len(shape))]

    if checked_bounds is None:
        table = start.copy()
        error = np.inf
        iterations = 0
        for iterations in range(1, max_iter + 1):  # noqa: B007
            for k in range(len(shape)):
                current = np.bincount(level_codes[k], weights=table, minlength=shape[k])
                table *= (targets[k] / current)[level_codes[k]]
            error = max(float(np.abs(e).max()) for e in margin_errors(table))
            if error <= tol * grand[0]:
                break
        converged = bool(error <= tol * grand[0])
        with np.errstate(invalid="ignore", divide="ignore"):
            g = np.where(start > 0, table / start, 0.0)
        method: CalibrationMethod = "raking"
    else:
        population = np.concatenate([[grand[0]]] + [t[1:] for t in targets])
        g, iterations = _logit_newton(model, start, population, checked_bounds, max_iter,
                                      tol * grand[0], names, level_labels, level_codes,
                                      targets)
        error = max(float(np.abs(e).max()) for e in margin_errors(start * g))
        converged = True
        method = "logit"
    calibration = Calibration(method, row_cell, model, g, w, w * g[row_cell])
    return RakeResult(calibration.weights.copy(), converged, iterations, error, calibration)


def _logit_newton(
    model: NDArray[np.float64],
    start: NDArray[np.float64],
    population: NDArray[np.float64],
    bounds: tuple[float, float],
    max_iter: int,
    tolerance: float,
    names: list[str],
    level_labels: list[NDArray[np.generic]],
    level_codes: list[NDArray[np.intp]],
    targets: list[NDArray[np.float64]],
) -> tuple[NDArray[np.float64], int]:
    """Solve Σ_c W0_c F(m_cᵀη) m_c = T (the calibration equations) for η by Newton's method
    with backtracking on the convex dual D(η) = Σ_c W0_c Φ(m_cᵀη) − ηᵀT, Φ' = F."""
    low, high, slope, shift = _logit_parts(bounds)
    # A margin level alone must be reachable: L·W0 ≤ N ≤ U·W0 for its design total W0.
    for k, name in enumerate(names):
        design_level = np.bincount(level_codes[k], weights=start, minlength=targets[k].size)
        ratio = targets[k] / design_level
        bad = np.flatnonzero((ratio < low) | (ratio > high))
        if bad.size:
            j = int(bad[np.argmax(np.abs(np.log(ratio[bad])))])
            raise ValueError(
                f"`bounds` ({low:g}, {high:g}) are infeasible: margin {name!r} level "
                f"{_level_name(level_labels[k], j)!r} needs w/w0 = {ratio[j]:.4g} on average"
            )

    def dual(eta: NDArray[np.float64]) -> float:
        u = model @ eta
        phi = low * u + (high - low) / slope * np.logaddexp(0.0, slope * u + shift)
        return float(start @ phi - eta @ population)

    eta = np.zeros(model.shape[1])
    value = dual(eta)
    misfit = population - model.T @ start
    for iteration in range(1, max_iter + 1):
        u = model @ eta
        s = special.expit(slope * u + shift)
        derivative = (high - low) * slope * s * (1.0 - s)
        hessian = (model * (start * derivative)[:, None]).T @ model
        step = np.linalg.lstsq(hessian, misfit, rcond=None)[0]
        slope_along = -float(misfit @ step)
        t = 1.0
        for _ in range(60):
            candidate = eta + t * step
            new_value = dual(candidate)
            if np.isfinite(new_value) and new_value <= value + 1e-4 * t * slope_along:
                break
            t *= 0.5
        eta, value = candidate, new_value
        g = _logit_g(model @ eta, bounds)
        misfit = population - model.T @ (start * g)
        if float(np.abs(misfit).max()) <= tolerance:
            return g, iteration
    g = _logit_g(model @ eta, bounds)
    worst = max(
        ((float(abs(e).max() / targets[k][int(np.argmax(abs(e)))]), k, int(np.argmax(abs(e))))
         for k, e in enumerate(
             np.bincount(level_codes[k], weights=start * g, minlength=targets[k].size)
             - targets[k] for k in range(len(names)))),
    )
    where = f"margin {names[worst[1]]!r} level {_level_name(level_labels[worst[1]], worst[2])!r}"
    from scipy import optimize  # only on this failure path: it takes 0.4 s to import

    feasible = optimize.linprog(
        np.zeros(model.shape[0]), A_eq=(model * start[:, None]).T / population[0],
        b_eq=population / population[0], bounds=[(low, high)] * model.shape[0],
        method="highs",
    )
    if feasible.status == 2:
        raise ValueError(
            f"`bounds` ({low:g}, {high:g}) are infeasible: no weights with w/w0 in the bounds "
            f"meet all margins ({', '.join(map(repr, names))}); furthest off: {where}"
        )
    raise ValueError(
        f"bounded raking did not converge in {max_iter} Newton steps (bounds "
        f"({low:g}, {high:g})); furthest off: {where}, {worst[0]:.2g} relative; widen the "
        "bounds or raise `max_iter`"
    )


def poststratify(
    groups: ArrayLike, population: Mapping[object, float], *, weights: ArrayLike | None = None
) -> PoststratifyResult:
    """Post-stratified weights: within each group, weights scaled to the population count.

    ``w*_i = w_i · N_g / Σ_{j∈g} w_j`` (Holt & Smith 1979; R ``survey::postStratify``).
    ``calibration`` residualises influence values as R ``svyrecvar`` does for
    ``postStratify`` designs: ``x_i − w*_i Σ_{j∈g} x_j / Σ_{j∈g} w*_j``.

    Examples
    --------
    >>> ps = poststratify(["a", "a", "b"], {"a": 10, "b": 30}, weights=[1.0, 3.0, 2.0])
    >>> ps.weights.tolist()
    [2.5, 7.5, 30.0]
    """
    labels = as_label_vector(groups, "groups")
    w = check_weights(weights, labels.size)
    codes, targets = _codes_for_margin(labels, population, "population")
    current = np.bincount(codes, weights=w, minlength=targets.size)
    if (current <= 0).any():
        raise ValueError("`weights` are zero for every respondent of a population group")
    g = targets / current
    calibration = Calibration("poststratify", codes, np.eye(targets.size), g, w, w * g[codes])
    return PoststratifyResult(calibration.weights.copy(), calibration)


def trim_weights(
    weights: ArrayLike,
    *,
    lower: float | None = None,
    upper: float | None = None,
    max_iter: int = 200,
) -> NDArray[np.float64]:
    """Trim weights into [lower, upper], keeping their total: ``clip(c·w, lower, upper)``
    with the one factor ``c`` that restores Σw (found by bisection; Σ clip(c·w) grows
    monotonically with c; Potter 1990, "A study of procedures to identify and trim extreme
    sampling weights"). Weights outside the bounds are set to them and the difference is
    spread over the others *in proportion to their weights*. R
    ``survey::trimWeights(strict=TRUE)`` instead shares it *equally* among the untrimmed
    weights (and repeats), so the two differ. Trimming raked weights breaks their margins:
    use ``rake(..., bounds=)`` for that.

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
