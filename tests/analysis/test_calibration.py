"""Calibration-aware variance (analysis.calibration) and bounded raking, against R survey 4.1.

Each test builds a stratified cluster design with lonely PSUs, fpc and missing values
(``generated_design``), calibrates it in R and here, and compares weights and standard
errors at rel=1e-8. The variance pipeline (row influence → ``Calibration.residuals`` → per-PSU
sums → ``stratified_variance``) is the private helper :func:`_calibrated_se` below.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import analysis
from analysis.calibration import Calibration
from analysis.design import psu_totals, stratified_variance, summarize_design
from tests.analysis.rsurvey import generated_design, r_reference

MARGINS = {"age": {"mid": 14000.0, "old": 14500.0, "young": 11500.0},
           "sex": {"f": 21000.0, "m": 19000.0}}
AGE_POP = MARGINS["age"]

DESIGN_R = """\
options(survey.lonely.psu = "adjust")
d <- read.csv("d.csv", stringsAsFactors = TRUE)
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, fpc = ~fpc, data = d)
"""
# R model matrix of ~age + sex: (Intercept), ageold, ageyoung, sexm
POPULATION_R = "pop <- c(`(Intercept)` = 40000, ageold = 14500, ageyoung = 11500, sexm = 19000)\n"
ESTIMATES_R = """\
for (v in c("y", "sat")) {
  f <- as.formula(paste0("~", v))
  m <- svymean(f, cal, na.rm = TRUE)
  out(paste0(v, "_mean"), coef(m)); out(paste0(v, "_mean_se"), SE(m))
  t <- svytotal(f, cal, na.rm = TRUE)
  out(paste0(v, "_total"), coef(t)); out(paste0(v, "_total_se"), SE(t))
  b <- svyby(f, ~dom, cal, svymean, na.rm = TRUE)
  out(paste0(v, "_by_mean"), coef(b)); out(paste0(v, "_by_se"), SE(b))
}
out("w", weights(cal))
"""


def _frame(d: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    return {"d": {k: d[k] for k in ("stratum", "psu", "w", "fpc", "y", "sat", "dom", "age",
                                    "sex")}}


def _adjust_variance(x: np.ndarray, d: dict[str, np.ndarray]) -> float:
    """Per-PSU sums of ``x`` → stratified variance with R 4.1's ``lonely.psu = "adjust"``:
    ``analysis.design.stratified_variance`` for strata with ≥ 2 PSUs ("certainty" leaves
    the lonely ones out) plus ``(1 − f_h) z_h1²`` for each lonely PSU — R ``onestrat``
    does not centre a lonely PSU (deviation from 0). ``single_psu="center"`` centres it at
    the mean PSU total instead; the two agree only when Σ z = 0, which calibration
    residuals of a raked mean do not satisfy exactly (see the report to the lead)."""
    totals = psu_totals(x, strata=d["stratum"], clusters=d["psu"], fpc=d["fpc"])
    design = summarize_design(totals)
    z = totals.sum_wy[:, 0]
    variance = float(stratified_variance(totals.sum_wy, design, "certainty")[0])
    lonely = design.psus_per_stratum[design.stratum_code] == 1
    return variance + float((design.fpc_factor[design.stratum_code] * z * z)[lonely].sum())


def _calibrated_se(x: np.ndarray, calibration: Calibration, d: dict[str, np.ndarray]) -> float:
    """The pipeline the estimators will use: row influence → residuals → per-PSU sums →
    stratified variance."""
    return float(np.sqrt(_adjust_variance(calibration.residuals(x), d)))


def _mean_influence(y: np.ndarray, w: np.ndarray, inside: np.ndarray) -> tuple[float, np.ndarray]:
    """R svymean's x: w (y − ȳ)/Σw inside the domain (non-missing rows), 0 elsewhere."""
    keep = inside & ~np.isnan(y)
    yk = np.where(keep, y, 0.0)
    total_w = w[keep].sum()
    estimate = float((w * yk)[keep].sum() / total_w)
    return estimate, np.where(keep, w * (yk - estimate) / total_w, 0.0)


def _total_influence(y: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    x = np.where(np.isnan(y), 0.0, w * np.nan_to_num(y))
    return float(x.sum()), x


def _compare_estimates(ref: dict[str, np.ndarray], calibration: Calibration,
                       d: dict[str, np.ndarray]) -> float:
    """Assert means, totals and domain means with their SEs equal R's; return max rel diff."""
    w = calibration.weights
    worst = 0.0

    def check(ours: float, theirs: float) -> None:
        nonlocal worst
        assert ours == pytest.approx(theirs, rel=1e-8)
        worst = max(worst, abs(ours - theirs) / abs(theirs))

    for v in ("y", "sat"):
        estimate, x = _mean_influence(d[v], w, np.ones(w.size, dtype=bool))
        check(estimate, ref[f"{v}_mean"][0])
        check(_calibrated_se(x, calibration, d), ref[f"{v}_mean_se"][0])
        estimate, x = _total_influence(d[v], w)
        check(estimate, ref[f"{v}_total"][0])
        check(_calibrated_se(x, calibration, d), ref[f"{v}_total_se"][0])
        for j, level in enumerate(sorted(set(d["dom"]))):
            estimate, x = _mean_influence(d[v], w, d["dom"] == level)
            check(estimate, ref[f"{v}_by_mean"][j])
            check(_calibrated_se(x, calibration, d), ref[f"{v}_by_se"][j])
    return worst


def _uncalibrated_se(x: np.ndarray, d: dict[str, np.ndarray]) -> float:
    return float(np.sqrt(_adjust_variance(x, d)))


@pytest.mark.parametrize("seed", [1, 2])
def test_raking_weights_and_standard_errors_equal_r_calibrate_raking(seed):
    # cal <- calibrate(des, ~age + sex, population = pop, calfun = "raking",
    #                  epsilon = 1e-13, maxit = 100)
    # svymean(~y, cal, na.rm = TRUE); svytotal(~y, cal, na.rm = TRUE);
    # svyby(~y, ~dom, cal, svymean, na.rm = TRUE)   (and the same for ~sat)
    d = generated_design(seed)
    ref = r_reference(
        f"calibrate_raking_{seed}",
        DESIGN_R + POPULATION_R
        + 'cal <- calibrate(des, ~age + sex, population = pop, calfun = "raking", '
          "epsilon = 1e-13, maxit = 100)\n" + ESTIMATES_R,
        _frame(d),
    )
    r = analysis.rake({k: d[k] for k in MARGINS}, MARGINS, weights=d["w"], tol=1e-13)
    assert r.converged
    assert r.calibration.method == "raking"
    np.testing.assert_allclose(r.weights, ref["w"], rtol=1e-10, atol=0)
    _compare_estimates(ref, r.calibration, d)
    # the calibration variance is smaller than treating the weights as fixed for a
    # calibration variable's own total (exact: its residuals vanish)
    _, x = _total_influence(np.where(d["age"] == "old", 1.0, 0.0), r.weights)
    assert _calibrated_se(x, r.calibration, d) < 1e-8 * _uncalibrated_se(x, d)


@pytest.mark.parametrize("seed", [1, 3])
def test_poststratify_standard_errors_equal_r_poststratify(seed):
    # cal <- postStratify(des, ~age, data.frame(age = c("mid", "old", "young"),
    #                     Freq = c(14000, 14500, 11500)))
    # svymean(~y, cal, na.rm = TRUE); svytotal(~y, cal, na.rm = TRUE);
    # svyby(~y, ~dom, cal, svymean, na.rm = TRUE)   (and the same for ~sat)
    d = generated_design(seed)
    ref = r_reference(
        f"poststratify_{seed}",
        DESIGN_R + 'cal <- postStratify(des, ~age, data.frame(age = c("mid", "old", "young"), '
        "Freq = c(14000, 14500, 11500)))\n" + ESTIMATES_R,
        _frame(d),
    )
    ps = analysis.poststratify(d["age"], AGE_POP, weights=d["w"])
    assert ps.calibration.method == "poststratify"
    np.testing.assert_allclose(ps.weights, ref["w"], rtol=1e-12, atol=0)
    _compare_estimates(ref, ps.calibration, d)


@pytest.mark.parametrize("bounds", [(0.85, 1.2), (0.5, 1.1702)])
def test_bounded_raking_equals_r_calibrate_logit(bounds):
    # cal <- calibrate(des, ~age + sex, population = pop, calfun = "logit",
    #                  bounds = c(L, U), epsilon = 1e-13, maxit = 100)
    # svymean / svytotal / svyby(svymean) of ~y and ~sat as above
    d = generated_design(1)
    low, high = bounds
    ref = r_reference(
        f"calibrate_logit_{low}_{high}",
        DESIGN_R + POPULATION_R
        + f'cal <- calibrate(des, ~age + sex, population = pop, calfun = "logit", '
          f"bounds = c({low!r}, {high!r}), epsilon = 1e-13, maxit = 100)\n" + ESTIMATES_R,
        _frame(d),
    )
    r = analysis.rake({k: d[k] for k in MARGINS}, MARGINS, weights=d["w"], bounds=bounds,
                      tol=1e-13)
    assert r.converged and r.calibration.method == "logit"
    g = r.weights / d["w"]
    assert g.min() > low and g.max() < high
    unbounded = analysis.rake({k: d[k] for k in MARGINS}, MARGINS, weights=d["w"]).weights
    assert (unbounded / d["w"]).max() > high  # the bounds bind: not plain raking
    for name, margin in MARGINS.items():
        for level, target in margin.items():
            assert r.weights[d[name] == level].sum() == pytest.approx(target, rel=1e-12)
    np.testing.assert_allclose(r.weights, ref["w"], rtol=1e-10, atol=0)
    _compare_estimates(ref, r.calibration, d)


def test_residuals_of_several_columns_equal_one_column_at_a_time():
    d = generated_design(2)
    r = analysis.rake({k: d[k] for k in MARGINS}, MARGINS, weights=d["w"])
    x = np.column_stack([_mean_influence(d["y"], r.weights, d["dom"] == level)[1]
                         for level in ("a", "b", "c")])
    both = r.calibration.residuals(x)
    assert both.shape == x.shape
    for j in range(3):
        np.testing.assert_allclose(both[:, j], r.calibration.residuals(x[:, j]), rtol=1e-13,
                                   atol=1e-18)


def test_residuals_match_an_independent_row_level_regression():
    """The cell-table solution equals the N-row weighted regression written out directly:
    r = x − w · M (Mᵀ W0 M)⁻¹ Mᵀ (x/g) with M the row-level dummy matrix."""
    d = generated_design(3)
    r = analysis.rake({k: d[k] for k in MARGINS}, MARGINS, weights=d["w"], bounds=(0.7, 1.3))
    w0, w = d["w"], r.weights
    g = w / w0
    m = np.column_stack([np.ones(w.size), d["age"] == "old", d["age"] == "young",
                         d["sex"] == "m"]).astype(float)
    x = _mean_influence(d["sat"], w, np.ones(w.size, dtype=bool))[1]
    beta = np.linalg.solve(m.T @ (m * w0[:, None]), m.T @ (x / g))
    np.testing.assert_allclose(r.calibration.residuals(x), x - w * (m @ beta), rtol=1e-9,
                               atol=1e-15)


def test_residuals_reject_wrong_shapes_and_nan():
    ps = analysis.poststratify(["a", "a", "b"], {"a": 2.0, "b": 1.0})
    with pytest.raises(ValueError, match=r"shape \(3,\) or \(3, D\)"):
        ps.calibration.residuals(np.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        ps.calibration.residuals([0.0, np.nan, 1.0])


def test_bounds_a_single_level_cannot_reach_name_it():
    d = generated_design(1)
    with pytest.raises(ValueError,
                       match=r"infeasible: margin 'age' level 'old' needs w/w0 = 1\.17"):
        analysis.rake({k: d[k] for k in MARGINS}, MARGINS, weights=d["w"], bounds=(0.8, 1.12))


def test_jointly_infeasible_bounds_name_the_margins():
    # cells (a,x), (a,y), (b,x), one row each: the margins force g(a,x) = 2.5 − 0.9 = 1.6,
    # although every level alone is reachable within (0.8, 1.35)
    categories = {"A": ["a", "a", "b"], "X": ["x", "y", "x"]}
    margins = {"A": {"a": 2.5, "b": 1.0}, "X": {"x": 2.6, "y": 0.9}}
    exact = analysis.rake(categories, margins)
    assert exact.weights.tolist() == pytest.approx([1.6, 0.9, 1.0])
    with pytest.raises(ValueError, match=r"infeasible: no weights .* meet all margins "
                                         r"\('A', 'X'\); furthest off: margin"):
        analysis.rake(categories, margins, bounds=(0.8, 1.35))


def test_bounded_raking_reports_non_convergence():
    d = generated_design(1)
    with pytest.raises(ValueError, match="did not converge in 1 Newton steps .* furthest off: "
                                         "margin"):
        analysis.rake({k: d[k] for k in MARGINS}, MARGINS, weights=d["w"], bounds=(0.85, 1.2),
                      max_iter=1)


@pytest.mark.parametrize("bounds", [(1.0, 2.0), (0.5, 1.0), (-0.1, 2.0), (0.5, np.inf),
                                    ("a", 2)])
def test_bounds_must_bracket_one(bounds):
    with pytest.raises(ValueError, match="`bounds`"):
        analysis.rake({"A": ["a", "b"]}, {"A": {"a": 1.0, "b": 1.0}}, bounds=bounds)


def test_calibration_on_a_million_rows_is_fast():
    rng = np.random.default_rng(0)
    size = 1_000_000
    cats = {"a": rng.integers(0, 5, size), "b": rng.integers(0, 7, size)}
    margins = {"a": {i: 200_000.0 + 1000 * i for i in range(5)},
               "b": {i: 1.0 for i in range(7)}}
    margins["b"] = {i: sum(margins["a"].values()) / 7 for i in range(7)}
    began = time.perf_counter()
    r = analysis.rake(cats, margins, weights=rng.uniform(1, 2, size), bounds=(0.5, 2.0))
    residual = r.calibration.residuals(rng.normal(size=(size, 2)))
    assert time.perf_counter() - began < 10.0
    assert residual.shape == (size, 2)
    # a calibration variable's own total has zero residuals
    x = r.weights * (cats["a"] == 2)
    assert np.abs(r.calibration.residuals(x)).max() < 1e-9 * x.max()
