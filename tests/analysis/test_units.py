"""Sites as strata of respondents (analysis.units): unit means, the overall mean and the
contrast unit − overall from per-unit sums, against R ``survey`` 4.1 and against the row-level
covariance path (analysis.covariance_from_psu_totals) on the same design."""

from __future__ import annotations

import math

import numpy as np
import pytest

import analysis
from analysis.units import UnitMoments, units_versus_overall
from tests.analysis.rsurvey import generated_design, r_reference

REL = 1e-8


def sites(seed: int) -> dict[str, np.ndarray]:
    d = generated_design(seed)
    keep = ~np.isnan(d["y"])
    out = {k: v[keep] for k, v in d.items()}
    # one site with a single respondent (a lonely stratum) and one with two
    first = np.flatnonzero(out["psu"] == out["psu"][0])
    out["psu"] = out["psu"].astype(object)
    out["psu"][first[0]] = "solo"
    out["psu"][first[1:3]] = "pair"
    out["psu"] = out["psu"].astype(str)
    return out


@pytest.mark.parametrize("seed", (21, 22))
@pytest.mark.parametrize("rule", ("adjust", "certainty"))
def test_units_versus_overall_match_svycontrast(seed, rule):
    d = sites(seed)
    r = r_reference(f"units_{seed}_{rule}", f"""
d0 <- read.csv("d.csv", stringsAsFactors = FALSE)
options(survey.lonely.psu = "{rule}")
des <- svydesign(ids = ~1, strata = ~psu, weights = ~w, data = d0)
b <- svyby(~y, ~psu, des, svymean, covmat = TRUE)
out("labels_n", length(coef(b)))
out("mean", coef(b)); out("se", SE(b))
m <- svymean(~y, des); out("overall", c(coef(m), SE(m), degf(des)))
# unit − overall: ratio of totals with the delta method
units <- sort(unique(d0$psu))
for (k in seq_along(units)) {{
  des <- update(des, yk = y * (psu == units[k]), ik = as.numeric(psu == units[k]),
                one = 1)
  cc <- svycontrast(svytotal(~yk + ik + y + one, des), quote(yk/ik - y/one))
  out(sprintf("c_%03d", k), c(coef(cc), SE(cc)))
}}
""", {"d": {k: d[k] for k in ("psu", "w", "y")}})
    single = {"adjust": "center", "certainty": "certainty"}[rule]
    result = units_versus_overall(UnitMoments.from_rows(d["y"], weights=d["w"], units=d["psu"]),
                                  single_psu=single)
    labels = sorted(result.units)
    assert len(labels) == int(r["labels_n"][0])
    for k, label in enumerate(labels):
        e = result.units[label]
        assert e.estimate == pytest.approx(r["mean"][k], rel=REL)
        assert e.standard_error == pytest.approx(r["se"][k], rel=REL, abs=1e-12)
        c = result.versus_overall[label]
        assert c.estimate == pytest.approx(r[f"c_{k + 1:03d}"][0], rel=REL)
        assert c.standard_error == pytest.approx(r[f"c_{k + 1:03d}"][1], rel=REL)
    point, se, df = r["overall"]
    assert result.overall.estimate == pytest.approx(point, rel=REL)
    assert result.overall.standard_error == pytest.approx(se, rel=REL)
    assert result.overall.df == df
    # a single-respondent site: df 0, no interval; its contrast still has the design's df
    assert result.units["solo"].df == 0 and not result.units["solo"].has_interval
    assert result.units["pair"].df == 1 and result.units["pair"].has_interval


def test_units_equal_the_row_level_covariance_path():
    d = sites(23)
    result = units_versus_overall(UnitMoments.from_rows(d["y"], weights=d["w"], units=d["psu"]),
                                  single_psu="center")
    totals = analysis.psu_totals(d["y"], weights=d["w"], strata=d["psu"], by=d["psu"])
    cov = analysis.covariance_from_psu_totals(totals, single_psu="center")
    for label in ("pair", "s3p0"):
        dense = cov.contrast({label: 1, analysis.TOTAL: -1})
        ours = result.versus_overall[label]
        assert ours.standard_error == pytest.approx(dense.standard_error, rel=1e-10)
        assert ours.df == dense.df
        assert ours.p_value == pytest.approx(dense.p_value, rel=1e-8)
    dense_units = analysis.mean(d["y"], weights=d["w"], strata=d["psu"], by=d["psu"],
                                single_psu="center")
    assert result.units["s3p0"].design_effect == pytest.approx(
        dense_units["s3p0"].design_effect, rel=1e-10)


def test_moments_refuse_bad_input_naming_it():
    with pytest.raises(ValueError, match="one value per unit"):
        UnitMoments(np.array(["a", "b"]), *([np.ones(2)] * 6), np.ones(3))
    with pytest.raises(ValueError, match="'b' has no respondent"):
        UnitMoments(np.array(["a", "b"]), np.array([2.0, 0.0]), *([np.ones(2)] * 6))
    with pytest.raises(ValueError, match="single PSU"):
        units_versus_overall(UnitMoments.from_rows([1.0, 2, 3], weights=[1.0] * 3,
                                                   units=["a", "a", "b"]))
    lonely = units_versus_overall(UnitMoments.from_rows([1.0, 2, 3], weights=[1.0] * 3,
                                                        units=["a", "a", "b"]),
                                  single_psu="certainty")
    assert math.isnan(lonely.units["b"].ci_low) and lonely.units["b"].note == analysis.NO_DF
