"""Chinese first: every message the app can show has a zh-Hans translation."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from flask import has_app_context

from survey.core.i18n import localized_name, translate

SURVEY = Path(__file__).resolve().parent.parent / "survey"
PO_DIR = SURVEY / "translations" / "zh_Hans" / "LC_MESSAGES"
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
# N_ marks msgids translated later with survey.core.i18n.translate (outside requests).
KEYWORDS = {"_": None, "gettext": None, "lazy_gettext": None, "_l": None, "ngettext": (1, 2),
            "N_": None}


def used_messages() -> dict[str, str]:
    found = {}
    for filename, lineno, message, _comments, _ctx in extract_from_dir(
            str(SURVEY), METHODS, keywords=KEYWORDS):
        for m in message if isinstance(message, tuple) else (message,):
            if m:
                found[m] = f"{filename}:{lineno}"
    return found


def test_every_message_has_a_chinese_translation():
    translated = set()
    for po in PO_DIR.glob("*.po"):
        with po.open("rb") as fh:
            translated |= {m.id for m in read_po(fh) if m.id and m.string}
    missing = {m: where for m, where in used_messages().items() if m not in translated}
    assert not missing, "untranslated: " + "; ".join(f"{w}: {m!r}" for m, w in missing.items())


def test_answer_validation_messages_are_extracted():
    """scoring.py's N_() markers are seen, so the test above covers its messages."""
    found = used_messages()
    scoring = {m for m, where in found.items() if where.startswith("core/responses/scoring.py")}
    assert {"Please answer this question.",
            "The answer must be between %(min)s and %(max)s.",
            "'%(value)s' is not one of the options."} <= scoring
    assert len(scoring) == 11


def test_translate_without_an_app_fills_placeholders_after_translation():
    assert not has_app_context()
    msgid = "'%(value)s' is not one of the options."
    assert translate(msgid, "zh-Hans", value="50%") == "“50%”不是此题的选项。"
    assert translate(msgid, "en", value="x") == "'x' is not one of the options."
    assert translate("Please answer this question.", "zh_Hans") == "请回答此题。"
    assert translate("Please answer this question.", "fr") == "请回答此题。"  # default zh-Hans


def test_localized_name_of_objects_and_rows():
    city = SimpleNamespace(name_zh="杭州市", name_en="Hangzhou")
    assert localized_name(city, "zh-Hans") == "杭州市"
    assert localized_name(city, "en") == "Hangzhou"
    assert localized_name({"name_zh": "西湖区", "name_en": "Xihu"}, "en") == "Xihu"
    assert localized_name(SimpleNamespace(name_zh="示范站", name_en=""), "en") == "示范站"
    assert localized_name(None, "en") == ""


def test_name_filter_follows_the_page_language(app):
    city = SimpleNamespace(name_zh="杭州市", name_en="Hangzhou")
    template = app.jinja_env.from_string("{{ city|name }}")
    with app.test_request_context("/?lang=en"):
        assert template.render(city=city) == "Hangzhou"
    with app.test_request_context("/?lang=zh-Hans"):
        assert template.render(city=city) == "杭州市"


def test_pages_switch_language_and_remember_it(client):
    zh = client.get("/").get_data(as_text=True)
    assert "满意" in zh and 'lang="zh-Hans"' in zh
    en = client.get("/?lang=en").get_data(as_text=True)
    assert 'lang="en"' in en and "How satisfied are you" in en
    again = client.get("/").get_data(as_text=True)
    assert 'lang="en"' in again
