"""Dashboard tables: every chart's numbers as an HTML table and a CSV download (UTF-8 with
BOM for Excel; text cells escaped against formula injection)."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any

from flask import Response, current_app
from flask_babel import gettext as _

from survey.core.spreadsheet import escape_formula
from survey.dashboard import estimates


@dataclass
class Table:
    """A chart's numbers: shown as an HTML table and downloadable as CSV.

    ``formats`` per column: "text", "int", "n" (count, "< 10" when suppressed), "1" / "2" /
    "3" (decimals), "p" (p-value). A suppressed cell holds :data:`SUPPRESSED`."""

    name: str
    title: str
    headers: list[str]
    formats: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    note: str = ""


class _Suppressed:
    def __str__(self) -> str:
        return _("suppressed (n < %(n)d)", n=current_app.config["MIN_CELL_SIZE"])


SUPPRESSED = _Suppressed()


class _Few:
    def __str__(self) -> str:
        return f"< {current_app.config['MIN_CELL_SIZE']}"


FEW = _Few()


def fmt(value: Any, spec: str) -> str:
    """Display a table value."""
    if value is None:
        return "—"
    if isinstance(value, _Suppressed | _Few | str):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "—"
    if spec in ("int", "n"):
        return f"{int(round(value)):,}"
    if spec == "p":
        return "< 0.001" if value < 0.001 else f"{value:.3f}"
    if spec in ("1", "2", "3"):
        return f"{value:.{spec}f}"
    return str(value)


def _csv_value(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        text = ""
    elif isinstance(value, float):
        text = repr(value)  # full precision: the numbers are aggregates
    else:
        text = str(value)
    if isinstance(value, int | float) and spec != "text":
        return text  # our own numbers, never a formula
    return escape_formula(text)


def csv_response(table: Table, filename: str) -> Response:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([_csv_value(h, "text") for h in table.headers])
    for row in table.rows:
        writer.writerow([_csv_value(v, f) for v, f in zip(row, table.formats, strict=True)])
    data = "\ufeff" + buf.getvalue()  # BOM: Excel opens UTF-8 Chinese correctly
    return Response(data, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "private, no-store"})


def estimate_columns(cell: estimates.Cell, scale: float = 1.0) -> list[Any]:
    """``[n, estimate, ci_low, ci_high, n_effective]`` or the suppression reason."""
    e = cell.value
    if e is None:
        return [FEW if cell.suppressed else cell.n, SUPPRESSED if cell.suppressed else None,
                None, None, None]
    return [e.n, e.estimate * scale, e.ci_low * scale, e.ci_high * scale, e.n_effective]


def estimate_headers() -> list[str]:
    return [_("n"), _("Estimate"), _("95% CI low"), _("95% CI high"), _("Effective n")]


ESTIMATE_FORMATS = ["n", "1", "1", "1", "int"]


