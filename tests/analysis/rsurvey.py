"""Run R ``survey`` from a test, or read its recorded output when R is not installed.

``r_reference(name, script, frames)`` writes each frame as ``<frame>.csv`` in a temporary
directory, runs ``Rscript`` on ``script`` (with :data:`PRELUDE` before it: ``library(survey)``
and ``out(name, value)``), and returns ``{name: numpy array}``. Every run with R rewrites the
recorded copy ``tests/data/r_survey/<name>.json`` when its inputs changed, so the suite also
runs (on that copy) where R cannot be installed; without R a copy recorded for other inputs
(other script or data) fails the test instead of passing on stale numbers.

CI (``.ci/run``) installs Debian's ``r-cran-survey``; tests then compare with live R.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

RECORDED = Path(__file__).resolve().parents[1] / "data" / "r_survey"

PRELUDE = """\
suppressPackageStartupMessages(library(survey))
.out <- new.env()
out <- function(name, value) assign(name, as.numeric(value), envir = .out)
"""

EPILOGUE = """\
.lines <- vapply(sort(ls(.out)), function(k) {
  v <- get(k, envir = .out)
  paste(c(k, sprintf("%.17g", v)), collapse = "\\t")
}, "")
writeLines(.lines, "results.tsv")
"""

Frame = Mapping[str, Sequence[Any] | np.ndarray]


@functools.cache
def r_available() -> bool:
    """Rscript on PATH with the ``survey`` package (checked once per test process)."""
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(["Rscript", "-e", "library(survey)"], capture_output=True,
                           timeout=120, check=False)
    return probe.returncode == 0


def _cell(value: Any) -> str:
    if value is None:
        return "NA"
    if isinstance(value, float | np.floating):
        return "NA" if math.isnan(value) else repr(float(value))
    return str(value)


def _csv_text(frame: Frame) -> str:
    names = list(frame)
    columns = [list(frame[name]) for name in names]
    lengths = {len(c) for c in columns}
    if len(lengths) != 1:
        raise ValueError(f"frame columns differ in length: {sorted(lengths)}")
    lines = [",".join(names)]
    lines += [",".join(_cell(c[i]) for c in columns) for i in range(lengths.pop())]
    return "\n".join(lines) + "\n"


def _parse(text: str) -> dict[str, list[float]]:
    result: dict[str, list[float]] = {}
    for line in text.splitlines():
        if not line:
            continue
        key, *values = line.split("\t")
        result[key] = [math.nan if v in ("NA", "NaN") else float(v) for v in values]
    return result


def _run_r(script: str, files: dict[str, str]) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="manyi-r-") as tmp:
        for name, text in files.items():
            Path(tmp, f"{name}.csv").write_text(text, encoding="utf-8")
        Path(tmp, "script.R").write_text(PRELUDE + script + "\n" + EPILOGUE, encoding="utf-8")
        done = subprocess.run(["Rscript", "--vanilla", "script.R"], cwd=tmp,
                              capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            raise AssertionError(f"R failed:\n{done.stderr[-4000:]}")
        return _parse(Path(tmp, "results.tsv").read_text(encoding="utf-8"))


def r_reference(name: str, script: str, frames: Mapping[str, Frame]) -> dict[str, np.ndarray]:
    """R's numbers for ``script`` on ``frames`` (live when R is installed, else recorded)."""
    files = {frame: _csv_text(data) for frame, data in frames.items()}
    digest = hashlib.sha256(
        json.dumps({"script": script, "files": files}, sort_keys=True).encode()
    ).hexdigest()
    path = RECORDED / f"{name}.json"
    recorded = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    if r_available() and os.environ.get("MANYI_R_RECORDED_ONLY") != "1":
        values = _run_r(script, files)
        if recorded is None or recorded["inputs_sha256"] != digest or \
                recorded["values"] != values:
            RECORDED.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"inputs_sha256": digest, "script": script,
                                        "values": values}, indent=1, sort_keys=True) + "\n",
                            encoding="utf-8")
    else:
        if recorded is None:
            raise AssertionError(f"{path} is missing and R is not installed: run the test "
                                 "once where `Rscript -e 'library(survey)'` works")
        if recorded["inputs_sha256"] != digest:
            raise AssertionError(f"{path} was recorded for another script or data: re-run "
                                 "the test where R is installed to record it again")
        values = recorded["values"]
    return {key: np.asarray(v, dtype=float) for key, v in values.items()}


def generated_design(seed: int, *, strata: int = 8, lonely: int = 2, rows: int = 600,
                     missing: float = 0.05) -> dict[str, np.ndarray]:
    """A stratified cluster sample like the dashboard's (stratum = district, PSU = site).

    ``strata`` strata with 2–7 PSUs each, of which ``lonely`` have a single PSU; PSU sizes
    vary; weights vary within PSU; ``fpc`` = population PSUs of the stratum; ``y`` a 0–100
    score (rounded to 0.1) with ``missing`` share NaN; ``sat`` 0/1; ``dom`` a domain with
    small levels (one level lives in a single PSU); ``age``/``sex`` raking variables.
    Values are rounded to short decimals so R and Python read identical numbers.
    """
    rng = np.random.default_rng(seed)
    psus_per = rng.integers(2, 8, size=strata)
    psus_per[:lonely] = 1
    stratum, psu, fpc = [], [], []
    for h, count in enumerate(psus_per):
        population = int(count + rng.integers(0, 12))
        for i in range(int(count)):
            size = int(rng.integers(rows // (2 * psus_per.sum()) + 2,
                                    rows // psus_per.sum() * 2 + 3))
            stratum += [f"s{h}"] * size
            psu += [f"s{h}p{i}"] * size
            fpc += [population] * size
    n = len(stratum)
    stratum_a, psu_a = np.array(stratum), np.array(psu)
    psu_effect = {p: rng.normal(0, 6) for p in np.unique(psu_a)}
    effect = np.array([psu_effect[p] for p in psu_a])
    y = np.clip(np.round(70 + effect + rng.normal(0, 12, n), 1), 0, 100)
    sat = (y + rng.normal(0, 5, n) > 72).astype(float)
    y[rng.random(n) < missing] = np.nan
    w = np.round(rng.uniform(20, 80, n) * (1 + (np.char.find(stratum_a, "s1") == 0)), 3)
    dom = rng.choice(np.array(["a", "b", "c"]), size=n, p=[0.6, 0.3, 0.1])
    first_psu = psu_a == psu_a[-1]  # a domain inside one PSU (the last one)
    dom[first_psu] = "d"
    dom[(dom == "d") & ~first_psu] = "c"
    age = rng.choice(np.array(["young", "mid", "old"]), size=n, p=[0.3, 0.4, 0.3])
    sex = rng.choice(np.array(["f", "m"]), size=n)
    return {"stratum": stratum_a, "psu": psu_a, "w": w, "fpc": np.array(fpc, dtype=float),
            "y": y, "sat": sat, "dom": dom, "age": age, "sex": sex}
