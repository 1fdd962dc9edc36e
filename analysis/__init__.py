"""manyi statistics: design-based estimates, weights and satisfaction indices (numpy/scipy only).

Example
-------
>>> import analysis
>>> e = analysis.mean([70.0, 80, 90, 60], weights=[1.0, 2, 1, 1])
>>> round(e.estimate, 1)
76.0
"""

from analysis.bootstrap import BootstrapResult, bootstrap
from analysis.calibration import Calibration
from analysis.design import (
    PsuTotals,
    domain_df,
    psu_sums,
    psu_totals,
    stratified_covariance,
    stratified_variance,
)
from analysis.estimators import (
    TOTAL,
    DomainCovariance,
    contrast,
    covariance_from_psu_totals,
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
    importance_performance_from_moments,
    nps,
    overall_index,
    rescale,
    satisfaction_rate,
    weighted_index,
)
from analysis.quantiles import quantile
from analysis.replicates import (
    ReplicateDesign,
    hadamard_r,
    replicate_mean,
    replicate_proportion,
    replicate_total,
    replicate_weights,
)
from analysis.results import NO_DF, ZERO_SE, Difference, Estimate
from analysis.units import UnitComparison, UnitMoments, units_versus_overall
from analysis.weighting import (
    PoststratifyResult,
    RakeResult,
    kish_effective_n,
    poststratify,
    rake,
    trim_weights,
)

__all__ = [
    "NO_DF",
    "SAATY_RANDOM_INDEX",
    "TOTAL",
    "UnitComparison",
    "UnitMoments",
    "ZERO_SE",
    "AhpResult",
    "BootstrapResult",
    "Calibration",
    "Difference",
    "DomainCovariance",
    "EntropyResult",
    "Estimate",
    "ImportancePerformance",
    "PoststratifyResult",
    "PsuTotals",
    "RakeResult",
    "ReplicateDesign",
    "ahp_weights",
    "bootstrap",
    "cronbach_alpha",
    "contrast",
    "covariance_from_psu_totals",
    "difference",
    "domain_df",
    "dimension_index",
    "entropy_weights",
    "hadamard_r",
    "importance_performance",
    "importance_performance_from_moments",
    "kish_effective_n",
    "mean",
    "mean_from_psu_totals",
    "nps",
    "overall_index",
    "poststratify",
    "proportion",
    "proportion_from_psu_totals",
    "psu_sums",
    "psu_totals",
    "quantile",
    "rake",
    "replicate_mean",
    "replicate_proportion",
    "replicate_total",
    "replicate_weights",
    "ratio",
    "rescale",
    "satisfaction_rate",
    "stratified_covariance",
    "stratified_variance",
    "total",
    "total_from_psu_totals",
    "units_versus_overall",
    "trim_weights",
    "weighted_index",
]
