"""The design core: per-PSU sums API, nesting, fpc, single-PSU strata, design effect.

Independent computations: the variance formula written out with Python loops over strata
(Wolter 2007, Introduction to Variance Estimation, eq. 6.11), and R ``survey``'s
documented definition of
``deff`` (``svymean`` source: ``vsrs <- svyvar(x, design)/nobs`` for ``deff="replace"``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import analysis
from analysis.design import PsuTotals


def loop_variance(z_by_stratum: dict[str, list[float]], center: float | None = None) -> float:
    total = 0.0
    for values in z_by_stratum.values():
        n_h = len(values)
        if n_h == 1:
            if center is not None:
                total += (values[0] - center) ** 2
            continue
        mean_h = sum(values) / n_h
        total += n_h / (n_h - 1) * sum((v - mean_h) ** 2 for v in values)
    return total


def assert_same(a, b, rel=1e-12):
    for field in ("estimate", "standard_error", "ci_low", "ci_high", "design_effect"):
        assert getattr(a, field) == pytest.approx(getattr(b, field), rel=rel)
    assert (a.df, a.n) == (b.df, b.n)


@pytest.fixture()
def sample():
    rng = np.random.default_rng(42)
    strata = np.repeat(["a", "b", "c"], [30, 40, 20])
    clusters = np.concatenate(
        [np.repeat([1, 2, 3], 10), np.repeat([1, 2, 3, 4], 10), np.repeat([1, 2], 10)]
    )
    return {
        "y": rng.normal(60, 15, 90),
        "weights": rng.uniform(1, 3, 90),
        "strata": strata,
        "clusters": clusters,
        "by": rng.choice(["x", "y"], 90),
    }


def test_row_input_equals_sql_style_psu_totals(sample):
    y, w = sample["y"], sample["weights"]
    keys = list(zip(sample["strata"], sample["clusters"], strict=True))
    groups = sorted(set(keys))
    rows = [[k for k, key in enumerate(keys) if key == g] for g in groups]
    totals = PsuTotals(
        stratum=np.array([g[0] for g in groups]),
        sum_wy=np.array([sum(w[r] * y[r]) for r in rows]),
        sum_w=np.array([sum(w[r]) for r in rows]),
        n=np.array([len(r) for r in rows]),
        sum_wyy=np.array([sum(w[r] * y[r] ** 2) for r in rows]),
    )
    from_rows = analysis.mean(y, weights=w, strata=sample["strata"], clusters=sample["clusters"])
    from_sql = analysis.mean_from_psu_totals(totals)
    for field in ("estimate", "standard_error", "ci_low", "ci_high", "design_effect"):
        assert getattr(from_sql, field) == pytest.approx(getattr(from_rows, field), rel=1e-12)
    assert (from_sql.df, from_sql.n) == (from_rows.df, from_rows.n)


def test_variance_matches_loop_formula(sample):
    y, w = sample["y"], sample["weights"]
    e = analysis.mean(y, weights=w, strata=sample["strata"], clusters=sample["clusters"])
    ratio = (w * y).sum() / w.sum()
    z: dict[str, dict[int, float]] = {}
    for yi, wi, s, c in zip(y, w, sample["strata"], sample["clusters"], strict=True):
        z.setdefault(s, {}).setdefault(c, 0.0)
        z[s][c] += wi * (yi - ratio) / w.sum()
    variance = loop_variance({s: list(v.values()) for s, v in z.items()})
    assert e.estimate == pytest.approx(ratio, rel=1e-12)
    assert e.standard_error == pytest.approx(math.sqrt(variance), rel=1e-12)
    assert e.df == 9 - 3


def test_clusters_are_nested_in_strata(sample):
    # Cluster 1 of stratum a and cluster 1 of stratum b are different PSUs: 9 PSUs, df 6.
    nested = analysis.mean(sample["y"], strata=sample["strata"], clusters=sample["clusters"])
    unique_labels = np.char.add(sample["strata"], sample["clusters"].astype(str))
    explicit = analysis.mean(sample["y"], strata=sample["strata"], clusters=unique_labels)
    assert_same(nested, explicit)


def test_domain_keeps_full_design_and_equals_where(sample):
    d = analysis.mean(
        sample["y"],
        weights=sample["weights"],
        strata=sample["strata"],
        clusters=sample["clusters"],
        by=sample["by"],
    )
    for level in ("x", "y"):
        sub = analysis.mean(
            sample["y"],
            weights=sample["weights"],
            strata=sample["strata"],
            clusters=sample["clusters"],
            where=sample["by"] == level,
        )
        assert_same(d[level], sub)
        assert d[level].df == 6


def test_domain_equals_zero_weights_outside(sample):
    inside = sample["by"] == "x"
    d = analysis.mean(
        sample["y"],
        weights=sample["weights"],
        strata=sample["strata"],
        clusters=sample["clusters"],
        by=sample["by"],
    )["x"]
    zeroed = analysis.mean(
        sample["y"],
        weights=np.where(inside, sample["weights"], 0.0),
        strata=sample["strata"],
        clusters=sample["clusters"],
    )
    assert d.estimate == pytest.approx(zeroed.estimate, rel=1e-12)
    assert d.standard_error == pytest.approx(zeroed.standard_error, rel=1e-12)


def test_single_psu_error_names_the_stratum():
    with pytest.raises(ValueError, match="stratum 'lonely'"):
        analysis.mean(
            [1.0, 2, 3, 4, 5], strata=["s", "s", "lonely", "t", "t"], clusters=[1, 2, 1, 1, 2]
        )


def test_single_psu_certainty_contributes_zero():
    y = np.array([1.0, 2, 3, 4, 5, 9])
    strata = np.array(["s", "s", "lonely", "t", "t", "lonely"])
    clusters = np.array([1, 2, 7, 1, 2, 7])
    e = analysis.mean(y, strata=strata, clusters=clusters, single_psu="certainty")
    ratio = y.mean()
    z = {"s": [(1 - ratio) / 6, (2 - ratio) / 6], "t": [(4 - ratio) / 6, (5 - ratio) / 6]}
    assert e.standard_error == pytest.approx(math.sqrt(loop_variance(z)), rel=1e-12)
    assert e.df == 5 - 3


def test_single_psu_center_uses_grand_mean_of_psu_totals():
    y = np.array([1.0, 2, 3, 4, 5, 9])
    strata = np.array(["s", "s", "lonely", "t", "t", "lonely"])
    clusters = np.array([1, 2, 7, 1, 2, 7])
    e = analysis.mean(y, strata=strata, clusters=clusters, single_psu="center")
    ratio = y.mean()
    z = {
        "s": [(1 - ratio) / 6, (2 - ratio) / 6],
        "t": [(4 - ratio) / 6, (5 - ratio) / 6],
        "lonely": [(3 + 9 - 2 * ratio) / 6],
    }
    grand = sum(sum(v) for v in z.values()) / 5  # zero for a mean: scores sum to zero
    assert e.standard_error == pytest.approx(math.sqrt(loop_variance(z, center=grand)), rel=1e-12)


def test_census_with_fpc_has_zero_variance_and_no_zero_width_interval():
    y = np.array([3.0, 5, 8, 1, 4, 4])
    e = analysis.mean(y, strata=[1, 1, 1, 2, 2, 2], fpc=[3, 3, 3, 3, 3, 3])
    assert e.standard_error == 0.0
    assert math.isnan(e.ci_low) and math.isnan(e.ci_high) and not e.has_interval
    assert e.note == analysis.ZERO_SE


def test_fpc_smaller_than_sample_is_rejected():
    with pytest.raises(ValueError, match="fpc"):
        analysis.mean([1.0, 2, 3], fpc=[2, 2, 2])


def test_fpc_must_be_constant_within_stratum():
    with pytest.raises(ValueError, match="fpc"):
        analysis.mean([1.0, 2, 3, 4], strata=[1, 1, 2, 2], fpc=[10, 11, 10, 10])


def test_design_effect_follows_r_deff_replace_definition(sample):
    y, w = sample["y"], sample["weights"]
    e = analysis.mean(y, weights=w, strata=sample["strata"], clusters=sample["clusters"])
    n = y.size
    mean = (w * y).sum() / w.sum()
    svyvar = (w * (y - mean) ** 2).sum() / w.sum() * n / (n - 1)
    assert e.design_effect == pytest.approx(e.standard_error**2 / (svyvar / n), rel=1e-10)
    assert e.n_effective == pytest.approx(n / e.design_effect, rel=1e-12)
    t = analysis.total(y, weights=w, strata=sample["strata"], clusters=sample["clusters"])
    assert t.design_effect == pytest.approx(
        t.standard_error**2 / (svyvar * w.sum() ** 2 / n), rel=1e-10
    )


def test_design_effect_of_unweighted_srs_is_one():
    y = np.random.default_rng(3).normal(size=50)
    assert analysis.mean(y).design_effect == pytest.approx(1.0, rel=1e-12)


def test_psu_totals_with_domains_as_2d_arrays():
    totals = PsuTotals(
        stratum=np.array([1, 1, 2, 2]),
        sum_wy=np.array([[30.0, 3], [50, 0], [20, 8], [40, 4]]),
        sum_w=np.array([[10.0, 1], [10, 0], [5, 2], [10, 1]]),
        n=np.array([[4, 1], [4, 0], [2, 1], [4, 1]]),
        domains=("A", "B"),
    )
    result = analysis.mean_from_psu_totals(totals)
    assert set(result) == {"A", "B"}
    assert result["B"].estimate == pytest.approx(15 / 4)
    assert result["B"].df == 1  # 3 PSUs with B respondents in 2 strata
    assert analysis.mean_from_psu_totals(totals, df="design")["B"].df == 2


def test_psu_totals_validates_shapes():
    with pytest.raises(ValueError, match="sum_w"):
        PsuTotals(
            stratum=np.array([1, 2]),
            sum_wy=np.array([1.0, 2]),
            sum_w=np.array([1.0]),
            n=np.array([1, 1]),
        )
