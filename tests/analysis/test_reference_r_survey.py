"""Published R ``survey`` results on the California API data.

Source: R package ``survey`` (Lumley), ``tests/api.Rout.save`` and the vignettes/examples at
http://r-survey.r-forge.r-project.org/survey/ (example-summary, example-domain), as listed in
/work/shared/REFERENCES.md. Printed values are matched at their printed precision.
"""

from __future__ import annotations

import numpy as np
import pytest

import analysis


def rel(printed: float, digits: int) -> float:
    """Relative tolerance for a value printed with ``digits`` significant digits."""
    return 0.5 * 10.0 ** (1 - digits) * 1.0001


def strat_design(t):
    return {"weights": t.num("pw"), "strata": t.text("stype"), "fpc": t.num("fpc")}


def clus1_design(t):
    return {"weights": t.num("pw"), "clusters": t.num("dnum"), "fpc": t.num("fpc")}


def test_svymean_api00_dstrat_full_digits(apistrat):
    # svymean(~api00, dstrat): 662.28736, SE 9.408941 (REFERENCES.md, 8 digits)
    e = analysis.mean(apistrat.num("api00"), **strat_design(apistrat))
    assert e.estimate == pytest.approx(662.28736, rel=1e-8)
    assert e.standard_error == pytest.approx(9.408941, rel=1e-6)
    assert e.df == 197


def test_svymean_api99_dstrat(apistrat):
    # svymean(~api99, dstrat): 629.39, SE 9.9639
    e = analysis.mean(apistrat.num("api99"), **strat_design(apistrat))
    assert e.estimate == pytest.approx(629.39, rel=rel(629.39, 5))
    assert e.standard_error == pytest.approx(9.9639, rel=rel(9.9639, 5))


def test_svytotal_enroll_dstrat(apistrat):
    # svytotal(~enroll, dstrat, na.rm=TRUE): 3687178, SE 114642
    e = analysis.total(apistrat.num("enroll"), **strat_design(apistrat))
    assert e.estimate == pytest.approx(3687178, rel=rel(3687178, 7))
    assert e.standard_error == pytest.approx(114642, rel=rel(114642, 6))


def test_svymean_api00_dclus1(apiclus1):
    # svymean(~api00, dclus1): 644.169399, SE 23.5422 (example-summary page, 15 PSUs, df 14)
    e = analysis.mean(apiclus1.num("api00"), **clus1_design(apiclus1))
    assert e.estimate == pytest.approx(644.169399, rel=1e-9)
    assert e.standard_error == pytest.approx(23.5422, rel=rel(23.5422, 6))
    assert e.df == 14


def test_svytotal_enroll_dclus1(apiclus1):
    # svytotal(~enroll, dclus1): 3404940.13, SE 932235.03 (example-summary page)
    e = analysis.total(apiclus1.num("enroll"), **clus1_design(apiclus1))
    assert e.estimate == pytest.approx(3404940.13, abs=0.005)
    assert e.standard_error == pytest.approx(932235.03, abs=0.005)


def test_svymean_stype_proportions_dclus1(apiclus1):
    # svymean(~stype, dclus1): E 0.786885 (0.0463), H 0.076503 (0.0268), M 0.136612 (0.0296)
    for level, p, se in (("E", 0.786885, 0.0463), ("H", 0.076503, 0.0268), ("M", 0.136612, 0.0296)):
        e = analysis.proportion(apiclus1.text("stype"), level, **clus1_design(apiclus1))
        assert e.estimate == pytest.approx(p, rel=rel(p, 6))
        assert e.standard_error == pytest.approx(se, abs=0.00005)


def test_svyratio_api_stu_enroll_dclus1(apiclus1):
    # svyratio(~api.stu, ~enroll, dclus1): 0.8497087, SE 0.008386297
    e = analysis.ratio(apiclus1.num("api.stu"), apiclus1.num("enroll"), **clus1_design(apiclus1))
    assert e.estimate == pytest.approx(0.8497087, rel=rel(0.8497087, 7))
    assert e.standard_error == pytest.approx(0.008386297, rel=rel(0.008386297, 7))


def test_domain_mean_subset_emer_dstrat(apistrat):
    # svymean(~api00, subset(dstrat, emer>20)): 558.52, SE 21.708; the design is kept
    e = analysis.mean(
        apistrat.num("api00"), where=apistrat.num("emer") > 20, **strat_design(apistrat)
    )
    assert e.estimate == pytest.approx(558.52, rel=rel(558.52, 5))
    assert e.standard_error == pytest.approx(21.708, rel=rel(21.708, 5))
    assert e.df == 33  # degf(subset(dstrat, emer > 20)): 36 schools in 3 strata
    full = analysis.mean(apistrat.num("api00"), where=apistrat.num("emer") > 20, df="design",
                         **strat_design(apistrat))
    assert full.df == 197 and full.standard_error == e.standard_error


def test_domain_total_subset_dclus1(apiclus1):
    # svytotal(~enroll, subset(dclus1, sch.wide=="Yes" & comp.imp=="Yes")): 2406420, SE 645444
    # (example-domain page)
    keep = (apiclus1.text("sch.wide") == "Yes") & (apiclus1.text("comp.imp") == "Yes")
    e = analysis.total(apiclus1.num("enroll"), where=keep, **clus1_design(apiclus1))
    assert e.estimate == pytest.approx(2406420, rel=rel(2406420, 7))
    assert e.standard_error == pytest.approx(645444, rel=rel(645444, 6))


def test_svyby_stype_schwide_dclus1(apiclus1):
    # svyby(~api99+api00, ~stype+sch.wide, dclus1, svymean, keep.var=TRUE), example-domain page
    published = {
        "E.No": (601.6667, 596.3333, 47.27582, 43.49010),
        "E.Yes": (608.3485, 653.6439, 21.52493, 20.31720),
        "H.No": (662.0000, 659.3333, 29.23003, 27.00275),
        "H.Yes": (577.6364, 607.4545, 46.50125, 43.70468),
        "M.No": (611.3750, 606.3750, 41.11886, 41.11686),
    }
    cell = np.char.add(np.char.add(apiclus1.text("stype"), "."), apiclus1.text("sch.wide"))
    api99 = analysis.mean(apiclus1.num("api99"), by=cell, **clus1_design(apiclus1))
    api00 = analysis.mean(apiclus1.num("api00"), by=cell, **clus1_design(apiclus1))
    for key, (m99, m00, se99, se00) in published.items():
        assert api99[key].estimate == pytest.approx(m99, abs=5e-5)
        assert api00[key].estimate == pytest.approx(m00, abs=5e-5)
        assert api99[key].standard_error == pytest.approx(se99, abs=5e-6)
        assert api00[key].standard_error == pytest.approx(se00, abs=5e-6)
        # degf(subset(dclus1, stype == "E" & sch.wide == "No")) etc. (R survey 4.1.1)
        assert api00[key].df == {"E.No": 5, "E.Yes": 14, "H.No": 2, "H.Yes": 6, "M.No": 5}[key]


def test_svymean_enroll_srs_with_and_without_fpc(apisrs):
    # svymean(~enroll, srs): 584.61, SE 27.368; 27.821 without fpc
    y = apisrs.num("enroll")
    with_fpc = analysis.mean(y, fpc=apisrs.num("fpc"))
    without = analysis.mean(y)
    assert with_fpc.estimate == pytest.approx(584.61, rel=rel(584.61, 5))
    assert with_fpc.standard_error == pytest.approx(27.368, rel=rel(27.368, 5))
    assert without.standard_error == pytest.approx(27.821, rel=rel(27.821, 5))
    assert without.df == 199


def test_svymean_api00_srs(apisrs):
    # svymean(~api00, srs): 656.58, SE 9.2497
    e = analysis.mean(apisrs.num("api00"), fpc=apisrs.num("fpc"))
    assert e.estimate == pytest.approx(656.58, rel=rel(656.58, 5))
    assert e.standard_error == pytest.approx(9.2497, rel=rel(9.2497, 5))


def test_fpc_as_sampling_fraction_equals_population_size(apistrat):
    # R accepts fpc as population sizes or as fractions; both must give the same SE
    design = strat_design(apistrat)
    counts = {s: (apistrat.text("stype") == s).sum() for s in ("E", "H", "M")}
    fraction = np.array([counts[s] for s in apistrat.text("stype")]) / design["fpc"]
    a = analysis.mean(apistrat.num("api00"), **design)
    b = analysis.mean(apistrat.num("api00"), **{**design, "fpc": fraction})
    assert b.standard_error == pytest.approx(a.standard_error, rel=1e-12)


def test_poststratify_point_estimate(apiclus1):
    # postStratify(dclus1, ~stype, pop.types) → svymean api00 642.31 (the calibration SE
    # is compared with live R in test_calibration.py)
    w = analysis.poststratify(
        apiclus1.text("stype"), {"E": 4421, "H": 755, "M": 1018}, weights=apiclus1.num("pw")
    ).weights
    e = analysis.mean(
        apiclus1.num("api00"), weights=w, clusters=apiclus1.num("dnum"), fpc=apiclus1.num("fpc")
    )
    assert e.estimate == pytest.approx(642.31, rel=rel(642.31, 5))


def test_rake_point_estimate(apiclus1):
    # rake(dclus1, list(~stype, ~sch.wide), list(pop.types, pop.schwide)) → api00 641.23
    r = analysis.rake(
        {"stype": apiclus1.text("stype"), "sch.wide": apiclus1.text("sch.wide")},
        {"stype": {"E": 4421, "H": 755, "M": 1018}, "sch.wide": {"No": 1072, "Yes": 5122}},
        weights=apiclus1.num("pw"),
    )
    assert r.converged
    e = analysis.mean(apiclus1.num("api00"), weights=r.weights, clusters=apiclus1.num("dnum"))
    assert e.estimate == pytest.approx(641.23, rel=rel(641.23, 5))


def test_kish_effective_n_apistrat(apistrat):
    # REFERENCES.md: apistrat n_eff 168.581, weighting deff 1.186371
    n_eff = analysis.kish_effective_n(apistrat.num("pw"))
    assert n_eff == pytest.approx(168.581, rel=rel(168.581, 6))
    assert 200 / n_eff == pytest.approx(1.186371, rel=rel(1.186371, 7))
