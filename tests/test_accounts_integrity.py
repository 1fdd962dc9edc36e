"""Accounts an attacker cannot walk into (issue 12): sessions that end on the server,
login throttling per account and per client (also across workers through Redis), the same
cost for unknown and known accounts, strong passwords, and a password-change page."""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from survey import create_app
from survey.accounts import sessions
from survey.accounts.users import AccountError, create_user
from survey.core.db import get_session
from survey.core.models import AuditLog, LoginFailure, User, UserSession
from survey.core.security import password_problem
from survey.demo.data import load_demo
from tests.helpers import PASSWORD, csrf_token, login

ADMIN = "admin@test.cn"
OFFICIAL = "official.hangzhou@test.cn"


@pytest.fixture
def accounts(app: Any) -> Any:
    with app.app_context():
        session = get_session()
        load_demo(session, app.extensions["manyi.questionnaires"], cities=1, responses=0,
                  seed=1, agency=False)
        create_user(session, email=ADMIN, password=PASSWORD, role="admin")
        create_user(session, email=OFFICIAL, password=PASSWORD, role="official",
                    city_code="hangzhou")
        session.commit()
    return app


def _limited_app(app_config: dict[str, Any], **extra: Any) -> Any:
    return create_app({**app_config, "RATELIMIT_ENABLED": True, "WTF_CSRF_ENABLED": False,
                       **extra})


def _attempt(client: Any, email: str, password: str, addr: str = "10.0.0.1") -> Any:
    return client.post("/auth/login", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": addr})


# --------------------------------------------------------------------------- sessions


def test_after_logout_the_old_session_cookie_opens_nothing(accounts, client):
    assert login(client, ADMIN).status_code == 302
    assert client.get("/dashboard/").status_code == 200
    cookie = client.get_cookie("session")
    assert cookie is not None
    token = csrf_token(client, "/dashboard/")
    client.post("/auth/logout", data={"csrf_token": token})
    thief = accounts.test_client()
    thief.set_cookie("session", cookie.value)
    response = thief.get("/dashboard/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    with accounts.app_context():
        row = get_session().scalars(select(UserSession)).one()
        assert row.end_reason == "logout"


def test_the_session_cookie_holds_no_user_id_only_a_token(accounts, client):
    login(client, ADMIN)
    with accounts.app_context():
        session = get_session()
        row = session.scalars(select(UserSession)).one()
        user = session.scalars(select(User).where(User.email == ADMIN)).one()
    from flask.sessions import SecureCookieSessionInterface

    serializer = SecureCookieSessionInterface().get_signing_serializer(accounts)
    assert serializer is not None
    data = serializer.loads(client.get_cookie("session").value)
    assert data["_user_id"] != str(user.id) and len(data["_user_id"]) >= 40
    assert row.token_hash != data["_user_id"]


@pytest.mark.parametrize(("idle", "age", "reason"), [
    (timedelta(minutes=31), timedelta(minutes=31), "idle"),
    (timedelta(minutes=5), timedelta(hours=12, minutes=1), "expired"),
])
def test_sessions_end_after_30_idle_minutes_or_12_hours(accounts, client, idle, age, reason):
    login(client, ADMIN)
    with accounts.app_context():
        session = get_session()
        row = session.scalars(select(UserSession)).one()
        now = datetime.now(UTC)
        row.last_seen_at, row.created_at = now - idle, now - age
        session.commit()
    assert client.get("/dashboard/").status_code == 302
    with accounts.app_context():
        assert get_session().scalars(select(UserSession)).one().end_reason == reason


def test_a_fresh_session_keeps_working_and_is_touched_at_most_once_a_minute(accounts, client):
    login(client, ADMIN)
    with accounts.app_context():
        before = get_session().scalars(select(UserSession)).one().last_seen_at
    for _ in range(3):
        assert client.get("/dashboard/").status_code == 200
    with accounts.app_context():
        assert get_session().scalars(select(UserSession)).one().last_seen_at == before


def test_an_admin_ends_a_users_sessions(accounts, client):
    victim = accounts.test_client()
    login(victim, OFFICIAL)
    assert victim.get("/dashboard/").status_code == 200
    login(client, ADMIN)
    page = client.get("/admin/")
    assert OFFICIAL in page.get_data(as_text=True)
    with accounts.app_context():
        user_id = get_session().scalar(select(User.id).where(User.email == OFFICIAL))
    refused = client.post(f"/admin/users/{user_id}/end-sessions")
    assert refused.status_code == 400  # no CSRF token
    done = client.post(f"/admin/users/{user_id}/end-sessions",
                       data={"csrf_token": csrf_token(client, "/admin/")})
    assert done.status_code == 302
    assert victim.get("/dashboard/").status_code == 302
    with accounts.app_context():
        entry = get_session().scalars(select(AuditLog).where(
            AuditLog.action == "sessions_ended")).one()
        assert entry.detail == {"account": OFFICIAL, "sessions": 1} and entry.actor == ADMIN


def test_the_end_sessions_action_is_admin_only(accounts, client):
    login(client, OFFICIAL)
    with accounts.app_context():
        user_id = get_session().scalar(select(User.id).where(User.email == ADMIN))
    token = csrf_token(client, "/dashboard/")
    assert client.post(f"/admin/users/{user_id}/end-sessions",
                       data={"csrf_token": token}).status_code == 404


# --------------------------------------------------------------------------- passwords


@pytest.mark.parametrize("weak", ["aaaaaaaaaaaa", "123456789012", "abcdefghijkl",
                                  "password1234", "qwertyuiopas", "short"])
def test_weak_passwords_are_refused(weak):
    assert password_problem(weak) is not None


def test_the_email_counts_as_a_known_word():
    assert password_problem("zhangwei.hz2026", ["zhangwei.hz2026@x.cn"]) is not None


def test_strong_passwords_are_accepted():
    assert password_problem(PASSWORD) is None
    assert password_problem("青山绿水-雨后西湖-2026") is None


def test_users_create_refuses_a_weak_password(accounts):
    with accounts.app_context(), pytest.raises(AccountError, match="easy to guess"):
        create_user(get_session(), email="x@test.cn", password="aaaaaaaaaaaa", role="admin")


def test_changing_the_password_ends_every_other_session(accounts, client):
    other = accounts.test_client()
    login(other, ADMIN)
    login(client, ADMIN)
    token = csrf_token(client, "/auth/password")
    weak = client.post("/auth/password", data={"csrf_token": token, "current": PASSWORD,
                                                "new": "aaaaaaaaaaaa", "confirm": "aaaaaaaaaaaa"})
    assert weak.status_code == 422 and other.get("/dashboard/").status_code == 200
    wrong = client.post("/auth/password", data={"csrf_token": token, "current": "not it at all",
                                                 "new": "青山绿水-雨后西湖-2026",
                                                 "confirm": "青山绿水-雨后西湖-2026"})
    assert wrong.status_code == 422
    done = client.post("/auth/password", data={"csrf_token": token, "current": PASSWORD,
                                                "new": "青山绿水-雨后西湖-2026",
                                                "confirm": "青山绿水-雨后西湖-2026"})
    assert done.status_code == 200
    assert other.get("/dashboard/").status_code == 302  # the other session ended
    assert client.get("/dashboard/").status_code == 200  # this one was renewed
    fresh = accounts.test_client()
    assert login(fresh, ADMIN).status_code == 401
    assert login(fresh, ADMIN, "青山绿水-雨后西湖-2026").status_code == 302


def test_the_password_page_is_chinese_first(accounts, client):
    login(client, ADMIN)
    page = client.get("/auth/password").get_data(as_text=True)
    assert "修改密码" in page and "当前密码" in page


# --------------------------------------------------------------------------- throttling


def test_ten_failures_lock_the_account_from_every_client(accounts, app_config):
    limited = _limited_app(app_config)
    client = limited.test_client()
    codes = [_attempt(client, ADMIN, f"wrong guess {i}", addr=f"10.0.{i}.1").status_code
             for i in range(10)]
    assert codes == [401] * 9 + [429]
    from_elsewhere = _attempt(client, ADMIN, PASSWORD, addr="10.9.9.9")
    assert from_elsewhere.status_code == 429
    assert 0 < int(from_elsewhere.headers["Retry-After"]) <= 15 * 60
    assert "15" in from_elsewhere.get_data(as_text=True) or \
        "分钟" in from_elsewhere.get_data(as_text=True)
    other_account = _attempt(client, OFFICIAL, PASSWORD, addr="10.9.9.9")
    assert other_account.status_code == 302


def test_one_client_guessing_many_accounts_is_stopped(accounts, app_config):
    limited = _limited_app(app_config, LOGIN_FAILURES_PER_CLIENT="5 per 15 minutes")
    client = limited.test_client()
    codes = [_attempt(client, f"nobody{i}@test.cn", "wrong guess!").status_code
             for i in range(6)]
    assert codes[:4] == [401] * 4 and codes[4:] == [429, 429]


def test_failed_logins_are_recorded_with_a_client_hash_not_an_address(accounts, app_config):
    limited = _limited_app(app_config)
    _attempt(limited.test_client(), ADMIN, "wrong guess!", addr="203.0.113.7")
    with accounts.app_context():
        session = get_session()
        failure = session.scalars(select(LoginFailure)).one()
        assert failure.account == ADMIN and len(failure.client_hash) == 16
        assert "203.0.113.7" not in failure.client_hash
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "login_failed")).one()
        assert audit.actor == ADMIN and "203.0.113" not in str(audit.detail)


def test_failed_login_records_are_kept_30_days(accounts):
    from survey.accounts.users import record_failed_login

    with accounts.app_context():
        session = get_session()
        now = datetime.now(UTC)
        record_failed_login(session, "old@test.cn", "0" * 16, now=now - timedelta(days=31))
        record_failed_login(session, "recent@test.cn", "1" * 16, now=now - timedelta(days=29))
        session.commit()
        record_failed_login(session, "new@test.cn", "2" * 16, now=now)
        session.commit()
        kept = set(session.scalars(select(LoginFailure.account)))
        assert kept == {"recent@test.cn", "new@test.cn"}


def test_unknown_and_known_accounts_cost_the_same_time(production_argon2, accounts, app_config):
    # production_argon2 first: the accounts are hashed, and the dummy verified, at full cost
    client = create_app({**app_config, "WTF_CSRF_ENABLED": False}).test_client()

    def median(email: str) -> float:
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            assert _attempt(client, email, "wrong guess!").status_code == 401
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    known, unknown = median(ADMIN), median("nobody@test.cn")
    print(f"median failed login: known {known * 1000:.1f} ms, unknown {unknown * 1000:.1f} ms")
    assert max(known, unknown) / min(known, unknown) < 2


WORKER = """
import json, sys
from survey import create_app
config = json.loads(sys.argv[1])
email = config.pop("_email")
client = create_app(config).test_client()
codes = []
for i, password in enumerate(json.loads(sys.argv[2])):
    r = client.post("/auth/login", data={"email": email, "password": password},
                    environ_base={"REMOTE_ADDR": f"10.1.{i}.{len(sys.argv[2])}"})
    codes.append(r.status_code)
print(json.dumps(codes))
"""


def _worker(config: dict[str, Any], passwords: list[str]) -> list[int]:
    """Login attempts from a separate process (as a second gunicorn worker would be)."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", WORKER, json.dumps(config),
                           json.dumps(passwords)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _process_config(app_config: dict[str, Any], storage: str) -> dict[str, Any]:
    import uuid

    return {"DATABASE_URL": app_config["DATABASE_URL"], "SECRET_KEY": "k" * 32,
            "INSTANCE_DIR": app_config["INSTANCE_DIR"], "RATELIMIT_ENABLED": True,
            "WTF_CSRF_ENABLED": False, "RATELIMIT_STORAGE_URI": storage,
            "RATELIMIT_KEY_PREFIX": f"manyi-test-{uuid.uuid4().hex}", "_email": ADMIN}


@pytest.mark.skipif(not os.environ.get("MANYI_TEST_REDIS_URL"),
                    reason="MANYI_TEST_REDIS_URL is not set (CI sets it when Redis answers)")
def test_two_worker_processes_sharing_redis_count_the_same_failures(accounts, app_config):
    config = _process_config(app_config, os.environ["MANYI_TEST_REDIS_URL"])
    first = _worker(config, [f"wrong guess {i}" for i in range(5)])
    second = _worker(config, [f"wrong guess {i}" for i in range(5, 10)] + [PASSWORD])
    assert first == [401] * 5 and second == [401] * 4 + [429, 429]
    # Control: with each process's own memory store, the second worker starts from zero.
    alone = _process_config(app_config, "memory://")
    _worker(alone, [f"wrong guess {i}" for i in range(5)])
    assert _worker(alone, [f"wrong guess {i}" for i in range(5)]) == [401] * 5


def test_sessions_service_end_all_counts(accounts):
    with accounts.app_context():
        session = get_session()
        user = session.scalars(select(User).where(User.email == ADMIN)).one()
        for _ in range(3):
            sessions.start(session, user)
        session.commit()
        assert sessions.end_all(session, user.id, "test") == 3
        session.commit()
        assert session.scalar(select(func.count()).select_from(UserSession).where(
            UserSession.ended_at.is_(None))) == 0
