"""A complainant's phone number exists only in its encrypted column: not in any log line
(every logger at DEBUG), not in any table or column other than complaint.phone_ciphertext,
not in an export's files, not in the output of the complaint commands, not in API answers.
Both backends."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import inspect, select, text

from survey.core.db import engine_of, get_session
from survey.core.models import Complaint, Site, SiteKind
from survey.export.service import ExportRequest, export_files
from tests.helpers import setup_demo

KEY = Fernet.generate_key().decode()
PHONE = "13957246813"
HOTLINE_PHONE = "13800138000"
FRAGMENTS = (PHONE, "9572468", HOTLINE_PHONE, "0013800")


@pytest.fixture
def app_config(app_config: dict[str, object]) -> dict[str, object]:
    return {**app_config, "COMPLAINT_KEY": KEY}


def no_phone(text_: str, where: str) -> None:
    for fragment in FRAGMENTS:
        assert fragment not in text_, f"phone fragment {fragment!r} found in {where}"


def test_the_phone_number_is_only_in_its_encrypted_column(app, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    setup_demo(app, cities=2, responses=120)
    with app.app_context():
        session = get_session()
        site = session.scalars(select(Site).where(Site.kind == SiteKind.scenic_spot.value)
                               ).first() or session.scalars(select(Site)).first()
        assert site is not None
        code = site.code
    client = app.test_client()
    bodies = []
    created = client.post("/api/v1/complaints", json={
        "site": code, "category": "price", "description": "多收了门票钱",
        "occurred_on": (datetime.now(UTC) - timedelta(days=1)).date().isoformat(),
        "contact_phone": PHONE})
    assert created.status_code == 201, created.get_data(as_text=True)
    tracking = created.get_json()["tracking_code"]
    bodies.append(created.get_data(as_text=True))
    bodies.append(client.get(f"/api/v1/complaints/{tracking}").get_data(as_text=True))
    bodies.append(client.get(f"/complaints/track/{tracking}").get_data(as_text=True))
    # a hotline import with a phone number, then the commands a city runs
    hotline = tmp_path / "hotline.csv"
    hotline.write_text(
        "source,external_id,site,category,description,received_at,contact_phone\n"
        f"12301,A-1,{code},staff,导游态度恶劣,2026-11-20T09:00:00+08:00,{HOTLINE_PHONE}\n",
        encoding="utf-8")
    runner = app.test_cli_runner()
    outputs = [runner.invoke(args=["complaints", "import", str(hotline)]),
               runner.invoke(args=["complaints", "sla", "--format", "json"]),
               runner.invoke(args=["complaints", "escalate"])]
    for result in outputs:
        assert result.exit_code == 0, result.output
        no_phone(result.output, "command output")
    for body in bodies:
        no_phone(body, "an HTTP answer")
    # the researcher export (the tourism questionnaire and another) after the complaints
    with app.app_context():
        session = get_session()
        qs = app.extensions["manyi.questionnaires"]
        for qid in list(qs)[:2]:
            try:
                result = export_files(engine_of(app), session, qs, ExportRequest(qid),
                                      tmp_path / f"{qid}.csv", actor="test")
            except Exception as exc:  # a questionnaire without responses cannot be exported
                assert "no" in str(exc).lower(), exc
                continue
            for path in (result.csv_path, result.codebook_json, result.codebook_md):
                no_phone(Path(path).read_text(encoding="utf-8-sig"), str(path.name))
        # every text-like column of every table, except the ciphertext itself
        engine = engine_of(app)
        stored = session.scalars(select(Complaint)).all()
        assert len([c for c in stored if c.phone_ciphertext]) == 2
        assert all(PHONE.encode() not in (c.phone_ciphertext or b"") for c in stored)
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                for column in inspect(conn).get_columns(table):
                    if (table, column["name"]) == ("complaint", "phone_ciphertext"):
                        continue
                    rows = conn.execute(text(f'SELECT "{column["name"]}" FROM "{table}"'))
                    for (value,) in rows:
                        if value is not None:
                            no_phone(str(value), f"{table}.{column['name']}")
    for record in caplog.records:
        no_phone(record.getMessage(), f"log line of {record.name}")
        no_phone(str(record.args), f"log arguments of {record.name}")
