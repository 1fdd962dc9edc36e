"""Questionnaire definitions: the YAML format, its pydantic schema, and the loader.

A questionnaire is one YAML file under :data:`QUESTIONNAIRE_DIR` (the format is described in
``docs/questionnaires.md``).  :func:`load_questionnaire` parses and validates it once, at
start-up; every problem is reported as a one-line :class:`QuestionnaireError` naming the
file, the path inside it and what is wrong, e.g.::

    questionnaires/tourism.yaml: sections[2].items[0].dimension: unknown dimension 'prices'
    (known: transport, accommodation, ...)

The validated :class:`Questionnaire` is immutable.  Structures derived from it (item lookup,
visibility predicates, scoring plans) are computed once and cached on the instance, so
scoring many responses against one questionnaire does no repeated set-up work.

This module is pure library code: it imports neither Flask nor SQLAlchemy.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from analysis.indices import SAATY_RANDOM_INDEX, AhpResult, ahp_weights

__all__ = [
    "DOMAINS",
    "ITEM_TYPES",
    "LANGUAGES",
    "NA",
    "NA_CODE",
    "QUESTIONNAIRE_DIR",
    "SITE_KINDS",
    "TEXT_MAX_LENGTH",
    "AhpMatrix",
    "Dimension",
    "IndexSpec",
    "Item",
    "LocalizedText",
    "NotApplicable",
    "Option",
    "Questionnaire",
    "QuestionnaireError",
    "SatisfactionRate",
    "Scale",
    "Section",
    "ShowIf",
    "answer_codes",
    "load_questionnaire",
    "load_questionnaires",
    "parse_questionnaire",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
QUESTIONNAIRE_DIR = REPO_ROOT / "questionnaires"
"""Default directory of questionnaire YAML files (``questionnaires/`` at the repository root)."""

LANGUAGES: tuple[str, ...] = ("zh-Hans", "en")
"""Every localized text must carry these languages (zh-Hans is the primary one)."""

DOMAINS: tuple[str, ...] = (
    "healthcare",
    "elderly_care",
    "community",
    "tourism",
    "auto_aftersales",
)
SITE_KINDS: tuple[str, ...] = (
    "hospital",
    "clinic",
    "elder_care",
    "community_centre",
    "scenic_spot",
    "dealer",
)
ITEM_TYPES: tuple[str, ...] = ("scale", "single", "multi", "text", "nps")
TEXT_MAX_LENGTH = 2000
"""Longest accepted answer to a ``text`` item, in characters (after stripping whitespace)."""

NA_CODE = "na"
"""How N/A ("not applicable / did not experience") is submitted and stored: its own code."""

REQUIRED_DEMOGRAPHICS = ("age_band", "gender")
UNDER_14 = "under_14"
"""The ``age_band`` option every questionnaire must offer (minors are routed out)."""

SCALE_TYPES = frozenset({"scale", "nps"})
CHOICE_TYPES = frozenset({"single", "multi"})
REQUIRED_BY_DEFAULT = frozenset({"scale", "single", "nps"})
_NPS_RANGE = (0, 10)
AHP_MAX_CR = 0.10
"""Largest acceptable AHP consistency ratio (Saaty)."""

T = TypeVar("T")


class NotApplicable(enum.Enum):
    """The N/A answer.  Use the singleton :data:`NA`; ``NA.value`` is the code ``"na"``."""

    NA = NA_CODE

    def __repr__(self) -> str:
        return "NA"


NA = NotApplicable.NA
"""Sentinel for a "not applicable" answer in cleaned answers (never 0, never missing)."""


class QuestionnaireError(ValueError):
    """A questionnaire file is invalid.

    ``str(error)`` is one line: ``<file>: <path>: <reason>``, e.g.
    ``questionnaires/tourism.yaml: sections[2].items[0].dimension: unknown dimension 'x'``.

    Attributes
    ----------
    file : the file as displayed (relative to the repository root when inside it).
    path : location inside the file (``sections[2].items[0].dimension``, ``line 7`` for YAML
        syntax errors, ``""`` for the whole file).
    reason : what is wrong.
    """

    def __init__(self, file: str | Path, path: str, reason: str) -> None:
        self.file = _display_path(file)
        self.path = path
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.reason}"


# --------------------------------------------------------------------------- schema


def _to_str(value: object) -> object:
    """Accept an integer where a code string is expected (``value: 1`` → ``"1"``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _parse_fraction(value: object) -> object:
    """Accept Saaty judgements written as fractions, e.g. ``"1/3"``."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*", value)
        if match:
            denominator = float(match.group(2))
            if denominator == 0:
                raise ValueError(f"division by zero in {value!r}")
            return float(match.group(1)) / denominator
    return value


Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Code = Annotated[str, BeforeValidator(_to_str), Field(pattern=r"^[a-z0-9][a-z0-9_]*$")]
Judgement = Annotated[float, BeforeValidator(_parse_fraction)]


class _Model(BaseModel):
    """Base of every schema model: unknown keys are errors; instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


class LocalizedText(_Model):
    """A text in every language of :data:`LANGUAGES` (both present and non-empty)."""

    zh_hans: str = Field(alias="zh-Hans")
    en: str

    @model_validator(mode="before")
    @classmethod
    def _require_translations(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a mapping with {' and '.join(LANGUAGES)}")
        for lang in LANGUAGES:
            if lang not in data:
                raise ValueError(f"missing translation '{lang}'")
            text = data[lang]
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"empty translation '{lang}'")
        return data

    def get(self, lang: str) -> str:
        """Return the text in ``lang`` (``"zh-Hans"`` or ``"en"``)."""
        if lang == "zh-Hans":
            return self.zh_hans
        if lang == "en":
            return self.en
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}, got {lang!r}")

    def as_dict(self) -> dict[str, str]:
        """``{"zh-Hans": ..., "en": ...}``."""
        return {"zh-Hans": self.zh_hans, "en": self.en}


DEFAULT_NA_LABEL = LocalizedText.model_validate(
    {"zh-Hans": "不适用／未接触", "en": "Not applicable / did not use"}
)


class Scale(_Model):
    """A rating scale: integer points ``min..max``, one label per point, optional N/A."""

    min: int
    max: int
    labels: list[LocalizedText]
    na: bool = False
    na_label: LocalizedText | None = None

    @property
    def points(self) -> int:
        """Number of points, ``max − min + 1``."""
        return self.max - self.min + 1


class Option(_Model):
    """One answer option of a ``single`` or ``multi`` item."""

    value: Code
    label: LocalizedText


class ShowIf(_Model):
    """Display condition of an item.

    Exactly one form: ``{item, equals}``, ``{item, in}``, ``{all: [...]}`` or ``{any: [...]}``.
    ``equals`` holds when the referenced answer is that value (for a ``multi`` item: when the
    value is among those chosen); ``in`` when it is one of the values (``multi``: any overlap).
    A condition on an unanswered or hidden item is false.
    """

    item: Identifier | None = None
    equals: Annotated[str, BeforeValidator(_to_str)] | None = None
    in_: list[Annotated[str, BeforeValidator(_to_str)]] | None = Field(default=None, alias="in")
    all: list[ShowIf] | None = None
    any: list[ShowIf] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> ShowIf:
        leaf = self.item is not None
        comparisons = (self.equals is not None) + (self.in_ is not None)
        forms = leaf + (self.all is not None) + (self.any is not None)
        if forms != 1 or comparisons != (1 if leaf else 0):
            present = [k for k in ("item", "equals", "in", "all", "any") if self._has(k)]
            raise ValueError(
                "show_if must be exactly one of {item, equals}, {item, in}, {all: [...]}, "
                f"{{any: [...]}} (got keys: {', '.join(present) or 'none'})"
            )
        if self.in_ is not None and not self.in_:
            raise ValueError("show_if 'in' needs at least one value")
        if (self.all is not None and not self.all) or (self.any is not None and not self.any):
            raise ValueError("show_if 'all'/'any' needs at least one condition")
        return self

    def _has(self, key: str) -> bool:
        return getattr(self, "in_" if key == "in" else key) is not None

    def referenced_items(self) -> list[str]:
        """Item ids this condition reads, in order of appearance."""
        if self.item is not None:
            return [self.item]
        out: list[str] = []
        for sub in self.all or self.any or []:
            out.extend(sub.referenced_items())
        return out

    def values(self) -> list[str]:
        """The values compared against (for ``equals``/``in`` leaves)."""
        if self.equals is not None:
            return [self.equals]
        return list(self.in_ or [])

    def as_dict(self) -> dict[str, Any]:
        """The condition as written in YAML (``in`` spelled ``in``)."""
        return self.model_dump(by_alias=True, exclude_none=True)


class Item(_Model):
    """A question.

    ``required`` defaults to true for ``scale``, ``single`` and ``nps`` items and to false for
    ``text`` and ``multi`` items.  ``dimension``, ``weight`` and ``reverse`` matter for scoring
    (``scale``/``nps`` items only).
    """

    id: Identifier
    text: LocalizedText
    type: Literal["scale", "single", "multi", "text", "nps"]
    scale: str | None = None
    options: list[Option] | None = None
    dimension: str | None = None
    weight: float = 1.0
    reverse: bool = False
    required: bool
    show_if: ShowIf | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_required(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "required" not in data:
            data = dict(data)
            data["required"] = data.get("type") in REQUIRED_BY_DEFAULT
        return data


class Section(_Model):
    """A page/group of items."""

    id: Identifier
    title: LocalizedText
    items: list[Item] = Field(min_length=1)


class Dimension(_Model):
    """A scored dimension (e.g. a SERVQUAL dimension).  ``weight`` unless ``ahp`` is used."""

    id: Identifier
    title: LocalizedText
    weight: float | None = None


class AhpMatrix(_Model):
    """Saaty pairwise-comparison matrix over the dimensions listed in ``order``.

    ``matrix[i][j]`` says how much more important ``order[i]`` is than ``order[j]``
    (1–9 scale, fractions such as ``"1/3"`` allowed); it must be positive and reciprocal.
    """

    order: list[Identifier]
    matrix: list[list[Judgement]]


class SatisfactionRate(_Model):
    """满意率: share of respondents answering ``item`` in its top ``top_boxes`` points."""

    item: Identifier
    top_boxes: int = 2


class IndexSpec(_Model):
    """How the overall index and the headline rates are formed."""

    method: Literal["weighted_dimensions"]
    satisfaction_rate: SatisfactionRate
    nps_item: Identifier | None = None


class _Problem(Exception):
    """A semantic problem at ``path`` (raised inside validation, turned into an error)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class Questionnaire(_Model):
    """A validated questionnaire.  Build it with :func:`load_questionnaire`.

    Besides the YAML fields it offers :attr:`items`, :meth:`item`, :attr:`dimension_weights`,
    :meth:`scale_for`, :meth:`is_visible`, :attr:`content_hash` and
    :meth:`public_definition`.
    """

    id: Identifier
    version: int = Field(ge=1)
    consent_version: str = Field(min_length=1, max_length=32)
    domain: Literal["healthcare", "elderly_care", "community", "tourism", "auto_aftersales"]
    title: LocalizedText
    intro: LocalizedText
    site_kinds: list[
        Literal["hospital", "clinic", "elder_care", "community_centre", "scenic_spot", "dealer"]
    ] = Field(min_length=1)
    scales: dict[Identifier, Scale]
    dimensions: list[Dimension] = Field(min_length=1)
    ahp: AhpMatrix | None = None
    sections: list[Section] = Field(min_length=1)
    demographics: list[Item]
    index: IndexSpec

    _memo: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check_semantics(self) -> Questionnaire:
        try:
            _check(self)
        except _Problem as problem:
            raise PydanticCustomError(
                "manyi_semantics",
                "{reason}",
                {"path": problem.path, "reason": problem.reason},
            ) from None
        return self

    # ------------------------------------------------------------------ structure

    @cached_property
    def items(self) -> tuple[Item, ...]:
        """Every item in order: the sections' items, then the demographics."""
        return tuple(
            [item for section in self.sections for item in section.items] + self.demographics
        )

    @cached_property
    def _by_id(self) -> dict[str, Item]:
        return {item.id: item for item in self.items}

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {item.id: i for i, item in enumerate(self.items)}

    def item(self, item_id: str) -> Item:
        """Return the item with this id; ``KeyError`` naming the questionnaire if unknown."""
        try:
            return self._by_id[item_id]
        except KeyError:
            raise KeyError(f"questionnaire {self.id!r} has no item {item_id!r}") from None

    def has_item(self, item_id: str) -> bool:
        """Whether ``item_id`` is an item of this questionnaire."""
        return item_id in self._by_id

    def scale_for(self, item: Item | str) -> Scale | None:
        """The scale of a ``scale``/``nps`` item (``None`` for choice and text items)."""
        it = self.item(item) if isinstance(item, str) else item
        return self.scales[it.scale] if it.scale is not None else None

    @cached_property
    def ahp_result(self) -> AhpResult | None:
        """``analysis.ahp_weights`` of the ``ahp`` block (weights in ``ahp.order``), if any."""
        return ahp_weights(self.ahp.matrix) if self.ahp is not None else None

    @cached_property
    def dimension_weights(self) -> dict[str, float]:
        """Normalised dimension weights (sum 1), in dimension order, from YAML or AHP."""
        if self.ahp is not None and self.ahp_result is not None:
            raw = dict(zip(self.ahp.order, self.ahp_result.weights.tolist(), strict=True))
            weights = [raw[d.id] for d in self.dimensions]
        else:
            weights = [float(d.weight or 0.0) for d in self.dimensions]
        total = math.fsum(weights)
        return {d.id: w / total for d, w in zip(self.dimensions, weights, strict=True)}

    def dimension_items(self, dimension_id: str) -> list[Item]:
        """Items scored in ``dimension_id``, in questionnaire order."""
        return [item for item in self.items if item.dimension == dimension_id]

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON of the validated model.

        Canonical: keys sorted, no insignificant whitespace, UTF-8, defaults filled in, so
        reformatting or reordering keys in the YAML does not change it.
        """
        data = self.model_dump(mode="json", by_alias=True)
        text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def memo(self, key: str, build: Callable[[Questionnaire], T]) -> T:
        """Return a structure derived from this questionnaire, building it on first use.

        Other modules (e.g. :mod:`survey.scoring`) cache their precomputed plans here, so
        the work is done once per questionnaire, not once per response.
        """
        try:
            return self._memo[key]
        except KeyError:
            value = build(self)
            self._memo[key] = value
            return value

    # ------------------------------------------------------------------ visibility

    @cached_property
    def _visibility(self) -> dict[str, Callable[[Mapping[str, object]], bool]]:
        predicates: dict[str, Callable[[Mapping[str, object]], bool]] = {}
        for item in self.items:
            if item.show_if is None:
                predicates[item.id] = _always
            else:
                predicates[item.id] = _compile_condition(item.show_if, predicates)
        return predicates

    def visibility_predicate(self, item_id: str) -> Callable[[Mapping[str, object]], bool]:
        """The compiled ``show_if`` of ``item_id`` (takes answers, returns visibility)."""
        self.item(item_id)
        return self._visibility[item_id]

    def is_visible(self, item: Item | str, answers: Mapping[str, object]) -> bool:
        """Whether ``item`` is shown given ``answers`` (raw or cleaned).

        A condition on an item that is unanswered, or itself hidden, is false.  Values are
        compared as codes: ``4`` and ``"4"`` match, N/A matches ``"na"``, and a ``multi``
        answer (list) matches when any chosen value matches.

        >>> q.is_visible("complaint_handling", {"complained": "yes"})  # doctest: +SKIP
        True
        """
        item_id = item if isinstance(item, str) else item.id
        self.item(item_id)
        return self._visibility[item_id](answers)

    # ------------------------------------------------------------------ public JSON

    def public_definition(self, lang: str | None = None) -> dict[str, Any]:
        """The questionnaire as the public JSON API serves it.

        Every question (demographics included) is a self-contained object with ``id``,
        ``type``, ``text``, ``required``, ``show_if``, ``dimension`` and either ``min``,
        ``max``, ``na``, ``labels`` (``scale``/``nps``), ``options`` (``single``/``multi``) or
        ``max_length`` (``text``).  With ``lang=None`` texts are ``{"zh-Hans": .., "en": ..}``
        objects; with ``lang="zh-Hans"`` or ``"en"`` they are plain strings.
        """
        if lang is not None and lang not in LANGUAGES:
            raise ValueError(f"lang must be None or one of {', '.join(LANGUAGES)}, got {lang!r}")

        def text(value: LocalizedText) -> str | dict[str, str]:
            return value.as_dict() if lang is None else value.get(lang)

        def question(item: Item) -> dict[str, Any]:
            out: dict[str, Any] = {
                "id": item.id,
                "type": item.type,
                "text": text(item.text),
                "required": item.required,
                "show_if": item.show_if.as_dict() if item.show_if is not None else None,
                "dimension": item.dimension,
            }
            if item.type in SCALE_TYPES:
                scale = self.scales[item.scale or ""]
                out["min"] = scale.min
                out["max"] = scale.max
                out["na"] = scale.na
                out["labels"] = [
                    {"value": scale.min + i, "label": text(label)}
                    for i, label in enumerate(scale.labels)
                ]
                if scale.na:
                    out["na_label"] = text(scale.na_label or DEFAULT_NA_LABEL)
            elif item.type in CHOICE_TYPES:
                out["options"] = [
                    {"value": o.value, "label": text(o.label)} for o in item.options or []
                ]
            else:
                out["max_length"] = TEXT_MAX_LENGTH
            return out

        weights = self.dimension_weights
        return {
            "id": self.id,
            "version": self.version,
            "consent_version": self.consent_version,
            "content_hash": self.content_hash,
            "domain": self.domain,
            "title": text(self.title),
            "intro": text(self.intro),
            "na_code": NA_CODE,
            "sections": [
                {
                    "id": s.id,
                    "title": text(s.title),
                    "items": [question(i) for i in s.items],
                }
                for s in self.sections
            ],
            "demographics": [question(i) for i in self.demographics],
            "dimensions": [
                {"id": d.id, "title": text(d.title), "weight": weights[d.id]}
                for d in self.dimensions
            ],
        }


ShowIf.model_rebuild()


# --------------------------------------------------------------------------- show_if


def _always(answers: Mapping[str, object]) -> bool:
    return True


def answer_codes(value: object) -> frozenset[str]:
    """The codes an answer stands for, for comparisons: ``4``/``"4"`` → ``{"4"}``.

    ``None``/``""`` → empty; N/A (the sentinel or ``"na"``) → ``{"na"}``; a list → its
    members' codes.
    """
    if value is None:
        return frozenset()
    if isinstance(value, NotApplicable):
        return frozenset({NA_CODE})
    if isinstance(value, bool):
        return frozenset({str(value).lower()})
    if isinstance(value, int):
        return frozenset({str(value)})
    if isinstance(value, float):
        return frozenset({str(int(value)) if value.is_integer() else str(value)})
    if isinstance(value, str):
        stripped = value.strip()
        return frozenset({stripped}) if stripped else frozenset()
    if isinstance(value, (list, tuple, set, frozenset)):
        out: set[str] = set()
        for member in value:
            out |= answer_codes(member)
        return frozenset(out)
    return frozenset({str(value)})


def _compile_condition(
    cond: ShowIf, predicates: Mapping[str, Callable[[Mapping[str, object]], bool]]
) -> Callable[[Mapping[str, object]], bool]:
    """Compile a condition; ``predicates`` already holds every earlier item's visibility."""
    if cond.all is not None:
        parts = [_compile_condition(c, predicates) for c in cond.all]
        return lambda answers: all(p(answers) for p in parts)
    if cond.any is not None:
        parts = [_compile_condition(c, predicates) for c in cond.any]
        return lambda answers: any(p(answers) for p in parts)
    ref = cond.item or ""
    wanted = frozenset(cond.values())
    ref_visible = predicates[ref]

    def leaf(answers: Mapping[str, object]) -> bool:
        value = answers.get(ref)
        if value is None:
            return False
        return not wanted.isdisjoint(answer_codes(value)) and ref_visible(answers)

    return leaf


# --------------------------------------------------------------------------- checks


def _known(names: Iterable[str]) -> str:
    return ", ".join(names) or "none"


def _check(q: Questionnaire) -> None:
    """Cross-field checks; raise :class:`_Problem` at the first one that fails."""
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
            raise _Problem(path, f"bad scale: min ({scale.min}) must be below max ({scale.max})")
        if len(scale.labels) != scale.points:
            raise _Problem(
                f"{path}.labels",
                f"bad scale: {len(scale.labels)} labels for {scale.points} points "
                f"({scale.min}..{scale.max}); give one label per point",
            )
        if scale.na_label is not None and not scale.na:
            raise _Problem(f"{path}.na_label", "na_label given but na is false")


def _check_weight(path: str, weight: float) -> None:
    if not (math.isfinite(weight) and weight > 0):
        raise _Problem(path, f"weight must be positive, got {weight:g}")


def _check_dimensions(q: Questionnaire) -> dict[str, int]:
    dims: dict[str, int] = {}
    for i, dim in enumerate(q.dimensions):
        if dim.id in dims:
            raise _Problem(f"dimensions[{i}].id", f"duplicate id '{dim.id}'")
        dims[dim.id] = i
        if q.ahp is None:
            if dim.weight is None:
                raise _Problem(f"dimensions[{i}]", "missing weight (give a weight or an ahp block)")
            _check_weight(f"dimensions[{i}].weight", dim.weight)
        elif dim.weight is not None:
            raise _Problem(
                f"dimensions[{i}].weight",
                "give either dimension weights or an ahp block, not both",
            )
    if q.ahp is not None:
        _check_ahp(q.ahp, dims)
    return dims


def _check_ahp(ahp: AhpMatrix, dims: Mapping[str, int]) -> None:
    for i, dim_id in enumerate(ahp.order):
        if dim_id not in dims:
            raise _Problem(
                f"ahp.order[{i}]", f"unknown dimension '{dim_id}' (known: {_known(dims)})"
            )
    if sorted(ahp.order) != sorted(dims):
        missing = [d for d in dims if d not in ahp.order]
        reason = (
            f"must list every dimension once (missing: {_known(missing)})"
            if missing
            else "lists a dimension twice"
        )
        raise _Problem("ahp.order", reason)
    n = len(ahp.order)
    if n > len(SAATY_RANDOM_INDEX):
        raise _Problem("ahp.order", f"AHP supports at most {len(SAATY_RANDOM_INDEX)} dimensions")
    if len(ahp.matrix) != n:
        raise _Problem("ahp.matrix", f"needs {n} rows (one per dimension), got {len(ahp.matrix)}")
    for i, row in enumerate(ahp.matrix):
        if len(row) != n:
            raise _Problem(f"ahp.matrix[{i}]", f"needs {n} entries, got {len(row)}")
        for j, value in enumerate(row):
            if not (math.isfinite(value) and value > 0):
                raise _Problem(f"ahp.matrix[{i}][{j}]", f"judgements must be positive, got {value}")
    for i in range(n):
        if not math.isclose(ahp.matrix[i][i], 1.0):
            raise _Problem(f"ahp.matrix[{i}][{i}]", "diagonal must be 1")
        for j in range(i + 1, n):
            if not math.isclose(ahp.matrix[i][j] * ahp.matrix[j][i], 1.0, rel_tol=1e-6):
                raise _Problem(
                    f"ahp.matrix[{j}][{i}]",
                    f"not reciprocal: must be 1/{ahp.matrix[i][j]:g} (write fractions as "
                    f'"1/3"), got {ahp.matrix[j][i]:g}',
                )
    try:
        result = ahp_weights(ahp.matrix)
    except ValueError as exc:
        raise _Problem("ahp.matrix", str(exc)) from None
    # CR is NaN for n <= 2 (RI = 0): such matrices are consistent by construction.
    if not math.isnan(result.consistency_ratio) and result.consistency_ratio > AHP_MAX_CR:
        raise _Problem(
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
            raise _Problem(f"sections[{s}].id", f"duplicate id '{section.id}'")
        section_ids.add(section.id)
    used_dims: set[str] = set()
    for position, (path, item) in enumerate(_item_paths(q)):
        if item.id in seen:
            raise _Problem(
                f"{path}.id", f"duplicate id '{item.id}' (already used at {seen[item.id][1]})"
            )
        seen[item.id] = (position, path, item)
        _check_item(q, path, item, dims)
        if item.dimension is not None:
            used_dims.add(item.dimension)
    for i, dim in enumerate(q.dimensions):
        if dim.id not in used_dims:
            raise _Problem(f"dimensions[{i}]", f"dimension '{dim.id}' has no items")
    return seen


def _check_item(q: Questionnaire, path: str, item: Item, dims: Mapping[str, int]) -> None:
    kind = item.type
    if kind in SCALE_TYPES:
        if item.scale is None:
            raise _Problem(f"{path}.scale", f"a {kind} item needs a scale")
        if item.scale not in q.scales:
            raise _Problem(
                f"{path}.scale", f"unknown scale '{item.scale}' (known: {_known(q.scales)})"
            )
        scale = q.scales[item.scale]
        if kind == "nps" and (scale.min, scale.max) != _NPS_RANGE:
            raise _Problem(f"{path}.scale", "an nps item needs a 0..10 scale")
    elif item.scale is not None:
        raise _Problem(f"{path}.scale", f"a {kind} item has no scale")
    if kind in CHOICE_TYPES:
        if not item.options or len(item.options) < 2:
            raise _Problem(f"{path}.options", f"a {kind} item needs at least two options")
        values: set[str] = set()
        for j, option in enumerate(item.options):
            if option.value in values:
                raise _Problem(f"{path}.options[{j}].value", f"duplicate value '{option.value}'")
            if option.value == NA_CODE:
                raise _Problem(f"{path}.options[{j}].value", f"'{NA_CODE}' is reserved for N/A")
            values.add(option.value)
    elif item.options is not None:
        raise _Problem(f"{path}.options", f"a {kind} item has no options")
    if item.dimension is not None:
        if item.dimension not in dims:
            raise _Problem(
                f"{path}.dimension",
                f"unknown dimension '{item.dimension}' (known: {_known(dims)})",
            )
        if kind not in SCALE_TYPES:
            raise _Problem(f"{path}.dimension", f"only scale and nps items are scored, not {kind}")
    _check_weight(f"{path}.weight", item.weight)
    if item.reverse and kind != "scale":
        raise _Problem(f"{path}.reverse", "only scale items can be reverse-coded")


def _check_show_if(q: Questionnaire, items: Mapping[str, tuple[int, str, Item]]) -> None:
    # First: every reference must exist (so the cycle search only sees real items).
    for item_id, (_, path, item) in items.items():
        if item.show_if is None:
            continue
        for ref in item.show_if.referenced_items():
            if ref not in items:
                raise _Problem(f"{path}.show_if", f"unknown item '{ref}' in show_if")
            if ref == item_id:
                raise _Problem(f"{path}.show_if", f"show_if cycle: {item_id} -> {item_id}")
    # Then cycles, reported as such (a cycle always contains a forward reference).
    graph = {
        item_id: (item.show_if.referenced_items() if item.show_if else [])
        for item_id, (_, _, item) in items.items()
    }
    for start in graph:
        cycle = _find_cycle(graph, start)
        if cycle:
            raise _Problem(f"{items[start][1]}.show_if", "show_if cycle: " + " -> ".join(cycle))
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
        raise _Problem(
            f"{path}.item", f"show_if may only use earlier items; '{ref.id}' comes later"
        )
    if ref.type == "text":
        raise _Problem(f"{path}.item", f"show_if cannot test text item '{ref.id}'")
    if ref.type in CHOICE_TYPES:
        allowed = [o.value for o in ref.options or []]
    else:
        scale = q.scales[ref.scale or ""]
        allowed = [str(v) for v in range(scale.min, scale.max + 1)]
        if scale.na:
            allowed.append(NA_CODE)
    for value in cond.values():
        if value not in allowed:
            raise _Problem(
                f"{path}.{'equals' if cond.equals is not None else 'in'}",
                f"'{value}' is not a possible answer to '{ref.id}' (possible: {_known(allowed)})",
            )


def _check_demographics(q: Questionnaire) -> None:
    ids = {}
    for i, item in enumerate(q.demographics):
        ids[item.id] = item
        if item.type != "single":
            raise _Problem(f"demographics[{i}].type", "demographic items must be type single")
    for required in REQUIRED_DEMOGRAPHICS:
        if required not in ids:
            raise _Problem("demographics", f"missing demographic item '{required}'")
    if UNDER_14 not in {o.value for o in ids["age_band"].options or []}:
        raise _Problem("demographics", f"age_band needs an option '{UNDER_14}'")


def _check_index(q: Questionnaire, items: Mapping[str, tuple[int, str, Item]]) -> None:
    rate = q.index.satisfaction_rate
    if rate.item not in items:
        raise _Problem("index.satisfaction_rate.item", f"unknown item '{rate.item}'")
    item = items[rate.item][2]
    if item.type != "scale" or item.reverse:
        raise _Problem(
            "index.satisfaction_rate.item", f"'{rate.item}' must be a scale item, not reversed"
        )
    scale = q.scales[item.scale or ""]
    if not 1 <= rate.top_boxes < scale.points:
        raise _Problem(
            "index.satisfaction_rate.top_boxes",
            f"must be between 1 and {scale.points - 1} for a {scale.points}-point scale",
        )
    if q.index.nps_item is not None:
        if q.index.nps_item not in items:
            raise _Problem("index.nps_item", f"unknown item '{q.index.nps_item}'")
        if items[q.index.nps_item][2].type != "nps":
            raise _Problem("index.nps_item", f"'{q.index.nps_item}' must be an nps item")


# --------------------------------------------------------------------------- loading


def _display_path(file: str | Path) -> str:
    path = Path(file)
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(file)


class _Loader(yaml.SafeLoader):
    """YAML 1.2-style scalars (``yes``/``no``/``on`` stay strings, ``14_17`` is not 1417)
    and duplicate keys are errors."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if not tag.endswith((":bool", ":int", ":float"))]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+)$"
    ),
    list("-+.0123456789"),
)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def safe_load_yaml(text: str) -> Any:
    """YAML read the 1.2 way, as questionnaire files are (``14_17`` stays a string,
    ``yes``/``no`` stay strings, duplicate keys are errors); raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _reason(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    msg = str(error["msg"])
    if kind == "extra_forbidden":
        return f"unknown key '{error['loc'][-1]}'"
    if kind == "missing":
        return f"missing required key '{error['loc'][-1]}'"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "literal_error":
        names = [part for part in error["loc"] if isinstance(part, str)]
        field = names[-1] if names else "value"
        noun = f"{field} value" if isinstance(error["loc"][-1], int) else field
        known = str((error.get("ctx") or {}).get("expected", "")).replace("'", "")
        known = known.replace(" or ", ", ")
        return f"unknown {noun} {error.get('input')!r} (known: {known})"
    if kind == "string_pattern_mismatch":
        return f"invalid identifier {error.get('input')!r} (use lower-case letters, digits and _)"
    return msg


def parse_questionnaire(data: object, source: str | Path = "<memory>") -> Questionnaire:
    """Validate already-parsed YAML/JSON ``data``; errors name ``source``.

    Raises
    ------
    QuestionnaireError
        On the first problem found (the reason says how many more pydantic found).
    """
    if not isinstance(data, Mapping):
        raise QuestionnaireError(source, "", "expected a mapping at the top level")
    try:
        return Questionnaire.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        if first["type"] == "manyi_semantics":
            ctx = first.get("ctx") or {}
            raise QuestionnaireError(source, str(ctx["path"]), str(ctx["reason"])) from None
        reason = _reason(first)
        if len(errors) > 1:
            reason += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
        raise QuestionnaireError(source, _format_loc(first["loc"]), reason) from None


def load_questionnaire(path: str | Path) -> Questionnaire:
    """Read and validate one questionnaire YAML file.

    Raises
    ------
    QuestionnaireError
        Unreadable file, bad YAML syntax (path ``line N``), or any schema problem.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionnaireError(path, "", f"cannot read file: {exc}") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise QuestionnaireError(path, where, f"invalid YAML: {problem}") from None
    return parse_questionnaire(data, path)


def load_questionnaires(directory: str | Path = QUESTIONNAIRE_DIR) -> dict[str, Questionnaire]:
    """Load every ``*.yaml`` / ``*.yml`` file of ``directory``, keyed by questionnaire id.

    Raises
    ------
    QuestionnaireError
        For the first bad file, or when two files declare the same ``id``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise QuestionnaireError(directory, "", "not a directory")
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    loaded: dict[str, Questionnaire] = {}
    origin: dict[str, Path] = {}
    for file in files:
        q = load_questionnaire(file)
        if q.id in loaded:
            other = _display_path(origin[q.id])
            raise QuestionnaireError(
                file, "id", f"duplicate questionnaire id '{q.id}' (also in {other})"
            )
        loaded[q.id] = q
        origin[q.id] = file
    return loaded
