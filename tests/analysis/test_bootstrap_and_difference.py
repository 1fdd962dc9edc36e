"""Bootstrap cross-check of the Taylor SE (Rao & Wu 1988) and difference tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import analysis


def test_bootstrap_agrees_with_taylor_standard_error(apistrat):
    y, w, s = apistrat.num("api00"), apistrat.num("pw"), apistrat.text("stype")
    boot = analysis.bootstrap(
        y, weights=w, strata=s, rng=np.random.default_rng(2024), replicates=2000
    )
    taylor = analysis.mean(y, weights=w, strata=s)
    assert boot.estimate == pytest.approx(taylor.estimate, rel=1e-12)
    assert boot.standard_error == pytest.approx(taylor.standard_error, rel=0.08)
    assert boot.ci_low < taylor.estimate < boot.ci_high


def test_bootstrap_is_reproducible_and_needs_a_generator(apiclus1):
    args = (apiclus1.num("api00"),)
    kwargs = {"weights": apiclus1.num("pw"), "clusters": apiclus1.num("dnum"), "replicates": 50}
    a = analysis.bootstrap(*args, rng=np.random.default_rng(1), **kwargs)
    b = analysis.bootstrap(*args, rng=np.random.default_rng(1), **kwargs)
    assert np.array_equal(a.replicates, b.replicates)
    with pytest.raises(ValueError, match="rng"):
        analysis.bootstrap(*args, rng=1, **kwargs)  # type: ignore[arg-type]


def test_difference_of_independent_waves():
    a = analysis.Estimate(80.0, 1.2, 0, 0, 0.95, 40, 500, 400.0, 1.25)
    b = analysis.Estimate(76.5, 0.9, 0, 0, 0.95, 30, 600, 500.0, 1.2)
    d = analysis.difference(a, b)
    var = 1.2**2 + 0.9**2
    df = var**2 / (1.2**4 / 40 + 0.9**4 / 30)  # Welch–Satterthwaite
    assert d.estimate == pytest.approx(3.5)
    assert d.standard_error == pytest.approx(math.sqrt(var))
    assert d.df == pytest.approx(df)
    assert d.p_value == pytest.approx(2 * stats.t.sf(3.5 / math.sqrt(var), df))
    assert d.ci_low == pytest.approx(3.5 - stats.t.ppf(0.975, df) * math.sqrt(var))


def test_difference_against_fixed_benchmark_uses_unit_df():
    a = analysis.Estimate(80.0, 1.0, 0, 0, 0.95, 12, 100, 80.0, 1.25)
    d = analysis.difference(a, 78.0)
    assert d.df == pytest.approx(12)
    assert d.ci_low == pytest.approx(2.0 - stats.t.ppf(0.975, 12))


def test_difference_validates():
    with pytest.raises(ValueError, match="`a`"):
        analysis.difference(1.0, 2.0)  # type: ignore[arg-type]
