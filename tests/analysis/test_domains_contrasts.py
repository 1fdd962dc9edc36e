"""Domain degrees of freedom, proportion intervals at 0 and 1, and contrasts with covariance,
checked against R ``survey`` 4.1 (live when Rscript is installed, else the copy recorded in
tests/data/r_survey/, see tests/analysis/rsurvey.py) on generated stratified cluster designs
with lonely PSUs, fpc, missing values and a domain inside one PSU."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import analysis
from tests.analysis.rsurvey import generated_design, r_reference

REL = 1e-8
SEEDS = (11, 12, 13)
RULES = {"adjust": "center", "certainty": "certainty"}

DESIGN_R = """
d0 <- read.csv("d.csv", stringsAsFactors = FALSE)
options(survey.lonely.psu = "{rule}")
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, fpc = ~fpc, data = d0, nest = TRUE)
"""


def frame(d: dict[str, np.ndarray]) -> dict[str, object]:
    return {"d": {k: d[k] for k in ("stratum", "psu", "w", "fpc", "y", "sat", "dom")}}


def design(d: dict[str, np.ndarray], rule: str) -> dict[str, object]:
    return {"weights": d["w"], "strata": d["stratum"], "clusters": d["psu"], "fpc": d["fpc"],
            "single_psu": RULES[rule]}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("rule", sorted(RULES))
def test_domain_means_df_and_intervals_match_r(seed, rule):
    d = generated_design(seed)
    r = r_reference(f"domain_df_{seed}_{rule}", DESIGN_R.format(rule=rule) + """
b <- svyby(~y, ~dom, des, svymean, na.rm = TRUE)
out("mean", coef(b)); out("se", SE(b))
for (lev in c("a", "b", "c", "d")) {
  s <- subset(des, dom == lev & !is.na(y))
  out(paste0("df_", lev), degf(s))
  # confint(svymean(~y, s), df = degf(s)): NaN limits when degf is 0
  ci <- suppressWarnings(confint(svymean(~y, s), df = degf(s)))
  out(paste0("ci_", lev), ci)
}
out("design_df", degf(des))
""", frame(d))
    present = ~np.isnan(d["y"])
    ours = analysis.mean(np.nan_to_num(d["y"]), by=d["dom"], where=present, **design(d, rule))
    for j, level in enumerate("abcd"):
        e = ours[level]
        assert e.estimate == pytest.approx(r["mean"][j], rel=REL)
        assert e.standard_error == pytest.approx(r["se"][j], rel=REL)
        assert e.df == r[f"df_{level}"][0]
        low, high = r[f"ci_{level}"]
        if e.df > 0:
            assert (e.ci_low, e.ci_high) == pytest.approx((low, high), rel=REL)
            assert e.note is None
        else:  # R: qt(0.975, 0) is NaN; we say why, and never show a zero-width interval
            assert math.isnan(low) and math.isnan(high)
            assert not e.has_interval and e.note == analysis.NO_DF
    # "d" lives in a single PSU: df 0 under every rule, whatever its SE
    assert ours["d"].df == 0
    full = analysis.mean(np.nan_to_num(d["y"]), by=d["dom"], where=present, df="design",
                         **design(d, rule))
    assert {e.df for e in full.values()} == {int(r["design_df"][0])}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("rule", sorted(RULES))
def test_contrasts_with_covariance_match_svycontrast(seed, rule):
    d = generated_design(seed)
    r = r_reference(f"contrast_{seed}_{rule}", DESIGN_R.format(rule=rule) + """
# (svyby's covmat = TRUE fails with na.rm = TRUE in survey 4.1.1: subset first; a subset
# keeps every PSU of the design with zeros, as our `where` does)
b <- svyby(~y, ~dom, subset(des, !is.na(y)), svymean, covmat = TRUE)
out("cov", vcov(b))
for (k in list(c(a = 1, b = -1), c(a = 1, c = -1), c(b = 0.5, c = 0.5, d = -1))) {
  cc <- svycontrast(b, k)
  out(paste0("c_", paste(names(k), collapse = "")), c(coef(cc), SE(cc)))
}
# a domain against the overall mean that contains it: ratios of totals, delta method
des <- update(des, ok = as.numeric(!is.na(y)), yy = ifelse(is.na(y), 0, y))
des <- update(des, ya = yy * (dom == "a"), ia = ok * (dom == "a"),
              yd = yy * (dom == "d"), id = ok * (dom == "d"))
tt <- svytotal(~ya + ia + yd + id + yy + ok, des)
for (k in c("a", "d")) {
  f <- parse(text = sprintf("y%s/i%s - yy/ok", k, k))[[1]]
  cc <- svycontrast(tt, f)
  out(paste0("t_", k), c(coef(cc), SE(cc)))
}
m <- svymean(~yy, subset(des, ok == 1))
out("total", c(coef(m), SE(m)))
""", frame(d))
    present = ~np.isnan(d["y"])
    cov = analysis.covariance_from_psu_totals(
        analysis.psu_totals(np.nan_to_num(d["y"]), weights=d["w"], strata=d["stratum"],
                            clusters=d["psu"], fpc=d["fpc"], by=d["dom"], where=present),
        single_psu=RULES[rule])
    assert cov.labels == ("a", "b", "c", "d", analysis.TOTAL)
    assert cov.covariance[:4, :4].ravel() == pytest.approx(r["cov"], rel=REL, abs=1e-12)
    assert cov.estimates[4] == pytest.approx(r["total"][0], rel=REL)
    assert math.sqrt(cov.covariance[4, 4]) == pytest.approx(r["total"][1], rel=REL)
    for name, coef in (("c_ab", {"a": 1, "b": -1}), ("c_ac", {"a": 1, "c": -1}),
                       ("c_bcd", {"b": 0.5, "c": 0.5, "d": -1}),
                       ("t_a", {"a": 1, analysis.TOTAL: -1}),
                       ("t_d", {"d": 1, analysis.TOTAL: -1})):
        c = cov.contrast(coef)
        assert c.estimate == pytest.approx(r[name][0], rel=REL), name
        assert c.standard_error == pytest.approx(r[name][1], rel=REL), name
    # the row-level entry point gives the same contrast
    row = analysis.contrast(np.nan_to_num(d["y"]), {"a": 1, analysis.TOTAL: -1}, by=d["dom"],
                            where=present, **design(d, rule))
    assert row.standard_error == pytest.approx(r["t_a"][1], rel=REL)
    # df of a contrast with the total: every PSU with a respondent is involved
    assert row.df == analysis.mean(np.nan_to_num(d["y"]), where=present, **design(d, rule)).df


def test_contrast_differs_from_independent_difference_and_is_refused_without_df():
    d = generated_design(11)
    present = ~np.isnan(d["y"])
    kw = design(d, "adjust")
    by = analysis.mean(np.nan_to_num(d["y"]), by=d["dom"], where=present, **kw)
    naive = analysis.difference(by["a"], by["b"])
    right = analysis.contrast(np.nan_to_num(d["y"]), {"a": 1, "b": -1}, by=d["dom"],
                              where=present, **kw)
    assert naive.estimate == pytest.approx(right.estimate, rel=1e-12)
    assert naive.standard_error != pytest.approx(right.standard_error, rel=1e-3)
    # "d" is inside one PSU: unit "d" alone has no df, so no interval and no test
    inside = d["dom"] == "d"
    lone = analysis.contrast(np.nan_to_num(d["y"]), {"d": 1}, by=d["dom"], where=present, **kw)
    assert not lone.has_interval and math.isnan(lone.p_value) and lone.note == analysis.NO_DF
    assert inside.any()


def test_difference_with_zero_se_has_no_test():
    a = analysis.Estimate(80.0, 0.0, math.nan, math.nan, 0.95, 10, 11, math.nan, math.nan)
    d = analysis.difference(a, 70.0)
    assert math.isnan(d.p_value) and not d.has_interval and d.note == analysis.ZERO_SE


@pytest.mark.parametrize("seed", SEEDS)
def test_proportion_intervals_match_svyciprop_on_domain_subsets(seed):
    d = generated_design(seed)
    r = r_reference(f"ciprop_{seed}", DESIGN_R.format(rule="adjust") + """
for (lev in c("a", "b", "c")) {
  s <- subset(des, dom == lev)
  for (m in c("logit", "beta")) {
    ci <- svyciprop(~sat, s, method = m, df = degf(s))
    out(paste(m, lev, sep = "_"), c(coef(ci), attr(ci, "ci")))
  }
}
""", frame(d))
    for level in "abc":
        for method, ours_method in (("logit", "logit"), ("beta", "korn-graubard")):
            e = analysis.proportion(d["sat"], 1.0, where=d["dom"] == level, method=ours_method,
                                    **design(d, "adjust"))
            assert (e.estimate, e.ci_low, e.ci_high) == pytest.approx(
                tuple(r[f"{method}_{level}"]), rel=REL), (method, level)
        auto = analysis.proportion(d["sat"], 1.0, where=d["dom"] == level,
                                   **design(d, "adjust"))
        assert (auto.ci_low, auto.ci_high) == pytest.approx(tuple(r[f"logit_{level}"][1:]),
                                                               rel=REL)


def test_all_satisfied_cell_gets_a_korn_graubard_interval_not_one_point():
    # 24 respondents in 6 sites of 2 districts, all satisfied: p̂ = 1, SE 0. The logit
    # interval would be [1, 1]; Korn & Graubard (1998) use n itself: Clopper–Pearson with
    # n_eff = n (t_{n−1}/t_df)², whose lower limit at x = n_eff is (α/2)^(1/n_eff).
    strata = np.repeat(["n", "s"], 12)
    sites = np.repeat(np.arange(6), 4)
    y = np.ones(24)
    e = analysis.proportion(y, 1.0, strata=strata, clusters=sites)
    assert e.estimate == 1.0 and e.standard_error == 0.0 and e.df == 4
    n_eff = 24 * (stats.t.ppf(0.025, 23) / stats.t.ppf(0.025, 4)) ** 2
    assert e.ci_low == pytest.approx(0.025 ** (1 / n_eff), rel=1e-12)
    assert e.ci_high == 1.0 and e.ci_low < 1.0 and e.note is None
    logit = analysis.proportion(y, 1.0, strata=strata, clusters=sites, method="logit")
    assert not logit.has_interval and logit.note == analysis.estimators.LOGIT_UNDEFINED
    none = analysis.proportion(np.zeros(24), 1.0, strata=strata, clusters=sites)
    assert none.ci_low == 0.0 and none.ci_high == pytest.approx(1 - 0.025 ** (1 / n_eff))
    # inside one PSU: no interval at all, whatever the method
    one = analysis.proportion(np.ones(4), 1.0, clusters=np.zeros(4), single_psu="certainty")
    assert not one.has_interval and one.note == analysis.NO_DF
