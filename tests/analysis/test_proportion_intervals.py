"""Proportion intervals: logit, Korn–Graubard, Wilson.

Sources: Newcombe (1998, Stat. Med. 17:857, Table I) Wilson score interval for 81/263:
0.2553–0.3662 and for 15/148: 0.0624–0.1605; scipy.stats.binomtest(...).proportion_ci
(independent implementation of Wilson and Clopper–Pearson); R ``svyciprop(method="beta")``
definition (Korn & Graubard 1998) which reduces to Clopper–Pearson when n_eff = n and
df = n − 1; R ``svyciprop(method="logit")`` = expit(logit p ± t·SE/(p(1−p))).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import analysis


def srs(successes: int, n: int) -> np.ndarray:
    return np.array([1] * successes + [0] * (n - successes))


@pytest.mark.parametrize(
    ("x", "n", "low", "high"), [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605)]
)
def test_wilson_matches_newcombe_1998(x, n, low, high):
    e = analysis.proportion(srs(x, n), 1, method="wilson")
    assert e.ci_low == pytest.approx(low, abs=5e-5)
    assert e.ci_high == pytest.approx(high, abs=5e-5)
    ci = stats.binomtest(x, n).proportion_ci(0.95, method="wilson")
    assert (e.ci_low, e.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-10)


def test_korn_graubard_reduces_to_clopper_pearson():
    # fpc N = n² makes the design variance p(1−p)/n exactly, so n_eff = n and df = n − 1.
    x, n = 11, 41
    e = analysis.proportion(srs(x, n), 1, method="korn-graubard", fpc=np.full(n, n * n))
    ci = stats.binomtest(x, n).proportion_ci(0.95, method="exact")
    assert (e.ci_low, e.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_korn_graubard_degrees_of_freedom_adjustment(apiclus1):
    # R svyciprop(method="beta") code: n.eff = p(1−p)/var · (qt(α/2, n−1)/qt(α/2, df))²
    e = analysis.proportion(
        apiclus1.text("sch.wide"),
        "Yes",
        method="korn-graubard",
        weights=apiclus1.num("pw"),
        clusters=apiclus1.num("dnum"),
    )
    p, var, n = e.estimate, e.standard_error**2, e.n
    n_eff = p * (1 - p) / var * (stats.t.ppf(0.025, n - 1) / stats.t.ppf(0.025, 14)) ** 2
    assert e.ci_low == pytest.approx(
        stats.beta.ppf(0.025, n_eff * p, n_eff * (1 - p) + 1), rel=1e-10
    )
    assert e.ci_high == pytest.approx(
        stats.beta.ppf(0.975, n_eff * p + 1, n_eff * (1 - p)), rel=1e-10
    )


def test_logit_interval_formula(apiclus1):
    e = analysis.proportion(
        apiclus1.text("stype"),
        "H",
        weights=apiclus1.num("pw"),
        clusters=apiclus1.num("dnum"),
        fpc=apiclus1.num("fpc"),
    )
    t = stats.t.ppf(0.975, 14)
    centre = math.log(e.estimate / (1 - e.estimate))
    half = t * e.standard_error / (e.estimate * (1 - e.estimate))
    assert e.ci_low == pytest.approx(1 / (1 + math.exp(-(centre - half))), rel=1e-12)
    assert e.ci_high == pytest.approx(1 / (1 + math.exp(-(centre + half))), rel=1e-12)
    assert 0 < e.ci_low < e.estimate < e.ci_high < 1


def test_proportion_of_absent_level_is_zero():
    e = analysis.proportion(["a", "b", "a"], "c", method="korn-graubard")
    assert e.estimate == 0.0 and e.ci_low == 0.0 and 0 < e.ci_high < 1


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="method"):
        analysis.proportion([1, 0], 1, method="exact")
