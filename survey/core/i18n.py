"""Locale choice and catalogue compilation (zh-Hans first, English second).

Message ids are English; ``translations/zh_Hans/LC_MESSAGES/*.po`` hold the Chinese (one
file per area of the app). The ``.po`` files are the source of truth; ``messages.mo`` is
compiled from them at start-up when missing or older, so no build step can be forgotten.

Two ways to translate: in a request, Flask-Babel's ``_()`` / ``lazy_gettext`` (the
request's locale); outside one (``survey.core`` code also run by the demo generator, batch
imports and scripts), :func:`translate` with an explicit language, whose msgids are marked
for extraction with :func:`N_`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
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
        # Impossible: ``sources`` is not empty (checked above), so the loop set ``merged``.
        assert merged is not None
        tmp = mo_path.with_suffix(f".mo.{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            write_mo(fh, merged)
        tmp.replace(mo_path)


def N_(message: str) -> str:
    """Mark ``message`` as a msgid for ``pybabel extract`` (a default Babel keyword) without
    translating it; translate it later with :func:`translate` (or ``_()`` in a request)."""
    return message


def _babel_locale(lang: str) -> str:
    """``"zh-Hans"``/``"en"`` (or Babel's ``zh_Hans``, ``en_GB``…) → the catalogue's locale;
    anything else gets the default, zh-Hans."""
    if lang in LOCALES:
        return LOCALES[lang]
    return "en" if lang.startswith("en") else LOCALES["zh-Hans"]


@functools.cache
def _catalogue(locale: str) -> NullTranslations:
    """The compiled catalogue of ``locale`` (compiled first when missing or stale)."""
    if locale == "en":  # msgids are English
        return NullTranslations()
    compile_catalogues(TRANSLATIONS_DIR)
    catalogue = Translations.load(str(TRANSLATIONS_DIR), [locale])
    if not isinstance(catalogue, Translations):
        raise FileNotFoundError(
            f"no compiled catalogue for locale {locale!r} in {TRANSLATIONS_DIR} "
            f"(expected {locale}/LC_MESSAGES/*.po)")
    return catalogue


def translate(message: str, lang: str, **params: object) -> str:
    """``message`` (an English msgid) in ``lang`` (``"zh-Hans"`` or ``"en"``), with
    ``%(name)s`` placeholders filled from ``params`` after translation.

    Needs no Flask app or request: reads the compiled catalogue under
    :data:`TRANSLATIONS_DIR`.

    Example
    -------
    >>> translate("The answer must be between %(min)s and %(max)s.", "zh-Hans", min=1, max=5)
    '答案须在1到5之间。'
    """
    text = _catalogue(_babel_locale(lang)).gettext(message)
    return text % params if params else text


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


def localized_name(obj: Any, lang: str | None = None) -> str:
    """The name of a city, district, site… (anything with ``name_zh`` and ``name_en``,
    as attributes or keys) in ``lang`` (default: the current language); falls back to the
    Chinese name when the English one is empty. Template filter ``name``."""
    lang = lang or current_lang()
    if obj is None:
        return ""
    if isinstance(obj, Mapping):
        zh, en = obj.get("name_zh"), obj.get("name_en")
    else:
        zh, en = obj.name_zh, obj.name_en
    return str((en if lang == "en" else None) or zh or "")


def lang_url(lang: str) -> str:
    """The current page in another language (the choice is then remembered)."""
    from flask import url_for

    args = request.args.to_dict()
    args[LANG_PARAM] = lang
    if request.endpoint is None:
        # dict[str, Any]: url_for's keyword options (_external...) are not str.
        only_lang: dict[str, Any] = {LANG_PARAM: lang}
        return url_for("respond.index", **only_lang)
    return url_for(request.endpoint, **{**(request.view_args or {}), **args})
