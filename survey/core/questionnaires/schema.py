"""The questionnaire format as pydantic models (immutable once validated), its constants,
and the show-if conditions compiled from it.

Structures derived from a :class:`Questionnaire` (item lookup, visibility predicates,
scoring plans) are computed once and cached on the instance. Cross-field checks live in
:mod:`survey.core.questionnaires.checks`, reading files in
:mod:`survey.core.questionnaires.loader`. Pure library code: neither Flask nor SQLAlchemy.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    model_validator,
)

from analysis.indices import AhpResult, ahp_weights

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
"""Largest acceptable AHP consistency ratio (Saaty)."""

T = TypeVar("T")


class NotApplicable(enum.Enum):
    """The N/A answer.  Use the singleton :data:`NA`; ``NA.value`` is the code ``"na"``."""

    NA = NA_CODE

    def __repr__(self) -> str:
        return "NA"


NA = NotApplicable.NA
"""Sentinel for a "not applicable" answer in cleaned answers (never 0, never missing)."""




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

        Other modules (e.g. :mod:`survey.core.responses.scoring`) cache their precomputed
        plans here, so the work is done once per questionnaire, not once per response.
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
