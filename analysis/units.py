"""Units (sites) as strata of respondents: each unit's mean, the overall mean and the contrast
unit − overall from seven per-unit sums, without the respondent rows.

Design: stratified element sample, stratum = unit, every respondent its own PSU, no fpc
(R ``svydesign(ids = ~1, strata = ~unit, weights = ~w)``). It is the design of a site league
table when a site is a single PSU of the survey design (its between-site variance cannot be
estimated from one PSU); the unit set is then treated as fixed (stratification).

For a linear score ``z_i = w_i (a y_i + b)`` the stratum-h part of the variance
(:func:`analysis.design.stratified_variance`) is, with ``S1 = a Σwy + b Σw`` and
``S2 = a² Σw²y² + 2ab Σw²y + b² Σw²``::

    v_h = n_h/(n_h − 1) · (S2 − S1²/n_h)

The unit mean R_j = Σwy_j/W_j has a = 1/W_j, b = −R_j/W_j inside unit j (0 elsewhere); the
overall mean R = Σwy/W has a = 1/W, b = −R/W in every unit; the contrast R_j − R has the
difference of the two inside unit j and the overall's score (negated) elsewhere, so
``v(R_j − R) = V(R) − v_j(R) + v_j(R_j − R)``: Woodruff (1971) linearisation, the same
estimator as R ``svycontrast(svyby(~y, ~unit, design, svymean, covmat = TRUE), …)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analysis._validation import (
    as_float_vector,
    as_label_vector,
    check_confidence_level,
    factorize,
    plain,
)
from analysis.design import SINGLE_PSU_CHOICES, SinglePsu
from analysis.estimators import t_interval, t_test
from analysis.results import Difference, Estimate


def _vector(values: ArrayLike, name: str, size: int) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (size,):
        raise ValueError(f"`{name}` must have one value per unit ({size}), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` contains NaN or infinite values")
    return array


@dataclass(frozen=True)
class UnitMoments:
    """Per-unit sums: ``n`` (respondents with positive weight), ``sum_w`` Σw, ``sum_wy`` Σwy,
    ``sum_wyy`` Σwy², ``sum_ww`` Σw², ``sum_wwy`` Σw²y, ``sum_wwyy`` Σw²y² — one SQL
    ``GROUP BY unit`` gives them.

    Examples
    --------
    >>> m = UnitMoments.from_rows([1.0, 3, 2, 6], weights=[1.0, 1, 2, 2],
    ...                           units=["a", "a", "b", "b"])
    >>> m.labels.tolist(), m.sum_wy.tolist()
    (['a', 'b'], [4.0, 16.0])
    """

    labels: NDArray[np.generic]
    n: NDArray[np.float64]
    sum_w: NDArray[np.float64]
    sum_wy: NDArray[np.float64]
    sum_wyy: NDArray[np.float64]
    sum_ww: NDArray[np.float64]
    sum_wwy: NDArray[np.float64]
    sum_wwyy: NDArray[np.float64]

    def __post_init__(self) -> None:
        labels = as_label_vector(self.labels, "labels")
        size = labels.size
        if size == 0:
            raise ValueError("`labels` must not be empty (no units)")
        if np.unique(labels).size != size:
            raise ValueError("`labels` must be unique (one row per unit)")
        object.__setattr__(self, "labels", labels)
        for name in ("n", "sum_w", "sum_wy", "sum_wyy", "sum_ww", "sum_wwy", "sum_wwyy"):
            object.__setattr__(self, name, _vector(getattr(self, name), name, size))
        if (self.n < 1).any() or (self.sum_w <= 0).any():
            bad = plain(labels[np.flatnonzero((self.n < 1) | (self.sum_w <= 0))[0]])
            raise ValueError(f"unit {bad!r} has no respondent with a positive weight")

    @classmethod
    def from_rows(cls, y: ArrayLike, *, weights: ArrayLike, units: ArrayLike) -> UnitMoments:
        """The sums from respondent rows (rows with weight 0 are left out)."""
        values = as_float_vector(y, "y")
        w = as_float_vector(weights, "weights")
        labels = as_label_vector(units, "units")
        if not values.size == w.size == labels.size:
            raise ValueError("`y`, `weights` and `units` must have the same length")
        keep = w > 0
        names, code = factorize(labels[keep])
        values, w = values[keep], w[keep]

        def sums(v: NDArray[np.float64] | None) -> NDArray[np.float64]:
            return np.bincount(code, weights=v, minlength=names.size).astype(np.float64)

        return cls(names, sums(None), sums(w), sums(w * values), sums(w * values * values),
                   sums(w * w), sums(w * w * values), sums(w * w * values * values))


def _stratum_variance(m: UnitMoments, a: NDArray[np.float64], b: NDArray[np.float64],
                      single_psu: SinglePsu) -> NDArray[np.float64]:
    """v_h of the score w(a y + b) in each unit (stratum) h."""
    s1 = a * m.sum_wy + b * m.sum_w
    s2 = a * a * m.sum_wwyy + 2 * a * b * m.sum_wwy + b * b * m.sum_ww
    n = m.n
    # Σz² − (Σz)²/n from raw sums: below this size the difference is rounding, not spread
    # (a unit whose answers are all equal must get SE 0, not √rounding ≈ 1e-6).
    noise = 1e-12 * (a * a * m.sum_wwyy + np.abs(2 * a * b * m.sum_wwy) + b * b * m.sum_ww)
    with np.errstate(divide="ignore", invalid="ignore"):
        centred = s2 - s1 * s1 / n
        centred = np.where(centred > noise, centred, 0.0)
        several = n / (n - 1) * centred
        s2 = np.where(s2 > noise, s2, 0.0)
    lonely = n == 1
    if lonely.any():
        if single_psu == "error":
            label = plain(m.labels[np.flatnonzero(lonely)[0]])
            raise ValueError(
                f"stratum {label!r} has a single PSU; pass `single_psu`='certainty' or 'center'"
            )
        # "center": (z − z̄)² with z̄ the mean PSU score over the design, 0 for a mean's score
        single = s2 if single_psu in ("center", "adjust", "collapse") else np.zeros_like(s2)
        several = np.where(lonely, single, several)
    return several


@dataclass(frozen=True)
class UnitComparison:
    """Each unit's mean, the overall mean and each unit − overall contrast."""

    units: dict[object, Estimate]
    overall: Estimate
    versus_overall: dict[object, Difference]


def units_versus_overall(
    moments: UnitMoments, *, single_psu: SinglePsu = "error", confidence_level: float = 0.95
) -> UnitComparison:
    """Unit means (df = n_j − 1), the overall mean (df = n − #units) and the contrasts
    unit − overall (df = n − #units), as described in the module docstring. "collapse" is
    treated as "center" (a single-respondent unit has df 0 and no interval either way).

    Examples
    --------
    >>> m = UnitMoments.from_rows([60.0, 70, 80, 90, 50, 55], weights=[1.0] * 6,
    ...                           units=["a", "a", "b", "b", "c", "c"])
    >>> c = units_versus_overall(m)
    >>> round(c.overall.estimate, 4), round(c.versus_overall["b"].estimate, 4)
    (67.5, 17.5)
    """
    level = check_confidence_level(confidence_level)
    if single_psu not in SINGLE_PSU_CHOICES:
        raise ValueError(f"`single_psu` must be one of {SINGLE_PSU_CHOICES}, got {single_psu!r}")
    m = moments
    weight = float(m.sum_w.sum())
    ratio = float(m.sum_wy.sum()) / weight
    unit_ratio = m.sum_wy / m.sum_w
    zeros = np.zeros_like(m.sum_w)
    overall_parts = _stratum_variance(m, zeros + 1 / weight, zeros - ratio / weight, single_psu)
    overall_var = float(overall_parts.sum())
    unit_var = _stratum_variance(m, 1 / m.sum_w, -unit_ratio / m.sum_w, single_psu)
    diff_var = _stratum_variance(m, 1 / m.sum_w - 1 / weight,
                                 -unit_ratio / m.sum_w + ratio / weight, single_psu)
    contrast_var = overall_var - overall_parts + diff_var
    n_total = int(round(float(m.n.sum())))
    design_df = n_total - m.labels.size
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = m.sum_wyy / m.sum_w - unit_ratio**2
        srs = np.maximum(spread, 0.0) / (m.n - 1)  # unit variance n/(n−1) · spread, over n

    def estimate(point: float, variance: float, df: int, n: int, srs_var: float) -> Estimate:
        se = math.sqrt(max(variance, 0.0))
        low, high, note = t_interval(point, se, df, level)
        deff = variance / srs_var if srs_var > 0 and math.isfinite(srs_var) else math.nan
        return Estimate(point, se, low, high, level, df, n, n / deff if deff > 0 else math.nan,
                        deff, note)

    units: dict[object, Estimate] = {}
    versus: dict[object, Difference] = {}
    for j, label in enumerate(m.labels):
        key = plain(label)
        count = int(round(float(m.n[j])))
        units[key] = estimate(float(unit_ratio[j]), float(unit_var[j]), count - 1, count,
                              float(srs[j]))
        diff = float(unit_ratio[j]) - ratio
        se = math.sqrt(max(float(contrast_var[j]), 0.0))
        low, high, statistic, p_value, note = t_test(diff, se, design_df, level)
        versus[key] = Difference(diff, se, low, high, level, float(design_df), statistic,
                                 p_value, note)
    overall_srs = math.nan
    if n_total > 1:
        spread_all = float(m.sum_wyy.sum()) / weight - ratio**2
        overall_srs = max(spread_all, 0.0) / (n_total - 1)
    overall = estimate(ratio, overall_var, design_df, n_total, overall_srs)
    return UnitComparison(units, overall, versus)
