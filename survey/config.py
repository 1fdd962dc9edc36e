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
from urllib.parse import urlsplit

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


DEVELOPMENT_BASE_URL = "http://127.0.0.1:5000"
ENVIRONMENTS = ("development", "production")


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable and what it needs."""


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
    # Fernet key (urlsafe base64, 32 bytes) for complainants' phone numbers; from the
    # environment only (`make run` writes instance/complaint_key). Empty: phone numbers are
    # refused with a clear error rather than stored unencrypted.
    COMPLAINT_KEY: str = ""
    SINGLE_PSU: str = "collapse"
    # Tourist satisfaction composite (survey.complaints.composite, docs/complaints.md
    # "Figures"): weights of the on-site survey index, the online-review index and the
    # complaint index (each >= 0, summing to 1), and the complaint rate (complaints per
    # 1,000 valid tourism responses) at which the complaint index reaches 0.
    SATISFACTION_WEIGHT_ONSITE: float = 0.6
    SATISFACTION_WEIGHT_REVIEWS: float = 0.2
    SATISFACTION_WEIGHT_COMPLAINTS: float = 0.2
    COMPLAINT_RATE_CEILING: float = 50.0
    # Red/black list display periods an admin may choose, in months (survey.public,
    # docs/public.md), comma-separated.
    LIST_DISPLAY_MONTHS: str = "3,6,12"
    # Public-use export: sites merged into variance units of at least this many respondents
    # per wave before replicate weights are built (survey.export.replicates).
    EXPORT_MIN_VARIANCE_UNIT: int = 10
    # Web-response integrity (survey.integrity): how long a survey token is valid, and
    # how many responses one client (hashed address) may complete at one site in 24 h.
    SURVEY_TOKEN_MINUTES: int = 120
    MAX_RESPONSES_PER_CLIENT_SITE_DAY: int = 5
    # Deployment (survey.core.origin): ``production`` requires BASE_URL, the one origin
    # every absolute link and QR code uses; the request's Host must be BASE_URL's host or
    # one of TRUSTED_HOSTS (400 otherwise). HTTPS turns on HSTS and Secure cookies.
    ENV: str = "development"
    BASE_URL: str = ""
    TRUSTED_HOSTS: tuple[str, ...] = ()
    HTTPS: bool = False

    def __post_init__(self) -> None:
        weights = (self.SATISFACTION_WEIGHT_ONSITE, self.SATISFACTION_WEIGHT_REVIEWS,
                   self.SATISFACTION_WEIGHT_COMPLAINTS)
        if any(not 0 <= w <= 1 for w in weights) or abs(sum(weights) - 1) > 1e-9:
            raise ConfigError("MANYI_SATISFACTION_WEIGHT_ONSITE, _REVIEWS and _COMPLAINTS must "
                              f"each be between 0 and 1 and sum to 1, not {weights!r}")
        if not self.COMPLAINT_RATE_CEILING > 0:
            raise ConfigError("MANYI_COMPLAINT_RATE_CEILING must be a positive number of "
                              "complaints per 1,000 responses, not "
                              f"{self.COMPLAINT_RATE_CEILING!r}")
        if self.ENV not in ENVIRONMENTS:
            raise ConfigError(f"MANYI_ENV must be one of {', '.join(ENVIRONMENTS)}, "
                              f"not {self.ENV!r}")
        if not self.BASE_URL:
            if self.ENV == "production":
                raise ConfigError("MANYI_BASE_URL is required when MANYI_ENV=production "
                                  "(the public origin, e.g. https://manyi.example.cn)")
            self.BASE_URL = DEVELOPMENT_BASE_URL
        self.BASE_URL = self.BASE_URL.rstrip("/")
        parts = urlsplit(self.BASE_URL)
        if (parts.scheme not in ("http", "https") or not parts.hostname or parts.path
                or parts.query or parts.fragment or parts.username or parts.password):
            raise ConfigError(f"MANYI_BASE_URL must be an origin like "
                              f"https://manyi.example.cn (scheme, host, optional port, no "
                              f"path), not {self.BASE_URL!r}")

    @property
    def base_host(self) -> str:
        """BASE_URL's host name, without the port."""
        return urlsplit(self.BASE_URL).hostname or ""
    # Database failure semantics (docs/decisions.md): a statement waits at most this long
    # for a lock (SQLite busy timeout, PostgreSQL lock_timeout) or for a PostgreSQL
    # connection, then the request answers 503 with Retry-After. The statement timeout
    # (PostgreSQL only, 0 = none) is generous: exports stream for minutes, but fetch in
    # chunks, each its own statement.
    DATABASE_TIMEOUT_SECONDS: int = 5
    DATABASE_STATEMENT_TIMEOUT_SECONDS: int = 300
    RETRY_AFTER_SECONDS: int = 5
    # A page view's audit row is written on its own connection after the page is built;
    # it waits at most this long for a lock, then is dropped with a log line.
    READ_AUDIT_TIMEOUT_MS: int = 500
    # Request bodies (survey.core.jsonbody, docs/api.md): a JSON API body over
    # MAX_JSON_BYTES is refused with 413; no request body at all may exceed
    # MAX_CONTENT_LENGTH (Flask's own limit, above the agency upload's 20 MB file limit,
    # survey.agency.batches.MAX_BYTES, plus room for the multipart envelope).
    MAX_JSON_BYTES: int = 1024 * 1024
    MAX_CONTENT_LENGTH: int = 21 * 1024 * 1024

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
            elif f.type in ("float", float):
                try:
                    values[f.name] = float(raw)
                except ValueError:
                    raise ConfigError(f"MANYI_{f.name} must be a number, not {raw!r}") from None
            elif f.name in ("LANGUAGES", "TRUSTED_HOSTS"):
                values[f.name] = tuple(x.strip() for x in raw.split(",") if x.strip())
            else:
                values[f.name] = raw
        values.update(overrides)
        return cls(**values)

    def flask_mapping(self) -> dict[str, object]:
        """The settings as Flask ``app.config`` keys."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
