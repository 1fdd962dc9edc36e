"""Replicate-weight designs (analysis.replicates) against R survey 4.1.

Each R script is in the test; numbers are compared at rel=1e-8 (recorded in
tests/data/r_survey/<name>.json for machines without R).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import analysis
from analysis.replicates import (
    ReplicateDesign,
    hadamard_r,
    replicate_mean,
    replicate_proportion,
    replicate_total,
    replicate_weights,
)
from tests.analysis.rsurvey import generated_design, r_reference

REL = 1e-8

# R helpers shared by the scripts: every estimate as c(coef, SE, ci_low, ci_high, df) with
# df = degf() of the subset design (R recomputes degf = rank(weights) - 1 on subsetting).
R_ESTIMATES = """
five <- function(m, s) c(coef(m), SE(m), confint(m, df = degf(s)), degf(s))
prop <- function(s) {
  p <- tryCatch(svyciprop(~sat, s, method = "logit"), error = function(e) NULL)
  if (is.null(p)) return(c(NA, NA, NA, NA, degf(s)))
  c(coef(p), sqrt(attr(p, "var")), confint(p), degf(s))
}
estimates <- function(r, d) {
  s <- subset(r, !is.na(y))
  out("mean", five(svymean(~y, s), s))
  out("total", five(svytotal(~y, s), s))
  out("prop", prop(r))
  out("deff", attr(svymean(~y, s, deff = "replace"), "deff"))
  b <- svyby(~y, ~dom, r, svymean, na.rm = TRUE)
  out("by_mean", c(coef(b), SE(b)))
  b <- svyby(~y, ~dom, r, svytotal, na.rm = TRUE)
  out("by_total", c(coef(b), SE(b)))
  for (lev in sort(unique(d$dom))) {
    s <- subset(r, dom == lev & !is.na(y))
    out(paste0("dmean_", lev), five(svymean(~y, s), s))
    out(paste0("dtotal_", lev), five(svytotal(~y, s), s))
    out(paste0("dprop_", lev), prop(subset(r, dom == lev)))
  }
  out("rw", weights(r, "analysis"))
  out("scale", r$scale)
  out("rscales", r$rscales)
  out("degf", degf(r))
}
"""


def paired_design(seed: int, strata: int) -> dict[str, np.ndarray]:
    """Exactly two PSUs per stratum; stratum labels sort differently as text than in order of
    appearance (h10 < h2) and rows are shuffled, so R's pair numbering is exercised."""
    rng = np.random.default_rng(seed)
    stratum, psu = [], []
    for h in range(strata):
        for i in range(2):
            size = int(rng.integers(4, 25))
            stratum += [f"h{h}"] * size
            psu += [f"h{h}p{i}"] * size
    order = rng.permutation(len(stratum))
    stratum_a, psu_a = np.array(stratum)[order], np.array(psu)[order]
    n = stratum_a.size
    effect = {p: rng.normal(0, 6) for p in np.unique(psu_a)}
    y = np.clip(np.round(70 + np.array([effect[p] for p in psu_a]) + rng.normal(0, 12, n), 1),
                0, 100)
    sat = (y + rng.normal(0, 5, n) > 72).astype(float)
    y[rng.random(n) < 0.05] = np.nan
    w = np.round(rng.uniform(20, 80, n), 3)
    dom = rng.choice(np.array(["a", "b", "c"]), size=n, p=[0.6, 0.3, 0.1])
    return {"stratum": stratum_a, "psu": psu_a, "w": w, "y": y, "sat": sat, "dom": dom}


def five(e) -> list[float]:
    return [e.estimate, e.standard_error, e.ci_low, e.ci_high, e.df]


def check_against_r(r: dict[str, np.ndarray], design: ReplicateDesign,
                    g: dict[str, np.ndarray]) -> None:
    """Compare the replicate weights and every estimate with R's `estimates()` output."""
    ours = design.replicate_weights
    assert ours.shape[1] == r["rscales"].size
    assert ours.ravel(order="F") == pytest.approx(r["rw"], rel=REL, abs=1e-12)
    assert design.scale == pytest.approx(r["scale"][0], rel=REL)
    assert design.rscales == pytest.approx(r["rscales"], rel=REL)
    assert design.df == r["degf"][0]
    observed = ~np.isnan(g["y"])
    y = np.where(observed, g["y"], np.nan)
    for key, fun in (("mean", replicate_mean), ("total", replicate_total)):
        e = fun(y, design, where=observed)
        assert five(e) == pytest.approx(r[key], rel=REL, nan_ok=True), key
        by = fun(y, design, where=observed, by=g["dom"])
        levels = sorted(by)
        assert [by[k].estimate for k in levels] + [by[k].standard_error for k in levels] == \
            pytest.approx(r[f"by_{key}"], rel=REL, nan_ok=True), key
        for lev in levels:
            assert five(by[lev]) == pytest.approx(r[f"d{key}_{lev}"], rel=REL, nan_ok=True), \
                (key, lev)
            if by[lev].df <= 0 or not by[lev].standard_error > 0:
                assert math.isnan(by[lev].ci_low) and math.isnan(by[lev].ci_high)
    e = replicate_mean(y, design, where=observed)
    assert e.design_effect == pytest.approx(r["deff"][0], rel=REL)
    p = replicate_proportion(g["sat"], 1.0, design)
    assert five(p) == pytest.approx(r["prop"], rel=REL)
    by_p = replicate_proportion(g["sat"], 1.0, design, by=g["dom"])
    for lev, e in by_p.items():
        expected = r[f"dprop_{lev}"]
        if np.isnan(expected[0]):  # R's svyglm fails: a replicate without the domain
            assert math.isnan(e.ci_low) and e.df == expected[4]
        else:
            assert five(e) == pytest.approx(expected, rel=REL, nan_ok=True), lev


def test_jkn_matches_r_as_svrepdesign():
    # options(survey.lonely.psu = "certainty")
    # as.svrepdesign(svydesign(ids=~psu, strata=~stratum, weights=~w, fpc=~fpc, nest=TRUE),
    #                type = "JKn"); svymean / svytotal / svyciprop / svyby on it
    g = generated_design(3)
    script = R_ESTIMATES + """
d <- read.csv("d.csv")
options(survey.lonely.psu = "certainty")
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, fpc = ~fpc, data = d,
                 nest = TRUE)
estimates(as.svrepdesign(des, type = "JKn"), d)
"""
    r = r_reference("replicates_jkn", script, {"d": g})
    design = replicate_weights("jkn", weights=g["w"], strata=g["stratum"], clusters=g["psu"],
                               fpc=g["fpc"], single_psu="certainty")
    assert design.kind == "jkn"
    check_against_r(r, design, g)


def test_jk1_matches_r_with_fpc():
    # as.svrepdesign(svydesign(ids=~psu, weights=~w, fpc=~fpc1, data=d), type="JK1")
    g = generated_design(5)
    g["fpc1"] = np.full(g["w"].size, float(np.unique(g["psu"]).size + 17))
    script = R_ESTIMATES + """
d <- read.csv("d.csv")
des <- svydesign(ids = ~psu, weights = ~w, fpc = ~fpc1, data = d)
estimates(as.svrepdesign(des, type = "JK1"), d)
"""
    r = r_reference("replicates_jk1", script, {"d": g})
    design = replicate_weights("jk1", weights=g["w"], clusters=g["psu"], fpc=g["fpc1"])
    check_against_r(r, design, g)


@pytest.mark.parametrize(("strata", "rho"), [(7, 0.0), (9, 0.0), (13, 0.5), (20, 0.3)])
def test_brr_and_fay_match_r(strata, rho):
    # as.svrepdesign(svydesign(ids=~psu, strata=~stratum, weights=~w), type="BRR")
    # and type="Fay", fay.rho=rho (Hadamard orders 8, 12 (Paley), 16, 24 (Paley doubled))
    g = paired_design(strata, strata)
    kind = "Fay" if rho else "BRR"
    script = R_ESTIMATES + f"""
d <- read.csv("d.csv")
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, data = d)
estimates(as.svrepdesign(des, type = "{kind}", fay.rho = {rho}), d)
"""
    r = r_reference(f"replicates_{kind.lower()}_{strata}", script, {"d": g})
    design = replicate_weights("brr", weights=g["w"], strata=g["stratum"], clusters=g["psu"],
                               fay_rho=rho)
    assert design.kind == ("fay" if rho else "brr")
    check_against_r(r, design, g)
    # full orthogonal balance: every stratum's ±1 column is orthogonal to the others and
    # half-samples are balanced (each PSU in half of the replicates)
    h, _ = hadamard_r(strata)
    signs = 2.0 * h[1 : strata + 1] - 1.0
    assert (signs @ signs.T == h.shape[0] * np.eye(strata)).all()
    assert (signs.sum(axis=1) == 0).all()


def test_hadamard_is_r_hadamard():
    # survey::hadamard(n) for n = 1..130: its order and two weighted checksums (row i times i,
    # column j times j²; exact in doubles), and the whole matrix for a few n
    sizes = list(range(1, 131))
    full = [7, 9, 13, 20, 45, 61]
    script = """
for (n in 1:130) {
  h <- hadamard(n); k <- nrow(h)
  out(paste0("h", n), c(k, colSums(h * (1:k)), rowSums(t(t(h) * (1:k)^2))))
}
for (n in c(""" + ",".join(map(str, full)) + """)) out(paste0("full", n), hadamard(n))
"""
    r = r_reference("replicates_hadamard", script, {})
    replaced = []
    for n in sizes:
        h, same = hadamard_r(n)
        pm = 2 * h.astype(int) - 1
        assert (pm.T @ pm == h.shape[0] * np.eye(h.shape[0])).all(), n
        assert (h[0] == 1).all()
        k = h.shape[0]
        assert k == r[f"h{n}"][0], n
        if same:
            index = np.arange(1, k + 1, dtype=float)
            checksum = np.concatenate([(h * index[:, None]).sum(0), (h * index**2).sum(1)])
            assert (checksum == r[f"h{n}"][1:]).all(), n
            if n in full:
                assert (h.ravel(order="F") == r[f"full{n}"]).all(), n
        else:
            replaced.append(n)
    # only where R uses its tabulated orders 28 and 36 (or doubles of them): same order as
    # R, Paley II rows instead of R's table
    assert replaced == [24, 25, 26, 27, 32, 33, 34, 35, 48, 49, 50, 51, 52, 53, 54, 55,
                        68, 69, 70, 71, 108, 109, 110, 111]


def test_brr_where_r_uses_its_table_through_r_svrepdesign():
    # 25 strata: R's hadamard(25) is its tabulated order-28 matrix, ours a Paley II matrix of
    # order 28, so feed our weights to R:
    # svrepdesign(data=d, repweights="^rep_", weights=~w, type="BRR", combined.weights=TRUE)
    g = paired_design(25, 25)
    design = replicate_weights("brr", weights=g["w"], strata=g["stratum"], clusters=g["psu"])
    assert design.replicates == 28
    frame = dict(g)
    rw = design.replicate_weights
    for j in range(rw.shape[1]):
        frame[f"rep_{j}"] = rw[:, j]
    script = R_ESTIMATES + """
d <- read.csv("d.csv")
r <- svrepdesign(data = d, repweights = "^rep_", weights = ~w, type = "BRR",
                 combined.weights = TRUE)
estimates(r, d)
"""
    r = r_reference("replicates_brr_table", script, {"d": frame})
    check_against_r(r, design, g)
    h, same = hadamard_r(25)
    signs = 2.0 * h[1:26] - 1.0
    assert not same and (signs @ signs.T == 28 * np.eye(25)).all()
    assert (signs.sum(axis=1) == 0).all()


def test_bootstrap_against_r_svrepdesign():
    # svrepdesign(data=d, repweights="^rep_", weights=~w, type="bootstrap",
    #             combined.weights=TRUE): scale 1/(B-1), rscales 1, centred on the mean
    g = generated_design(7)
    design = replicate_weights("bootstrap", weights=g["w"], strata=g["stratum"],
                               clusters=g["psu"], replicates=60, rng=np.random.default_rng(42),
                               single_psu="certainty")
    frame = dict(g)
    rw = design.replicate_weights
    for j in range(rw.shape[1]):
        frame[f"rep_{j}"] = rw[:, j]
    script = R_ESTIMATES + """
d <- read.csv("d.csv")
r <- svrepdesign(data = d, repweights = "^rep_", weights = ~w, type = "bootstrap",
                 combined.weights = TRUE)
estimates(r, d)
"""
    r = r_reference("replicates_bootstrap", script, {"d": frame})
    check_against_r(r, design, g)
    # the same matrix through from_matrix gives the same design
    again = ReplicateDesign.from_matrix(rw, "bootstrap", weights=g["w"])
    check_against_r(r, again, g)


def test_bootstrap_is_deterministic_and_rao_wu():
    g = generated_design(11)
    args = {"weights": g["w"], "strata": g["stratum"], "clusters": g["psu"],
            "fpc": g["fpc"], "replicates": 40, "single_psu": "certainty"}
    a = replicate_weights("bootstrap", rng=np.random.default_rng(9), **args)
    b = replicate_weights("bootstrap", rng=np.random.default_rng(9), **args)
    c = replicate_weights("bootstrap", rng=np.random.default_rng(10), **args)
    assert np.array_equal(a.replicate_weights, b.replicate_weights)
    assert not np.array_equal(a.replicate_weights, c.replicate_weights)
    assert a.scale == pytest.approx(1 / 39) and (a.rscales == 1).all()
    # Rao–Wu with m_h = n_h - 1: factor = 1 - λ + λ n_h/(n_h-1) count, λ = sqrt(1 - f_h),
    # counts are non-negative integers adding up to n_h - 1 in every stratum and replicate
    psu_labels, first = np.unique(g["psu"], return_index=True)
    strata = g["stratum"][first]
    for h in np.unique(strata):
        members = psu_labels[strata == h]
        n_h = members.size
        rows = [np.flatnonzero(g["psu"] == p)[0] for p in members]
        factors = a.replicate_weights[rows] / g["w"][rows][:, None]
        if n_h == 1:
            assert np.allclose(factors, 1.0)
            continue
        lam = math.sqrt(1 - n_h / g["fpc"][rows[0]])
        counts = (factors - (1 - lam)) / (lam * n_h / (n_h - 1))
        assert np.allclose(counts, np.round(counts), atol=1e-9)
        assert (np.round(counts) >= 0).all()
        assert np.allclose(counts.sum(axis=0), n_h - 1)


def test_bootstrap_variance_is_unbiased_for_totals_with_fpc():
    # E*(bootstrap variance of a total) = Σ_h (1-f_h) n_h/(n_h-1) Σ_i (z_hi - z̄_h)²
    # (Rao & Wu 1988, §3), i.e. the linearised variance of analysis.total with fpc.
    g = generated_design(13, lonely=0)
    keep = ~np.isnan(g["y"])
    design = replicate_weights("bootstrap", weights=g["w"], strata=g["stratum"],
                               clusters=g["psu"], fpc=g["fpc"], replicates=6000,
                               rng=np.random.default_rng(1))
    ours = replicate_total(g["y"], design, where=keep)
    taylor = analysis.total(g["y"], weights=g["w"], strata=g["stratum"], clusters=g["psu"],
                            fpc=g["fpc"], where=keep)
    assert ours.estimate == pytest.approx(taylor.estimate, rel=1e-12)
    assert ours.standard_error == pytest.approx(taylor.standard_error, rel=0.03)


def test_jackknife_totals_equal_linearised_variance():
    # For a total the JKn variance equals the linearised one exactly (Wolter 2007, §4.5)
    g = generated_design(17, lonely=0)
    keep = ~np.isnan(g["y"])
    design = replicate_weights("jkn", weights=g["w"], strata=g["stratum"], clusters=g["psu"],
                               fpc=g["fpc"])
    ours = replicate_total(g["y"], design, where=keep)
    taylor = analysis.total(g["y"], weights=g["w"], strata=g["stratum"], clusters=g["psu"],
                            fpc=g["fpc"], where=keep)
    assert ours.standard_error == pytest.approx(taylor.standard_error, rel=1e-10)
    # df = rank − 1 = #PSU − #strata, counting only strata that get replicates (census
    # strata drop theirs, as R survey.drop.replicates), so compare without fpc
    no_fpc = replicate_weights("jkn", weights=g["w"], strata=g["stratum"], clusters=g["psu"])
    assert no_fpc.df == analysis.total(g["y"], weights=g["w"], strata=g["stratum"],
                                       clusters=g["psu"], where=keep).df


def test_from_matrix_jkn_equals_built_design():
    g = generated_design(19, lonely=0)
    built = replicate_weights("jkn", weights=g["w"], strata=g["stratum"], clusters=g["psu"])
    user = ReplicateDesign.from_matrix(built.replicate_weights, "jkn", weights=g["w"],
                                       rscales=built.rscales)
    factors = ReplicateDesign.from_matrix(built.factors[built.psu], "jkn", weights=g["w"],
                                          rscales=built.rscales, combined_weights=False)
    keep = ~np.isnan(g["y"])
    expected = replicate_mean(g["y"], built, where=keep, by=g["dom"])
    for other in (user, factors):
        assert np.allclose(other.replicate_weights, built.replicate_weights, rtol=1e-14)
        assert other.df == built.df
        got = replicate_mean(g["y"], other, where=keep, by=g["dom"])
        for key, e in expected.items():
            assert five(got[key]) == pytest.approx(five(e), rel=1e-12, nan_ok=True)


def test_mse_centres_on_the_full_estimate():
    # R options(survey.replicates.mse = TRUE): θ̄ = θ̂
    g = paired_design(3, 5)
    keep = ~np.isnan(g["y"])
    plain = replicate_weights("brr", weights=g["w"], strata=g["stratum"], clusters=g["psu"])
    mse = replicate_weights("brr", weights=g["w"], strata=g["stratum"], clusters=g["psu"],
                            mse=True)
    a, b = replicate_mean(g["y"], plain, where=keep), replicate_mean(g["y"], mse, where=keep)
    rw = plain.replicate_weights
    y = np.where(keep, g["y"], 0.0)
    thetas = (rw * y[:, None]).sum(0) / (rw * keep[:, None]).sum(0)
    assert b.standard_error**2 == pytest.approx(((thetas - b.estimate) ** 2).mean(), rel=1e-12)
    assert a.standard_error**2 == pytest.approx(((thetas - thetas.mean()) ** 2).mean(),
                                                rel=1e-12)


def test_zero_standard_error_gives_nan_interval():
    design = replicate_weights("jk1", weights=[1.0, 2, 3, 4])
    e = replicate_mean([5.0, 5, 5, 5], design)
    assert e.standard_error == 0 and math.isnan(e.ci_low) and math.isnan(e.ci_high)
    if hasattr(e, "note"):
        assert "standard error is 0" in e.note
    p = replicate_proportion(["a", "a", "a", "a"], "a", design)
    assert p.estimate == 1 and math.isnan(p.ci_low)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "jk1", "strata": [1, 1, 2, 2]}, "unstratified"),
        ({"kind": "jkn", "clusters": [1, 2, 3, 4]}, "needs `strata`"),
        ({"kind": "brr", "strata": ["a", "a", "b", "b", "b"],
          "clusters": [1, 2, 1, 2, 3]}, "stratum 'b' has 3"),
        ({"kind": "brr", "strata": ["a", "a"], "fpc": [9.0, 9.0]}, "`fpc` cannot"),
        ({"kind": "bootstrap", "strata": [1, 1, 2, 2], "replicates": 10}, "needs `rng`"),
        ({"kind": "bootstrap", "strata": [1, 1], "rng": np.random.default_rng(1)},
         "needs `replicates`"),
        ({"kind": "bootstrap", "strata": [1, 1, 2], "replicates": 5,
          "rng": np.random.default_rng(1)}, "stratum 2 has a single PSU"),
        ({"kind": "jkn", "strata": ["x", "y", "y"]}, "stratum 'x' has a single PSU"),
        ({"kind": "jk1", "clusters": [1, 2], "fay_rho": 0.5}, "only to kind='brr'"),
        ({"kind": "brr", "strata": [1, 1], "fay_rho": 1.0}, r"\[0, 1\)"),
        ({"kind": "jkn", "strata": [1, 1], "replicates": 4}, "apply only to 'bootstrap'"),
        ({"kind": "jack", "strata": [1, 1]}, "`kind` must be one of"),
        ({"kind": "jk1", "clusters": [1, 2, 3], "fpc": [3.0, 3, 3]}, "census"),
        ({"kind": "jk1", "clusters": [1, 2, 3], "fpc": [9.0, 8, 9]}, "not constant"),
        ({"kind": "jkn", "strata": [1, 1], "weights": [1.0, 2, 3]}, "length"),
    ],
)
def test_bad_designs_raise_clear_errors(kwargs, message):
    kind = kwargs.pop("kind")
    with pytest.raises(ValueError, match=message):
        replicate_weights(kind, **kwargs)


def test_bad_matrix_and_estimator_input():
    with pytest.raises(ValueError, match="needs `scale`"):
        ReplicateDesign.from_matrix([[1.0, 2], [2, 1]], "jk1", weights=[1.0, 1])
    with pytest.raises(ValueError, match="needs `rscales`"):
        ReplicateDesign.from_matrix([[1.0, 2], [2, 1]], "jkn", weights=[1.0, 1])
    with pytest.raises(ValueError, match="needs `fay_rho`"):
        ReplicateDesign.from_matrix([[1.0, 2], [2, 1]], "fay", weights=[1.0, 1])
    with pytest.raises(ValueError, match="`rscales` has 3 values"):
        ReplicateDesign.from_matrix([[1.0, 2], [2, 1]], "jkn", weights=[1.0, 1],
                                    rscales=[1.0, 1, 1])
    with pytest.raises(ValueError, match="non-negative"):
        ReplicateDesign.from_matrix([[1.0, -2], [2, 1]], "bootstrap", weights=[1.0, 1])
    with pytest.raises(ValueError, match="`weights` has length 3"):
        ReplicateDesign.from_matrix([[1.0, 2], [2, 1]], "bootstrap", weights=[1.0, 1, 1])
    design = replicate_weights("jk1", weights=[1.0, 2, 3, 4])
    with pytest.raises(ValueError, match="`y` has length 3"):
        replicate_mean([1.0, 2, 3], design)
    with pytest.raises(ValueError, match="NaN"):
        replicate_mean([1.0, 2, 3, np.nan], design)
    with pytest.raises(ValueError, match="ReplicateDesign"):
        replicate_total([1.0, 2, 3, 4], {"weights": [1, 2]})  # type: ignore[arg-type]
