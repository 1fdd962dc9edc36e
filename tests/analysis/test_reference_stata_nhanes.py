"""Stata manual example: NHANES II, ``svyset psuid [pweight=finalwgt], strata(stratid)``,
``svy: mean zinc`` → 87.18207, SE .4944827, 95% CI 86.17356–88.19057, 31 strata, 62 PSUs,
df 31 (Stata [SVY] svy estimation / mean). Data: ``samplics.datasets.load_nhanes2()``
(samplics 0.4.34, test-only dependency)."""

from __future__ import annotations

import numpy as np
import pytest

import analysis

datasets = pytest.importorskip("samplics.datasets")


def test_svy_mean_zinc():
    data = datasets.load_nhanes2()["data"]
    zinc = data["zinc"].to_numpy(dtype=float)
    observed = ~np.isnan(zinc)
    e = analysis.mean(
        zinc,
        weights=data["finalwgt"].to_numpy(dtype=float),
        strata=data["stratid"].to_numpy(),
        clusters=data["psuid"].to_numpy(),
        where=observed,
    )
    assert e.estimate == pytest.approx(87.18207, rel=1e-7)
    assert e.standard_error == pytest.approx(0.4944827, rel=1e-6)
    assert e.ci_low == pytest.approx(86.17356, rel=1e-7)
    assert e.ci_high == pytest.approx(88.19057, rel=1e-7)
    assert e.df == 31
    assert e.n == observed.sum()
