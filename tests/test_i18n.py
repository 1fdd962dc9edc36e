"""Chinese first: every message the app can show has a zh-Hans translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

SURVEY = Path(__file__).resolve().parent.parent / "survey"
PO_DIR = SURVEY / "translations" / "zh_Hans" / "LC_MESSAGES"
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "lazy_gettext": None, "_l": None, "ngettext": (1, 2)}


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


def test_pages_switch_language_and_remember_it(client):
    zh = client.get("/").get_data(as_text=True)
    assert "满意" in zh and 'lang="zh-Hans"' in zh
    en = client.get("/?lang=en").get_data(as_text=True)
    assert 'lang="en"' in en and "How satisfied are you" in en
    again = client.get("/").get_data(as_text=True)
    assert 'lang="en"' in again
