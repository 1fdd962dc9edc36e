"""Locale choice and catalogue compilation (zh-Hans first, English second).

Message ids are English; ``translations/zh_Hans/LC_MESSAGES/*.po`` hold the Chinese (one
file per area of the app). The ``.po`` files are the source of truth; ``messages.mo`` is
compiled from them at start-up when missing or older, so no build step can be forgotten.
"""

from __future__ import annotations

import os
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import current_app, request, session

from survey.config import PACKAGE_DIR

TRANSLATIONS_DIR = PACKAGE_DIR / "translations"
LANG_PARAM = "lang"
# What users see and type ("zh-Hans", "en") → Babel's locale names.
LOCALES = {"zh-Hans": "zh_Hans", "en": "en"}


def compile_catalogues(directory: Path = TRANSLATIONS_DIR) -> None:
    """Merge every ``*.po`` of a locale (one per area of the app, so areas can be
    translated independently) into that locale's ``messages.mo``."""
    for lc_dir in directory.glob("*/LC_MESSAGES"):
        sources = sorted(lc_dir.glob("*.po"))
        mo_path = lc_dir / "messages.mo"
        if not sources:
            continue
        if mo_path.exists() and all(
                mo_path.stat().st_mtime >= po.stat().st_mtime for po in sources):
            continue
        merged = None
        for po in sources:
            with po.open("rb") as fh:
                catalog = read_po(fh)
            if merged is None:
                merged = catalog
                continue
            for message in catalog:
                if message.id and message.id not in merged:
                    merged[message.id] = message
        tmp = mo_path.with_suffix(f".mo.{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            write_mo(fh, merged)
        tmp.replace(mo_path)


def select_locale() -> str:
    """``?lang=`` (remembered in the session), then the session, then Accept-Language."""
    wanted = request.args.get(LANG_PARAM)
    if wanted in LOCALES:
        session["lang"] = wanted
        return LOCALES[wanted]
    if session.get("lang") in LOCALES:
        return LOCALES[session["lang"]]
    best = request.accept_languages.best_match(["zh", "en"])
    if best == "en":
        return "en"
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def current_lang() -> str:
    """The current language as questionnaires spell it: ``zh-Hans`` or ``en``."""
    from flask_babel import get_locale

    return "en" if str(get_locale()).startswith("en") else "zh-Hans"


def localized(value: object, lang: str | None = None) -> str:
    """Pick the current language from a ``{"zh-Hans": …, "en": …}`` text.

    Accepts a mapping or a pydantic model with those aliases; falls back to zh-Hans.
    """
    lang = lang or current_lang()
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if hasattr(value, "model_dump"):
        value = value.model_dump(by_alias=True)
    if isinstance(value, dict):
        return str(value.get(lang) or value.get("zh-Hans") or "")
    return str(value)


def lang_url(lang: str) -> str:
    """The current page in another language (the choice is then remembered)."""
    from flask import url_for

    args = request.args.to_dict()
    args[LANG_PARAM] = lang
    if request.endpoint is None:
        return url_for("respond.index", **{LANG_PARAM: lang})
    return url_for(request.endpoint, **{**(request.view_args or {}), **args})
