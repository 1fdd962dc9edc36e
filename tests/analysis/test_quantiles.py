"""Design-based quantiles with Woodruff intervals against R ``survey`` 4.1 ``svyquantile``
(defaults ``interval.type = "mean"``, ``qrule = "math"``, ``df = degf(design)``), live through
``tests/analysis/rsurvey.py`` (recorded in ``tests/data/r_survey/quantile_*.json``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rsurvey import generated_design, r_reference

from analysis.quantiles import LOWER_BELOW_ZERO, quantile
from analysis.results import NO_DF, ZERO_SE, Estimate

REL = 1e-8
QUANTILES = (0.1, 0.25, 0.5, 0.75)
R_LONELY = {"center": "adjust", "certainty": "certainty"}


def assert_matches_r(ours: Estimate, r: np.ndarray, label: str) -> None:
    """``r`` = (quantile, ci.2.5, ci.97.5, se) as ``svyquantile(...)$y[1, ]`` gives it; NaN
    in R must be NaN here."""
    got = (ours.estimate, ours.ci_low, ours.ci_high, ours.standard_error)
    for name, value, expected in zip(("estimate", "ci_low", "ci_high", "se"), got, r, strict=True):
        if math.isnan(expected):
            assert math.isnan(value), f"{label} {name}: R NaN, got {value}"
        else:
            assert value == pytest.approx(expected, rel=REL), f"{label} {name}"


def frame(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: d[k] for k in ("stratum", "psu", "w", "fpc", "y", "dom")}


GENERATED_SCRIPT = """
d <- read.csv("d.csv")
options(survey.lonely.psu = "{lonely}")
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, {fpc}data = d)
out("df_all", degf(subset(des, !is.na(y))))
for (p in c({qs})) {{
  r <- svyquantile(~y, des, quantiles = p, ci = TRUE, na.rm = TRUE)
  out(sprintf("all_%g", p), r$y[1, ])
  b <- svyby(~y, ~dom, des, svyquantile, quantiles = p, ci = TRUE, na.rm = TRUE,
             vartype = c("se", "ci"))
  for (i in seq_len(nrow(b))) {{
    lev <- as.character(b$dom[i])
    out(sprintf("dom_%s_%g", lev, p), c(b$y[i], b$ci_l[i], b$ci_u[i], b$se.y[i]))
    out(sprintf("df_%s", lev), degf(subset(des, dom == lev & !is.na(y))))
  }}
  s <- svyquantile(~y, subset(des, dom != "b"), quantiles = p, ci = TRUE, na.rm = TRUE)
  out(sprintf("notb_%g", p), s$y[1, ])
}}
"""


@pytest.mark.parametrize(
    ("seed", "single_psu", "with_fpc"),
    [
        (1, "center", True),
        (2, "certainty", True),
        (3, "center", False),
        (4, "certainty", False),
        (5, "center", True),
    ],
)
def test_generated_designs_against_r_svyquantile(seed, single_psu, with_fpc):
    # options(survey.lonely.psu = "adjust" | "certainty")
    # des <- svydesign(ids=~psu, strata=~stratum, weights=~w, fpc=~fpc, data=d)
    # svyquantile(~y, des, quantiles=p, ci=TRUE, na.rm=TRUE)
    # svyby(~y, ~dom, des, svyquantile, quantiles=p, ci=TRUE, na.rm=TRUE, vartype=c("se","ci"))
    # svyquantile(~y, subset(des, dom != "b"), quantiles=p, ci=TRUE, na.rm=TRUE)
    d = generated_design(seed)
    script = GENERATED_SCRIPT.format(
        lonely=R_LONELY[single_psu],
        fpc="fpc = ~fpc, " if with_fpc else "",
        qs=", ".join(map(str, QUANTILES)),
    )
    r = r_reference(
        f"quantile_generated_{seed}_{single_psu}_{int(with_fpc)}", script, {"d": frame(d)}
    )
    design = {
        "weights": d["w"],
        "strata": d["stratum"],
        "clusters": d["psu"],
        "fpc": d["fpc"] if with_fpc else None,
        "single_psu": single_psu,
    }
    for p in QUANTILES:
        whole = quantile(d["y"], p, **design)
        assert_matches_r(whole, r[f"all_{p:g}"], f"all q={p}")
        assert whole.df == r["df_all"][0]
        assert whole.n == int(np.isfinite(d["y"]).sum())
        domains = quantile(d["y"], p, by=d["dom"], **design)
        assert sorted(domains) == ["a", "b", "c", "d"]
        for level, e in domains.items():
            assert_matches_r(e, r[f"dom_{level}_{p:g}"], f"domain {level} q={p}")
            assert e.df == r[f"df_{level}"][0]
        # "d" lies inside one PSU: df 0, no interval (R: NaN too).
        assert domains["d"].df == 0 and domains["d"].note == NO_DF
        assert math.isnan(domains["d"].ci_low) and math.isnan(domains["d"].standard_error)
        sub = quantile(d["y"], p, where=d["dom"] != "b", **design)
        assert_matches_r(sub, r[f"notb_{p:g}"], f"dom != b q={p}")


UNWEIGHTED_SCRIPT = """
d <- read.csv("d.csv")
des <- svydesign(ids = ~1, data = d)
for (p in c(0.25, 0.5, 0.75)) {
  out(sprintf("all_%g", p), svyquantile(~y, des, quantiles = p, ci = TRUE, na.rm = TRUE)$y[1, ])
  b <- svyby(~y, ~dom, des, svyquantile, quantiles = p, ci = TRUE, na.rm = TRUE,
             vartype = c("se", "ci"))
  for (i in seq_len(nrow(b)))
    out(sprintf("dom_%s_%g", b$dom[i], p), c(b$y[i], b$ci_l[i], b$ci_u[i], b$se.y[i]))
}
"""


def test_unweighted_unstratified_against_r():
    # des <- svydesign(ids=~1, data=d); svyquantile(~y, des, p, ci=TRUE, na.rm=TRUE)
    # svyby(~y, ~dom, des, svyquantile, quantiles=p, ci=TRUE, na.rm=TRUE, vartype=c("se","ci"))
    d = generated_design(11, rows=300)
    r = r_reference("quantile_unweighted", UNWEIGHTED_SCRIPT, {"d": {"y": d["y"], "dom": d["dom"]}})
    for p in (0.25, 0.5, 0.75):
        e = quantile(d["y"], p)
        assert_matches_r(e, r[f"all_{p:g}"], f"all q={p}")
        assert e.df == np.isfinite(d["y"]).sum() - 1
        for level, e in quantile(d["y"], p, by=d["dom"]).items():
            assert_matches_r(e, r[f"dom_{level}_{p:g}"], f"domain {level} q={p}")


API_SCRIPT = """
s <- read.csv("strat.csv")
c1 <- read.csv("clus1.csv")
dstrat <- svydesign(ids = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = s)
dclus1 <- svydesign(ids = ~dnum, weights = ~pw, fpc = ~fpc, data = c1)
for (p in c(0.25, 0.5, 0.75)) {
  for (v in c("api00", "enroll", "acs.46")) {
    f <- as.formula(paste0("~", v))
    out(sprintf("strat_%s_%g", v, p),
        svyquantile(f, dstrat, quantiles = p, ci = TRUE, na.rm = TRUE)[[1]][1, ])
    out(sprintf("clus1_%s_%g", v, p),
        svyquantile(f, dclus1, quantiles = p, ci = TRUE, na.rm = TRUE)[[1]][1, ])
  }
  b <- svyby(~api00, ~stype, dclus1, svyquantile, quantiles = p, ci = TRUE,
             vartype = c("se", "ci"))
  for (i in seq_len(nrow(b)))
    out(sprintf("by_%s_%g", b$stype[i], p), c(b$api00[i], b$ci_l[i], b$ci_u[i], b$se.api00[i]))
}
"""


def test_api_data_against_r(apistrat, apiclus1):
    # dstrat <- svydesign(id=~1, strata=~stype, weights=~pw, data=apistrat, fpc=~fpc)
    # dclus1 <- svydesign(id=~dnum, weights=~pw, data=apiclus1, fpc=~fpc)
    # svyquantile(~api00, dstrat, quantiles=p, ci=TRUE, na.rm=TRUE) (also enroll, acs.46)
    # svyby(~api00, ~stype, dclus1, svyquantile, quantiles=p, ci=TRUE, vartype=c("se","ci"))
    columns = ("api00", "enroll", "acs.46")

    def api_frame(t, *extra):
        return {
            name: (t.text(name) if name == "stype" else t.num(name))
            for name in ("pw", "fpc", "stype", *extra, *columns)
        }

    r = r_reference(
        "quantile_api",
        API_SCRIPT,
        {"strat": api_frame(apistrat), "clus1": api_frame(apiclus1, "dnum")},
    )
    strat = {
        "weights": apistrat.num("pw"),
        "strata": apistrat.text("stype"),
        "fpc": apistrat.num("fpc"),
    }
    clus1 = {
        "weights": apiclus1.num("pw"),
        "clusters": apiclus1.num("dnum"),
        "fpc": apiclus1.num("fpc"),
    }
    for p in (0.25, 0.5, 0.75):
        for v in columns:
            assert_matches_r(quantile(apistrat.num(v), p, **strat), r[f"strat_{v}_{p:g}"], v)
            assert_matches_r(quantile(apiclus1.num(v), p, **clus1), r[f"clus1_{v}_{p:g}"], v)
        by = quantile(apiclus1.num("api00"), p, by=apiclus1.text("stype"), **clus1)
        for level, e in by.items():
            assert_matches_r(e, r[f"by_{level}_{p:g}"], f"stype {level}")


def test_api_printed_quartile_and_median(apiclus1):
    # R survey 4.1.1 prints for svyquantile(~api00, dclus1, c(.25, .5), ci=TRUE):
    #   0.25: 552, ci 492–627, se 31.47166;  0.5: 652, ci 561–714, se 35.66788
    clus1 = {
        "weights": apiclus1.num("pw"),
        "clusters": apiclus1.num("dnum"),
        "fpc": apiclus1.num("fpc"),
    }
    for p, printed in ((0.25, (552, 492, 627, 31.47166)), (0.5, (652, 561, 714, 35.66788))):
        e = quantile(apiclus1.num("api00"), p, **clus1)
        assert (e.estimate, e.ci_low, e.ci_high) == printed[:3]
        assert e.standard_error == pytest.approx(printed[3], abs=5e-6)
        assert e.df == 14


LOW_TAIL_SCRIPT = """
d <- read.csv("d.csv")
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, data = d)
out("q", svyquantile(~y, des, quantiles = 0.02, ci = TRUE)$y[1, ])
"""


def test_share_interval_below_zero_gives_nan_lower_limit_like_r():
    # svyquantile(~y, des, quantiles=0.02, ci=TRUE): p̂ − t·SE < 0 ⇒ R's lower limit is NaN
    rng = np.random.default_rng(7)
    psu = np.repeat(np.arange(6), 5)
    d = {
        "stratum": psu // 3,
        "psu": psu,
        "w": np.round(rng.uniform(1, 3, 30), 2),
        "y": np.round(rng.normal(50, 10, 30), 1),
    }
    r = r_reference("quantile_low_tail", LOW_TAIL_SCRIPT, {"d": d})
    e = quantile(d["y"], 0.02, weights=d["w"], strata=d["stratum"], clusters=d["psu"])
    assert math.isnan(r["q"][1])
    assert_matches_r(e, r["q"], "q=0.02")
    assert e.note == LOWER_BELOW_ZERO and math.isfinite(e.ci_high)


ZERO_SE_SCRIPT = """
d <- read.csv("d.csv")
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, data = d)
out("q", svyquantile(~y, des, quantiles = 0.5, ci = TRUE)$y[1, ])
"""


def test_zero_se_share_gives_nan_not_zero_width():
    # svyquantile(~y, des, 0.5, ci=TRUE) with every PSU having the same share below q̂:
    # R returns a zero-width interval (ci_low == ci_high, se 0); we return NaN with a note.
    psu = np.repeat(np.arange(4), 2)
    d = {
        "stratum": np.zeros(8, dtype=int),
        "psu": psu,
        "w": np.ones(8),
        "y": np.array([1.0, 2, 1, 2, 1, 2, 1, 2]),
    }
    r = r_reference("quantile_zero_se", ZERO_SE_SCRIPT, {"d": d})
    assert r["q"][1] == r["q"][2] and r["q"][3] == 0
    e = quantile(d["y"], 0.5, weights=d["w"], strata=d["stratum"], clusters=d["psu"])
    assert e.estimate == r["q"][0] == 1.0
    assert math.isnan(e.ci_low) and math.isnan(e.ci_high) and math.isnan(e.standard_error)
    assert e.note == ZERO_SE and e.df == 3


def test_qrule_math_on_exact_ties_and_below_the_first_share():
    # qrule_math: x[pos] when the cumulative weight hits q·W exactly, else x[pos + 1], pos the
    # last row with cumw <= q·W, or the first row if none (survey:::last), hence x[2] then.
    # R: coef(svyquantile(~y, svydesign(ids=~1, data=data.frame(y=c(4,1,3,2))), p, ci=FALSE))
    #   p = 0.5 -> 2, 0.51 -> 3, 0.1 -> 2;
    # survey:::qrule_math(c(4,1,3,2), c(1,3,0,0), p): 0.75 -> 1, 0.5 -> 4 (zero weights dropped)
    y = np.array([4.0, 1, 3, 2])
    assert quantile(y, 0.5).estimate == 2.0
    assert quantile(y, 0.51).estimate == 3.0
    assert quantile(y, 0.1).estimate == 2.0
    assert quantile(y, 0.75, weights=[1.0, 3, 0, 0]).estimate == 1.0
    assert quantile(y, 0.5, weights=[1.0, 3, 0, 0]).estimate == 4.0


def test_collapse_equals_hand_relabelled_strata():
    # single_psu="collapse" is the design with the single-PSU strata pooled by hand.
    d = generated_design(6)
    lonely = [
        s for s in np.unique(d["stratum"]) if np.unique(d["psu"][d["stratum"] == s]).size == 1
    ]
    pooled = np.where(np.isin(d["stratum"], lonely), "pooled", d["stratum"])
    common = {"weights": d["w"], "clusters": d["psu"], "by": d["dom"]}
    got = quantile(d["y"], 0.5, strata=d["stratum"], single_psu="collapse", **common)
    expected = quantile(d["y"], 0.5, strata=pooled, **common)
    assert got.keys() == expected.keys()
    for level in got:
        assert got[level].df == expected[level].df
        for name in ("estimate", "ci_low", "ci_high", "standard_error"):
            a, b = getattr(got[level], name), getattr(expected[level], name)
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"q": 0.0}, "`q` must be in"),
        ({"q": 1.0}, "`q` must be in"),
        ({"q": True}, "`q` must be a number"),
        ({"q": "half"}, "`q` must be a number"),
        ({"q": 0.5, "confidence_level": 1.5}, "`confidence_level`"),
        ({"q": 0.5, "single_psu": "drop"}, "`single_psu`"),
        ({"q": 0.5, "weights": [1.0, -1, 1, 1]}, "`weights`"),
        ({"q": 0.5, "where": [1, 0, 1, 1]}, "`where` must be a boolean"),
        ({"q": 0.5, "by": ["a", "b"]}, "`by` has length 2"),
        ({"q": 0.5, "strata": ["a", "b", "c"]}, "`strata` has length 3"),
    ],
)
def test_invalid_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        quantile(np.array([1.0, 2, 3, 4]), **kwargs)


def test_levels_only_outside_where_or_with_zero_weight_are_not_domains():
    # R svyby drops levels whose rows all have zero weight; `where` is a subpopulation.
    y = np.array([1.0, 2, 3, 4, 5, 6])
    by = np.array(["a", "a", "b", "b", "c", "c"])
    got = quantile(y, 0.5, by=by, where=by != "b", weights=[1.0, 1, 1, 1, 0, 0])
    assert list(got) == ["a"]
    assert got["a"].n == 2 and got["a"].estimate == 1.0


def test_empty_domain_and_bad_values_are_errors():
    y = np.array([1.0, 2, np.nan, np.nan])
    with pytest.raises(ValueError, match="domain 'b' of `by`"):
        quantile(y, 0.5, by=["a", "a", "b", "b"])
    with pytest.raises(ValueError, match="no row has a value of `y`"):
        quantile(np.full(3, np.nan), 0.5)
    with pytest.raises(ValueError, match="infinite"):
        quantile([1.0, np.inf], 0.5)
    with pytest.raises(ValueError, match="single PSU"):
        quantile([1.0, 2, 3], 0.5, strata=["a", "b", "b"])


def test_docstring_examples_hold():
    import doctest

    import analysis.quantiles

    assert doctest.testmod(analysis.quantiles).failed == 0
