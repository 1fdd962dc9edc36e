"""Masked variance units and replicate weights for the public-use export.

The public-use variant of the export writes replicate weights (``rw_1 … rw_R``) instead of
the ``stratum``/``psu`` labels, which would let the grouping of respondents into districts
and sites be matched. Variance estimation then runs on *masked variance units* (as NHANES
does): sites merged within their district until every unit is large enough, and districts
that cannot form two such units merged into a neighbouring district as a pseudo-stratum.

Pure code (numpy and :mod:`analysis.replicates`; no Flask, no SQLAlchemy).

Rules (:func:`variance_units`), on the counts of respondents per site and wave:

1. A unit's *size* is its smallest number of respondents in a wave in which it has any
   (k-anonymity treats wave × city × unit as fixed, so this is what must be large).
2. Within a district (one stratum), start with one unit per site; while the smallest unit is
   below ``minimum`` and the district has two or more units, merge the smallest (ties: fewer
   respondents, then lower site id) into the next-smallest.
3. Districts are walked in (city, district code) order. A district with two or more units
   is a stratum. Districts left with one unit are gathered, consecutively, into an open
   pseudo-stratum, in which units below ``minimum`` merge with each other (smallest into
   next-smallest); it becomes a stratum once it has two units of at least ``minimum``.
   When the walk leaves a city, an open pseudo-stratum joins the city's last stratum (rule
   2 then merges a unit below ``minimum`` into the smallest one there); a city without a
   stratum of its own carries it on into the next city. At the end, a leftover joins the
   last stratum of its city (else the last stratum).
4. When no stratum can be formed there is no variance estimate: :class:`VarianceUnitError`.

:func:`replicate_factors` builds JKn or Rao–Wu bootstrap factors per unit with
:func:`analysis.replicates.replicate_weights` on a table of one row per unit (factors are
per PSU, so that is all it needs), with the units and the replicate columns in a random
order drawn from :mod:`secrets`: neither a column's position nor the bootstrap's draws can be
matched to districts or sites.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analysis.replicates import replicate_weights

__all__ = ["METHOD_NAMES", "ReplicateFactors", "VarianceUnitError", "VarianceUnits",
           "replicate_factors", "variance_units"]

METHOD_NAMES = {"jkn": "JKn", "bootstrap": "bootstrap"}
"""Replicate methods of the export → R ``svrepdesign(type = …)``."""


class VarianceUnitError(ValueError):
    """The respondents cannot form variance units as asked."""


@dataclass(frozen=True)
class VarianceUnits:
    """The masked variance units of an export.

    ``unit_of_site`` maps a site id to its unit (0 … ``n_units`` − 1); ``stratum_of_unit``
    gives each unit's pseudo-stratum (0 … ``n_strata`` − 1); ``respondents`` and
    ``weight_sums`` are per unit; ``smallest`` is the smallest per-wave size of a unit;
    ``districts_merged`` counts districts folded into a neighbour's pseudo-stratum.
    """

    unit_of_site: dict[int, int]
    stratum_of_unit: tuple[int, ...]
    respondents: tuple[int, ...]
    weight_sums: tuple[float, ...]
    smallest: int
    n_sites: int
    n_districts: int
    districts_merged: int

    @property
    def n_units(self) -> int:
        return len(self.stratum_of_unit)

    @property
    def n_strata(self) -> int:
        return len(set(self.stratum_of_unit))


@dataclass
class _Unit:
    sites: list[int]
    waves: Counter[str]
    weight: float

    def size(self) -> int:
        return min(self.waves.values())

    def key(self) -> tuple[int, int, int]:
        return (self.size(), sum(self.waves.values()), min(self.sites))

    def absorb(self, other: _Unit) -> None:
        self.sites += other.sites
        self.waves.update(other.waves)
        self.weight += other.weight


def _settle(units: list[_Unit], minimum: int) -> None:
    """Rule 2: merge the smallest unit into the next-smallest while it is too small."""
    while len(units) > 1:
        units.sort(key=_Unit.key)
        if units[0].size() >= minimum:
            return
        smallest = units.pop(0)
        units[0].absorb(smallest)


def _settle_short(units: list[_Unit], minimum: int) -> None:
    """Rule 3, open pseudo-stratum: units below ``minimum`` merge with each other (smallest
    into next-smallest), not into a unit that is large enough."""
    while True:
        small = sorted((u for u in units if u.size() < minimum), key=_Unit.key)
        if len(small) < 2:
            return
        units.remove(small[0])
        small[1].absorb(small[0])


def variance_units(rows: Iterable[tuple[str, str, int, str, int, float]],
                   minimum: int) -> VarianceUnits:
    """Masked variance units from ``(city code, district code, site id, wave, respondents,
    weight sum)`` rows (one per site and wave), by the rules of the module docstring.

    Example: district a has sites of 12, 3 and 4 respondents (one wave), district b one
    site of 20, district c sites of 15 and 11. The 3 merges into the 4 (7), then into the 12
    (19): a is one unit and opens a pseudo-stratum that b's unit completes; c keeps its two.

    >>> rows = [("x", "a", 1, "W", 12, 12.0), ("x", "a", 2, "W", 3, 3.0),
    ...         ("x", "a", 3, "W", 4, 4.0), ("x", "b", 4, "W", 20, 20.0),
    ...         ("x", "c", 5, "W", 15, 15.0), ("x", "c", 6, "W", 11, 11.0)]
    >>> u = variance_units(rows, 10)
    >>> u.n_units, u.n_strata, u.respondents, u.districts_merged
    (4, 2, (19, 20, 15, 11), 1)
    """
    if int(minimum) != minimum or minimum < 1:
        raise VarianceUnitError(f"min_variance_unit: must be a positive integer, got "
                                f"{minimum!r}")
    sites: dict[int, _Unit] = {}
    district_of: dict[int, tuple[str, str]] = {}
    for city, district, site, wave, n, weight in rows:
        if not n:
            continue
        unit = sites.setdefault(int(site), _Unit([int(site)], Counter(), 0.0))
        unit.waves[str(wave)] += int(n)
        unit.weight += float(weight)
        district_of[int(site)] = (str(city), str(district))
    strata: dict[tuple[str, str], list[_Unit]] = {}
    for site in sorted(sites):
        strata.setdefault(district_of[site], []).append(sites[site])
    n_districts = len(strata)
    closed: list[tuple[str, list[_Unit]]] = []  # (city, units) of finished strata
    pending: list[_Unit] = []  # the open pseudo-stratum
    pending_city = ""

    def flush(city: str) -> None:
        """Rule 3: the open pseudo-stratum joins the last finished stratum of ``city``
        (else the last one of any city)."""
        target = next((units for c, units in reversed(closed) if c == city), None)
        if target is None:
            target = closed[-1][1]
        target.extend(pending)
        _settle(target, minimum)
        pending.clear()

    for city, district in sorted(strata):
        units = strata[(city, district)]
        _settle(units, minimum)
        if pending and city != pending_city and any(c == pending_city for c, _ in closed):
            flush(pending_city)
        if len(units) >= 2:
            closed.append((city, units))
            continue
        pending.extend(units)
        pending_city = city
        _settle_short(pending, minimum)
        if len(pending) >= 2 and all(u.size() >= minimum for u in pending):
            closed.append((city, list(pending)))
            pending.clear()
    if pending:
        if not closed:
            total = sum(sum(u.waves.values()) for u in pending)
            raise VarianceUnitError(
                f"design: the {total} respondents of this export cannot form two variance "
                f"units of at least {minimum} respondents per wave (min_variance_unit); "
                "export a larger scope or use the stratum/PSU labels")
        flush(pending_city)
    merged = n_districts - len(closed)
    order = [units for _, units in closed]
    unit_of_site: dict[int, int] = {}
    stratum_of_unit: list[int] = []
    respondents: list[int] = []
    weights: list[float] = []
    for h, stratum in enumerate(order):
        for unit in sorted(stratum, key=lambda u: min(u.sites)):
            for site in unit.sites:
                unit_of_site[site] = len(stratum_of_unit)
            stratum_of_unit.append(h)
            respondents.append(sum(unit.waves.values()))
            weights.append(unit.weight)
    smallest = min(u.size() for stratum in order for u in stratum)
    return VarianceUnits(unit_of_site, tuple(stratum_of_unit), tuple(respondents),
                         tuple(weights), smallest, len(sites), n_districts, merged)


@dataclass(frozen=True)
class ReplicateFactors:
    """Replicate factors per variance unit: ``factors`` (units × R), so the replicate
    weights of a respondent of unit u are ``final_weight × factors[u]``; ``scale``,
    ``rscales`` (one per column), ``mse`` and ``df`` as :class:`analysis.ReplicateDesign`."""

    method: str  # "jkn" | "bootstrap"
    factors: NDArray[np.float64]
    scale: float
    rscales: NDArray[np.float64]
    mse: bool
    df: int

    @property
    def replicates(self) -> int:
        return int(self.factors.shape[1])


def _permutation(n: int) -> NDArray[np.intp]:
    order = list(range(n))
    secrets.SystemRandom().shuffle(order)
    return np.array(order, dtype=np.intp)


def replicate_factors(units: VarianceUnits, method: str, replicates: int | None = None,
                      rng: np.random.Generator | None = None) -> ReplicateFactors:
    """JKn (``method="jkn"``, one replicate per unit; R ``as.svrepdesign(type = "JKn")``)
    or Rao–Wu bootstrap (``"bootstrap"``: ``replicates`` replicates drawn with ``rng``,
    by default a Generator seeded from :mod:`secrets`) factors for ``units``, as
    :func:`analysis.replicates.replicate_weights` builds them on one row per unit (weights:
    the unit's weight sum). Units enter in a random order and the columns are shuffled
    (``rscales`` with them); ``mse`` is False (R's default).

    >>> rows = [("x", "a", 1, "W", 10, 10.0), ("x", "a", 2, "W", 10, 10.0),
    ...         ("x", "b", 3, "W", 10, 10.0), ("x", "b", 4, "W", 10, 10.0),
    ...         ("x", "b", 5, "W", 10, 10.0)]
    >>> f = replicate_factors(variance_units(rows, 10), "jkn")
    >>> f.replicates, sorted(f.rscales.round(4).tolist()), f.df
    (5, [0.5, 0.5, 0.6667, 0.6667, 0.6667], 3)
    """
    if method not in METHOD_NAMES:
        raise VarianceUnitError(f"replicate_method: must be one of "
                                f"{', '.join(METHOD_NAMES)}, got {method!r}")
    order = _permutation(units.n_units)
    strata = np.asarray(units.stratum_of_unit)[order]
    weights = np.asarray(units.weight_sums, dtype=np.float64)[order]
    if method == "jkn":
        design = replicate_weights("jkn", weights=weights, strata=strata, clusters=order)
    else:
        if rng is None:
            rng = np.random.default_rng(secrets.randbits(128))
        design = replicate_weights("bootstrap", weights=weights, strata=strata,
                                   clusters=order, replicates=replicates, rng=rng)
    # Each unit is its own cluster, so row i of design.factors is unit order[i].
    factors = np.empty_like(design.factors)
    factors[order] = design.factors
    columns = _permutation(design.replicates)
    return ReplicateFactors(method, factors[:, columns], design.scale,
                            design.rscales[columns], design.mse, design.df)

