"""Failure semantics when the database is locked, restarting or gone (docs/decisions.md):
a write answers 503 + Retry-After within the 5 s lock timeout (JSON under /api/, a static
bilingual page elsewhere) and stores nothing; a dashboard read still answers (its audit
entry is written on its own connection, or dropped with a log line); with the database
gone no page shows a traceback, SQL or parameters; on PostgreSQL a restart (terminated
connections) is survived by pre-ping and a held table lock gives a 503."""

from __future__ import annotations

import io
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import make_url

from survey import create_app
from survey.accounts.users import create_user
from survey.core.db import get_session
from survey.core.models import AuditLog, Batch, City, UserSession
from survey.core.web import UNAVAILABLE_MESSAGE
from tests.conftest import PG_URL
from tests.helpers import PASSWORD, csrf_token, login
from tests.test_agency import world  # noqa: F401  (fixture)
from tests.test_api import signed, stored_count
from tests.test_respond import sites  # noqa: F401  (fixture)

LOCK_TIMEOUT = 5.0
SLACK = 1.5  # the answer comes within the lock timeout plus this
DEAD_PG = "postgresql+psycopg://nobody:secret-pw@127.0.0.1:1/none"
LEAKS = ("Traceback", "SELECT", "INSERT", "UPDATE", "sqlalchemy", "psycopg", "sqlite3",
         "OperationalError", "secret-pw", "nobody", "127.0.0.1", "admin@test.cn",
         PASSWORD)

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"])
postgresql_only = pytest.mark.skipif(
    not PG_URL, reason="needs PostgreSQL: set MANYI_TEST_DATABASE_URL (CI does)")


@contextmanager
def sqlite_locked(db_url: str) -> Iterator[None]:
    """Another connection holds ``BEGIN EXCLUSIVE`` on the SQLite file (WAL mode: readers
    go on, every writer waits for the busy timeout)."""
    path = make_url(db_url).database
    assert path
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def timed(call: Any) -> tuple[Any, float]:
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


def assert_unavailable_page(response: Any) -> None:
    assert response.status_code == 503, response.text[:500]
    assert response.mimetype == "text/html"
    assert int(response.headers["Retry-After"]) > 0
    assert "数据库暂时不可用" in response.text and "try again" in response.text
    for leak in LEAKS:
        assert leak not in response.text, leak


@pytest.fixture
def admin(app: Flask) -> str:
    """One demo city (a few responses) and an admin; the city's code."""
    from survey.demo.data import load_demo

    with app.app_context():
        session = get_session()
        load_demo(session, app.extensions["manyi.questionnaires"], cities=1, responses=60,
                  seed=1, end_wave="2026Q4")
        create_user(session, email="admin@test.cn", password=PASSWORD, role="admin")
        session.commit()
        code = session.scalar(select(City.code))
    assert code
    return code


def last_seen(app: Flask) -> datetime:
    with app.app_context():
        moment = get_session().scalars(select(UserSession.last_seen_at)).one()
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def audit_count(app: Flask, action: str) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(AuditLog)
                                    .where(AuditLog.action == action)) or 0


# --------------------------------------------------------------------------- SQLite locked


@sqlite_only
def test_the_submit_api_answers_503_json_within_the_lock_timeout(
        app: Flask, client: FlaskClient, sites: dict[str, str], db_url: str) -> None:  # noqa: F811
    submission = signed(client, sites["hospital"])
    with sqlite_locked(db_url):
        response, elapsed = timed(lambda: client.post("/api/v1/responses", json=submission))
    assert response.status_code == 503
    assert response.get_json() == {"error": UNAVAILABLE_MESSAGE}
    assert int(response.headers["Retry-After"]) > 0
    assert LOCK_TIMEOUT - 0.5 <= elapsed <= LOCK_TIMEOUT + SLACK, elapsed
    assert stored_count(app) == 0
    # Nothing was stored, so the same submission retried once the lock is gone is new.
    assert client.post("/api/v1/responses", json=submission).status_code == 201
    assert stored_count(app) == 1


@sqlite_only
def test_a_login_answers_the_static_503_page_within_the_lock_timeout(
        app: Flask, client: FlaskClient, db_url: str) -> None:
    with app.app_context():
        create_user(get_session(), email="admin@test.cn", password=PASSWORD, role="admin")
        get_session().commit()
    token = csrf_token(client)
    with sqlite_locked(db_url):
        response, elapsed = timed(lambda: client.post("/auth/login", data={
            "csrf_token": token, "email": "admin@test.cn", "password": PASSWORD}))
    assert_unavailable_page(response)
    assert elapsed <= LOCK_TIMEOUT + SLACK, elapsed
    assert audit_count(app, "login") == 0
    # The login was not half-done: afterwards it works, once.
    assert login(client, "admin@test.cn").status_code == 302
    assert audit_count(app, "login") == 1


@sqlite_only
def test_consent_answers_the_static_503_page_within_the_lock_timeout(
        app: Flask, client: FlaskClient, sites: dict[str, str], db_url: str) -> None:  # noqa: F811
    from tests.test_respond import csrf_token as form_token

    url = f"/s/healthcare?site={sites['hospital']}"
    page = client.get(url)
    assert page.status_code == 200
    data = {"csrf_token": form_token(page.text), "consent": "yes"}
    with sqlite_locked(db_url):
        response, elapsed = timed(lambda: client.post(url, data=data))
    assert_unavailable_page(response)
    assert elapsed <= LOCK_TIMEOUT + SLACK, elapsed
    after = client.post(url, data=data)
    assert after.status_code == 302 and after.headers["Location"].endswith("/p/1")


@sqlite_only
def test_an_agency_upload_answers_the_static_503_page_within_the_lock_timeout(
        app: Flask, client: FlaskClient, world: Any, db_url: str,  # noqa: F811
        tmp_path: Path) -> None:
    from tests import test_agency

    rows = test_agency.clean_rows(world.q, world.sites, 30, seed=18)
    path = test_agency.write_csv(tmp_path / "web.csv", test_agency.to_table(world.q, rows))
    test_agency.login(client, "agent@acme.test")
    page = client.get("/agency/batches")
    assert page.status_code == 200

    def upload() -> Any:
        return client.post("/agency/batches", data={
            "csrf_token": test_agency.csrf(page.text), "city": world.city,
            "wave": test_agency.WAVE, "file": (io.BytesIO(path.read_bytes()), "web.csv")},
            content_type="multipart/form-data")

    with sqlite_locked(db_url):
        response, elapsed = timed(upload)
    assert_unavailable_page(response)
    assert elapsed <= LOCK_TIMEOUT + SLACK, elapsed
    with app.app_context():
        assert get_session().scalar(select(func.count()).select_from(Batch)) == 0
    assert upload().status_code == 302


@sqlite_only
def test_a_dashboard_read_is_served_while_the_file_is_locked(
        app: Flask, client: FlaskClient, admin: str, db_url: str,
        caplog: pytest.LogCaptureFixture) -> None:
    assert login(client, "admin@test.cn").status_code == 302
    # The login session was last seen 2 minutes ago: this request also touches it.
    long_ago = datetime.now(UTC) - timedelta(minutes=2)
    with app.app_context():
        get_session().execute(update(UserSession).values(last_seen_at=long_ago))
        get_session().commit()
    with caplog.at_level(logging.WARNING):
        with sqlite_locked(db_url):
            response, elapsed = timed(lambda: client.get(f"/dashboard/{admin}"))
    assert response.status_code == 200, response.text[:500]
    # The read waits only for the short lock timeouts of its bookkeeping, never the 5 s.
    assert elapsed < 3, elapsed
    dropped = [r.getMessage() for r in caplog.records
               if r.name in ("survey.core.audit", "survey.accounts.sessions")]
    assert dropped == ["session last_seen_at not written: database unavailable",
                       "audit entry 'view_city' not written: OperationalError"]
    assert "admin@test.cn" not in caplog.text and "INSERT" not in caplog.text
    assert audit_count(app, "view_city") == 0
    assert last_seen(app) == long_ago
    # Unlocked, the same view is audited (on its own connection, after the page is built)
    # and the session touched.
    assert client.get(f"/dashboard/{admin}").status_code == 200
    assert audit_count(app, "view_city") == 1
    assert last_seen(app) > long_ago


@sqlite_only
def test_a_lock_released_in_time_lets_the_write_through(
        app: Flask, client: FlaskClient, sites: dict[str, str], db_url: str) -> None:  # noqa: F811
    """The busy timeout waits: a lock held for 1 s delays the submit, it does not fail it."""
    submission = signed(client, sites["hospital"])
    path = make_url(db_url).database
    assert path
    locked = threading.Event()

    def hold() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        locked.set()
        time.sleep(1)
        other.execute("ROLLBACK")
        other.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(5)
    response, elapsed = timed(lambda: client.post("/api/v1/responses", json=submission))
    holder.join()
    assert response.status_code == 201, response.get_json()
    assert 0.5 <= elapsed < LOCK_TIMEOUT, elapsed


@sqlite_only
def test_sqlite_connections_use_the_configured_timeouts(app: Flask) -> None:
    with app.app_context(), app.extensions["manyi.engine"].connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


# --------------------------------------------------------------------------- database gone


@pytest.fixture
def dead_app(tmp_path: Path) -> Iterator[Flask]:
    """The app on a PostgreSQL port nobody listens on."""
    application = create_app({"DATABASE_URL": DEAD_PG, "TESTING": True,
                              "SECRET_KEY": "test-secret", "RATELIMIT_ENABLED": False,
                              "WTF_CSRF_ENABLED": False, "INSTANCE_DIR": str(tmp_path)})

    @application.route("/_test/boom")
    def boom() -> str:
        raise RuntimeError("not a database error")

    yield application
    application.extensions["manyi.engine"].dispose()


def test_with_the_database_gone_pages_answer_the_static_503_page(dead_app: Flask) -> None:
    client = dead_app.test_client()
    for response in (
        client.post("/auth/login", data={"email": "admin@test.cn", "password": PASSWORD}),
        client.get("/s/healthcare?site=H001"),
    ):
        assert_unavailable_page(response)
    api = client.get("/api/v1/sites")
    assert api.status_code == 503 and api.get_json() == {"error": UNAVAILABLE_MESSAGE}
    assert int(api.headers["Retry-After"]) > 0


def test_with_the_database_gone_a_logged_in_page_needs_no_user_from_it(
        dead_app: Flask) -> None:
    """The user loader reads the database: a logged-in visitor's page (here the home page,
    which itself needs no database) answers the 503 page, not a bare 500."""
    client = dead_app.test_client()
    with client.session_transaction() as s:
        s["_user_id"] = "a-session-token"
    assert_unavailable_page(client.get("/"))


def test_with_the_database_gone_the_500_page_needs_no_database(dead_app: Flask) -> None:
    dead_app.testing = False  # let the 500 handler answer instead of raising
    dead_app.config["PROPAGATE_EXCEPTIONS"] = False
    client = dead_app.test_client()
    with client.session_transaction() as s:
        s["_user_id"] = "a-session-token"
    response = client.get("/_test/boom")
    assert response.status_code == 500
    assert "服务器出错了" in response.text and "Something went wrong" in response.text
    assert "Traceback" not in response.text and "not a database error" not in response.text
    # Without a logged-in user the usual templated 500 page is shown.
    anonymous = dead_app.test_client().get("/_test/boom")
    assert anonymous.status_code == 500 and 'class="top"' in anonymous.text


# --------------------------------------------------------------------------- PostgreSQL


@postgresql_only
@pytest.mark.parametrize("backend", ["postgresql"])
def test_postgresql_connections_are_replaced_after_a_restart(
        app: Flask, client: FlaskClient, sites: dict[str, str], db_url: str) -> None:  # noqa: F811
    assert client.post("/api/v1/responses", json=signed(client, sites["hospital"])
                       ).status_code == 201  # the pool now holds a connection
    other = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with other.connect() as conn:
        killed = conn.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    other.dispose()
    assert killed and killed >= 1
    second = signed(client, sites["hospital"], client_uuid="7d1e2f3a-4b5c-4d6e-8f70-812a3b4c5d6e")
    response = client.post("/api/v1/responses", json=second)
    assert response.status_code == 201, response.get_json()
    assert stored_count(app) == 2


@postgresql_only
@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_postgresql_table_lock_gives_503_within_the_lock_timeout(
        app: Flask, client: FlaskClient, sites: dict[str, str], db_url: str) -> None:  # noqa: F811
    submission = signed(client, sites["hospital"])
    other = create_engine(db_url)
    with other.connect() as conn:
        conn.execute(text("LOCK TABLE response IN ACCESS EXCLUSIVE MODE"))
        response, elapsed = timed(lambda: client.post("/api/v1/responses", json=submission))
        conn.rollback()
    other.dispose()
    assert response.status_code == 503
    assert response.get_json() == {"error": UNAVAILABLE_MESSAGE}
    assert int(response.headers["Retry-After"]) > 0
    assert elapsed <= LOCK_TIMEOUT + SLACK, elapsed
    assert stored_count(app) == 0
    assert client.post("/api/v1/responses", json=submission).status_code == 201


@postgresql_only
@pytest.mark.parametrize("backend", ["postgresql"])
def test_postgresql_connections_carry_the_timeouts(app: Flask) -> None:
    with app.app_context(), app.extensions["manyi.engine"].connect() as conn:
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "5s"
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "5min"


def test_a_connection_that_dies_under_the_request_is_not_a_500_at_teardown(
        app, client, monkeypatch, caplog):
    """Found by benchmarks/submit_load.py: when PostgreSQL terminates a connection mid-request,
    closing the session rolls back on the dead connection and raised during teardown,
    which gunicorn answered with a bare HTML 500."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    def dead_close(self: Session) -> None:
        raise OperationalError("ROLLBACK", {}, Exception("server closed the connection"))

    monkeypatch.setattr(Session, "close", dead_close)
    with caplog.at_level(logging.WARNING):
        response = client.get("/api/v1/sites")  # opens a session
    assert response.status_code == 200
    assert any("closing a database session failed: OperationalError" in r.getMessage()
               for r in caplog.records)
