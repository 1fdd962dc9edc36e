"""Validate and score one questionnaire response.

Used by the web form, the JSON API, agency batch uploads and the demo generator, so the
per-questionnaire work (option sets, scale ranges, visibility predicates, item score
tables) is done once and cached on the :class:`~survey.core.questionnaires.Questionnaire`
(:meth:`~survey.core.questionnaires.Questionnaire.memo`); each response then costs a few dict
look-ups per item.

Answer values (what :func:`validate_answers` accepts and returns):

============  =====================================  =====================================
item type     accepted in ``raw``                    cleaned value
============  =====================================  =====================================
scale, nps    ``4``, ``"4"``, ``4.0``; ``"na"``/NA   ``int``, or :data:`NA`
single        ``"outpatient"`` (or an int code)      ``str`` (the option value)
multi         ``["meals", "day_care"]``              ``list[str]`` in option order, no dups
text          ``"..."`` (≤ 2000 chars after strip)   ``str`` (stripped)
============  =====================================  =====================================

``None``, ``""`` (or blanks) and ``[]`` mean "not answered".  N/A is its own code, never 0:
submit the string ``"na"`` (:data:`~survey.core.questionnaires.NA_CODE`); it comes back as the
:data:`NA` sentinel.  Answers to items hidden by ``show_if`` are dropped (not errors) and
listed in :attr:`ValidationResult.dropped`.

Scores follow ``docs/questionnaires.md``: item score ``(x − min)/(max − min)·100``
(reverse items ``100 −`` that) via :func:`analysis.indices.rescale`; dimension = weighted
mean of its answered items, overall = weighted mean of the dimensions that have a score,
both via :func:`analysis.indices.weighted_index` (N/A and missing skipped, weights
renormalised).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from analysis.indices import rescale, weighted_index
from survey.core.i18n import N_, translate
from survey.core.questionnaires import (
    NA,
    NA_CODE,
    TEXT_MAX_LENGTH,
    Item,
    NotApplicable,
    Questionnaire,
)

__all__ = [
    "NA",
    "NA_CODE",
    "OVERALL",
    "Answer",
    "AnswerError",
    "NpsCategory",
    "SatisfactionFlags",
    "ValidationResult",
    "satisfaction_flags",
    "score_response",
    "score_responses",
    "validate_answers",
]

OVERALL = "overall"
"""Key of the overall index in score dictionaries."""

Answer = int | list[str] | str | NotApplicable
"""A cleaned answer: scale/nps → ``int`` or :data:`NA`; single/text → ``str``; multi → list."""

NpsCategory = Literal["promoter", "passive", "detractor"]

ErrorCode = Literal[
    "unknown_item",
    "required",
    "wrong_type",
    "out_of_range",
    "na_not_allowed",
    "invalid_option",
    "too_long",
]


@dataclass(frozen=True)
class AnswerError:
    """Why one answer was rejected.

    ``code`` is machine-readable (``unknown_item``, ``required``, ``wrong_type``,
    ``out_of_range``, ``na_not_allowed``, ``invalid_option``, ``too_long``); ``msgid`` is the
    English message to show the respondent (a Babel msgid, translated in
    ``translations/zh_Hans/LC_MESSAGES/responses.po``) and ``params`` the values of its
    ``%(name)s`` placeholders, inserted after translation by :meth:`message`.
    """

    code: ErrorCode
    msgid: str
    params: tuple[tuple[str, object], ...] = ()

    def message(self, lang: str = "zh-Hans") -> str:
        """The message in ``lang`` (``"zh-Hans"`` or ``"en"``); no Flask app needed."""
        return translate(self.msgid, lang, **dict(self.params))


@dataclass(frozen=True)
class ValidationResult:
    """Outcome of :func:`validate_answers`.

    Attributes
    ----------
    answers : cleaned answers of visible, validly answered items (item id → value).
    errors : item id → :class:`AnswerError` (empty when the response is acceptable).
    dropped : ids of items that were answered but hidden by ``show_if`` (answers dropped).
    """

    answers: dict[str, Answer]
    errors: dict[str, AnswerError] = field(default_factory=dict)
    dropped: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when there are no errors."""
        return not self.errors


@dataclass(frozen=True)
class SatisfactionFlags:
    """Per-respondent headline classifications, aggregated by the dashboard.

    ``satisfied``: answer to ``index.satisfaction_rate.item`` is in the top ``top_boxes``
    boxes (``x > max − top_boxes``); ``None`` when that item is unanswered or N/A.
    ``nps_category``: ``promoter`` (9–10), ``passive`` (7–8) or ``detractor`` (0–6) on the
    questionnaire's ``index.nps_item``; ``None`` without an nps item or answer.
    """

    satisfied: bool | None
    nps_category: NpsCategory | None


# --------------------------------------------------------------------------- messages


def _error(code: ErrorCode, msgid: str, **params: object) -> AnswerError:
    """An error whose ``msgid`` is marked with ``N_`` at the call site (for extraction)."""
    return AnswerError(code, msgid, tuple(params.items()))


_UNKNOWN = _error("unknown_item", N_("This is not a question of this survey."))
_REQUIRED = _error("required", N_("Please answer this question."))
_NA_NOT_ALLOWED = _error(
    "na_not_allowed", N_("'Not applicable' is not an option for this question.")
)
_CHOICE_TYPE = _error("wrong_type", N_("Please choose one of the options."))
_MULTI_TYPE = _error("wrong_type", N_("Please send a list of the chosen options."))
_TEXT_TYPE = _error("wrong_type", N_("Please enter text."))


def _invalid_option(value: object) -> AnswerError:
    return _error("invalid_option", N_("'%(value)s' is not one of the options."), value=value)


def _too_long(length: int) -> AnswerError:
    return _error(
        "too_long",
        N_("Please keep your answer to %(max)s characters (it has %(length)s)."),
        max=TEXT_MAX_LENGTH,
        length=length,
    )


# --------------------------------------------------------------------------- parsers

_Parsed = Answer | AnswerError
_Parser = Callable[[object], _Parsed]


def _is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple)):
        return len(value) == 0
    return False


def _scale_parser(lo: int, hi: int, na_allowed: bool) -> _Parser:
    wrong_type = _error(
        "wrong_type",
        N_("Please choose a whole number from %(min)s to %(max)s or 'not applicable'.")
        if na_allowed
        else N_("Please choose a whole number from %(min)s to %(max)s."),
        min=lo,
        max=hi,
    )
    out_of_range = _error(
        "out_of_range", N_("The answer must be between %(min)s and %(max)s."), min=lo, max=hi
    )

    def parse(value: object) -> _Parsed:
        if value is NA:
            return NA if na_allowed else _NA_NOT_ALLOWED
        if type(value) is int:
            number = value
        elif isinstance(value, str):
            text = value.strip()
            if text.lower() == NA_CODE:
                return NA if na_allowed else _NA_NOT_ALLOWED
            try:
                number = int(text)
            except ValueError:
                try:
                    as_float = float(text)
                except ValueError:
                    return wrong_type
                if not as_float.is_integer():
                    return wrong_type
                number = int(as_float)
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        else:  # bool, non-integral float, list, ...
            return wrong_type
        return number if lo <= number <= hi else out_of_range

    return parse


def _single_parser(values: frozenset[str]) -> _Parser:
    def parse(value: object) -> _Parsed:
        if type(value) is int:
            value = str(value)
        if not isinstance(value, str):
            return _CHOICE_TYPE
        code = value.strip()
        return code if code in values else _invalid_option(code)

    return parse


def _multi_parser(order: Mapping[str, int]) -> _Parser:
    def parse(value: object) -> _Parsed:
        if not isinstance(value, (list, tuple)):
            return _MULTI_TYPE
        chosen: set[str] = set()
        for member in value:
            if type(member) is int:
                member = str(member)
            if not isinstance(member, str):
                return _MULTI_TYPE
            code = member.strip()
            if code not in order:
                return _invalid_option(code)
            chosen.add(code)
        return sorted(chosen, key=order.__getitem__)

    return parse


def _text_parser(value: object) -> _Parsed:
    if not isinstance(value, str):
        return _TEXT_TYPE
    text = value.strip()
    return text if len(text) <= TEXT_MAX_LENGTH else _too_long(len(text))


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class _ItemRule:
    id: str
    required: bool
    visible: Callable[[Mapping[str, object]], bool]
    always_visible: bool
    parse: _Parser


@dataclass(frozen=True)
class _DimensionPlan:
    id: str
    columns: NDArray[np.intp]
    weights: NDArray[np.float64]


@dataclass(frozen=True)
class _Plan:
    rules: tuple[_ItemRule, ...]
    known: frozenset[str]
    scored: tuple[tuple[str, dict[int, float]], ...]
    dimensions: tuple[_DimensionPlan, ...]
    dimension_weights: NDArray[np.float64]
    membership: NDArray[np.bool_]  # dimensions × scored items: item belongs to dimension
    item_weights: NDArray[np.float64]  # one per scored item
    satisfaction_item: str
    satisfied_above: int
    nps_item: str | None


def _parser_for(q: Questionnaire, item: Item) -> _Parser:
    if item.type in ("scale", "nps"):
        scale = q.scales[item.scale or ""]
        return _scale_parser(scale.min, scale.max, scale.na)
    if item.type == "single":
        return _single_parser(frozenset(o.value for o in item.options or []))
    if item.type == "multi":
        return _multi_parser({o.value: i for i, o in enumerate(item.options or [])})
    return _text_parser


def _score_table(q: Questionnaire, item: Item) -> dict[int, float]:
    """Item score of every possible answer, from the one formula in ``analysis.rescale``."""
    scale = q.scales[item.scale or ""]
    points = np.arange(scale.min, scale.max + 1, dtype=np.float64)
    scores = rescale(points, scale_min=scale.min, scale_max=scale.max, reverse=item.reverse)
    return {scale.min + i: float(s) for i, s in enumerate(scores)}


def _build_plan(q: Questionnaire) -> _Plan:
    rules = tuple(
        _ItemRule(
            id=item.id,
            required=item.required,
            visible=q.visibility_predicate(item.id),
            always_visible=item.show_if is None,
            parse=_parser_for(q, item),
        )
        for item in q.items
    )
    scored_items = [item for item in q.items if item.dimension is not None]
    column = {item.id: i for i, item in enumerate(scored_items)}
    dimensions = tuple(
        _DimensionPlan(
            id=dim.id,
            columns=np.array(
                [column[i.id] for i in scored_items if i.dimension == dim.id], dtype=np.intp
            ),
            weights=np.array(
                [i.weight for i in scored_items if i.dimension == dim.id], dtype=np.float64
            ),
        )
        for dim in q.dimensions
    )
    membership = np.zeros((len(dimensions), len(scored_items)), dtype=bool)
    for k, dim in enumerate(dimensions):
        membership[k, dim.columns] = True
    rate = q.index.satisfaction_rate
    rate_scale = q.scales[q.item(rate.item).scale or ""]
    return _Plan(
        rules=rules,
        known=frozenset(r.id for r in rules),
        scored=tuple((item.id, _score_table(q, item)) for item in scored_items),
        dimensions=dimensions,
        dimension_weights=np.array(
            [q.dimension_weights[d.id] for d in q.dimensions], dtype=np.float64
        ),
        membership=membership,
        item_weights=np.array([i.weight for i in scored_items], dtype=np.float64),
        satisfaction_item=rate.item,
        satisfied_above=rate_scale.max - rate.top_boxes,
        nps_item=q.index.nps_item,
    )


def _plan(q: Questionnaire) -> _Plan:
    return q.memo("survey.core.responses.scoring.plan", _build_plan)


# --------------------------------------------------------------------------- public API


def validate_answers(q: Questionnaire, raw: Mapping[str, object]) -> ValidationResult:
    """Check and clean one submission.

    Parameters
    ----------
    q : the questionnaire answered.
    raw : item id → submitted value, from an HTML form (strings; use a list for ``multi``
        items), JSON (ints, strings, lists) or a batch file.  See the module docstring for
        accepted values.

    Returns
    -------
    ValidationResult
        ``answers`` keeps only visible items with valid answers, in questionnaire order;
        ``errors`` maps item ids to an :class:`AnswerError`: ``unknown_item``, ``required``
        (visible, required, unanswered), ``wrong_type``, ``out_of_range``,
        ``na_not_allowed``, ``invalid_option``, ``too_long``.  Visibility is decided on
        the cleaned answers, so an invalid or hidden answer never opens a follow-up item.

    Example
    -------
    >>> r = validate_answers(q, {"visit_type": "outpatient", "wait_doctor": "6"})  # doctest: +SKIP
    >>> r.errors["wait_doctor"].code  # doctest: +SKIP
    'out_of_range'
    """
    plan = _plan(q)
    answers: dict[str, Answer] = {}
    errors: dict[str, AnswerError] = {}
    dropped: list[str] = []
    for key in raw:
        if key not in plan.known:
            errors[str(key)] = _UNKNOWN
    for rule in plan.rules:
        value = raw.get(rule.id)
        blank = _is_blank(value)
        if not (rule.always_visible or rule.visible(answers)):
            if not blank:
                dropped.append(rule.id)
            continue
        if blank:
            if rule.required:
                errors[rule.id] = _REQUIRED
            continue
        parsed = rule.parse(value)
        if isinstance(parsed, AnswerError):
            errors[rule.id] = parsed
        else:
            answers[rule.id] = parsed
    return ValidationResult(answers, errors, tuple(dropped))


def score_responses(
    q: Questionnaire, responses: Iterable[Mapping[str, object]]
) -> dict[str, NDArray[np.float64]]:
    """Score many cleaned responses at once (vectorised; for batches and the demo data).

    Parameters
    ----------
    q : the questionnaire.
    responses : cleaned answers (``ValidationResult.answers``), one mapping per response.
        Anything other than an in-range ``int`` on a scored item (N/A, missing, junk)
        counts as not answered.

    Returns
    -------
    dict
        Dimension id → array of 0–100 scores, and ``"overall"`` → array; NaN where a
        response has no score.  Arrays have one entry per response, in input order.

    Example
    -------
    100 000 responses of a 20-item questionnaire score in well under a second.
    """
    plan = _plan(q)
    rows = [_item_scores(plan, answers) for answers in responses]
    n = len(rows)
    keys = [d.id for d in plan.dimensions] + [OVERALL]
    if n == 0:
        return {key: np.empty(0) for key in keys}
    items = np.array(rows, dtype=np.float64).reshape(n, len(plan.scored))
    dims = np.column_stack(
        [weighted_index(items[:, d.columns], d.weights) for d in plan.dimensions]
    )
    out = {d.id: dims[:, k] for k, d in enumerate(plan.dimensions)}
    out[OVERALL] = weighted_index(dims, plan.dimension_weights)
    return out


def score_response(q: Questionnaire, answers: Mapping[str, object]) -> dict[str, float | None]:
    """0–100 score of each dimension and ``"overall"`` for one cleaned response.

    Item score ``(x − min)/(max − min)·100``, flipped for reverse items; a dimension is the
    weighted mean of its answered items; ``overall`` the weighted mean of the dimensions
    that have a score (weights renormalised).  ``None`` where nothing was answered.

    Example
    -------
    Two answered items of one dimension, weights 1.5 and 1, answers 4 and 5 on 1–5:
    ``(1.5·75 + 1·100)/2.5 = 85.0``.
    """
    plan = _plan(q)
    items = np.array(_item_scores(plan, answers), dtype=np.float64)
    # One weighted_index call for all dimensions: row k holds dimension k's items, NaN elsewhere.
    dims = weighted_index(np.where(plan.membership, items, np.nan), plan.item_weights)
    overall = weighted_index(dims[np.newaxis, :], plan.dimension_weights)[0]
    out = {d.id: _none_if_nan(v) for d, v in zip(plan.dimensions, dims.tolist(), strict=True)}
    out[OVERALL] = _none_if_nan(float(overall))
    return out


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value


def _item_scores(plan: _Plan, answers: Mapping[str, object]) -> list[float]:
    """0–100 score of each scored item (NaN when unanswered, N/A or not an int code)."""
    nan = math.nan
    row = []
    for item_id, table in plan.scored:
        value = answers.get(item_id)
        row.append(table.get(value, nan) if type(value) is int else nan)
    return row


def satisfaction_flags(q: Questionnaire, answers: Mapping[str, object]) -> SatisfactionFlags:
    """Whether the respondent is satisfied (top boxes) and their NPS category.

    Example
    -------
    Overall satisfaction 4 on 1–5 with ``top_boxes: 2`` → satisfied; recommend 8 → passive.
    """
    plan = _plan(q)
    value = answers.get(plan.satisfaction_item)
    satisfied = value > plan.satisfied_above if type(value) is int else None
    category: NpsCategory | None = None
    if plan.nps_item is not None:
        score = answers.get(plan.nps_item)
        if type(score) is int:
            category = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
    return SatisfactionFlags(satisfied, category)
