"""analysis.mean / total / proportion with ``calibration=`` (the result of rake or
poststratify) equal R ``survey`` 4.1 on calibrate(calfun="raking") and postStratify designs:
estimates, SEs and intervals, overall and by domain, with lonely PSUs, fpc and missing values."""

from __future__ import annotations

import numpy as np
import pytest

import analysis
from tests.analysis.rsurvey import generated_design, r_reference

REL = 1e-8
AGE = {"young": 3000.0, "mid": 4200.0, "old": 2800.0}
SEX = {"f": 5100.0, "m": 4900.0}

SCRIPT = """
d0 <- read.csv("d.csv", stringsAsFactors = FALSE)
options(survey.lonely.psu = "adjust")
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, fpc = ~fpc, data = d0, nest = TRUE)
pop <- c(`(Intercept)` = 10000, agemid = 4200, ageold = 2800, sexm = 4900)
d0$age <- factor(d0$age, levels = c("young", "mid", "old"))
des <- update(des, age = factor(age, levels = c("young", "mid", "old")))
cal <- calibrate(des, ~age + sex, population = pop, calfun = "raking", epsilon = 1e-12,
                 maxit = 200)
ps <- postStratify(des, ~age, data.frame(age = c("young", "mid", "old"),
                                         Freq = c(3000, 4200, 2800)))
for (nm in c("cal", "ps")) {
  d <- get(nm)
  m <- svymean(~y, d, na.rm = TRUE); out(paste0(nm, "_mean"), c(coef(m), SE(m)))
  t <- svytotal(~y, d, na.rm = TRUE); out(paste0(nm, "_total"), c(coef(t), SE(t)))
  b <- svyby(~y, ~dom, d, svymean, na.rm = TRUE); out(paste0(nm, "_by"), c(coef(b), SE(b)))
  p <- svymean(~sat, d); out(paste0(nm, "_sat"), c(coef(p), SE(p)))
  out(paste0(nm, "_w"), weights(d))
}
"""


@pytest.mark.parametrize("seed", (31, 32))
def test_calibrated_estimates_match_r(seed):
    d = generated_design(seed)
    r = r_reference(f"calibrated_estimators_{seed}", SCRIPT,
                    {"d": {k: d[k] for k in ("stratum", "psu", "w", "fpc", "y", "sat", "dom",
                                             "age", "sex")}})
    design = {"strata": d["stratum"], "clusters": d["psu"], "fpc": d["fpc"],
              "single_psu": "adjust"}
    raked = analysis.rake({"age": d["age"], "sex": d["sex"]}, {"age": AGE, "sex": SEX},
                          weights=d["w"], tol=1e-13, max_iter=500)
    posted = analysis.poststratify(d["age"], AGE, weights=d["w"])
    y = np.nan_to_num(d["y"])
    present = ~np.isnan(d["y"])
    for name, result in (("cal", raked), ("ps", posted)):
        cal = result.calibration
        assert cal.weights == pytest.approx(r[f"{name}_w"], rel=1e-9)
        m = analysis.mean(y, where=present, calibration=cal, **design)
        assert (m.estimate, m.standard_error) == pytest.approx(tuple(r[f"{name}_mean"]), rel=REL)
        t = analysis.total(y, where=present, calibration=cal, **design)
        assert (t.estimate, t.standard_error) == pytest.approx(tuple(r[f"{name}_total"]),
                                                               rel=REL)
        by = analysis.mean(y, by=d["dom"], where=present, calibration=cal, **design)
        levels = sorted(by)
        assert [by[k].estimate for k in levels] == pytest.approx(r[f"{name}_by"][:4], rel=REL)
        assert [by[k].standard_error for k in levels] == pytest.approx(r[f"{name}_by"][4:],
                                                                       rel=REL)
        p = analysis.proportion(d["sat"], 1.0, calibration=cal, **design)
        assert (p.estimate, p.standard_error) == pytest.approx(tuple(r[f"{name}_sat"]), rel=REL)
        # treating the calibrated weights as fixed gives another SE (not R's)
        fixed = analysis.mean(y, where=present, weights=cal.weights, **design)
        assert fixed.estimate == pytest.approx(m.estimate, rel=1e-12)
        assert abs(fixed.standard_error - m.standard_error) > 1e-5 * m.standard_error


def test_calibration_must_fit_the_rows():
    d = generated_design(31)
    posted = analysis.poststratify(d["age"], AGE, weights=d["w"])
    with pytest.raises(ValueError, match="differ from the calibrated weights"):
        analysis.mean(d["sat"], weights=d["w"], calibration=posted.calibration)
    with pytest.raises(ValueError, match="rows"):
        analysis.mean(d["sat"][:-1], weights=d["w"][:-1], calibration=posted.calibration)
