"""Benchmark analysis/ against svy and samplics on a generated stratified cluster sample.

Usage: ``python benchmarks/analysis_bench.py [--rows 1000000] [--seed 1] [--repeat 7]
[--no-samplics]``

The data: ``--rows`` respondents in 50 strata × 40 PSUs (clusters nested in strata), 12
domains; once with the rows sorted by PSU (as a ``GROUP BY``/``ORDER BY`` export gives them)
and once shuffled. For the overall mean, one proportion (level 4 of a 5-point answer), all
five levels, and the means of the 12 domains it prints, measured in this run on the same
arrays:

* ``analysis``: our time (best of ``--repeat`` warm runs);
* ``svy``: svy 0.35 (Rust/polars) on a ``svy.Sample`` built once, best of ``--repeat``
  warm runs — its design is factorised on the first call and cached on the sample, so
  this is svy at its fastest; ``svy cold`` builds a new ``Sample`` and estimates once
  (best of 3), which is what one call on fresh arrays costs, as ours always does;
* ``floor``: the bare weighted mean(s) with no design at all: ``numpy.average(y, weights=w)``
  (proportion: of ``answer == 4``; domains: ``numpy.bincount`` of w·y and w by domain), and
  our time as a multiple of it;
* the largest relative difference from svy of the estimate and of the SE, and of the
  interval limits and df (svy and we both use Student t with df = #PSU − #strata here, and
  the logit interval for a proportion, so all of them must agree to 1e-12);
* samplics (``TaylorEstimator``, one run: it takes seconds) when installed.

svy is a benchmark-only dependency (it pulls polars and a Rust extension), in the ``bench``
extra: ``.venv/bin/pip install -e '.[bench]'``. Without it the svy columns are skipped
with a line saying so. Then the time to rake the rows to three margins. Not part of the
test suite.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

import analysis

STRATA = 50
PSUS_PER_STRATUM = 40
DOMAINS = 12
LEVEL = 4  # the proportion of answers equal to 4
TOLERANCE = 1e-12


def generate(
    rows: int,
    seed: int,
    strata: int = STRATA,
    psus_per_stratum: int = PSUS_PER_STRATUM,
    domains: int = DOMAINS,
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    psus = strata * psus_per_stratum
    psu = np.sort(rng.integers(0, psus, rows))
    stratum = psu // psus_per_stratum
    cluster = psu % psus_per_stratum  # labels restart in each stratum (nested)
    y = 70 + rng.normal(0, 4, psus)[psu] + rng.normal(0, 15, rows)
    return {
        "y": y,
        "answer": rng.choice([1, 2, 3, 4, 5], rows, p=[0.05, 0.1, 0.2, 0.4, 0.25]),
        "weights": rng.uniform(0.5, 3.0, rows) * (1 + stratum % 3),
        "strata": stratum,
        "clusters": cluster,
        "domain": rng.integers(0, domains, rows),
        "age": rng.choice(["18-34", "35-59", "60+"], rows),
        "sex": rng.choice(["f", "m"], rows),
        "district": rng.integers(0, 12, rows),
    }


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best wall-clock time of ``repeat`` runs, and the result."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def max_rel(pairs: list[tuple[float, float]]) -> float:
    return max(abs(a - b) / max(abs(b), 1e-300) for a, b in pairs)


def fields(e: analysis.Estimate) -> list[float]:
    return [e.estimate, e.standard_error, e.ci_low, e.ci_high]


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class Row:
    def __init__(self, name: str, ours: float, floor: float) -> None:
        self.name, self.ours, self.floor = name, ours, floor
        self.svy: float | None = None
        self.svy_cold: float | None = None
        self.samplics: float | None = None
        self.diff_est: float | None = None
        self.diff_se: float | None = None
        self.diff_ci: float | None = None
        self.diff_df: float | None = None


def compare_svy(row: Row, ours: list[analysis.Estimate], frame: Any) -> None:
    """Relative differences against svy's rows ``frame`` (est, se, lci, uci, df), in order."""
    est, se = frame["est"].to_numpy(), frame["se"].to_numpy()
    low, high, df = frame["lci"].to_numpy(), frame["uci"].to_numpy(), frame["df"].to_numpy()
    row.diff_est = max_rel([(e.estimate, float(v)) for e, v in zip(ours, est, strict=True)])
    row.diff_se = max_rel([(e.standard_error, float(v)) for e, v in zip(ours, se, strict=True)])
    row.diff_ci = max_rel(
        [(e.ci_low, float(v)) for e, v in zip(ours, low, strict=True)]
        + [(e.ci_high, float(v)) for e, v in zip(ours, high, strict=True)]
    )
    row.diff_df = max_rel([(float(e.df), float(v)) for e, v in zip(ours, df, strict=True)])


class Case:
    """One estimator on one arrangement of the rows: ours, the floor, svy's call and how to
    match svy's rows to ours (``key``: the column to filter or sort svy's table on)."""

    def __init__(
        self,
        name: str,
        data: dict[str, np.ndarray],
        ours: Callable[[dict[str, Any]], Any],
        floor: Callable[[dict[str, np.ndarray]], Any],
        svy_call: Callable[[Any], Any],
        svy_rows: Callable[[Any, Any], tuple[list[analysis.Estimate], Any]],
        samplics: Callable[[dict[str, np.ndarray]], Any] | None,
    ) -> None:
        self.name, self.data, self.ours, self.floor = name, data, ours, floor
        self.svy_call, self.svy_rows, self.samplics = svy_call, svy_rows, samplics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=7, help="warm runs; the best is shown")
    parser.add_argument("--no-samplics", action="store_true", help="skip samplics (slow)")
    args = parser.parse_args()
    repeat = args.repeat
    use_svy = installed("svy")
    use_samplics = not args.no_samplics and installed("samplics")

    data = generate(args.rows, args.seed)
    order = np.random.default_rng(args.seed + 1).permutation(args.rows)
    shuffled = {k: v[order] for k, v in data.items()}
    levels = sorted(int(v) for v in np.unique(data["answer"]))

    def design(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: d[k] for k in ("weights", "strata", "clusters")}

    def domain_floor(d: dict[str, np.ndarray]) -> np.ndarray:
        w = d["weights"]
        return np.bincount(d["domain"], weights=w * d["y"]) / np.bincount(d["domain"], weights=w)

    def one(ours: Any, table: Any) -> tuple[list[analysis.Estimate], Any]:
        return [ours], table

    def level(ours: Any, table: Any) -> tuple[list[analysis.Estimate], Any]:
        return [ours], table.filter(table["a"] == LEVEL)

    def by_level(ours: Any, table: Any) -> tuple[list[analysis.Estimate], Any]:
        return ours, table.sort("a")

    def by_domain(ours: Any, table: Any) -> tuple[list[analysis.Estimate], Any]:
        return list(ours.values()), table.sort("d")

    def samplics_run(param: str, column: str, by: bool = False) -> Callable[[Any], Any]:
        def run(d: dict[str, np.ndarray]) -> Any:
            from samplics.estimation import TaylorEstimator
            from samplics.utils.types import PopParam

            est = TaylorEstimator(getattr(PopParam, param))
            est.estimate(
                y=d[column],
                samp_weight=d["weights"],
                stratum=d["strata"],
                psu=d["clusters"],
                domain=d["domain"] if by else None,
            )
            return est

        return run

    cases = []
    for arrangement, d in (("", data), (", shuffled", shuffled)):
        cases += [
            Case(
                f"mean{arrangement}",
                d,
                lambda d: analysis.mean(d["y"], **design(d)),
                lambda d: np.average(d["y"], weights=d["weights"]),
                lambda s: s.estimation.mean("y"),
                one,
                samplics_run("mean", "y"),
            ),
            Case(
                f"proportion (={LEVEL}){arrangement}",
                d,
                lambda d: analysis.proportion(d["answer"], LEVEL, **design(d)),
                lambda d: np.average(d["answer"] == LEVEL, weights=d["weights"]),
                lambda s: s.estimation.prop("a"),
                level,
                samplics_run("prop", "answer"),
            ),
            Case(
                f"proportions (all {len(levels)}){arrangement}",
                d,
                lambda d: [analysis.proportion(d["answer"], v, **design(d)) for v in levels],
                lambda d: [np.average(d["answer"] == v, weights=d["weights"]) for v in levels],
                lambda s: s.estimation.prop("a"),
                by_level,
                None,  # the same samplics call as one proportion
            ),
            Case(
                f"domain means ({DOMAINS}){arrangement}",
                d,
                lambda d: analysis.mean(d["y"], by=d["domain"], **design(d)),
                domain_floor,
                lambda s: s.estimation.mean("y", by="d"),
                by_domain,
                samplics_run("mean", "y", by=True),
            ),
        ]

    warm = generate(2000, args.seed)  # first calls import scipy.special etc. lazily
    analysis.mean(warm["y"], **design(warm))

    notes: list[str] = []
    samples: dict[int, tuple[Any, Any]] = {}
    if use_svy:
        import polars as pl
        import svy

        svy_design = svy.Design(stratum="h", psu="c", wgt="w")

        def frame_of(d: dict[str, np.ndarray]) -> Any:
            return pl.DataFrame(
                {
                    "y": d["y"],
                    "w": d["weights"],
                    "h": d["strata"],
                    "c": d["clusters"],
                    "a": d["answer"],
                    "d": d["domain"],
                }
            )

        for d in (data, shuffled):
            frame = frame_of(d)
            samples[id(d)] = (frame, svy.Sample(frame, svy_design))
        svy.Sample(frame_of(warm), svy_design).estimation.mean("y")  # imports, not caches
        notes.append(
            f"svy {svy.__version__}: its prop estimates every level in one call (both "
            "proportion rows time that call); ours estimates one level per call."
        )
    else:
        notes.append(
            "svy not installed: svy columns skipped (.venv/bin/pip install -e '.[bench]')."
        )
    if use_samplics:
        notes.append("samplics: one run each (it takes seconds); its prop estimates every level.")
    elif not args.no_samplics:
        notes.append("samplics not installed: skipped.")

    rows: list[Row] = []
    for case in cases:
        d = case.data
        ours_t, ours = timed(lambda case=case, d=d: case.ours(d), repeat)
        floor_t, _ = timed(lambda case=case, d=d: case.floor(d), repeat)
        row = Row(case.name, ours_t, floor_t)
        rows.append(row)
        if use_svy:
            frame, sample = samples[id(d)]
            row.svy_cold, _ = timed(
                lambda case=case, frame=frame: case.svy_call(svy.Sample(frame, svy_design)), 3
            )
            row.svy, ref = timed(lambda case=case, sample=sample: case.svy_call(sample), repeat)
            estimates, table = case.svy_rows(ours, ref.to_polars())
            compare_svy(row, estimates, table)
        if use_samplics:
            if case.samplics is not None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)  # "samplics is archived"
                    row.samplics, _ = timed(lambda case=case, d=d: case.samplics(d), 1)
            else:
                row.samplics = rows[-2].samplics

    def ms(value: float | None) -> str:
        return "—" if value is None else f"{value * 1e3:.1f}"

    def rel(value: float | None) -> str:
        return "—" if value is None else f"{value:.1e}"

    print(
        f"rows={args.rows:,}  strata={STRATA}  PSUs={STRATA * PSUS_PER_STRATUM}  "
        f"domains={DOMAINS}  (times in ms, best of {repeat} warm runs; svy cold and "
        "samplics fewer)"
    )
    print(
        f"{'estimator':<33}{'analysis':>9}{'svy':>8}{'svy cold':>9}{'samplics':>9}"
        f"{'floor':>7}{'÷floor':>8}{'÷svy':>6}  {'Δest':>8}{'ΔSE':>8}{'ΔCI':>8}{'Δdf':>8}"
    )
    worst = 0.0
    for row in rows:
        versus_svy = "—" if row.svy is None else f"{row.ours / row.svy:.2f}"
        print(
            f"{row.name:<33}{ms(row.ours):>9}{ms(row.svy):>8}{ms(row.svy_cold):>9}"
            f"{ms(row.samplics):>9}{ms(row.floor):>7}{row.ours / row.floor:>7.1f}x"
            f"{versus_svy:>6}  {rel(row.diff_est):>8}{rel(row.diff_se):>8}"
            f"{rel(row.diff_ci):>8}{rel(row.diff_df):>8}"
        )
        for value in (row.diff_est, row.diff_se, row.diff_ci, row.diff_df):
            if value is not None:
                worst = max(worst, value)
    print(
        "floor: numpy.average(y, weights=w) (proportions: of answer == level); domain means: "
        "numpy.bincount of w·y and w by domain"
    )
    for note in notes:
        print(note)
    if use_svy:
        verdict = "OK" if worst <= TOLERANCE else "DIFFERENT"
        print(
            f"largest relative difference from svy (estimate, SE, CI limits, df): {worst:.1e} "
            f"({verdict} at {TOLERANCE:g}; same method: Taylor, with-replacement PSUs, "
            "t with df = #PSU − #strata, logit interval)"
        )

    margins = {
        "age": {"18-34": 0.3, "35-59": 0.45, "60+": 0.25},
        "sex": {"f": 0.51, "m": 0.49},
        "district": {d: 1 / 12 for d in range(12)},
    }
    rake_t, raked = timed(
        lambda: analysis.rake({k: data[k] for k in margins}, margins, weights=data["weights"]), 3
    )
    print(
        f"rake 3 margins: {rake_t:.3f} s, converged={raked.converged}, "
        f"iterations={raked.iterations}"
    )


if __name__ == "__main__":
    main()
