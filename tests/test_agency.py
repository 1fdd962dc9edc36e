"""Agency batches end to end: generated CSV/XLSX files with planted problems are
uploaded (service, web form, API, CLI), screened, decided and counted — real database,
real files in tmp_path, real HTTP client, the CLI as a subprocess."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from sqlalchemy import func, select

from survey.accounts.users import create_user
from survey.agency import acceptance, tokens
from survey.agency.batches import FIELDS, BatchFileError, NotServed, import_batch
from survey.agency.screening import NATIONAL_AGE_SHARES, NATIONAL_GENDER_SHARES
from survey.core.db import get_session
from survey.core.models import (
    Agency,
    AgencyCity,
    AuditLog,
    Batch,
    City,
    District,
    Response,
    Site,
)
from survey.core.questionnaires import Questionnaire
from survey.core.waves import CHINA_TZ, wave_bounds
from survey.dashboard.estimates import Filters, Scope, Settings, kpis_by_split
from survey.demo.data import load_demo
from tests.helpers import Ran, manyi

WAVE = "2026Q3"
NOW = datetime(2026, 10, 5, tzinfo=CHINA_TZ)
PASSWORD = "correct horse battery"
REPO = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------- generator


@dataclass
class Row:
    client_uuid: str
    site: str
    interviewer: str
    started: datetime
    submitted: datetime
    answers: dict[str, Any]
    channel: str = "interview"
    extra: dict[str, str] = field(default_factory=dict)


def clean_rows(q: Questionnaire, sites: Sequence[tuple[str, int]], n: int, seed: int,
               *, interviewers: int = 10, shift: float = 0.0) -> list[Row]:
    """``n`` plausible interviews: sites ∝ their district's population, age and gender
    drawn from the national reference shares, answers around a latent satisfaction
    (``shift`` moves it), each interviewer's interviews one after another in the wave."""
    rng = np.random.default_rng(seed)
    codes = [c for c, _ in sites]
    weights = np.array([w for _, w in sites], dtype=float)
    ages, age_p = list(NATIONAL_AGE_SHARES), np.array(list(NATIONAL_AGE_SHARES.values()))
    genders = list(NATIONAL_GENDER_SHARES)
    gender_p = np.array(list(NATIONAL_GENDER_SHARES.values()))
    start, _end = wave_bounds(WAVE)
    clock = {f"I{k:02d}": start + timedelta(days=2 + k, hours=9) for k in range(interviewers)}
    rows = []
    for i in range(n):
        who = f"I{i % interviewers:02d}"
        began = clock[who]
        duration = timedelta(seconds=float(rng.lognormal(np.log(600), 0.25)))
        clock[who] = began + duration + timedelta(minutes=20)
        if clock[who].hour >= 18:
            clock[who] = clock[who].replace(hour=9) + timedelta(days=1)
        latent = shift + rng.normal(0, 0.8)
        answers: dict[str, Any] = {}
        for item in q.items:
            if not q.is_visible(item, answers):
                continue
            if item.type in ("scale", "nps"):
                scale = q.scale_for(item)
                assert scale is not None
                if scale.na and rng.random() < 0.03:
                    answers[item.id] = "na"
                    continue
                mid = (scale.min + scale.max) / 2
                span = scale.max - scale.min
                x = mid + span * (0.25 * latent + 0.22 * rng.normal())
                answers[item.id] = int(min(max(round(x), scale.min), scale.max))
            elif item.id == "age_band":
                answers[item.id] = ages[rng.choice(len(ages), p=age_p)]
            elif item.id == "gender":
                answers[item.id] = genders[rng.choice(2, p=gender_p)]
            elif item.type == "single":
                opts = [o.value for o in item.options or []]
                answers[item.id] = opts[rng.integers(len(opts))]
            elif item.type == "multi":
                opts = [o.value for o in item.options or []]
                answers[item.id] = [opts[rng.integers(len(opts))]]
        rows.append(Row(str(uuid.UUID(bytes=rng.bytes(16), version=4)),
                        codes[rng.choice(len(codes), p=weights / weights.sum())], who,
                        began, began + duration, answers))
    return rows


def item_columns(q: Questionnaire) -> list[str]:
    return [("item:" + i.id) if i.id in FIELDS else i.id for i in q.items
            if i.type != "text"]


def to_table(q: Questionnaire, rows: Sequence[Row]) -> list[list[str]]:
    items = item_columns(q)
    table = [list(FIELDS) + items]
    for r in rows:
        cells = [r.client_uuid, q.id, str(q.version), r.site, r.interviewer, r.channel,
                 r.started.isoformat(), r.submitted.isoformat()]
        for col in items:
            v = r.answers.get(col.removeprefix("item:"))
            cells.append("" if v is None else ";".join(v) if isinstance(v, list) else str(v))
        for k, v in r.extra.items():
            cells[table[0].index(k)] = v
        table.append(cells)
    return table


def write_csv(path: Path, table: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        csv.writer(fh).writerows(table)
    return path


def write_xlsx(path: Path, table: list[list[str]]) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in table:
        sheet.append(row)
    book.save(path)
    return path


# --------------------------------------------------------------------------- fixtures


@dataclass
class World:
    app: Flask
    q: Questionnaire
    sites: list[tuple[str, int]]
    city: str
    other_city: str
    token: str = ""
    """An API token of agency ACME (``Authorization: Bearer``)."""


@pytest.fixture
def world(app: Flask) -> World:
    """Two demo cities (a few web responses), agency ACME serving the first."""
    with app.app_context():
        session = get_session()
        qs = app.extensions["manyi.questionnaires"]
        load_demo(session, qs, cities=2, responses=300, seed=3, end_wave=WAVE)
        city = session.scalar(select(City).order_by(City.id))
        other = session.scalar(select(City).order_by(City.id.desc()))
        agency = Agency(code="ACME", name="Acme Survey Co.", accreditation_no="CMA-1",
                        contact="qa@acme.example")
        session.add(agency)
        session.flush()
        session.add(AgencyCity(agency_id=agency.id, city_id=city.id))
        create_user(session, email="admin@x.test", password=PASSWORD, role="admin")
        create_user(session, email="agent@acme.test", password=PASSWORD, role="agency",
                    agency_code="ACME")
        _row, token = tokens.create(session, agency, actor="test", label="tests")
        session.commit()
        sites = [(s.code, pop / n) for s, pop, n in _community_sites(session, city.id)]
        return World(app, qs["community"], sites, city.code, other.code, token)


def _community_sites(session, city_id: int) -> Iterator[tuple[Site, int, int]]:  # type: ignore[no-untyped-def]
    rows = list(session.execute(select(Site, District.population).join(District)
                                .where(Site.city_id == city_id,
                                       Site.kind == "community_centre")))
    per_district: dict[int, int] = {}
    for s, _ in rows:
        per_district[s.district_id] = per_district.get(s.district_id, 0) + 1
    for s, pop in rows:
        yield s, pop, per_district[s.district_id]


def upload(world: World, path: Path, **kw: Any) -> Batch:
    with world.app.app_context():
        session = get_session()
        agency = session.scalar(select(Agency).where(Agency.code == "ACME"))
        result = import_batch(session, world.app.extensions["manyi.questionnaires"],
                              agency=agency, filename=path.name, data=path.read_bytes(),
                              now=NOW, actor="test", **kw)
        return result.batch


def report_of(world: World, batch_id: int) -> dict[str, Any]:
    with world.app.app_context():
        session = get_session()
        return acceptance.report(session, session.get_one(Batch, batch_id))


def check(rep: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in rep["checks"] if c["name"] == name)


# --------------------------------------------------------------------------- import + screening


def test_a_clean_batch_is_stored_pending_and_accepted(world, tmp_path):
    rows = clean_rows(world.q, world.sites, 300, seed=1)
    batch = upload(world, write_csv(tmp_path / "clean.csv", to_table(world.q, rows)))
    rep = report_of(world, batch.id)
    assert rep["batch"]["n_rows"] == 300 and rep["batch"]["n_valid"] == 300
    assert rep["batch"]["n_invalid"] == 0 and rep["row_errors"] == []
    assert rep["batch"]["statuses"] == {"pending": 300}
    assert [c["name"] for c in rep["checks"]] == [
        "duplicates", "speeders", "straightlining", "interviewer_effect", "timestamps",
        "composition", "item_nonresponse"]
    failed = [(c["name"], c["figure"], c["detail"]) for c in rep["checks"] if not c["passed"]]
    assert failed == []
    assert rep["decision"]["auto"] == "accepted" and rep["decision"]["final"] is None
    assert rep["batch"]["wave"] == WAVE


def test_planted_duplicates_are_caught_with_their_share(world, tmp_path):
    rows = clean_rows(world.q, world.sites, 300, seed=2)
    rng = np.random.default_rng(5)
    scale_ids = [i.id for i in world.q.items if i.type == "scale"]
    for k in range(15):                        # exact copies of rows 1..15 into 101..115
        rows[100 + k].answers = dict(rows[k].answers)
    # near copies: one answer changed among ≥ 20 answered (≥ 95 % identical)
    sources = [k for k in range(20, 100) if sum(
        1 for i, v in rows[k].answers.items()
        if v != "na" and world.q.item(i).type in ("scale", "single")) >= 20][:6]
    for k, src in enumerate(sources):
        copy = dict(rows[src].answers)
        item = next(i for i in rng.permutation(scale_ids) if isinstance(copy.get(i), int))
        copy[item] = 1 if copy[item] != 1 else 2
        rows[200 + k].answers = copy
    batch = upload(world, write_csv(tmp_path / "dups.csv", to_table(world.q, rows)))
    rep = report_of(world, batch.id)
    dup = check(rep, "duplicates")
    assert dup["detail"]["exact"] == 15 and dup["detail"]["near"] == 6
    assert dup["figure"] == pytest.approx(21 / 300)
    assert dup["flagged_rows"] == list(range(101, 116)) + list(range(201, 207))
    assert not dup["passed"] and dup["threshold"] == 0.0
    assert rep["decision"]["auto"] == "rejected"
    assert any(r["rule"] == "duplicates_over_limit" for r in rep["decision"]["reasons"])


def test_planted_speeders_are_caught_below_a_third_of_the_median(world, tmp_path):
    rows = clean_rows(world.q, world.sites, 300, seed=3)
    for k in range(0, 300, 12):                # 25 interviews of 90 seconds
        rows[k].submitted = rows[k].started + timedelta(seconds=90)
    batch = upload(world, write_csv(tmp_path / "fast.csv", to_table(world.q, rows)))
    rep = report_of(world, batch.id)
    sp = check(rep, "speeders")
    durations = np.array([(r.submitted - r.started).total_seconds() for r in rows])
    assert sp["detail"]["median_seconds"] == pytest.approx(np.median(durations))
    assert sp["detail"]["min_seconds"] == pytest.approx(np.median(durations) / 3)
    assert sp["flagged_rows"] == list(range(1, 301, 12))
    assert sp["figure"] == pytest.approx(25 / 300) and not sp["passed"]
    assert rep["decision"]["auto"] == "conditional"


def test_planted_straightliners_are_caught(world, tmp_path):
    rows = clean_rows(world.q, world.sites, 300, seed=4)
    planted = list(range(5, 300, 9))           # 33 rows answering 4 to every scale item
    for k in planted:
        rows[k].answers = {i: (4 if world.q.item(i).type == "scale" else v)
                           for i, v in rows[k].answers.items()}
    batch = upload(world, write_csv(tmp_path / "flat.csv", to_table(world.q, rows)))
    rep = report_of(world, batch.id)
    sl = check(rep, "straightlining")
    assert sl["flagged_rows"] == [k + 1 for k in planted]
    assert sl["figure"] == pytest.approx(33 / 300) and not sl["passed"]
    assert check(rep, "duplicates")["flagged_rows"] == []   # counted once, here
    assert rep["decision"]["auto"] == "conditional"


def test_a_fabricating_interviewer_is_singled_out_and_the_batch_rejected(world, tmp_path):
    rows = clean_rows(world.q, world.sites, 300, seed=6, interviewers=10)
    rng = np.random.default_rng(9)
    template = dict(rows[0].answers)
    scale_ids = [i for i, v in template.items() if isinstance(v, int)]
    fake = [k for k in range(300) if rows[k].interviewer == "I07"]
    for k in fake:                              # one template, one answer nudged by 1
        copy = dict(template)
        item = scale_ids[rng.integers(len(scale_ids))]
        copy[item] = copy[item] + 1 if copy[item] < 5 else copy[item] - 1
        rows[k].answers = copy
    batch = upload(world, write_csv(tmp_path / "fake.csv", to_table(world.q, rows)))
    rep = report_of(world, batch.id)
    iv = check(rep, "interviewer_effect")
    outliers = iv["detail"]["outliers"]
    assert [o["interviewer"] for o in outliers] == ["I07"]
    assert "uniform" in outliers[0]["reasons"] and "problems" in outliers[0]["reasons"]
    assert iv["flagged_rows"] == [k + 1 for k in fake]
    # the figure is the one-way ANOVA ICC(1) of the overall score by interviewer
    with world.app.app_context():
        session = get_session()
        got = session.execute(select(Response.interviewer, Response.overall_score)
                              .where(Response.batch_id == batch.id)).all()
    assert iv["figure"] == pytest.approx(_icc([s for _, s in got], [w for w, _ in got]),
                                         abs=1e-6)
    assert rep["decision"]["auto"] == "rejected"
    assert any(r["rule"] == "outlier_interviewer" for r in rep["decision"]["reasons"])


def _icc(scores: Sequence[float], labels: Sequence[str]) -> float:
    """ICC(1) written out independently: ANOVA mean squares by loops."""
    groups: dict[str, list[float]] = {}
    for s, g in zip(scores, labels, strict=True):
        groups.setdefault(g, []).append(s)
    n, k = len(scores), len(groups)
    grand = sum(scores) / n
    msb = sum(len(v) * (sum(v) / len(v) - grand) ** 2 for v in groups.values()) / (k - 1)
    msw = sum((x - sum(v) / len(v)) ** 2 for v in groups.values() for x in v) / (n - k)
    n0 = (n - sum(len(v) ** 2 for v in groups.values()) / n) / (k - 1)
    return max(0.0, (msb - msw) / (msb + (n0 - 1) * msw))


def test_rows_outside_the_wave_are_caught(world, tmp_path):
    rows = clean_rows(world.q, world.sites, 300, seed=7)
    moved = [10, 50, 90, 130, 170, 210, 250, 290]
    for k in moved:                              # a month before the wave began
        rows[k].started -= timedelta(days=40)
        rows[k].submitted -= timedelta(days=40)
    batch = upload(world, write_csv(tmp_path / "late.csv", to_table(world.q, rows)))
    rep = report_of(world, batch.id)
    ts = check(rep, "timestamps")
    assert ts["detail"]["outside_wave_rows"] == [k + 1 for k in moved]
    assert ts["flagged_rows"] == [k + 1 for k in moved]
    assert ts["figure"] == pytest.approx(8 / 300) and not ts["passed"]
    assert rep["batch"]["wave"] == WAVE
    assert rep["decision"]["auto"] == "conditional"


def test_a_malformed_row_is_reported_and_not_stored(world, tmp_path):
    rows = clean_rows(world.q, world.sites, 40, seed=8)
    table = to_table(world.q, rows)
    header = table[0]
    table[7][header.index("age_band")] = "banana"          # data row 7
    table[12][header.index("submitted_at")] = "yesterday"  # data row 12
    batch = upload(world, write_csv(tmp_path / "bad.csv", table))
    rep = report_of(world, batch.id)
    assert rep["batch"]["n_rows"] == 40 and rep["batch"]["n_valid"] == 38
    assert rep["batch"]["n_invalid"] == 2
    assert [(e["row"], e["column"]) for e in rep["row_errors"]] == [
        (7, "age_band"), (12, "submitted_at")]
    assert "banana" in rep["row_errors"][0]["reason"]
    assert "ISO 8601" in rep["row_errors"][1]["reason"]
    with world.app.app_context():
        session = get_session()
        stored = set(session.scalars(select(Response.client_uuid)
                                     .where(Response.batch_id == batch.id)))
        assert rows[6].client_uuid not in stored and rows[11].client_uuid not in stored
        assert len(stored) == 38
    assert rep["decision"]["auto"] == "conditional"
    assert any(r["rule"] == "invalid_rows" for r in rep["decision"]["reasons"])


def test_reuploading_is_idempotent_and_a_changed_row_is_a_conflict(world, tmp_path):
    rows = clean_rows(world.q, world.sites, 30, seed=10)
    path = write_csv(tmp_path / "a.csv", to_table(world.q, rows))
    first = upload(world, path)
    again = upload(world, path)
    assert again.id == first.id
    rows[3].answers["overall_satisfaction"] = 1 if rows[3].answers[
        "overall_satisfaction"] != 1 else 2
    extra = clean_rows(world.q, world.sites, 35, seed=11)[30:]
    second = upload(world, write_csv(tmp_path / "b.csv", to_table(world.q, rows + extra)))
    assert second.id != first.id
    assert (second.n_rows, second.n_valid, second.n_skipped, second.n_invalid) == (35, 5, 29, 1)
    assert second.row_errors == [{"row": 4, "column": "client_uuid",
                                  "reason": "already stored with different content "
                                            "(conflict)"}]
    with world.app.app_context():
        session = get_session()
        assert session.scalar(select(func.count()).select_from(Response)
                              .where(Response.agency_id.is_not(None))) == 35


def test_xlsx_and_gb18030_files_read_like_utf8(world, tmp_path):
    rows = clean_rows(world.q, world.sites, 20, seed=12)
    table = to_table(world.q, rows)
    x = upload(world, write_xlsx(tmp_path / "b.xlsx", table))
    assert (x.n_valid, x.n_invalid) == (20, 0)
    rows2 = clean_rows(world.q, world.sites, 20, seed=13)
    for r in rows2:
        r.interviewer = "访员张三"
    g = upload(world, write_csv(tmp_path / "g.csv", to_table(world.q, rows2), "gb18030"))
    assert (g.n_valid, g.n_invalid) == (20, 0)
    with world.app.app_context():
        assert get_session().scalar(select(Response.interviewer)
                                    .where(Response.batch_id == g.id).limit(1)) == "访员张三"


def test_file_level_problems_refuse_the_whole_file(world, tmp_path):
    rows = clean_rows(world.q, world.sites, 5, seed=14)
    table = to_table(world.q, rows)
    bad_header = [r[:] for r in table]
    bad_header[0][bad_header[0].index("site")] = "sight"
    with pytest.raises(BatchFileError, match="missing column.*site"):
        upload(world, write_csv(tmp_path / "h.csv", bad_header))
    with pytest.raises(BatchFileError, match="neither .csv nor .xlsx"):
        upload(world, write_csv(tmp_path / "h.pdf", table))
    with pytest.raises(NotServed):
        upload(world, write_csv(tmp_path / "o.csv", table), city_code=world.other_city)
    with world.app.app_context():
        session = get_session()
        assert session.scalar(select(func.count()).select_from(Batch)) == 0


# --------------------------------------------------------------------------- acceptance


def _index(world: World) -> tuple[float | None, int]:
    with world.app.app_context():
        session = get_session()
        city_id = session.scalar(select(City.id).where(City.code == world.city))
        kpis = kpis_by_split(session, Settings("center", 10),
                             Scope(("community",), (WAVE,), city_id), Filters(), [])
        kpi = kpis.get(())
        if kpi is None or kpi.index.estimate is None:
            return None, 0
        return kpi.index.estimate.estimate, kpi.index.n


def _decide(world: World, batch_id: int, decision: str, reason: str = "") -> dict[str, int]:
    with world.app.app_context():
        session = get_session()
        return acceptance.decide(session, session.get_one(Batch, batch_id), decision, reason,
                                 user_id=None, actor="test-admin")


def test_the_dashboard_index_changes_only_after_acceptance(world, tmp_path):
    before, n_before = _index(world)
    rows = clean_rows(world.q, world.sites, 300, seed=15, shift=-1.0)
    batch = upload(world, write_csv(tmp_path / "c.csv", to_table(world.q, rows)))
    assert batch.auto_decision == "accepted"
    assert _index(world) == (before, n_before)
    flagged = report_of(world, batch.id)["decision"]["flagged_rows"]
    counts = _decide(world, batch.id, "accepted")
    assert counts == {"valid": 300 - len(flagged), "flagged": len(flagged), "excluded": 0}
    after, n_after = _index(world)
    assert n_after == n_before + 300 - len(flagged)
    with world.app.app_context():
        session = get_session()
        city_id = session.scalar(select(City.id).where(City.code == world.city))
        scores = list(session.scalars(select(Response.overall_score).where(
            Response.city_id == city_id, Response.questionnaire == "community",
            Response.wave == WAVE, Response.status == "valid")))
    assert after == pytest.approx(float(np.mean(scores)))
    assert after < (before if before is not None else 100) - 1


def test_conditional_acceptance_keeps_flagged_rows_out_and_they_can_be_restored(
        world, tmp_path):
    rows = clean_rows(world.q, world.sites, 300, seed=16)
    for k in range(0, 300, 12):
        rows[k].submitted = rows[k].started + timedelta(seconds=90)
    batch = upload(world, write_csv(tmp_path / "s.csv", to_table(world.q, rows)))
    assert batch.auto_decision == "conditional"
    counts = _decide(world, batch.id, "conditional")
    assert counts == {"valid": 275, "flagged": 25, "excluded": 0}
    with world.app.app_context():
        session = get_session()
        flagged = session.scalar(select(Response).where(Response.client_uuid
                                                        == rows[12].client_uuid))
        assert flagged.status == "flagged" and "speeders" in flagged.status_reason
        acceptance.restore_response(session, flagged, "interview verified by phone call",
                                    user_id=None, actor="test-admin")
        assert session.get_one(Response, flagged.id).status == "valid"
        actions = list(session.scalars(select(AuditLog.action)))
        assert "agency_batch_decided" in actions and "response_restored" in actions


def test_an_override_needs_a_written_reason_and_rejection_excludes_everything(
        world, tmp_path):
    rows = clean_rows(world.q, world.sites, 60, seed=17)
    batch = upload(world, write_csv(tmp_path / "r.csv", to_table(world.q, rows)))
    with pytest.raises(acceptance.DecisionError, match="reason"):
        _decide(world, batch.id, "rejected", "no")
    counts = _decide(world, batch.id, "rejected", "agency failed the on-site audit")
    assert counts["excluded"] == 60
    with world.app.app_context():
        session = get_session()
        b = session.get_one(Batch, batch.id)
        assert (b.final_decision, b.override_reason) == (
            "rejected", "agency failed the on-site audit")
        assert acceptance.status_counts(session, b.id) == {"excluded": 60}
        assert acceptance.restore_batch(session, b, "audit appeal upheld by the city",
                                        user_id=None, actor="t") == 60
        assert acceptance.status_counts(session, b.id) == {"valid": 60}
        card = acceptance.scorecard(session, session.get_one(Agency, b.agency_id))
    assert card["batches"] == 1 and card["decisions"]["rejected"] == 1
    assert card["acceptance_rate"] == 0.0 and card["row_acceptance_rate"] == 1.0
    assert card["by_wave"][0]["wave"] == WAVE


# --------------------------------------------------------------------------- web


def csrf(html: str) -> str:
    m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert m, "no CSRF token"
    return m.group(1)


def login(client, email: str) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/auth/login")
    r = client.post("/auth/login", data={"csrf_token": csrf(page.text), "email": email,
                                         "password": PASSWORD})
    assert r.status_code == 302, r.text[:500]


def test_agency_users_upload_on_the_web_and_admins_decide(world, client, tmp_path):
    rows = clean_rows(world.q, world.sites, 60, seed=18)
    path = write_csv(tmp_path / "web.csv", to_table(world.q, rows))
    login(client, "agent@acme.test")
    page = client.get("/agency/batches")
    assert page.status_code == 200
    r = client.post("/agency/batches", data={
        "csrf_token": csrf(page.text), "city": world.city, "wave": WAVE,
        "file": (io.BytesIO(path.read_bytes()), "web.csv")},
        content_type="multipart/form-data")
    assert r.status_code == 302, r.text[:1000]
    batch_url = r.headers["Location"]
    report = client.get(batch_url)
    assert report.status_code == 200 and "web.csv" in report.text
    assert client.get(batch_url.rstrip("/") + "/report.json").json["batch"]["n_valid"] == 60
    # the agency may not decide
    assert client.post(batch_url.rstrip("/") + "/decision", data={
        "csrf_token": csrf(report.text), "decision": "accepted"}).status_code == 404
    client.post("/auth/logout", data={"csrf_token": csrf(report.text)})
    login(client, "admin@x.test")
    report = client.get(batch_url)
    no_token = client.post(batch_url.rstrip("/") + "/decision", data={"decision": "accepted"})
    assert no_token.status_code == 400
    r = client.post(batch_url.rstrip("/") + "/decision", data={
        "csrf_token": csrf(report.text), "decision": "accepted", "reason": ""})
    assert r.status_code == 302
    batch_id = int(batch_url.rstrip("/").rsplit("/", 1)[1])
    assert report_of(world, batch_id)["decision"]["final"] == "accepted"


def test_an_agency_cannot_see_or_upload_for_a_city_it_does_not_serve(world, client, tmp_path):
    with world.app.app_context():
        session = get_session()
        other = Agency(code="OTHER", name="Other Co.")
        session.add(other)
        session.flush()
        session.add(AgencyCity(agency_id=other.id, city_id=session.scalar(
            select(City.id).where(City.code == world.other_city))))
        session.commit()
    rows = clean_rows(world.q, world.sites, 10, seed=19)
    batch = upload(world, write_csv(tmp_path / "mine.csv", to_table(world.q, rows)))
    login(client, "agent@acme.test")
    page = client.get("/agency/batches")
    r = client.post("/agency/batches", data={
        "csrf_token": csrf(page.text), "city": world.other_city,
        "file": (io.BytesIO(b"x"), "x.csv")}, content_type="multipart/form-data")
    assert r.status_code == 404
    with world.app.app_context():
        session = get_session()
        create_user(session, email="agent@other.test", password=PASSWORD, role="agency",
                    agency_code="OTHER")
        session.commit()
    client.post("/auth/logout", data={"csrf_token": csrf(page.text)})
    login(client, "agent@other.test")
    assert client.get(f"/agency/batches/{batch.id}").status_code == 404
    assert client.get(f"/agency/batches/{batch.id}/report.json").status_code == 404


def test_admins_manage_agencies_in_the_web_ui(world, client):
    login(client, "admin@x.test")
    page = client.get("/agency/admin/agencies/new")
    assert page.status_code == 200
    r = client.post("/agency/admin/agencies/new", data={
        "csrf_token": csrf(page.text), "code": "NEWCO", "name": "New Co.",
        "accreditation_no": "CMA-9", "contact": "a@b.c", "cities": [world.city,
                                                                    world.other_city]})
    assert r.status_code == 302, r.text[:1000]
    listing = client.get("/agency/admin/agencies")
    assert "NEWCO" in listing.text
    with world.app.app_context():
        session = get_session()
        a = session.scalar(select(Agency).where(Agency.code == "NEWCO"))
        assert a.accreditation_no == "CMA-9"
        assert len(session.scalars(select(AgencyCity).where(
            AgencyCity.agency_id == a.id)).all()) == 2
    card = client.get("/agency/scorecard/ACME.json")
    assert card.status_code == 200 and card.json["agency"]["code"] == "ACME"
    assert client.get("/agency/scorecard/ACME").status_code == 200


# --------------------------------------------------------------------------- API


def basic(email: str, password: str = PASSWORD) -> dict[str, str]:
    """HTTP Basic credentials: no API accepts them any more."""
    token = base64.b64encode(f"{email}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_api_takes_batches_with_a_bearer_token(world, client, tmp_path):
    rows = clean_rows(world.q, world.sites, 50, seed=20)
    table = to_table(world.q, rows)
    table[3][table[0].index("version")] = "9"
    data = write_csv(tmp_path / "api.csv", table).read_bytes()

    def post(headers: dict[str, str]):  # type: ignore[no-untyped-def]
        return client.post("/api/v1/agency/batches", headers=headers,
                           data={"file": (io.BytesIO(data), "api.csv"), "wave": WAVE},
                           content_type="multipart/form-data")

    assert post({}).status_code == 401
    # Human passwords are accepted by no API, right or wrong, agency user or admin: the
    # answers are identical, so a password cannot be confirmed here.
    refusals = [post(basic(email, password)) for email, password in [
        ("agent@acme.test", "wrong password!"), ("agent@acme.test", PASSWORD),
        ("admin@x.test", PASSWORD)]]
    assert {(r.status_code, r.get_data()) for r in refusals} == {
        (401, refusals[0].get_data())}
    assert post(bearer(world.token + "x")).status_code == 401
    r = post(bearer(world.token))
    assert r.status_code == 201, r.text[:1000]
    body = r.json
    assert body["batch"]["n_valid"] == 49
    assert body["row_errors"] == [{"row": 3, "column": "version",
                                   "reason": "questionnaire community is at version 1, "
                                             "not 9"}]
    assert {c["name"] for c in body["checks"]} >= {"duplicates", "composition"}
    with world.app.app_context():
        uploaded = get_session().scalars(select(AuditLog).where(
            AuditLog.action == "agency_batch_uploaded")).one()
        assert uploaded.actor == "token:" + world.token[:12]
    again = post(bearer(world.token))
    assert again.status_code == 200 and again.json["batch"]["id"] == body["batch"]["id"]
    got = client.get(f"/api/v1/agency/batches/{body['batch']['id']}",
                     headers=bearer(world.token))
    assert got.status_code == 200 and got.json["decision"]["auto"] == "conditional"
    bad = client.post("/api/v1/agency/batches", headers=bearer(world.token),
                      data={"file": (io.BytesIO(b"just,a,header\n"), "x.csv")},
                      content_type="multipart/form-data")
    assert bad.status_code == 422 and "missing column" in bad.json["error"]


# --------------------------------------------------------------------------- CLI


def _manyi(*args: str, env: dict[str, str]) -> Ran:
    return manyi(*args, env=env)


def test_the_cli_adds_agencies_uploads_and_reports(world, app_config, tmp_path):
    env = {**os.environ, "MANYI_DATABASE_URL": str(app_config["DATABASE_URL"]),
           "MANYI_INSTANCE_DIR": str(tmp_path)}
    r = _manyi("agency", "add", "--code", "CLI", "--name", "CLI Co.", "--city", world.city,
               "--accreditation", "CMA-7", env=env)
    assert r.returncode == 0, r.stderr
    r = _manyi("agency", "add", "--code", "BAD", "--name", "x", "--city", "atlantis", env=env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "atlantis" in r.stderr
    rows = clean_rows(world.q, world.sites, 30, seed=21)
    path = write_csv(tmp_path / "cli.csv", to_table(world.q, rows))
    r = _manyi("agency", "upload", "--agency", "CLI", "--wave", WAVE, str(path), env=env)
    assert r.returncode == 0, r.stderr
    batch_id = int(r.stdout.strip())
    assert "30 stored" in r.stderr
    r = _manyi("agency", "report", str(batch_id), "--format", "json", env=env)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert set(body) >= {"batch", "decision", "checks"}
    assert body["batch"]["id"] == batch_id
    assert [set(c) >= {"name", "figure", "threshold", "flagged_rows"} for c in body["checks"]]
    r = _manyi("agency", "report", "999999", env=env)
    assert r.returncode == 2 and "999999" in r.stderr
    r = _manyi("agency", "upload", "--agency", "CLI", str(tmp_path / "none.csv"), env=env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
