"""Raking, post-stratification, trimming, Kish effective n (R survey: rake, postStratify,
trimWeights; Kish 1965). Published point estimates are in test_reference_r_survey.py."""

from __future__ import annotations

import numpy as np
import pytest

import analysis


def make_sample(size=5000, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "age": rng.choice(["18-34", "35-59", "60+"], size, p=[0.5, 0.3, 0.2]),
        "sex": rng.choice(["f", "m"], size, p=[0.6, 0.4]),
        "district": rng.choice(list("ABCD"), size),
        "weights": rng.uniform(1, 3, size),
    }


MARGINS = {
    "age": {"18-34": 300_000, "35-59": 450_000, "60+": 250_000},
    "sex": {"f": 510_000, "m": 490_000},
    "district": {"A": 100_000, "B": 200_000, "C": 300_000, "D": 400_000},
}


def test_rake_hits_every_margin():
    s = make_sample()
    r = analysis.rake({k: s[k] for k in MARGINS}, MARGINS, weights=s["weights"])
    assert r.converged and r.iterations < 50
    for name, margin in MARGINS.items():
        for level, target in margin.items():
            assert r.weights[s[name] == level].sum() == pytest.approx(target, rel=1e-9)


def test_rake_single_margin_equals_poststratify():
    s = make_sample()
    raked = analysis.rake([s["age"]], [MARGINS["age"]], weights=s["weights"]).weights
    post = analysis.poststratify(s["age"], MARGINS["age"], weights=s["weights"]).weights
    assert raked == pytest.approx(post, rel=1e-12)


def test_rake_reports_non_convergence():
    s = make_sample()
    r = analysis.rake(
        {k: s[k] for k in MARGINS}, MARGINS, weights=s["weights"], max_iter=1, tol=1e-15
    )
    assert not r.converged and r.iterations == 1 and r.max_margin_error > 0


def test_rake_rejects_inconsistent_margins():
    s = make_sample()
    bad = {**MARGINS, "sex": {"f": 1, "m": 1}}
    with pytest.raises(ValueError, match="impossible"):
        analysis.rake({k: s[k] for k in MARGINS}, bad)


def test_rake_rejects_empty_cell():
    s = make_sample()
    margins = {**MARGINS, "district": {**MARGINS["district"], "E": 0.0}}
    with pytest.raises(ValueError, match="empty cell"):
        analysis.rake({k: s[k] for k in MARGINS}, margins)


def test_rake_rejects_level_without_population_total():
    s = make_sample()
    margins = {**MARGINS, "district": {"A": 500_000, "B": 500_000}}
    with pytest.raises(ValueError, match="no population total"):
        analysis.rake({k: s[k] for k in MARGINS}, margins)


def test_poststratify_matches_population_counts():
    w = analysis.poststratify(
        ["a", "a", "b", "c"], {"a": 10, "b": 5, "c": 1}, weights=[1.0, 3.0, 2.0, 9.0]
    ).weights
    assert w.tolist() == [2.5, 7.5, 5.0, 1.0]


def test_trim_weights_caps_and_keeps_total():
    w = np.array([1.0, 1.0, 1.0, 1.0, 20.0, 6.0])
    trimmed = analysis.trim_weights(w, upper=7.0)
    assert trimmed.max() <= 7.0 + 1e-12
    assert trimmed.sum() == pytest.approx(w.sum())


def test_trim_weights_rejects_impossible_bounds():
    with pytest.raises(ValueError, match="impossible"):
        analysis.trim_weights([1.0, 1.0, 10.0], upper=2.0)


def test_kish_effective_n_of_equal_weights_is_n():
    assert analysis.kish_effective_n(np.full(7, 3.0)) == pytest.approx(7.0)
    with pytest.raises(ValueError, match="weights"):
        analysis.kish_effective_n([1.0, -1.0])


def test_two_sided_trimming_keeps_the_total_when_weights_are_skewed():
    """A weight pushed to the lower bound must be able to rise again when the upper
    bound's excess is spread (the first cut froze it there and lost part of the total).
    Checked against the defining property: result = clip(c·w, lower, upper) for one c."""
    rng = np.random.default_rng(7)
    w = rng.lognormal(0.0, 0.9, 500)
    mean = w.mean()
    t = analysis.trim_weights(w, lower=0.8 * mean, upper=1.2 * mean)
    assert t.sum() == pytest.approx(w.sum(), rel=1e-12)
    assert t.max() <= 1.2 * mean * (1 + 1e-12) and t.min() >= 0.8 * mean * (1 - 1e-12)
    inside = (t > 0.8 * mean * (1 + 1e-9)) & (t < 1.2 * mean * (1 - 1e-9))
    ratios = t[inside] / w[inside]
    assert ratios.max() == pytest.approx(ratios.min(), rel=1e-9)
    assert np.all(np.diff(t[np.argsort(w)]) >= -1e-9)  # order is kept


def test_bounded_rake_meets_every_margin_within_the_bounds():
    """Unbounded raking needs g = w/w0 from 0.20 to 3.14 here; with bounds (0.25, 2.5) the
    logit method (R calibrate(calfun="logit"), compared with R in test_calibration.py)
    still meets every margin and keeps every g inside."""
    s = make_sample(seed=3)
    w0 = s["weights"] * 1e6 / s["weights"].sum()
    free = analysis.rake({k: s[k] for k in MARGINS}, MARGINS, weights=w0).weights / w0
    assert free.min() < 0.25 and free.max() > 2.5
    r = analysis.rake({k: s[k] for k in MARGINS}, MARGINS, weights=w0, bounds=(0.25, 2.5))
    g = r.weights / w0
    assert r.converged and 0.25 < g.min() and g.max() < 2.5
    for name, margin in MARGINS.items():
        for level, target in margin.items():
            assert r.weights[s[name] == level].sum() == pytest.approx(target, rel=1e-9)
