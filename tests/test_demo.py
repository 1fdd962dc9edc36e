"""The demo generator: realistic, deterministic for a seed, idempotent with --if-empty,
and scored by the same code as a real submission."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from survey.core.models import Answer, Response, Score, Site
from survey.core.questionnaires import load_questionnaires
from survey.core.responses.scoring import score_response, validate_answers
from survey.demo.data import load_demo
from tests.helpers import Ran, manyi

REPO = Path(__file__).resolve().parent.parent


def _dump(url: str) -> list[tuple]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT r.client_uuid, s.code, r.wave, r.submitted_at, r.overall_score, "
            "r.age_band, r.gender FROM response r JOIN site s ON s.id = r.site_id "
            "ORDER BY r.client_uuid")).all()
        answers = conn.execute(text(
            "SELECT r.client_uuid, a.item, a.value_num, a.value_text, a.is_na FROM answer a "
            "JOIN response r ON r.id = a.response_id ORDER BY r.client_uuid, a.item")).all()
    engine.dispose()
    return [tuple(r) for r in rows] + [tuple(a) for a in answers]


def _run_demo(url: str, tmp_path: Path, *extra: str) -> Ran:
    env = {**os.environ, "MANYI_DATABASE_URL": url, "MANYI_INSTANCE_DIR": str(tmp_path)}
    assert manyi("db", "upgrade", env=env).returncode == 0
    return manyi("demo", "--cities", "2", "--responses", "400", "--seed", "7",
                 "--end-wave", "2026Q4", *extra, env=env)


def test_demo_is_deterministic_for_a_seed(tmp_path):
    a, b = f"sqlite:///{tmp_path / 'a.sqlite3'}", f"sqlite:///{tmp_path / 'b.sqlite3'}"
    assert _run_demo(a, tmp_path / "ia").returncode == 0
    assert _run_demo(b, tmp_path / "ib").returncode == 0
    dump_a = _dump(a)
    assert len(dump_a) > 400
    assert dump_a == _dump(b)


def test_demo_if_empty_does_nothing_the_second_time(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    first = _run_demo(url, tmp_path, "--if-empty")
    assert first.returncode == 0, first.stderr
    creds = (tmp_path / "demo-credentials.txt").read_text()
    assert "admin@manyi.demo" in creds and "official.hangzhou@manyi.demo" in creds
    assert oct((tmp_path / "demo-credentials.txt").stat().st_mode & 0o777) == "0o600"
    before = _dump(url)
    second = _run_demo(url, tmp_path, "--if-empty")
    assert second.returncode == 0 and "nothing done" in second.stdout
    assert _dump(url) == before
    again = _run_demo(url, tmp_path)
    assert again.returncode != 0 and "already has data" in again.stderr


def test_demo_passwords_are_random(tmp_path):
    _run_demo(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path / "x")
    _run_demo(f"sqlite:///{tmp_path / 'y.sqlite3'}", tmp_path / "y")
    x = (tmp_path / "x" / "demo-credentials.txt").read_text()
    y = (tmp_path / "y" / "demo-credentials.txt").read_text()
    assert x.splitlines()[2:] != y.splitlines()[2:]


def test_demo_data_is_realistic_and_scored_like_a_real_submission(db_url):
    qs = load_questionnaires(REPO / "questionnaires")
    engine = create_engine(db_url)
    with Session(engine) as session:
        load_demo(session, qs, cities=3, responses=1500, seed=3, end_wave="2026Q4")
        kinds = set(session.scalars(select(Site.kind).distinct()))
        assert kinds == {"hospital", "clinic", "elder_care", "community_centre",
                         "scenic_spot", "dealer"}
        waves = dict(session.execute(
            select(Response.wave, func.count()).group_by(Response.wave)).all())
        assert sorted(waves) == ["2026Q1", "2026Q2", "2026Q3", "2026Q4"]
        assert set(session.scalars(select(Response.questionnaire).distinct())) == set(qs)
        assert session.scalar(select(func.count()).select_from(Answer).where(Answer.is_na)) > 0
        assert session.scalar(select(func.count()).select_from(Answer).where(
            Answer.value_text.is_not(None), Answer.item.like("%comment%"))) > 0
        # Districts really differ: the spread of district means is well above zero.
        means = [m for (m,) in session.execute(
            select(func.avg(Response.overall_score)).group_by(Response.district_id))]
        assert max(means) - min(means) > 3
        # Stored scores equal a fresh validation + scoring of the stored answers.
        for response in session.scalars(select(Response).limit(25)):
            q = qs[response.questionnaire]
            raw = {}
            for a in response.answers:
                if a.is_na:
                    raw[a.item] = "na"
                elif a.value_num is not None:
                    raw[a.item] = int(a.value_num)
                elif a.value_text is not None and a.value_text.startswith("["):
                    import json

                    raw[a.item] = json.loads(a.value_text)
                else:
                    raw[a.item] = a.value_text
            result = validate_answers(q, raw)
            assert not result.errors
            expected = score_response(q, result.answers)
            stored = {s.dimension: s.value for s in session.scalars(
                select(Score).where(Score.response_id == response.id))}
            assert stored == pytest.approx({k: v for k, v in expected.items()
                                            if v is not None}, rel=1e-12)
    engine.dispose()


def test_demo_has_an_agency_batch_awaiting_acceptance(tmp_path):
    url = f"sqlite:///{tmp_path / 'agency.sqlite3'}"
    assert _run_demo(url, tmp_path).returncode == 0
    assert "agency@manyi.demo" in (tmp_path / "demo-credentials.txt").read_text()
    engine = create_engine(url)
    with engine.connect() as conn:
        batch = conn.execute(text("SELECT id, n_valid, auto_decision, final_decision "
                                  "FROM batch")).one()
        pending = conn.execute(text("SELECT count(*) FROM response WHERE status = 'pending' "
                                    "AND batch_id = :b"), {"b": batch.id}).scalar()
    engine.dispose()
    assert batch.n_valid == pending == 160
    # The planted straight-lining interviewer is caught; an admin has not decided yet.
    assert batch.auto_decision == "rejected" and batch.final_decision is None
