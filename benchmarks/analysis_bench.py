"""Benchmark analysis/ against samplics on a generated stratified cluster sample.

Usage: ``python benchmarks/analysis_bench.py [--rows 1000000] [--seed 1]``

Prints, for the mean, a proportion and domain means, our time and samplics' time measured
in this run, the speed-up and the largest relative difference over estimate, SE and CI
bounds; then the time to rake the rows to three margins. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import analysis


def generate(rows: int, seed: int, strata: int = 30, psus: int = 600, domains: int = 10):
    rng = np.random.default_rng(seed)
    psu = np.sort(rng.integers(0, psus, rows))
    stratum = psu * strata // psus
    cluster = psu % (psus // strata)  # labels restart in each stratum (nested)
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


def timed(function: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Best wall-clock time of ``repeat`` runs, and the result."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def max_rel(pairs: list[tuple[float, float]]) -> float:
    return max(abs(a - b) / max(abs(b), 1e-300) for a, b in pairs)


def fields(e: analysis.Estimate) -> list[float]:
    return [e.estimate, e.standard_error, e.ci_low, e.ci_high]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from samplics.estimation import TaylorEstimator
    from samplics.utils.types import PopParam

    data = generate(args.rows, args.seed)
    design = {k: data[k] for k in ("weights", "strata", "clusters")}

    def samplics(param: PopParam, y: np.ndarray, domain: np.ndarray | None = None):
        est = TaylorEstimator(param)
        est.estimate(
            y=y,
            samp_weight=data["weights"],
            stratum=data["strata"],
            psu=data["clusters"],
            domain=domain,
        )
        return est

    warm = generate(2000, args.seed)  # first calls import scipy.stats / pandas lazily
    analysis.mean(
        warm["y"], weights=warm["weights"], strata=warm["strata"], clusters=warm["clusters"]
    )
    TaylorEstimator(PopParam.mean).estimate(
        y=warm["y"], samp_weight=warm["weights"], stratum=warm["strata"], psu=warm["clusters"]
    )

    rows = []
    ours_t, ours = timed(lambda: analysis.mean(data["y"], **design))
    ref_t, ref = timed(lambda: samplics(PopParam.mean, data["y"]))
    diff = max_rel(
        list(
            zip(
                fields(ours), [ref.point_est, ref.stderror, ref.lower_ci, ref.upper_ci], strict=True
            )
        )
    )
    rows.append(("mean", ours_t, ref_t, diff))

    ours_t, ours = timed(lambda: analysis.proportion(data["answer"], 4, **design))
    ref_t, ref = timed(lambda: samplics(PopParam.prop, data["answer"]))
    diff = max_rel(
        list(
            zip(
                fields(ours),
                [ref.point_est[4], ref.stderror[4], ref.lower_ci[4], ref.upper_ci[4]],
                strict=True,
            )
        )
    )
    rows.append(("proportion (logit)", ours_t, ref_t, diff))

    ours_t, ours = timed(lambda: analysis.mean(data["y"], by=data["domain"], **design))
    ref_t, ref = timed(lambda: samplics(PopParam.mean, data["y"], data["domain"]))
    pairs = []
    for level, e in ours.items():
        pairs += list(
            zip(
                fields(e),
                [
                    ref.point_est[level],
                    ref.stderror[level],
                    ref.lower_ci[level],
                    ref.upper_ci[level],
                ],
                strict=True,
            )
        )
    rows.append((f"domain means ({len(ours)})", ours_t, ref_t, max_rel(pairs)))

    print(f"rows={args.rows:,}  strata=30  PSUs=600  domains=10  (best of 3 runs each)")
    print(
        f"{'estimator':<22}{'analysis s':>12}{'samplics s':>12}{'speed-up':>10}{'max rel diff':>14}"
    )
    for name, ours_time, ref_time, difference in rows:
        print(
            f"{name:<22}{ours_time:>12.4f}{ref_time:>12.3f}{ref_time / ours_time:>9.0f}x"
            f"{difference:>14.2e}"
        )

    margins = {
        "age": {"18-34": 0.3, "35-59": 0.45, "60+": 0.25},
        "sex": {"f": 0.51, "m": 0.49},
        "district": {d: 1 / 12 for d in range(12)},
    }
    rake_t, raked = timed(
        lambda: analysis.rake({k: data[k] for k in margins}, margins, weights=data["weights"])
    )
    print(
        f"rake 3 margins: {rake_t:.3f} s, converged={raked.converged}, "
        f"iterations={raked.iterations}"
    )


if __name__ == "__main__":
    main()
