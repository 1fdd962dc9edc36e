"""Frozen result objects returned by the estimators (read-only, like ``scipy.stats`` results)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

NO_DF = "no degrees of freedom: the estimate rests on one PSU per stratum"
ZERO_SE = "standard error is 0: no variation between PSUs to measure uncertainty"


@dataclass(frozen=True)
class Estimate:
    """A design-based point estimate with its precision.

    Attributes
    ----------
    estimate : the point estimate (mean, proportion, total or ratio).
    standard_error : Taylor-linearised standard error (square root of the variance).
    ci_low, ci_high : confidence interval at ``confidence_level``.
    confidence_level : e.g. 0.95.
    df : degrees of freedom of the interval: by default the domain's, #PSU containing the
        domain − #strata containing it (R ``degf(subset(design, …))``); with ``df="design"``
        the whole design's #PSU − #strata (n − 1 without clusters or strata).
    n : number of respondents (rows with a positive weight) in the (domain) estimate.
    n_effective : ``n / design_effect``.
    design_effect : variance under the design / variance under simple random sampling with
        replacement of the same ``n`` (R ``svymean(..., deff = "replace")``); NaN if undefined.
    note : why there is no interval (``ci_low``/``ci_high`` NaN), e.g. :data:`NO_DF`;
        ``None`` when the interval exists. An interval is never of zero width.
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
    note: str | None = None

    @property
    def has_interval(self) -> bool:
        """True when both interval limits are finite (and so of positive width)."""
        return math.isfinite(self.ci_low) and math.isfinite(self.ci_high)

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a plain ``dict`` (for JSON)."""
        return asdict(self)


@dataclass(frozen=True)
class Difference:
    """A difference or linear contrast of estimates with its standard error and t test.

    From :func:`analysis.difference` (independent samples: ``sqrt(se_a² + se_b²)``,
    Welch–Satterthwaite ``df``) or :func:`analysis.contrast` (domains of one sample: the
    linearised covariance, ``df`` of the PSUs involved). ``statistic = estimate /
    standard_error``; two-sided ``p_value`` from Student's t. ``note`` says why the interval
    and test are NaN (no degrees of freedom, standard error 0).
    """

    estimate: float
    standard_error: float
    ci_low: float
    ci_high: float
    confidence_level: float
    df: float
    statistic: float
    p_value: float
    note: str | None = None

    @property
    def has_interval(self) -> bool:
        """True when both interval limits are finite."""
        return math.isfinite(self.ci_low) and math.isfinite(self.ci_high)

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a plain ``dict`` (for JSON)."""
        return asdict(self)
