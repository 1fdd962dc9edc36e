"""Invariants checked with hypothesis: weight scaling, row permutation, census with fpc."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import analysis

FIELDS = ("estimate", "standard_error", "ci_low", "ci_high", "design_effect")


@st.composite
def designs(draw):
    n_strata = draw(st.integers(1, 4))
    strata, clusters = [], []
    for h in range(n_strata):
        for c in range(draw(st.integers(2, 4))):
            size = draw(st.integers(1, 5))
            strata += [h] * size
            clusters += [c] * size
    size = len(strata)
    y = draw(st.lists(st.floats(0, 100, allow_nan=False), min_size=size, max_size=size))
    w = draw(st.lists(st.floats(0.1, 10), min_size=size, max_size=size))
    return np.array(y), np.array(w), np.array(strata), np.array(clusters)


def close(a, b):
    for field in FIELDS:
        x, y = getattr(a, field), getattr(b, field)
        assert (np.isnan(x) and np.isnan(y)) or x == pytest.approx(y, rel=1e-9, abs=1e-9)
    assert (a.df, a.n) == (b.df, b.n)


@settings(max_examples=60, deadline=None, database=None)
@given(designs(), st.floats(1e-3, 1e3))
def test_scaling_weights_leaves_mean_unchanged(design, factor):
    y, w, s, c = design
    close(
        analysis.mean(y, weights=w, strata=s, clusters=c),
        analysis.mean(y, weights=w * factor, strata=s, clusters=c),
    )


@settings(max_examples=60, deadline=None, database=None)
@given(designs(), st.randoms(use_true_random=False))
def test_permuting_rows_changes_nothing(design, random):
    y, w, s, c = design
    order = list(range(y.size))
    random.shuffle(order)
    close(
        analysis.mean(y, weights=w, strata=s, clusters=c),
        analysis.mean(y[order], weights=w[order], strata=s[order], clusters=c[order]),
    )
    close(
        analysis.total(y, weights=w, strata=s, clusters=c),
        analysis.total(y[order], weights=w[order], strata=s[order], clusters=c[order]),
    )


@settings(max_examples=60, deadline=None, database=None)
@given(designs())
def test_census_with_fpc_gives_zero_variance(design):
    y, w, s, c = design
    psus = {h: len(set(c[s == h])) for h in set(s)}
    fpc = np.array([psus[h] for h in s])  # every population PSU is in the sample
    assert analysis.mean(y, weights=w, strata=s, clusters=c, fpc=fpc).standard_error == 0.0
    assert analysis.total(y, weights=w, strata=s, clusters=c, fpc=fpc).standard_error == 0.0


@settings(max_examples=40, deadline=None, database=None)
@given(designs())
def test_domains_partition_the_total(design):
    y, w, s, c = design
    by = (y > 50).astype(int)
    parts = analysis.total(y, weights=w, strata=s, clusters=c, by=by)
    whole = analysis.total(y, weights=w, strata=s, clusters=c)
    assert sum(e.estimate for e in parts.values()) == pytest.approx(whole.estimate, rel=1e-9)
