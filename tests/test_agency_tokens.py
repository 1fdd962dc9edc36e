"""Agency API tokens (issue 12): created once and stored hashed, listed, revoked (CLI and
admin page), expiring; no API takes a human password; guessing is throttled per client."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from survey import create_app
from survey.core.db import get_session
from survey.core.models import AgencyToken, AuditLog
from tests.helpers import Ran, csrf_token, login, manyi
from tests.test_agency import REPO, basic, bearer, world  # noqa: F401  (fixture)

SCORECARD = "/api/v1/agency/scorecard"


def _manyi(env: dict[str, str], *args: str) -> Ran:
    return manyi(*args, env=env)


def _env(app_config: dict[str, Any], tmp_path: Any) -> dict[str, str]:
    return {**os.environ, "MANYI_DATABASE_URL": str(app_config["DATABASE_URL"]),
            "MANYI_INSTANCE_DIR": str(tmp_path)}


def test_a_token_works_until_it_is_revoked(world, client):  # noqa: F811
    assert client.get(SCORECARD, headers=bearer(world.token)).status_code == 200
    with world.app.app_context():
        session = get_session()
        row = session.scalars(select(AgencyToken)).one()
        assert row.token_hash != world.token and world.token not in row.token_hash
        assert world.token.startswith(row.prefix) and len(world.token) > 40
        assert row.last_used_at is not None
        row.revoked_at = datetime.now(UTC)
        session.commit()
    assert client.get(SCORECARD, headers=bearer(world.token)).status_code == 401


def test_an_expired_token_is_refused(world, client):  # noqa: F811
    with world.app.app_context():
        session = get_session()
        row = session.scalars(select(AgencyToken)).one()
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.commit()
    response = client.get(SCORECARD, headers=bearer(world.token))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_no_api_takes_a_password(world, client):  # noqa: F811
    for path in (SCORECARD, "/api/v1/agency/batches"):
        assert client.get(path, headers=basic("agent@acme.test")).status_code == 401
        assert client.get(path, headers=basic("admin@x.test")).status_code == 401


def test_guessing_tokens_is_throttled_per_client(world, app_config):  # noqa: F811
    limited = create_app({**app_config, "RATELIMIT_ENABLED": True}).test_client()
    codes = [limited.get(SCORECARD, headers=bearer(f"manyi_guess{i}"),
                         environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code
             for i in range(10)]
    assert codes == [401] * 9 + [429]
    blocked = limited.get(SCORECARD, headers=bearer(world.token),
                          environ_base={"REMOTE_ADDR": "198.51.100.9"})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    other = limited.get(SCORECARD, headers=bearer(world.token),
                        environ_base={"REMOTE_ADDR": "198.51.100.10"})
    assert other.status_code == 200
    with world.app.app_context():
        failures = get_session().scalars(select(AuditLog).where(
            AuditLog.action == "api_auth_failed")).all()
        assert len(failures) == 10
        assert all("guess" not in str(f.detail) for f in failures)


def test_the_cli_creates_lists_and_revokes_tokens(world, app_config, tmp_path, client):  # noqa: F811
    env = _env(app_config, tmp_path)
    made = _manyi(env, "agency", "token", "create", "--agency", "ACME", "--expires", "30",
                  "--label", "CATI server")
    assert made.returncode == 0, made.stderr
    raw = made.stdout.strip()
    assert raw.startswith("manyi_") and "shown only now" in made.stderr
    assert client.get(SCORECARD, headers=bearer(raw)).status_code == 200
    listed = _manyi(env, "agency", "token", "list", "--agency", "ACME")
    assert listed.returncode == 0 and raw not in listed.stdout
    assert "CATI server" in listed.stdout and "active" in listed.stdout
    token_id = next(line.split("\t")[0] for line in listed.stdout.splitlines()
                    if "CATI server" in line)
    revoked = _manyi(env, "agency", "token", "revoke", token_id)
    assert revoked.returncode == 0, revoked.stderr
    assert client.get(SCORECARD, headers=bearer(raw)).status_code == 401
    assert "revoked" in _manyi(env, "agency", "token", "list", "--agency", "ACME").stdout
    for bad in (["create", "--agency", "NOPE"], ["create", "--agency", "ACME", "--expires", "0"],
                ["revoke", "999999"], ["revoke", "x"]):
        result = _manyi(env, "agency", "token", *bad)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, bad


def test_an_admin_creates_and_revokes_tokens_on_the_agency_page(world, client):  # noqa: F811
    login(client, "admin@x.test")
    page = client.get("/agency/admin/agencies/ACME/tokens")
    assert page.status_code == 200 and world.token not in page.get_data(as_text=True)
    token = csrf_token(client, "/agency/admin/agencies/ACME/tokens")
    made = client.post("/agency/admin/agencies/ACME/tokens",
                       data={"csrf_token": token, "label": "web", "expires_days": "7"})
    assert made.status_code == 200
    html = made.get_data(as_text=True)
    raw = html.split("<code>manyi_", 1)[1].split("</code>", 1)[0]
    raw = "manyi_" + raw
    assert client.get(SCORECARD, headers=bearer(raw)).status_code == 200
    assert raw not in client.get("/agency/admin/agencies/ACME/tokens").get_data(as_text=True)
    with world.app.app_context():
        row_id = get_session().scalar(select(AgencyToken.id).where(AgencyToken.label == "web"))
    no_csrf = client.post(f"/agency/admin/agencies/ACME/tokens/{row_id}/revoke")
    assert no_csrf.status_code == 400
    done = client.post(f"/agency/admin/agencies/ACME/tokens/{row_id}/revoke",
                       data={"csrf_token": token})
    assert done.status_code == 302
    assert client.get(SCORECARD, headers=bearer(raw)).status_code == 401
    with world.app.app_context():
        actions = {a.action for a in get_session().scalars(select(AuditLog))}
        assert {"agency_token_created", "agency_token_revoked"} <= actions


def test_the_token_page_is_admin_only(world, client):  # noqa: F811
    login(client, "agent@acme.test")
    assert client.get("/agency/admin/agencies/ACME/tokens").status_code == 404
