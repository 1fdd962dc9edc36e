"""Command line: ``python -m analysis mean|proportion FILE.csv --value COL ...``.

Rows whose value is empty (or ``NA``) are left out of the estimate but keep the design
(subpopulation, like R ``na.rm=TRUE``); their number is reported as ``n_missing``. Bad input
exits with status 2 and a one-line message naming the column and the CSV line.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from analysis.design import SINGLE_PSU_CHOICES
from analysis.estimators import mean, proportion
from analysis.results import Estimate

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
)


class InputError(Exception):
    """Bad input file or arguments: reported in one line, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analysis", description="Design-based survey estimates from a CSV file."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("mean", "proportion"):
        sub = commands.add_parser(name, help=f"weighted {name} with a confidence interval")
        sub.add_argument("file", help="CSV file (UTF-8, optional BOM) with a header row")
        sub.add_argument("--value", required=True, help="column to estimate")
        if name == "proportion":
            sub.add_argument("--level", required=True, help="value counted as a success")
            sub.add_argument(
                "--method", default="logit", choices=("logit", "korn-graubard", "wilson")
            )
        sub.add_argument("--weight", help="weight column")
        sub.add_argument("--strata", help="stratum column")
        sub.add_argument("--cluster", help="PSU column (nested in strata)")
        sub.add_argument("--fpc", help="population PSUs per stratum (>1) or sampling fraction")
        sub.add_argument("--by", help="domain column")
        sub.add_argument("--single-psu", default="error", choices=SINGLE_PSU_CHOICES)
        sub.add_argument("--confidence", type=float, default=0.95)
        sub.add_argument("--format", default="table", choices=("json", "table"))
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
        column = getattr(args, option)
        if column:
            design[key] = _labels(_column(header, rows, column), column)
    if not present.any():
        raise InputError(f"column {args.value!r}: every value is empty")
    try:
        if args.command == "mean":
            values = _numbers(raw, args.value, present)
            result = mean(
                values,
                where=present,
                single_psu=args.single_psu,
                confidence_level=args.confidence,
                **design,
            )
        else:
            values_text = np.asarray(raw, dtype=object).astype(str)
            if args.level not in set(values_text[present]):
                raise InputError(f"column {args.value!r}: level {args.level!r} does not occur")
            result = proportion(
                values_text,
                args.level,
                where=present,
                method=args.method,
                single_psu=args.single_psu,
                confidence_level=args.confidence,
                **design,
            )
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
    heads = ["domain", "estimate", "SE", "ci_low", "ci_high", "df", "n", "n_eff", "deff", "missing"]
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
        print(json.dumps([{k: _json_number(v) for k, v in r.items()} for r in records]))
    else:
        print(_table(records))
    return 0
