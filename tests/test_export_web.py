"""``/export`` (roles, city scope, CSRF, zip download, audit) and ``manyi export``."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from survey.core.db import get_session
from survey.core.models import AuditLog
from tests.helpers import PASSWORD, csrf_token, login, setup_demo

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def demo(app):  # type: ignore[no-untyped-def]
    return setup_demo(app, cities=2, responses=800)


def post_export(client, **data):  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/export/")
    form = {"csrf_token": token, "questionnaire": "healthcare", "format": "csv", "text": "1"}
    form.update(data)
    return client.post("/export/", data=form)


def audits(app) -> list[AuditLog]:  # type: ignore[no-untyped-def]
    with app.app_context():
        return list(get_session().scalars(select(AuditLog).where(AuditLog.action == "export")))


def test_researcher_downloads_a_zip_with_csv_and_codebooks(app, client, demo):
    login(client, "researcher@test.cn")
    page = client.get("/export/")
    assert page.status_code == 200 and "hangzhou" in page.get_data(as_text=True)
    response = post_export(client, bom="1")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    names = sorted(archive.namelist())
    assert names == ["manyi-healthcare-all-all.codebook.json",
                     "manyi-healthcare-all-all.codebook.md", "manyi-healthcare-all-all.csv"]
    raw = archive.read("manyi-healthcare-all-all.csv")
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    book = json.loads(archive.read("manyi-healthcare-all-all.codebook.json"))
    assert len(rows) == book["rows"] > 0
    [entry] = audits(app)
    assert entry.actor == "researcher@test.cn" and entry.detail["rows"] == len(rows)
    assert entry.detail["questionnaire"] == "healthcare" and entry.detail["city"] is None


def test_official_exports_own_city_only(app, client, demo):
    own, other = demo["cities"]
    login(client, f"official.{own}@test.cn")
    html = client.get("/export/").get_data(as_text=True)
    assert f'value="{own}"' in html and f'value="{other}"' not in html
    assert post_export(client, city=other).status_code == 404
    assert post_export(client, city="").status_code == 404
    ok = post_export(client, city=own)
    assert ok.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(ok.get_data()))
    csv_name = next(n for n in archive.namelist() if n.endswith(".csv"))
    rows = list(csv.DictReader(io.StringIO(archive.read(csv_name).decode("utf-8"))))
    assert rows and {r["city"] for r in rows} == {own}
    assert len(audits(app)) == 1


def test_other_roles_and_anonymous_users_get_no_export(app, client, demo):
    assert client.get("/export/").status_code in (302, 401)
    with app.app_context():
        from survey.accounts.users import create_user
        from survey.core.models import Agency

        session = get_session()
        session.add(Agency(code="ag1", name="Test agency"))
        session.flush()
        create_user(session, email="agency@test.cn", password=PASSWORD, role="agency",
                    agency_code="ag1")
        session.commit()
    login(client, "agency@test.cn")
    assert client.get("/export/").status_code == 404


def test_export_without_csrf_token_is_refused(app, client, demo):
    login(client, "researcher@test.cn")
    response = client.post("/export/", data={"questionnaire": "healthcare"})
    assert response.status_code == 400
    assert audits(app) == []


def test_bad_questionnaire_gives_a_clear_error(app, client, demo):
    login(client, "researcher@test.cn")
    response = post_export(client, questionnaire="nope")
    assert response.status_code == 400
    assert "nope" in response.get_data(as_text=True)


def test_cli_writes_csv_codebooks_and_stata_file_and_audits(app, demo, tmp_path, app_config):
    pyreadstat = pytest.importorskip("pyreadstat")
    env = {**os.environ, "MANYI_DATABASE_URL": str(app_config["DATABASE_URL"]),
           "MANYI_INSTANCE_DIR": str(tmp_path), "MANYI_SECRET_KEY": "x"}
    out = tmp_path / "hz.csv"
    done = subprocess.run(
        [str(ROOT / ".venv/bin/manyi"), "export", "--questionnaire", "healthcare", "--city",
         "hangzhou", "--out", str(out), "--format", "dta", "--no-text"],
        capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    for name in ("hz.csv", "hz.codebook.json", "hz.codebook.md", "hz.dta"):
        assert (tmp_path / name).is_file(), name
    frame, meta = pyreadstat.read_dta(str(tmp_path / "hz.dta"))
    rows = list(csv.DictReader((tmp_path / "hz.csv").open(encoding="utf-8")))
    assert len(frame) == len(rows)
    assert meta.column_names_to_labels["overall"] == "Overall satisfaction index (0–100)"
    assert meta.variable_value_labels["overall_satisfaction"][5.0] == "Very satisfied"
    [entry] = audits(app)
    assert entry.actor == "cli" and entry.detail["rows"] == len(rows)
    assert entry.detail["city"] == "hangzhou" and entry.detail["format"] == "dta"


def test_cli_rejects_bad_input_naming_it(app, demo, tmp_path, app_config):
    env = {**os.environ, "MANYI_DATABASE_URL": str(app_config["DATABASE_URL"]),
           "MANYI_INSTANCE_DIR": str(tmp_path)}
    done = subprocess.run(
        [str(ROOT / ".venv/bin/manyi"), "export", "--questionnaire", "healthcare", "--city",
         "atlantis", "--out", str(tmp_path / "x.csv")],
        capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode != 0 and "city" in done.stderr and "atlantis" in done.stderr
    assert not (tmp_path / "x.csv").exists()


def test_researcher_downloads_the_public_use_file_from_the_form(app, client, demo):
    login(client, "researcher@test.cn")
    html = client.get("/export/").get_data(as_text=True)
    assert 'name="design" value="replicates"' in html and 'name="replicate_method"' in html
    assert "公开使用版：以重复权重代替分层和初级抽样单元编码" in html  # zh-Hans by default
    response = post_export(client, design="replicates", replicate_method="bootstrap",
                           replicates="25")
    body = response.get_data()
    assert response.status_code == 200, body[body.find(b'role="alert"'):][:300].decode()
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    base = "manyi-healthcare-all-all-public"
    rows = list(csv.DictReader(io.StringIO(archive.read(f"{base}.csv").decode("utf-8"))))
    book = json.loads(archive.read(f"{base}.codebook.json"))
    assert rows and "stratum" not in rows[0] and "psu" not in rows[0]
    assert [c for c in rows[0] if c.startswith("rw_")] == [f"rw_{r}" for r in range(1, 26)]
    assert book["design"]["method"] == "bootstrap" and book["design"]["replicates"] == 25
    [entry] = audits(app)
    assert entry.detail["design"] == "replicates"
    assert entry.detail["replicate_method"] == "bootstrap" and entry.detail["replicates"] == 25


@pytest.mark.parametrize(("form", "field"), [
    ({"design": "replicates", "replicate_method": "bootstrap", "replicates": "many"},
     "replicates"),
    ({"design": "replicates", "replicate_method": "bootstrap", "replicates": "5000"},
     "replicates"),
    ({"design": "replicates", "replicate_method": "halfsample"}, "replicate_method"),
    ({"design": "nope"}, "design"),
])
def test_bad_public_use_form_values_name_the_field(app, client, demo, form, field):
    login(client, "researcher@test.cn")
    response = post_export(client, city="hangzhou", **form)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert f"{field}: " in body and 'role="alert"' in body
    assert audits(app) == []


def test_cli_public_use_flag_and_bad_values(app, demo, tmp_path, app_config):
    env = {**os.environ, "MANYI_DATABASE_URL": str(app_config["DATABASE_URL"]),
           "MANYI_INSTANCE_DIR": str(tmp_path), "MANYI_SECRET_KEY": "x"}
    manyi = [str(ROOT / ".venv/bin/manyi"), "export", "--questionnaire", "healthcare"]
    out = tmp_path / "pub.csv"
    done = subprocess.run(manyi + ["--out", str(out), "--public-use"], capture_output=True,
                          text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "public-use file, JKn replicate weights" in done.stdout
    header = next(csv.reader(out.open(encoding="utf-8")))
    book = json.loads((tmp_path / "pub.codebook.json").read_text(encoding="utf-8"))
    assert "psu" not in header and header.count("rw_1") == 1
    assert sum(c.startswith("rw_") for c in header) == book["design"]["replicates"]
    for args, field in ((["--public-use", "--replicate-method", "bootstrap", "--replicates",
                          "1"], "replicates"),
                        (["--replicates", "30"], "--replicates"),
                        (["--public-use", "--min-variance-unit", "2"], "min_variance_unit")):
        bad = tmp_path / "bad.csv"
        done = subprocess.run(manyi + ["--out", str(bad), *args], capture_output=True,
                              text=True, env=env, cwd=ROOT)
        assert done.returncode != 0 and field in done.stderr, (args, done.stderr)
        assert not bad.exists()
    assert len(audits(app)) == 1
