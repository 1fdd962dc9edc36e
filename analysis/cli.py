"""Command line: ``python -m analysis mean|proportion|total|quantile|contrast FILE.csv ...``.

Rows whose value is empty (or ``NA``) are left out of the estimate but keep the design
(subpopulation, like R ``na.rm=TRUE``); their number is reported as ``n_missing``. Bad input
exits with status 2 and a one-line message naming the column, the CSV line or the file.

* ``--df domain|design``: the degrees of freedom of each interval (default: the domain's).
* ``--rake MARGINS.json`` (``{"column": {"level": population total, …}, …}``) or
  ``--poststratify COLUMN --population POP.json`` (``{"level": total, …}``): calibrated
  weights, and standard errors from the calibration residuals (R ``calibrate`` /
  ``postStratify``); ``--bounds L,U`` bounds the raking factors (R ``calfun="logit"``).
* ``--replicates jk1|jkn|brr|bootstrap [--replicates-n R --seed S]``: replicate-weight
  variance (R ``as.svrepdesign``) instead of linearisation.
* ``quantile --q 0.5``: Woodruff interval (R ``svyquantile``); ``contrast --by COL --coef
  LEVEL=1 --coef LEVEL=-1 [--coef @total=-1]``: one object (R ``svycontrast``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis.design import SINGLE_PSU_CHOICES
from analysis.estimators import (
    DF_RULES,
    PROPORTION_METHODS,
    TOTAL,
    contrast,
    indicator,
    mean,
    proportion,
    total,
)
from analysis.quantiles import quantile
from analysis.replicates import (
    REPLICATE_KINDS,
    replicate_mean,
    replicate_proportion,
    replicate_total,
    replicate_weights,
)
from analysis.results import Estimate
from analysis.weighting import poststratify, rake

MISSING = {"", "NA"}
FIELDS = (
    "domain",
    "estimate",
    "standard_error",
    "ci_low",
    "ci_high",
    "confidence_level",
    "df",
    "n",
    "n_effective",
    "design_effect",
    "n_missing",
    "note",
)
CONTRAST_FIELDS = ("coefficients", "estimate", "standard_error", "ci_low", "ci_high",
                   "confidence_level", "df", "statistic", "p_value", "note")


class InputError(Exception):
    """Bad input file or arguments: reported in one line, exit status 2."""


def _design_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("file", help="CSV file (UTF-8, optional BOM) with a header row")
    sub.add_argument("--value", required=True, help="column to estimate")
    sub.add_argument("--weight", help="weight column")
    sub.add_argument("--strata", help="stratum column")
    sub.add_argument("--cluster", help="PSU column (nested in strata)")
    sub.add_argument("--fpc", help="population PSUs per stratum (>1) or sampling fraction")
    sub.add_argument("--single-psu", default="error", choices=SINGLE_PSU_CHOICES)
    sub.add_argument("--confidence", type=float, default=0.95)
    sub.add_argument("--format", default="table", choices=("json", "table"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analysis", description="Design-based survey estimates from a CSV file."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("mean", "proportion", "total"):
        sub = commands.add_parser(name, help=f"weighted {name} with a confidence interval")
        _design_options(sub)
        if name == "proportion":
            sub.add_argument("--level", required=True, help="value counted as a success")
            sub.add_argument("--method", default="auto", choices=PROPORTION_METHODS)
        sub.add_argument("--by", help="domain column")
        sub.add_argument("--df", default="domain", choices=DF_RULES,
                         help="degrees of freedom: the domain's (default) or the design's")
        sub.add_argument("--rake", metavar="MARGINS.json", help="rake to these margins")
        sub.add_argument("--bounds", metavar="L,U", help="bounds of the raking factors")
        sub.add_argument("--poststratify", metavar="COLUMN", help="post-stratify on a column")
        sub.add_argument("--population", metavar="POP.json", help="post-stratum totals")
        sub.add_argument("--replicates", choices=REPLICATE_KINDS,
                         help="replicate-weight variance instead of linearisation")
        sub.add_argument("--replicates-n", type=int, help="bootstrap replicates")
        sub.add_argument("--seed", type=int, help="bootstrap random seed")
    sub = commands.add_parser("quantile", help="quantile with a Woodruff interval")
    _design_options(sub)
    sub.add_argument("--q", type=float, default=0.5, help="probability in (0, 1)")
    sub.add_argument("--by", help="domain column")
    sub = commands.add_parser("contrast", help="linear contrast of domain means")
    _design_options(sub)
    sub.add_argument("--by", required=True, help="domain column")
    sub.add_argument("--coef", action="append", required=True, metavar="LEVEL=C",
                     help=f"coefficient of a domain ({TOTAL} = the whole sample); repeat")
    sub.add_argument("--level", help="contrast proportions of this value instead of means")
    return parser


def _read(path: str) -> tuple[list[str], list[list[str]]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise InputError(f"{path}: file is empty")
            rows = [row for row in reader if row]
    except OSError as error:
        raise InputError(f"{path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    for index, row in enumerate(rows):
        if len(row) != len(header):
            raise InputError(f"line {index + 2}: {len(row)} fields, header has {len(header)}")
    return [name.strip() for name in header], rows


def _column(header: list[str], rows: list[list[str]], name: str) -> list[str]:
    if name not in header:
        raise InputError(f"column {name!r} not found (columns: {', '.join(header)})")
    position = header.index(name)
    return [row[position].strip() for row in rows]


def _numbers(values: list[str], name: str, keep: np.ndarray) -> np.ndarray:
    result = np.full(len(values), np.nan)
    for index, text in enumerate(values):
        if not keep[index]:
            continue
        try:
            number = float(text)
        except ValueError:
            raise InputError(
                f"column {name!r}, line {index + 2}: {text!r} is not a number"
            ) from None
        if not math.isfinite(number):
            raise InputError(f"column {name!r}, line {index + 2}: {text!r} is not finite")
        result[index] = number
    return result


def _labels(values: list[str], name: str) -> np.ndarray:
    for index, text in enumerate(values):
        if text in MISSING:
            raise InputError(f"column {name!r}, line {index + 2}: empty value")
    return np.asarray(values, dtype=object).astype(str)


def _json_file(path: str, option: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"{option} {path}: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{option} {path}: not JSON: {error}".splitlines()[0]) from None


def _totals(spec: Any, where: str) -> dict[object, float]:
    if not isinstance(spec, dict) or not spec:
        raise InputError(f"{where}: expected {{level: population total, ...}}")
    totals: dict[object, float] = {}
    for level, value in spec.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not math.isfinite(value) or value <= 0:
            raise InputError(f"{where}.{level}: population total must be a positive number, "
                             f"got {value!r}")
        totals[str(level)] = float(value)
    return totals


def _calibration(args: argparse.Namespace, header: list[str], rows: list[list[str]],
                 weights: np.ndarray | None) -> Any:
    """The Calibration of ``--rake`` or ``--poststratify``, or None."""
    if args.rake and args.poststratify:
        raise InputError("--rake and --poststratify cannot be combined")
    if args.population and not args.poststratify:
        raise InputError("--population needs --poststratify COLUMN")
    if args.bounds and not args.rake:
        raise InputError("--bounds needs --rake")
    if not (args.rake or args.poststratify):
        return None
    try:
        if args.rake:
            margins = _json_file(args.rake, "--rake")
            if not isinstance(margins, dict) or not margins:
                raise InputError(f"--rake {args.rake}: expected {{column: {{level: total}}}}")
            categories = {name: _labels(_column(header, rows, name), name) for name in margins}
            targets = {name: _totals(spec, f"--rake {args.rake}: {name}")
                       for name, spec in margins.items()}
            bounds = None
            if args.bounds:
                try:
                    low, high = (float(v) for v in args.bounds.split(","))
                except ValueError:
                    raise InputError(f"--bounds {args.bounds!r}: expected L,U such as 0.5,2"
                                     ) from None
                bounds = (low, high)
            result = rake(categories, targets, weights=weights, bounds=bounds)
            if not result.converged:
                raise InputError(f"--rake {args.rake}: raking did not converge in "
                                 f"{result.iterations} iterations")
            return result.calibration
        if not args.population:
            raise InputError("--poststratify needs --population POP.json")
        groups = _labels(_column(header, rows, args.poststratify), args.poststratify)
        population = _totals(_json_file(args.population, "--population"),
                             f"--population {args.population}")
        return poststratify(groups, population, weights=weights).calibration
    except ValueError as error:
        raise InputError(str(error)) from None


def _replicate_design(args: argparse.Namespace, design: dict[str, Any]) -> Any:
    if not args.replicates:
        if args.replicates_n is not None or args.seed is not None:
            raise InputError("--replicates-n and --seed need --replicates")
        return None
    if args.rake or args.poststratify:
        raise InputError("--replicates cannot be combined with --rake or --poststratify")
    options: dict[str, Any] = {}
    if args.replicates == "bootstrap":
        if args.replicates_n is None or args.seed is None:
            raise InputError("--replicates bootstrap needs --replicates-n R and --seed S")
        options = {"replicates": args.replicates_n, "rng": np.random.default_rng(args.seed)}
    elif args.replicates_n is not None or args.seed is not None:
        raise InputError("--replicates-n and --seed apply to --replicates bootstrap only")
    single = args.single_psu if args.single_psu in ("error", "certainty") else None
    if single is None:
        raise InputError("--replicates supports --single-psu error or certainty")
    try:
        return replicate_weights(args.replicates, weights=design.get("weights"),
                                 strata=design.get("strata"), clusters=design.get("clusters"),
                                 fpc=design.get("fpc"), single_psu=single, **options)
    except ValueError as error:
        raise InputError(str(error)) from None


def _estimate(args: argparse.Namespace, header: list[str], rows: list[list[str]],
              raw: list[str], present: np.ndarray, design: dict[str, Any]) -> Any:
    """The Estimate (or {domain: Estimate}) of mean / proportion / total / quantile."""
    common = {"confidence_level": args.confidence}
    if args.command == "proportion":
        values: np.ndarray = np.asarray(raw, dtype=object).astype(str)
        if args.level not in set(values[present]):
            raise InputError(f"column {args.value!r}: level {args.level!r} does not occur")
    else:
        values = _numbers(raw, args.value, present)
    if args.command == "quantile":
        return quantile(values, args.q, where=present, single_psu=args.single_psu, **common,
                        **design)
    replicated = _replicate_design(args, design)
    if replicated is not None:
        by = design.get("by")
        if args.command == "proportion":
            return replicate_proportion(values, args.level, replicated, by=by, where=present,
                                        **common)
        estimator = replicate_mean if args.command == "mean" else replicate_total
        return estimator(values, replicated, by=by, where=present, **common)
    calibration = _calibration(args, header, rows, design.get("weights"))
    if calibration is not None:
        design = {k: v for k, v in design.items() if k != "weights"}
    options = {"where": present, "single_psu": args.single_psu, "df": args.df,
               "calibration": calibration, **common, **design}
    if args.command == "proportion":
        return proportion(values, args.level, method=args.method, **options)
    return (mean if args.command == "mean" else total)(values, **options)


def _contrast(args: argparse.Namespace, raw: list[str], present: np.ndarray,
              design: dict[str, Any]) -> dict[str, Any]:
    coefficients: dict[object, float] = {}
    for item in args.coef:
        level, sep, number = item.rpartition("=")
        try:
            value = float(number)
        except ValueError:
            value = math.nan
        if not sep or not level or not math.isfinite(value):
            raise InputError(f"--coef {item!r}: expected LEVEL=NUMBER, such as north=1")
        if level in coefficients:
            raise InputError(f"--coef {level!r} given twice")
        coefficients[level] = value
    known = set(design["by"][present]) | {TOTAL}
    unknown = [level for level in coefficients if level not in known]
    if unknown:
        raise InputError(f"--coef {unknown[0]!r}: no such level in column {args.by!r} "
                         f"(levels: {', '.join(sorted(str(k) for k in known))})")
    if args.level is not None:
        text = np.asarray(raw, dtype=object).astype(str)
        values = indicator(text, args.level, present)
    else:
        values = _numbers(raw, args.value, present)
    result = contrast(values, coefficients, where=present, single_psu=args.single_psu,
                      confidence_level=args.confidence, **design)
    record = {"coefficients": {str(k): v for k, v in coefficients.items()}, **result.as_dict()}
    return {key: record[key] for key in CONTRAST_FIELDS}


def run(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Parse ``argv``, compute, and return one ``dict`` per domain (raises InputError)."""
    args = _parser().parse_args(argv)
    header, rows = _read(args.file)
    if not rows:
        raise InputError(f"{args.file}: no data rows")
    everything = np.ones(len(rows), dtype=bool)
    raw = _column(header, rows, args.value)
    present = np.array([text not in MISSING for text in raw])
    design: dict[str, Any] = {}
    if args.weight:
        design["weights"] = _numbers(_column(header, rows, args.weight), args.weight, everything)
    if args.fpc:
        design["fpc"] = _numbers(_column(header, rows, args.fpc), args.fpc, everything)
    for option, key in (("strata", "strata"), ("cluster", "clusters"), ("by", "by")):
        column = getattr(args, option, None)
        if column:
            design[key] = _labels(_column(header, rows, column), column)
    if not present.any():
        raise InputError(f"column {args.value!r}: every value is empty")
    try:
        if args.command == "contrast":
            return [_contrast(args, raw, present, design)]
        result = _estimate(args, header, rows, raw, present, design)
    except ValueError as error:
        raise InputError(str(error)) from None
    domains = result.items() if isinstance(result, dict) else [(None, result)]
    by_values = design.get("by")
    output = []
    for domain, estimate in domains:
        assert isinstance(estimate, Estimate)
        in_domain = np.ones(len(rows), dtype=bool) if by_values is None else by_values == domain
        record = {"domain": domain, **estimate.as_dict()}
        record["n_missing"] = int((in_domain & ~present).sum())
        output.append({key: record[key] for key in FIELDS})
    return output


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _table(records: list[dict[str, Any]]) -> str:
    if records and "coefficients" in records[0]:
        first = records[0]
        return "\n".join(f"{key}: {first[key]}" for key in CONTRAST_FIELDS)
    heads = ["domain", "estimate", "SE", "ci_low", "ci_high", "df", "n", "n_eff", "deff", "missing",
             "note"]
    keys = [
        "domain",
        "estimate",
        "standard_error",
        "ci_low",
        "ci_high",
        "df",
        "n",
        "n_effective",
        "design_effect",
        "n_missing",
        "note",
    ]
    lines = [
        [str(record[k]) if not isinstance(record[k], float) else f"{record[k]:.6g}" for k in keys]
        for record in records
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(heads)]
    text = ["  ".join(h.rjust(w) for h, w in zip(heads, widths, strict=True))]
    text += ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    level = records[0]["confidence_level"] if records else 0.95
    return "\n".join(text) + f"\n(confidence level {level:g})"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 bad input)."""
    try:
        records = run(argv)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    fmt = _parser().parse_args(argv).format
    if fmt == "json":
        print(json.dumps([{k: _json_number(v) for k, v in r.items()} for r in records]
                         if records and "coefficients" not in records[0]
                         else {k: _json_number(v) for k, v in records[0].items()}))
    else:
        print(_table(records))
    return 0
