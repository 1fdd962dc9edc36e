"""The export's answer codes, computed once at submit and stored on the response.

The researcher export (:mod:`survey.export.service`) writes one CSV row per response. The
cells that come from the answers and the scores are the same in every export, so the one
submit path (:func:`survey.core.responses.ingest._response_row`) stores them already encoded, as two
ready CSV fragments on ``response``:

``item_codes``
    The cells of the export's answer columns, in export column order, comma-joined:
    first the questionnaire's *other demographics* (quasi-identifiers other than
    ``age_band``, ``gender``, ``visit_type``, which are response columns) as their option
    codes, then the item columns — scale/NPS items as their points, N/A as ``-9``,
    single-choice items as their 1-based option index, one ``0``/``1`` per option of a
    multi-choice item; empty for an unanswered or hidden item (all options empty for a
    multi-choice item). Free text is never in it (it is scrubbed at export time).
``dimension_scores``
    The dimension scores in the questionnaire's dimension order, ``repr`` floats,
    comma-joined; empty for a dimension without a score.

Every cell is a number, an option code (``[a-z0-9_]+``) or empty, so a fragment never needs
CSV quoting. :func:`layout` derives the column order from the questionnaire and is what the
export's header and codebook are built from, so the stored order and the header cannot
diverge. A response stored under another version of its questionnaire (or before these
columns existed, when the migration could not encode it) has ``NULL`` and is encoded at
export time from its ``answer`` rows with the same :func:`encode_items`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from survey.core.models import RESPONSE_DEMOGRAPHICS
from survey.core.questionnaires import NotApplicable, Questionnaire

__all__ = ["NA_EXPORT", "QI_COLUMNS", "ItemColumns", "Layout", "encode_items",
           "encode_scores", "layout", "qi_names", "raw_code"]

NA_EXPORT = -9
"""Code written for an N/A answer ("not applicable / did not experience")."""
QI_COLUMNS = ("wave", "city", "district", "site_kind", "age_band", "gender")
"""Quasi-identifier columns every export has (``visit_type`` and the other demographics
follow when the questionnaire asks them)."""


@dataclass(frozen=True)
class ItemColumns:
    """The export columns of one item: ``table`` maps an answer code to the cell for a
    scale/NPS/single item; ``options`` lists the option codes of a multi item."""

    item: str
    kind: str  # "coded" | "multi"
    table: Mapping[str, str]
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layout:
    """The answer-derived columns of a questionnaire's export, in order."""

    extras: tuple[str, ...]
    """Other demographics (quasi-identifiers stored as answers), written as option codes."""
    items: tuple[ItemColumns, ...]
    dimensions: tuple[str, ...]
    text_items: tuple[str, ...]

    @property
    def n_item_cells(self) -> int:
        return sum(len(c.options) if c.kind == "multi" else 1 for c in self.items)


def qi_names(q: Questionnaire) -> list[str]:
    """Quasi-identifier columns of ``q``'s export, in column order."""
    names = list(QI_COLUMNS)
    if q.has_item("visit_type"):
        names.append("visit_type")
    return names + list(layout(q).extras)


def _build(q: Questionnaire) -> Layout:
    extras = tuple(d.id for d in q.demographics if d.id not in RESPONSE_DEMOGRAPHICS)
    skip = set(QI_COLUMNS) | {"visit_type"} | set(extras)
    items: list[ItemColumns] = []
    texts: list[str] = []
    for item in q.items:
        if item.id in skip:
            continue
        if item.type in ("scale", "nps"):
            scale = q.scale_for(item)
            assert scale is not None
            table = {str(x): str(x) for x in range(scale.min, scale.max + 1)}
            table["na"] = str(NA_EXPORT)
            items.append(ItemColumns(item.id, "coded", table))
        elif item.type == "single":
            table = {o.value: str(i) for i, o in enumerate(item.options or [], 1)}
            items.append(ItemColumns(item.id, "coded", table))
        elif item.type == "multi":
            options = tuple(o.value for o in item.options or [])
            items.append(ItemColumns(item.id, "multi", {}, options))
        elif item.type == "text":
            texts.append(item.id)
    return Layout(extras, tuple(items), tuple(d.id for d in q.dimensions), tuple(texts))


def layout(q: Questionnaire) -> Layout:
    """``q``'s export layout (built once per questionnaire, memoised on it)."""
    return q.memo("export_codes.layout", _build)


def raw_code(value: Any) -> Any:
    """An answer as the code the database holds: ``4`` → ``"4"``, N/A → ``"na"``, an
    option → its code, a multi answer → its list (or the JSON text of it); None stays
    None."""
    if value is None or isinstance(value, list | tuple | str):
        return value
    if isinstance(value, NotApplicable):
        return "na"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def encode_items(q: Questionnaire, answers: Mapping[str, Any],
                 unknown: Counter[str] | None = None) -> str:
    """The ``item_codes`` fragment of one response.

    ``answers`` maps item id → answer, either as cleaned by
    :func:`survey.core.responses.scoring.validate_answers` (ints, :data:`NA`, option codes,
    lists) or as stored (``"4"``, ``"na"``, option codes, JSON lists). A code the
    questionnaire does not know gives an empty cell and is counted in ``unknown`` (per item).
    """
    lay = layout(q)
    cells: list[str] = []
    for name in lay.extras:
        value = raw_code(answers.get(name))
        cells.append("" if value is None else str(value))
    for col in lay.items:
        value = answers.get(col.item)
        if col.kind == "multi":
            if value is None:
                cells.extend([""] * len(col.options))
                continue
            chosen = set(json.loads(value) if isinstance(value, str) else value)
            cells.extend("1" if o in chosen else "0" for o in col.options)
            stray = chosen - set(col.options)
            if stray and unknown is not None:
                unknown[col.item] += 1
            continue
        code = raw_code(value)
        if code is None:
            cells.append("")
            continue
        cell = col.table.get(code)
        if cell is None:
            if unknown is not None:
                unknown[col.item] += 1
            cell = ""
        cells.append(cell)
    return ",".join(cells)


def encode_scores(q: Questionnaire, scores: Mapping[str, Any]) -> str:
    """The ``dimension_scores`` fragment: ``repr`` of each dimension's score in dimension
    order, empty where there is none (``scores`` values may be floats or numeric text)."""
    out = []
    for dim in layout(q).dimensions:
        value = scores.get(dim)
        out.append("" if value is None else repr(float(value)))
    return ",".join(out)
