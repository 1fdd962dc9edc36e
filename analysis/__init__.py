"""manyi statistics: design-based estimates, weights and satisfaction indices (numpy/scipy only).

Example
-------
>>> import analysis
>>> e = analysis.mean([70.0, 80, 90, 60], weights=[1.0, 2, 1, 1])
>>> round(e.estimate, 1)
76.0
"""

from analysis.bootstrap import BootstrapResult, bootstrap
from analysis.design import PsuTotals, psu_totals, stratified_variance
from analysis.estimators import (
    difference,
    mean,
    mean_from_psu_totals,
    proportion,
    proportion_from_psu_totals,
    ratio,
    total,
    total_from_psu_totals,
)
from analysis.indices import (
    SAATY_RANDOM_INDEX,
    AhpResult,
    EntropyResult,
    ImportancePerformance,
    ahp_weights,
    cronbach_alpha,
    dimension_index,
    entropy_weights,
    importance_performance,
    nps,
    overall_index,
    rescale,
    satisfaction_rate,
    weighted_index,
)
from analysis.results import Difference, Estimate
from analysis.weighting import RakeResult, kish_effective_n, poststratify, rake, trim_weights

__all__ = [
    "SAATY_RANDOM_INDEX",
    "AhpResult",
    "BootstrapResult",
    "Difference",
    "EntropyResult",
    "Estimate",
    "ImportancePerformance",
    "PsuTotals",
    "RakeResult",
    "ahp_weights",
    "bootstrap",
    "cronbach_alpha",
    "difference",
    "dimension_index",
    "entropy_weights",
    "importance_performance",
    "kish_effective_n",
    "mean",
    "mean_from_psu_totals",
    "nps",
    "overall_index",
    "poststratify",
    "proportion",
    "proportion_from_psu_totals",
    "psu_totals",
    "rake",
    "ratio",
    "rescale",
    "satisfaction_rate",
    "stratified_variance",
    "total",
    "total_from_psu_totals",
    "trim_weights",
    "weighted_index",
]
