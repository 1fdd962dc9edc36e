"""Shared fixtures: a migrated database per backend (SQLite always, PostgreSQL when
``MANYI_TEST_DATABASE_URL`` is set), emptied before every test, and the app on it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from survey import create_app
from survey.core.migrate import upgrade
from survey.core.models import Base

PG_URL = os.environ.get("MANYI_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def worker_id() -> str:
    """Unique per test process, so parallel runs never drop each other's databases."""
    return f'{os.environ.get("PYTEST_XDIST_WORKER", "main")}_{os.getpid()}'



CREATED_PG_DATABASES: set[str] = set()


@pytest.fixture(autouse=True, scope="session")
def _cheap_argon2() -> Iterator[None]:
    """The suite hashes passwords with argon2id at its lowest cost (t=1, 64 KiB): the
    production profile (RFC 9106 low-memory, t=3, 64 MiB, ~0.12 s a hash) for every
    account of every fixture and every login cost minutes of CPU. The verification path
    is the same (argon2 reads the cost from the hash). Tests about the cost itself —
    the stored parameters, equal time for unknown accounts — use ``production_argon2``;
    servers run in subprocesses hash the production way."""
    from argon2 import PasswordHasher

    import survey.core.security as security

    real = security._hasher
    security._hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    security._dummy_hash.cache_clear()
    yield
    security._hasher = real
    security._dummy_hash.cache_clear()


@pytest.fixture
def production_argon2() -> Iterator[None]:
    """The production argon2id profile for one test (see ``_cheap_argon2``)."""
    from argon2 import PasswordHasher

    import survey.core.security as security

    cheap = security._hasher
    security._hasher = PasswordHasher()
    security._dummy_hash.cache_clear()
    yield
    security._hasher = cheap
    security._dummy_hash.cache_clear()


def _pg_admin(statements: list[str]) -> None:
    assert PG_URL
    admin = create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for statement in statements:
            conn.execute(text(statement))
    admin.dispose()


def fresh_pg_database(suffix: str) -> str:
    """Create (or re-create) an empty PostgreSQL database next to the test one; it is
    dropped when the test session ends."""
    assert PG_URL
    base = make_url(PG_URL)
    name = re.sub(r"\W", "_", f"{base.database}_{suffix}_{worker_id()}")
    _pg_admin([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'])
    CREATED_PG_DATABASES.add(name)
    return base.set(database=name).render_as_string(hide_password=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if CREATED_PG_DATABASES:
        _pg_admin([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
                   for name in sorted(CREATED_PG_DATABASES)])


def fresh_database(backend: str, tmp_dir: Path, suffix: str) -> str:
    if backend == "sqlite":
        path = tmp_dir / f"{suffix}.sqlite3"
        path.unlink(missing_ok=True)
        return f"sqlite:///{path}"
    return fresh_pg_database(suffix)


@pytest.fixture(scope="session")
def migrated_urls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("db")
    urls = {}
    for backend in BACKENDS:
        url = fresh_database(backend, tmp, "suite")
        upgrade(url)
        urls[backend] = url
    return urls


def empty_all_tables(url: str) -> None:
    engine = create_engine(url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables)
                              + " RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(text(f'DELETE FROM "{t}"'))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db_url(backend: str, migrated_urls: dict[str, str]) -> str:
    url = migrated_urls[backend]
    empty_all_tables(url)
    return url


@pytest.fixture
def app_config(db_url: str, tmp_path: Path) -> dict[str, object]:
    return {"DATABASE_URL": db_url, "TESTING": True, "SECRET_KEY": "test-secret",
            "RATELIMIT_ENABLED": False, "INSTANCE_DIR": str(tmp_path),
            "BASE_URL": "http://localhost"}  # the test client's host


@pytest.fixture
def app(app_config: dict[str, object]) -> Iterator:
    application = create_app(app_config)
    yield application
    application.extensions["manyi.engine"].dispose()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()
