"""Frozen result objects returned by the estimators (read-only, like ``scipy.stats`` results)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Estimate:
    """A design-based point estimate with its precision.

    Attributes
    ----------
    estimate : the point estimate (mean, proportion, total or ratio).
    standard_error : Taylor-linearised standard error (square root of the variance).
    ci_low, ci_high : confidence interval at ``confidence_level``.
    confidence_level : e.g. 0.95.
    df : design degrees of freedom, #PSU − #strata (n − 1 without clusters or strata).
    n : number of respondents (rows with a positive weight) in the (domain) estimate.
    n_effective : ``n / design_effect``.
    design_effect : variance under the design / variance under simple random sampling with
        replacement of the same ``n`` (R ``svymean(..., deff = "replace")``); NaN if undefined.
    """

    estimate: float
    standard_error: float
    ci_low: float
    ci_high: float
    confidence_level: float
    df: int
    n: int
    n_effective: float
    design_effect: float

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a plain ``dict`` (for JSON)."""
        return asdict(self)


@dataclass(frozen=True)
class Difference:
    """Difference ``a − b`` of two estimates from independent samples.

    ``standard_error = sqrt(se_a² + se_b²)``; ``df`` by Welch–Satterthwaite;
    ``statistic = estimate / standard_error``; two-sided ``p_value`` from Student's t.
    """

    estimate: float
    standard_error: float
    ci_low: float
    ci_high: float
    confidence_level: float
    df: float
    statistic: float
    p_value: float

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a plain ``dict`` (for JSON)."""
        return asdict(self)
