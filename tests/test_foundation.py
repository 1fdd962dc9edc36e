"""The foundation: migrations, configuration errors, the data model's guarantees."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from survey.core.migrate import downgrade, upgrade
from survey.core.models import Base, City, District, QuestionnaireVersion, Response, Site
from tests.conftest import fresh_database
from tests.helpers import csrf_token

REPO = Path(__file__).resolve().parent.parent
MANYI = str(Path(sys.executable).with_name("manyi"))


def test_migrations_build_every_table_from_an_empty_database(backend, tmp_path):
    url = fresh_database(backend, tmp_path, "empty")
    upgrade(url)
    engine = create_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()


def test_migrations_go_down_to_empty_and_up_again(backend, tmp_path):
    url = fresh_database(backend, tmp_path, "updown")
    upgrade(url)
    downgrade(url, "base")
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    upgrade(url)


def _response_kwargs(session: Session, client_uuid: str) -> dict:
    city = City(code="c1", name_zh="一市", name_en="One")
    session.add(city)
    session.flush()
    district = District(city_id=city.id, code="c1-01", name_zh="一区", name_en="D1")
    session.add(district)
    session.flush()
    site = Site(code="c1-01-hos1", name_zh="医院", name_en="Hospital", kind="hospital",
                city_id=city.id, district_id=district.id)
    qv = QuestionnaireVersion(questionnaire="healthcare", version=1, content_hash="x",
                              definition={})
    session.add_all([site, qv])
    session.flush()
    return dict(client_uuid=client_uuid, payload_hash="h", receipt_code="R",
                questionnaire="healthcare", version=1, questionnaire_version_id=qv.id,
                site_id=site.id, city_id=city.id, district_id=district.id, wave="2026Q4",
                consent_version="1", submitted_at=datetime.now(UTC))


def test_client_uuid_is_unique_in_the_database(db_url):
    engine = create_engine(db_url)
    uid = "6f1c2a4e-0b7d-4f4e-9a51-0c6f2d7e8b13"
    with Session(engine) as session:
        kwargs = _response_kwargs(session, uid)
        session.add(Response(**kwargs))
        session.commit()
        session.add(Response(**kwargs))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        # The constraint is the database's, not the ORM's: raw SQL is refused too.
        with pytest.raises(IntegrityError):
            session.execute(text(
                "INSERT INTO response (client_uuid, payload_hash, receipt_code, questionnaire,"
                " version, questionnaire_version_id, site_id, city_id, district_id, wave,"
                " channel, submitted_at, consent_version, design_weight, final_weight, status)"
                " SELECT client_uuid, payload_hash, 'R2', questionnaire, version,"
                " questionnaire_version_id, site_id, city_id, district_id, wave, channel,"
                " submitted_at, consent_version, 1, 1, status FROM response"))
    engine.dispose()


def _manyi(*args: str, env: dict[str, str],
           stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([MANYI, *args], capture_output=True, text=True, env=env,
                          input=stdin, cwd=REPO, timeout=120)


@pytest.mark.parametrize("url, expected", [
    ("not a url", "MANYI_DATABASE_URL is not a database URL"),
    ("mysql://root@127.0.0.1/x", "unsupported database 'mysql'"),
    ("postgresql+nosuchdriver://u@h/d", "unknown driver"),
    ("postgresql+psycopg://nobody@127.0.0.1:1/none", "cannot use the database"),
])
def test_a_bad_database_url_gives_one_clear_line(url, expected, tmp_path):
    env = {**os.environ, "MANYI_DATABASE_URL": url, "MANYI_INSTANCE_DIR": str(tmp_path)}
    result = _manyi("db", "upgrade", env=env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_manyi_db_upgrade_creates_the_sqlite_file(tmp_path):
    db = tmp_path / "sub" / "manyi.sqlite3"
    env = {**os.environ, "MANYI_DATABASE_URL": f"sqlite:///{db}",
           "MANYI_INSTANCE_DIR": str(tmp_path)}
    result = _manyi("db", "upgrade", env=env)
    assert result.returncode == 0, result.stderr
    assert db.exists()
    # Running it again is harmless.
    assert _manyi("db", "upgrade", env=env).returncode == 0


def test_app_pages_answer(client):
    assert client.get("/").status_code == 200
    assert client.get("/auth/login").status_code == 200
    assert client.get("/no-such-page").status_code == 404


def test_security_headers_forbid_other_origins(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("role, home", [("admin", "/dashboard/"), ("researcher", "/export/"),
                                        ("agency", "/agency/batches")])
def test_login_lands_on_the_role_home_and_ignores_foreign_next(app, client, role, home):
    from survey.accounts.users import create_user
    from survey.core.db import get_session
    from survey.core.models import Agency

    with app.app_context():
        session = get_session()
        session.add(Agency(code="ag1", name="Agency One"))
        session.flush()
        create_user(session, email=f"{role}@x.cn", password="correct horse battery",
                    role=role, agency_code="ag1" if role == "agency" else None)
        session.commit()
    token = csrf_token(client)
    response = client.post("/auth/login?next=https://evil.example/", data={
        "email": f"{role}@x.cn", "password": "correct horse battery", "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == home


def test_the_migrations_build_exactly_the_models(backend, tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    url = fresh_database(backend, tmp_path, "compare")
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []
