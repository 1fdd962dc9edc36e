"""Cross-check against samplics 0.4.34 ``TaylorEstimator`` (test-only dependency) on generated
stratified cluster samples with domains: same estimate, SE, CI and df to 1e-8 relative.

Source of truth: samplics (Diallo, https://github.com/samplics-org/samplics),
``samplics.estimation.TaylorEstimator.estimate(y, samp_weight, stratum, psu, domain, fpc)``.
"""

from __future__ import annotations

import numpy as np
import pytest

import analysis

estimation = pytest.importorskip("samplics.estimation")
types = pytest.importorskip("samplics.utils.types")

REL = 1e-8


def generated_sample(seed: int, n_strata: int = 6):
    """Stratified two-level sample; PSU labels restart at 1 in each stratum (nested)."""
    rng = np.random.default_rng(seed)
    strata, psus, domains = [], [], []
    for h in range(n_strata):
        for c in range(1, rng.integers(2, 7) + 1):
            size = int(rng.integers(3, 25))
            strata += [f"S{h}"] * size
            psus += [c] * size
            domains += list(
                rng.choice(["north", "south", "east", "west"], size=size, p=[0.4, 0.3, 0.2, 0.1])
            )
    size = len(strata)
    strata_a = np.array(strata)
    psu_effect = rng.normal(0, 5, size=100)[np.array(psus)]
    y = 70 + psu_effect + rng.normal(0, 12, size=size)
    weights = rng.uniform(0.5, 4.0, size=size) * (1 + (strata_a == "S0"))
    answer = rng.choice([1, 2, 3, 4, 5], size=size, p=[0.05, 0.1, 0.2, 0.4, 0.25])
    return {
        "y": y,
        "weights": weights,
        "strata": strata_a,
        "clusters": np.array(psus),
        "domains": np.array(domains),
        "answer": answer,
    }


def samplics_run(param, y, data, *, domain=None, fpc=1.0):
    est = estimation.TaylorEstimator(param)
    est.estimate(
        y=y,
        samp_weight=data["weights"],
        stratum=data["strata"],
        psu=data["clusters"],
        domain=domain,
        fpc=fpc,
    )
    return est


def assert_same(ours, point, se, low, high, df):
    assert ours.estimate == pytest.approx(point, rel=REL)
    assert ours.standard_error == pytest.approx(se, rel=REL)
    assert ours.ci_low == pytest.approx(low, rel=REL)
    assert ours.ci_high == pytest.approx(high, rel=REL)
    assert ours.df == df


def design(data):
    return {k: data[k] for k in ("weights", "strata", "clusters")}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mean_matches_samplics(seed):
    data = generated_sample(seed)
    ref = samplics_run(types.PopParam.mean, data["y"], data)
    ours = analysis.mean(data["y"], df="design", **design(data))
    assert_same(
        ours, ref.point_est, ref.stderror, ref.lower_ci, ref.upper_ci, ref.degree_of_freedom
    )


@pytest.mark.parametrize("seed", [4, 5])
def test_total_matches_samplics(seed):
    data = generated_sample(seed)
    ref = samplics_run(types.PopParam.total, data["y"], data)
    ours = analysis.total(data["y"], df="design", **design(data))
    assert_same(
        ours, ref.point_est, ref.stderror, ref.lower_ci, ref.upper_ci, ref.degree_of_freedom
    )


@pytest.mark.parametrize("seed", [6, 7])
def test_domain_means_match_samplics(seed):
    data = generated_sample(seed)
    ref = samplics_run(types.PopParam.mean, data["y"], data, domain=data["domains"])
    ours = analysis.mean(data["y"], by=data["domains"], df="design", **design(data))
    assert set(ours) == set(ref.point_est)
    for level, e in ours.items():
        assert_same(
            e,
            ref.point_est[level],
            ref.stderror[level],
            ref.lower_ci[level],
            ref.upper_ci[level],
            ref.degree_of_freedom,
        )


@pytest.mark.parametrize("seed", [8, 9])
def test_domain_totals_match_samplics(seed):
    data = generated_sample(seed)
    ref = samplics_run(types.PopParam.total, data["y"], data, domain=data["domains"])
    ours = analysis.total(data["y"], by=data["domains"], df="design", **design(data))
    for level, e in ours.items():
        assert_same(
            e,
            ref.point_est[level],
            ref.stderror[level],
            ref.lower_ci[level],
            ref.upper_ci[level],
            ref.degree_of_freedom,
        )


@pytest.mark.parametrize("seed", [10, 11])
def test_proportion_logit_matches_samplics(seed):
    data = generated_sample(seed)
    ref = samplics_run(types.PopParam.prop, data["answer"], data)
    for level in (1, 3, 5):
        ours = analysis.proportion(data["answer"], level, method="logit", df="design",
                                   **design(data))
        assert_same(
            ours,
            ref.point_est[level],
            ref.stderror[level],
            ref.lower_ci[level],
            ref.upper_ci[level],
            ref.degree_of_freedom,
        )


def test_domain_proportions_match_samplics():
    data = generated_sample(12)
    ref = samplics_run(types.PopParam.prop, data["answer"], data, domain=data["domains"])
    ours = analysis.proportion(data["answer"], 4, by=data["domains"], df="design", **design(data))
    for level, e in ours.items():
        assert_same(
            e,
            ref.point_est[level][4],
            ref.stderror[level][4],
            ref.lower_ci[level][4],
            ref.upper_ci[level][4],
            ref.degree_of_freedom,
        )


def test_fpc_matches_samplics():
    data = generated_sample(13)
    strata = np.unique(data["strata"])
    psus_in = {s: np.unique(data["clusters"][data["strata"] == s]).size for s in strata}
    population = {s: 3 * psus_in[s] + i for i, s in enumerate(strata)}
    factor = {s: 1 - psus_in[s] / population[s] for s in strata}  # samplics takes 1 − f_h
    ref = samplics_run(types.PopParam.mean, data["y"], data, fpc=factor)
    ours = analysis.mean(
        data["y"], fpc=np.array([population[s] for s in data["strata"]]), df="design",
        **design(data)
    )
    assert_same(
        ours, ref.point_est, ref.stderror, ref.lower_ci, ref.upper_ci, ref.degree_of_freedom
    )


def test_unclustered_stratified_matches_samplics():
    data = generated_sample(14)
    est = estimation.TaylorEstimator(types.PopParam.mean)
    est.estimate(y=data["y"], samp_weight=data["weights"], stratum=data["strata"])
    ours = analysis.mean(data["y"], weights=data["weights"], strata=data["strata"], df="design")
    assert ours.estimate == pytest.approx(est.point_est, rel=REL)
    assert ours.standard_error == pytest.approx(est.stderror, rel=REL)
    assert ours.df == data["y"].size - np.unique(data["strata"]).size
