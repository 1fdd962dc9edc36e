"""psu_totals' three reductions (rows sorted by PSU → np.add.reduceat runs; unsorted →
bincount over (stratum, cluster[, domain]) keys; no clusters → one PSU per row), checked
against a plain-Python GROUP BY and against each other, across block boundaries."""

from collections import defaultdict

import numpy as np
import pytest

import analysis.design as design
from analysis.design import psu_totals


def group_by(y, w, strata, clusters, by, keep):
    """SELECT stratum, cluster, domain, SUM(w*y), SUM(w), SUM(w*y*y), COUNT(w > 0)."""
    sums = defaultdict(lambda: [0.0, 0.0, 0.0, 0])
    psus, domains = set(), set()
    for k in range(len(y)):
        psu = (strata[k], clusters[k])
        psus.add(psu)
        domains.add(by[k])
        cell = sums[psu, by[k]]
        if keep[k] and w[k] > 0:
            cell[0] += w[k] * y[k]
            cell[1] += w[k]
            cell[2] += w[k] * y[k] ** 2
            cell[3] += 1
    psus, domains = sorted(psus), sorted(domains)
    out = np.zeros((4, len(psus), len(domains)))
    for i, psu in enumerate(psus):
        for j, d in enumerate(domains):
            out[:, i, j] = sums[psu, d] if (psu, d) in sums else 0.0
    return psus, domains, out


@pytest.mark.parametrize("block", [1, 7, 1 << 16])
@pytest.mark.parametrize("sort", [True, False])
@pytest.mark.parametrize("labels", ["int", "sparse", "str"])
@pytest.mark.parametrize("domains", [False, True])
def test_paths_equal_group_by(monkeypatch, block, sort, labels, domains):
    monkeypatch.setattr(design, "_BLOCK", block)
    rng = np.random.default_rng(block + 2 * sort + 3 * domains)
    n = 300
    strata = rng.integers(0, 4, n)
    clusters = rng.integers(0, 9, n)
    if labels == "sparse":
        strata, clusters = strata * 10**9 - 5, clusters * 10**8
    elif labels == "str":
        strata, clusters = strata.astype(str), np.char.add("c", clusters.astype(str))
    by = rng.integers(3, 7, n) if domains else np.zeros(n, dtype=int)
    if sort:
        order = np.lexsort((clusters, strata))
        strata, clusters, by = strata[order], clusters[order], by[order]
    y = rng.normal(70, 15, n)
    w = rng.uniform(0.5, 3, n)
    w[::11] = 0.0
    keep = rng.random(n) < 0.9
    y[~keep] = np.nan  # outside `where`: ignored
    t = psu_totals(y, weights=w, strata=strata, clusters=clusters, where=keep,
                   by=by if domains else None)
    psus, levels, expected = group_by(y, w, strata, clusters, by, keep)
    assert t.stratum.tolist() == [s for s, _c in psus]
    if domains:
        assert list(t.domains) == [int(v) for v in levels]
    for got, want in zip((t.sum_wy, t.sum_w, t.sum_wyy, t.n), expected, strict=True):
        np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-13, atol=1e-12)


def test_inputs_not_modified():
    clusters = np.array([2, 0, 1, 0, 2], dtype=np.intp)  # codes used as they are
    by = np.array([0, 1, 1, 0, 1], dtype=np.intp)
    before = clusters.copy(), by.copy()
    psu_totals(np.arange(5.0), clusters=clusters, by=by)
    assert np.array_equal(clusters, before[0]) and np.array_equal(by, before[1])


def test_boolean_y_is_the_indicator():
    rng = np.random.default_rng(3)
    flag = rng.random(50) < 0.4
    kw = dict(weights=rng.uniform(1, 2, 50), strata=rng.integers(0, 3, 50),
              clusters=rng.integers(0, 5, 50))
    a, b = psu_totals(flag, **kw), psu_totals(flag.astype(float), **kw)
    for name in ("sum_wy", "sum_w", "sum_wyy", "n"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
