"""Configuration: one ``Config`` object with defaults, overridden from the environment.

Every setting can be given as ``MANYI_<NAME>`` in the environment, e.g.
``MANYI_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/manyi``.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
"""The source checkout (``pyproject.toml`` beside ``survey/``); in an installed wheel, the
site-packages directory, which holds no data of ours."""


def _data_dir(name: str) -> Path:
    """A data folder kept at the repository's top level (``static``, ``questionnaires``,
    ``migrations``): in a wheel it is shipped as ``survey/_data/<name>`` (hatch
    ``force-include``), in a source checkout or editable install it is read in place."""
    shipped = PACKAGE_DIR / "_data" / name
    return shipped if shipped.is_dir() else REPO_ROOT / name


STATIC_DIR = _data_dir("static")
QUESTIONNAIRE_DIR = _data_dir("questionnaires")
MIGRATIONS_DIR = _data_dir("migrations")
_IN_CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file()
INSTANCE_DIR = Path(os.environ.get("MANYI_INSTANCE_DIR")
                    or (REPO_ROOT if _IN_CHECKOUT else Path.cwd()) / "instance")


def _default_database_url() -> str:
    return f"sqlite:///{INSTANCE_DIR / 'manyi.sqlite3'}"


@dataclass
class Config:
    """All settings of a manyi instance.

    ``SECRET_KEY`` must come from the environment in production; when it is missing a
    random key is generated per process (sessions then do not survive a restart).
    """

    DATABASE_URL: str = field(default_factory=_default_database_url)
    SECRET_KEY: str = field(default_factory=lambda: secrets.token_hex(32))
    QUESTIONNAIRE_DIR: str = str(QUESTIONNAIRE_DIR)
    STATIC_DIR: str = str(STATIC_DIR)
    INSTANCE_DIR: str = str(INSTANCE_DIR)
    TESTING: bool = False
    WTF_CSRF_ENABLED: bool = True
    BABEL_DEFAULT_LOCALE: str = "zh_Hans"
    LANGUAGES: tuple[str, ...] = ("zh_Hans", "en")
    RATELIMIT_STORAGE_URI: str = "memory://"
    RATELIMIT_ENABLED: bool = True
    RATELIMIT_HEADERS_ENABLED: bool = True
    RATELIMIT_KEY_PREFIX: str = "manyi"
    LOGIN_FAILURES_PER_ACCOUNT: str = "10 per 15 minutes"
    LOGIN_FAILURES_PER_CLIENT: str = "30 per 15 minutes"
    API_AUTH_FAILURES_PER_CLIENT: str = "10 per 15 minutes"
    SESSION_IDLE_MINUTES: int = 30
    SESSION_MAX_HOURS: int = 12
    SESSION_COOKIE_HTTPONLY: bool = True
    SESSION_COOKIE_SAMESITE: str = "Lax"
    SESSION_COOKIE_SECURE: bool = False
    MIN_CELL_SIZE: int = 10
    SINGLE_PSU: str = "collapse"
    # Web-response integrity (survey.integrity): how long a survey token is valid, and
    # how many responses one client (hashed address) may complete at one site in 24 h.
    SURVEY_TOKEN_MINUTES: int = 120
    MAX_RESPONSES_PER_CLIENT_SITE_DAY: int = 5

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Config:
        """Build a config from ``MANYI_*`` environment variables plus explicit overrides."""
        env = os.environ if environ is None else environ
        # Any: each value has its field's type (parsed below by the field's declared type).
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"MANYI_{f.name}")
            if raw is None:
                continue
            if f.type in ("bool", bool):
                values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
            elif f.type in ("int", int):
                values[f.name] = int(raw)
            elif f.name == "LANGUAGES":
                values[f.name] = tuple(x.strip() for x in raw.split(",") if x.strip())
            else:
                values[f.name] = raw
        values.update(overrides)
        return cls(**values)

    def flask_mapping(self) -> dict[str, object]:
        """The settings as Flask ``app.config`` keys."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
