"""Cross-field checks of a questionnaire that pydantic's field types cannot express
(scales, dimension weights and AHP consistency, items, show-if references and cycles,
demographics, the index). Each raises :class:`Problem` at the first failure, with the path
inside the file."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from analysis.indices import SAATY_RANDOM_INDEX, ahp_weights
from survey.core.questionnaires.schema import (
    CHOICE_TYPES,
    NA_CODE,
    REQUIRED_DEMOGRAPHICS,
    SCALE_TYPES,
    UNDER_14,
    AhpMatrix,
    Item,
    Questionnaire,
    ShowIf,
)

NPS_RANGE = (0, 10)
AHP_MAX_CR = 0.10
"""Saaty's limit on an AHP matrix's consistency ratio."""


class Problem(Exception):
    """A semantic problem at ``path`` (raised inside validation, turned into an error)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason



def _known(names: Iterable[str]) -> str:
    return ", ".join(names) or "none"


def check(q: Questionnaire) -> None:
    """Cross-field checks; raise :class:`Problem` at the first one that fails."""
    _check_scales(q)
    dims = _check_dimensions(q)
    items = _check_items(q, dims)
    _check_show_if(q, items)
    _check_demographics(q)
    _check_index(q, items)


def _check_scales(q: Questionnaire) -> None:
    for name, scale in q.scales.items():
        path = f"scales.{name}"
        if scale.min >= scale.max:
            raise Problem(path, f"bad scale: min ({scale.min}) must be below max ({scale.max})")
        if len(scale.labels) != scale.points:
            raise Problem(
                f"{path}.labels",
                f"bad scale: {len(scale.labels)} labels for {scale.points} points "
                f"({scale.min}..{scale.max}); give one label per point",
            )
        if scale.na_label is not None and not scale.na:
            raise Problem(f"{path}.na_label", "na_label given but na is false")


def _check_weight(path: str, weight: float) -> None:
    if not (math.isfinite(weight) and weight > 0):
        raise Problem(path, f"weight must be positive, got {weight:g}")


def _check_dimensions(q: Questionnaire) -> dict[str, int]:
    dims: dict[str, int] = {}
    for i, dim in enumerate(q.dimensions):
        if dim.id in dims:
            raise Problem(f"dimensions[{i}].id", f"duplicate id '{dim.id}'")
        dims[dim.id] = i
        if q.ahp is None:
            if dim.weight is None:
                raise Problem(f"dimensions[{i}]", "missing weight (give a weight or an ahp block)")
            _check_weight(f"dimensions[{i}].weight", dim.weight)
        elif dim.weight is not None:
            raise Problem(
                f"dimensions[{i}].weight",
                "give either dimension weights or an ahp block, not both",
            )
    if q.ahp is not None:
        _check_ahp(q.ahp, dims)
    return dims


def _check_ahp(ahp: AhpMatrix, dims: Mapping[str, int]) -> None:
    for i, dim_id in enumerate(ahp.order):
        if dim_id not in dims:
            raise Problem(
                f"ahp.order[{i}]", f"unknown dimension '{dim_id}' (known: {_known(dims)})"
            )
    if sorted(ahp.order) != sorted(dims):
        missing = [d for d in dims if d not in ahp.order]
        reason = (
            f"must list every dimension once (missing: {_known(missing)})"
            if missing
            else "lists a dimension twice"
        )
        raise Problem("ahp.order", reason)
    n = len(ahp.order)
    if n > len(SAATY_RANDOM_INDEX):
        raise Problem("ahp.order", f"AHP supports at most {len(SAATY_RANDOM_INDEX)} dimensions")
    if len(ahp.matrix) != n:
        raise Problem("ahp.matrix", f"needs {n} rows (one per dimension), got {len(ahp.matrix)}")
    for i, row in enumerate(ahp.matrix):
        if len(row) != n:
            raise Problem(f"ahp.matrix[{i}]", f"needs {n} entries, got {len(row)}")
        for j, value in enumerate(row):
            if not (math.isfinite(value) and value > 0):
                raise Problem(f"ahp.matrix[{i}][{j}]", f"judgements must be positive, got {value}")
    for i in range(n):
        if not math.isclose(ahp.matrix[i][i], 1.0):
            raise Problem(f"ahp.matrix[{i}][{i}]", "diagonal must be 1")
        for j in range(i + 1, n):
            if not math.isclose(ahp.matrix[i][j] * ahp.matrix[j][i], 1.0, rel_tol=1e-6):
                raise Problem(
                    f"ahp.matrix[{j}][{i}]",
                    f"not reciprocal: must be 1/{ahp.matrix[i][j]:g} (write fractions as "
                    f'"1/3"), got {ahp.matrix[j][i]:g}',
                )
    try:
        result = ahp_weights(ahp.matrix)
    except ValueError as exc:
        raise Problem("ahp.matrix", str(exc)) from None
    # CR is NaN for n <= 2 (RI = 0): such matrices are consistent by construction.
    if not math.isnan(result.consistency_ratio) and result.consistency_ratio > AHP_MAX_CR:
        raise Problem(
            "ahp.matrix",
            f"inconsistent pairwise judgements: consistency ratio {result.consistency_ratio:.3f} "
            f"> {AHP_MAX_CR:.2f} (λmax {result.lambda_max:.3f})",
        )


def _item_paths(q: Questionnaire) -> list[tuple[str, Item]]:
    paths = [
        (f"sections[{s}].items[{i}]", item)
        for s, section in enumerate(q.sections)
        for i, item in enumerate(section.items)
    ]
    paths += [(f"demographics[{i}]", item) for i, item in enumerate(q.demographics)]
    return paths


def _check_items(q: Questionnaire, dims: Mapping[str, int]) -> dict[str, tuple[int, str, Item]]:
    seen: dict[str, tuple[int, str, Item]] = {}
    section_ids: set[str] = set()
    for s, section in enumerate(q.sections):
        if section.id in section_ids:
            raise Problem(f"sections[{s}].id", f"duplicate id '{section.id}'")
        section_ids.add(section.id)
    used_dims: set[str] = set()
    for position, (path, item) in enumerate(_item_paths(q)):
        if item.id in seen:
            raise Problem(
                f"{path}.id", f"duplicate id '{item.id}' (already used at {seen[item.id][1]})"
            )
        seen[item.id] = (position, path, item)
        _check_item(q, path, item, dims)
        if item.dimension is not None:
            used_dims.add(item.dimension)
    for i, dim in enumerate(q.dimensions):
        if dim.id not in used_dims:
            raise Problem(f"dimensions[{i}]", f"dimension '{dim.id}' has no items")
    return seen


def _check_item(q: Questionnaire, path: str, item: Item, dims: Mapping[str, int]) -> None:
    kind = item.type
    if kind in SCALE_TYPES:
        if item.scale is None:
            raise Problem(f"{path}.scale", f"a {kind} item needs a scale")
        if item.scale not in q.scales:
            raise Problem(
                f"{path}.scale", f"unknown scale '{item.scale}' (known: {_known(q.scales)})"
            )
        scale = q.scales[item.scale]
        if kind == "nps" and (scale.min, scale.max) != NPS_RANGE:
            raise Problem(f"{path}.scale", "an nps item needs a 0..10 scale")
    elif item.scale is not None:
        raise Problem(f"{path}.scale", f"a {kind} item has no scale")
    if kind in CHOICE_TYPES:
        if not item.options or len(item.options) < 2:
            raise Problem(f"{path}.options", f"a {kind} item needs at least two options")
        values: set[str] = set()
        for j, option in enumerate(item.options):
            if option.value in values:
                raise Problem(f"{path}.options[{j}].value", f"duplicate value '{option.value}'")
            if option.value == NA_CODE:
                raise Problem(f"{path}.options[{j}].value", f"'{NA_CODE}' is reserved for N/A")
            values.add(option.value)
    elif item.options is not None:
        raise Problem(f"{path}.options", f"a {kind} item has no options")
    if item.dimension is not None:
        if item.dimension not in dims:
            raise Problem(
                f"{path}.dimension",
                f"unknown dimension '{item.dimension}' (known: {_known(dims)})",
            )
        if kind not in SCALE_TYPES:
            raise Problem(f"{path}.dimension", f"only scale and nps items are scored, not {kind}")
    _check_weight(f"{path}.weight", item.weight)
    if item.reverse and kind != "scale":
        raise Problem(f"{path}.reverse", "only scale items can be reverse-coded")


def _check_show_if(q: Questionnaire, items: Mapping[str, tuple[int, str, Item]]) -> None:
    # First: every reference must exist (so the cycle search only sees real items).
    for item_id, (_, path, item) in items.items():
        if item.show_if is None:
            continue
        for ref in item.show_if.referenced_items():
            if ref not in items:
                raise Problem(f"{path}.show_if", f"unknown item '{ref}' in show_if")
            if ref == item_id:
                raise Problem(f"{path}.show_if", f"show_if cycle: {item_id} -> {item_id}")
    # Then cycles, reported as such (a cycle always contains a forward reference).
    graph = {
        item_id: (item.show_if.referenced_items() if item.show_if else [])
        for item_id, (_, _, item) in items.items()
    }
    for start in graph:
        cycle = _find_cycle(graph, start)
        if cycle:
            raise Problem(f"{items[start][1]}.show_if", "show_if cycle: " + " -> ".join(cycle))
    # Then order and values.
    for position, path, item in items.values():
        if item.show_if is None:
            continue
        _check_condition(q, f"{path}.show_if", item.show_if, position, items)


def _find_cycle(graph: Mapping[str, list[str]], start: str) -> list[str] | None:
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    while stack:
        node, trail = stack.pop()
        for nxt in graph[node]:
            if nxt == start:
                return [*trail, start]
            if nxt not in trail:
                stack.append((nxt, [*trail, nxt]))
    return None


def _check_condition(
    q: Questionnaire,
    path: str,
    cond: ShowIf,
    position: int,
    items: Mapping[str, tuple[int, str, Item]],
) -> None:
    for key, subs in (("all", cond.all), ("any", cond.any)):
        for k, sub in enumerate(subs or []):
            _check_condition(q, f"{path}.{key}[{k}]", sub, position, items)
    if cond.item is None:
        return
    ref_position, _, ref = items[cond.item]
    if ref_position >= position:
        raise Problem(
            f"{path}.item", f"show_if may only use earlier items; '{ref.id}' comes later"
        )
    if ref.type == "text":
        raise Problem(f"{path}.item", f"show_if cannot test text item '{ref.id}'")
    if ref.type in CHOICE_TYPES:
        allowed = [o.value for o in ref.options or []]
    else:
        scale = q.scales[ref.scale or ""]
        allowed = [str(v) for v in range(scale.min, scale.max + 1)]
        if scale.na:
            allowed.append(NA_CODE)
    for value in cond.values():
        if value not in allowed:
            raise Problem(
                f"{path}.{'equals' if cond.equals is not None else 'in'}",
                f"'{value}' is not a possible answer to '{ref.id}' (possible: {_known(allowed)})",
            )


def _check_demographics(q: Questionnaire) -> None:
    ids = {}
    for i, item in enumerate(q.demographics):
        ids[item.id] = item
        if item.type != "single":
            raise Problem(f"demographics[{i}].type", "demographic items must be type single")
    for required in REQUIRED_DEMOGRAPHICS:
        if required not in ids:
            raise Problem("demographics", f"missing demographic item '{required}'")
    if UNDER_14 not in {o.value for o in ids["age_band"].options or []}:
        raise Problem("demographics", f"age_band needs an option '{UNDER_14}'")


def _check_index(q: Questionnaire, items: Mapping[str, tuple[int, str, Item]]) -> None:
    rate = q.index.satisfaction_rate
    if rate.item not in items:
        raise Problem("index.satisfaction_rate.item", f"unknown item '{rate.item}'")
    item = items[rate.item][2]
    if item.type != "scale" or item.reverse:
        raise Problem(
            "index.satisfaction_rate.item", f"'{rate.item}' must be a scale item, not reversed"
        )
    scale = q.scales[item.scale or ""]
    if not 1 <= rate.top_boxes < scale.points:
        raise Problem(
            "index.satisfaction_rate.top_boxes",
            f"must be between 1 and {scale.points - 1} for a {scale.points}-point scale",
        )
    if q.index.nps_item is not None:
        if q.index.nps_item not in items:
            raise Problem("index.nps_item", f"unknown item '{q.index.nps_item}'")
        if items[q.index.nps_item][2].type != "nps":
            raise Problem("index.nps_item", f"'{q.index.nps_item}' must be an nps item")


# --------------------------------------------------------------------------- loading
