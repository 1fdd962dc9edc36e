"""The questionnaire's web pages and their WTForms, built from the questionnaire data.

Page order (:func:`pages`): page 1 asks the age band alone, so a respondent under 14 is
stopped before answering anything; then one page per section; then one page with the
remaining demographics. A review page follows the last one.

Forms only render the fields and check CSRF: whether an answer is valid is decided by
:func:`survey.core.responses.scoring.validate_answers`, the same validation every channel
goes through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectMultipleField, TextAreaField

# SelectChoice is new in WTForms 3.3; types-WTForms 3.2.1 does not declare it yet.
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.widgets import CheckboxInput, ListWidget

from survey.core.questionnaires import (
    DEFAULT_NA_LABEL,
    NA_CODE,
    TEXT_MAX_LENGTH,
    Item,
    LocalizedText,
    Questionnaire,
)

AGE_ITEM = "age_band"
SHOWN_FIELD = "shown"
"""Hidden field listing the items a page showed (to tell newly visible items apart)."""
RESERVED_NAMES = frozenset({"csrf_token", "action", SHOWN_FIELD, "client_uuid"})


@dataclass(frozen=True)
class Page:
    """One page of the web questionnaire: ``number`` counts from 1."""

    number: int
    key: str
    title: LocalizedText | Any
    items: tuple[Item, ...]

    def visible_items(self, q: Questionnaire, answers: Mapping[str, object]) -> list[Item]:
        """The page's items shown for ``answers`` (``show_if`` evaluated server-side)."""
        return [item for item in self.items if q.is_visible(item, answers)]


def _build_pages(q: Questionnaire) -> tuple[Page, ...]:
    age = q.item(AGE_ITEM)
    out = [Page(1, "age", _l("Your age"), (age,))]
    for section in q.sections:
        out.append(Page(len(out) + 1, section.id, section.title, tuple(section.items)))
    rest = tuple(item for item in q.demographics if item.id != AGE_ITEM)
    if rest:
        out.append(Page(len(out) + 1, "about_you", _l("About you"), rest))
    for page in out:
        for item in page.items:
            if item.id in RESERVED_NAMES:
                raise ValueError(f"questionnaire {q.id}: item id {item.id!r} is reserved "
                                 "by the web form")
    return tuple(out)


def pages(q: Questionnaire) -> tuple[Page, ...]:
    """The pages of ``q`` (computed once per questionnaire).

    >>> [p.key for p in pages(healthcare)]  # doctest: +SKIP
    ['age', 'visit', 'access', 'waiting', 'care', 'cost', 'environment', 'overall', 'about_you']
    """
    return q.memo("respond.pages", _build_pages)


def page_of_item(q: Questionnaire) -> dict[str, int]:
    """Item id → the number of the page that asks it."""
    return q.memo("respond.page_of_item",
                  lambda qq: {i.id: p.number for p in pages(qq) for i in p.items})


def visible_answers(q: Questionnaire, answers: Mapping[str, Any]) -> dict[str, Any]:
    """``answers`` without unknown items and without items that their ``show_if`` hides
    (an answer given before an earlier answer changed)."""
    return {k: v for k, v in answers.items() if q.has_item(k) and q.is_visible(k, answers)}


def _label(text: LocalizedText, lang: str) -> str:
    return text.get(lang)


def _choices(q: Questionnaire, item: Item, lang: str) -> list[tuple[str, str]]:
    if item.type in ("scale", "nps"):
        scale = q.scale_for(item)
        assert scale is not None
        if item.type == "nps" or scale.points > 7:
            points = [(str(v), str(v)) for v in range(scale.min, scale.max + 1)]
        else:
            points = [(str(scale.min + i), _label(label, lang))
                      for i, label in enumerate(scale.labels)]
        if scale.na:
            points.append((NA_CODE, _label(scale.na_label or DEFAULT_NA_LABEL, lang)))
        return points
    return [(o.value, _label(o.label, lang)) for o in item.options or []]


def _select_choices(q: Questionnaire, item: Item, lang: str) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in _choices(q, item, lang)]


def _field(q: Questionnaire, item: Item, lang: str) -> Any:
    label = _label(item.text, lang)
    if item.type == "text":
        return TextAreaField(label, render_kw={"maxlength": TEXT_MAX_LENGTH, "rows": 4})
    if item.type == "multi":
        return SelectMultipleField(label, choices=_select_choices(q, item, lang),
                                   validate_choice=False,
                                   widget=ListWidget(prefix_label=False),
                                   option_widget=CheckboxInput())
    return RadioField(label, choices=_select_choices(q, item, lang), validate_choice=False)


class PageFormBase(FlaskForm):
    """Base of the generated page forms: CSRF plus the list of items shown."""

    shown = HiddenField()


def page_form(q: Questionnaire, items: Sequence[Item], lang: str, *,
              data: Mapping[str, Any] | None = None, from_request: bool = False) -> FlaskForm:
    """A form with one field per item (named by the item id).

    ``from_request`` reads the POSTed form; otherwise the fields are filled from ``data``
    (the draft's answers), so back/forward and resume show what was answered.
    """
    attrs = {item.id: _field(q, item, lang) for item in items}
    form_class = type(f"Page_{q.id}", (PageFormBase,), attrs)
    if from_request:
        return form_class()
    prefill = {k: v for k, v in (data or {}).items() if k in attrs}
    prefill[SHOWN_FIELD] = " ".join(item.id for item in items)
    return form_class(formdata=None, data=prefill)


def raw_answers(form: FlaskForm, items: Iterable[Item]) -> dict[str, Any]:
    """The answers POSTed in ``form`` as the browser sent them: a code string, a list of
    codes (``multi``) or the stripped text; unanswered items are left out."""
    out: dict[str, Any] = {}
    for item in items:
        value = form[item.id].data
        if item.type == "multi":
            value = [v for v in (value or []) if v]
            if value:
                out[item.id] = value
        elif isinstance(value, str) and value.strip():
            out[item.id] = value.strip() if item.type == "text" else value
    return out


class ConsentForm(FlaskForm):
    """"I agree": the consent page's form (CSRF only; the button is the consent)."""


class SubmitForm(FlaskForm):
    """The review page's form: carries the draft's ``client_uuid`` (idempotent submit)."""

    client_uuid = HiddenField()


def answer_text(q: Questionnaire, item: Item, value: Any, lang: str) -> str:
    """How an answer reads on the review page (``"4 满意"``, option labels, the text)."""
    if value is None or value == [] or value == "":
        return ""
    if item.type == "text":
        return str(value)
    labels = dict(_choices(q, item, lang))
    if item.type == "multi":
        values = value if isinstance(value, list) else [value]
        return "、".join(labels.get(str(v), str(v)) for v in values) if lang == "zh-Hans" \
            else ", ".join(labels.get(str(v), str(v)) for v in values)
    code = str(value)
    text = labels.get(code, code)
    if item.type in ("scale", "nps") and code != NA_CODE and text != code:
        return f"{code} {text}"
    return text
