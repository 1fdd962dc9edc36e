"""single_psu="collapse": strata with one PSU are pooled into one stratum (collapsed
strata, Wolter 2007 §2.5). Checked against the same design relabelled by hand and
estimated with no single-PSU rule at all (independent computation)."""

from __future__ import annotations

import numpy as np
import pytest

import analysis


def _sample(seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Strata A, B have 3 PSUs each; C, D, E have one PSU each.
    psu_stratum = np.array(["A"] * 3 + ["B"] * 3 + ["C", "D", "E"])
    rows = rng.integers(5, 15, size=psu_stratum.size)
    psu = np.repeat(np.arange(psu_stratum.size), rows)
    return {"y": rng.normal(70, 10, psu.size), "w": rng.uniform(0.5, 2, psu.size),
            "stratum": psu_stratum[psu], "psu": psu}


def test_collapse_equals_the_hand_relabelled_design():
    d = _sample()
    pooled = np.where(np.isin(d["stratum"], ["C", "D", "E"]), "pooled", d["stratum"])
    expected = analysis.mean(d["y"], weights=d["w"], strata=pooled, clusters=d["psu"])
    got = analysis.mean(d["y"], weights=d["w"], strata=d["stratum"], clusters=d["psu"],
                        single_psu="collapse")
    assert got.df == expected.df == 9 - 3
    assert got.estimate == pytest.approx(expected.estimate, rel=1e-12)
    assert got.standard_error == pytest.approx(expected.standard_error, rel=1e-12)
    assert got.ci_low == pytest.approx(expected.ci_low, rel=1e-12)


def test_collapse_gives_an_interval_where_every_stratum_has_one_psu():
    d = _sample()
    keep = np.isin(d["stratum"], ["C", "D", "E"])
    e = analysis.mean(d["y"][keep], weights=d["w"][keep], strata=d["stratum"][keep],
                      clusters=d["psu"][keep], single_psu="collapse")
    assert e.df == 2 and np.isfinite(e.ci_low) and e.ci_low < e.estimate < e.ci_high
    centred = analysis.mean(d["y"][keep], weights=d["w"][keep], strata=d["stratum"][keep],
                            clusters=d["psu"][keep], single_psu="center")
    assert centred.df == 0 and np.isnan(centred.ci_low)


def test_collapse_without_single_strata_changes_nothing():
    d = _sample()
    keep = ~np.isin(d["stratum"], ["C", "D", "E"])
    args = dict(weights=d["w"][keep], strata=d["stratum"][keep], clusters=d["psu"][keep])
    assert (analysis.mean(d["y"][keep], single_psu="collapse", **args)
            == analysis.mean(d["y"][keep], **args))


def test_collapse_refuses_fpc():
    d = _sample()
    with pytest.raises(ValueError, match="collapse.*fpc"):
        analysis.mean(d["y"], weights=d["w"], strata=d["stratum"], clusters=d["psu"],
                      fpc=np.full(d["y"].size, 100.0), single_psu="collapse")
