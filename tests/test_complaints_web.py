"""Tourist complaints on the web and over the API (survey/complaints/views.py, api.py;
docs/complaints.md): the tourist's form (no JavaScript), receipt and tracking page, the
city's queue and workflow, city scoping (another city is a 404 everywhere), the phone
number (masked, "show" audited, in no other answer), bad input naming the field, and the
API's rate limit."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from survey import create_app
from survey.complaints import service
from survey.core.db import get_session
from survey.core.models import AuditLog, City, Complaint, Site, SiteKind
from tests.helpers import csrf_token, login, setup_demo

PHONE = "139 5724 6813"
PHONE_DIGITS = "13957246813"
MASKED = "139****6813"
KEY = Fernet.generate_key().decode()


@pytest.fixture
def app_config(app_config: dict[str, object]) -> dict[str, object]:
    return {**app_config, "COMPLAINT_KEY": KEY}


class Recorder:
    """A test client that keeps every answer's body, to check that the phone number is in
    none of them."""

    def __init__(self, app: Any, bodies: list[str]) -> None:
        self.client = app.test_client()
        self.bodies = bodies

    def get(self, *args: Any, **kwargs: Any) -> Any:
        response = self.client.get(*args, **kwargs)
        self.bodies.append(response.get_data(as_text=True))
        return response

    def post(self, *args: Any, **kwargs: Any) -> Any:
        response = self.client.post(*args, **kwargs)
        self.bodies.append(response.get_data(as_text=True))
        return response

    def token(self, path: str) -> str:
        return csrf_token(self.client, path)


@pytest.fixture
def world(app):  # type: ignore[no-untyped-def]
    demo = setup_demo(app, cities=2, responses=100)
    with app.app_context():
        session = get_session()
        cities = list(session.scalars(select(City).order_by(City.id)))
        spots = {c.code: session.scalars(select(Site.code).where(
            Site.city_id == c.id, Site.kind == SiteKind.scenic_spot).order_by(Site.code)).all()
            for c in cities}
        other_site = session.scalar(select(Site.code).where(
            Site.kind != SiteKind.scenic_spot).limit(1))
    first, second = demo["cities"]
    bodies: list[str] = []
    clients = {"tourist": Recorder(app, bodies), "admin": Recorder(app, bodies)}
    for code in (first, second):
        clients[code] = Recorder(app, bodies)
        login(clients[code].client, f"official.{code}@test.cn")
    login(clients["admin"].client, "admin@test.cn")
    return {"cities": (first, second), "spots": spots, "other_site": other_site,
            "clients": clients, "bodies": bodies, "app": app}


def complaint_of(app: Any, code: str) -> Complaint:
    with app.app_context():
        found = get_session().scalar(select(Complaint).where(Complaint.tracking_code == code))
        assert found is not None
        get_session().expunge(found)
        return found


def count_complaints(app: Any) -> int:
    with app.app_context():
        return len(get_session().scalars(select(Complaint.id)).all())


def audits(app: Any, action: str) -> list[AuditLog]:
    with app.app_context():
        return list(get_session().scalars(select(AuditLog).where(AuditLog.action.like(action))
                                          .order_by(AuditLog.id)))


def yesterday() -> str:
    return (datetime.now(UTC) - timedelta(days=1)).date().isoformat()


def web_form(client: Recorder, site: str, **changes: str) -> dict[str, str]:
    form = {"csrf_token": client.token(f"/complaints/new?site={site}"), "category": "price",
            "description": "门票价格与公示不符，多收了20元。", "occurred_on": yesterday(),
            "contact_phone": PHONE, "consent": "y"}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def step(client: Recorder, cid: int, action: str, **data: str) -> Any:
    token = client.token(f"/complaints/case/{cid}")
    return client.post(f"/complaints/case/{cid}/{action}", data={"csrf_token": token, **data})


def tracking_code_in(html: str) -> str:
    m = re.search(r'href="/complaints/track/([A-Z0-9]+)"', html)
    assert m, "no tracking link"
    return m.group(1)


def no_phone_anywhere(bodies: list[str]) -> None:
    assert bodies
    for body in bodies:
        assert PHONE_DIGITS not in body and "9572468" not in body and PHONE not in body


# --------------------------------------------------------------------------- tourist


def test_web_complaint_walks_every_stage_to_a_rating(world):
    app, (city, _other) = world["app"], world["cities"]
    site = world["spots"][city][0]
    tourist, official = world["clients"]["tourist"], world["clients"][city]

    page = tourist.get(f"/complaints/new?site={site}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'lang="zh-Hans"' in html and "投诉" in html
    assert "<script" not in html and 'name="csrf_token"' in html
    assert 'type="date"' in html and 'type="tel"' in html
    for code in ("contract", "injury_loss", "force_majeure", "price", "other"):
        assert f'value="{code}"' in html

    sent = tourist.post(f"/complaints/new?site={site}", data=web_form(tourist, site))
    assert sent.status_code == 302 and "/complaints/receipt/" in sent.headers["Location"]
    receipt = tourist.get(sent.headers["Location"])
    assert receipt.status_code == 200
    assert receipt.headers["Cache-Control"] == "no-store"
    code = tracking_code_in(receipt.get_data(as_text=True))
    assert code in receipt.get_data(as_text=True)

    case = complaint_of(app, code)
    assert (case.channel, case.category, case.status) == ("web", "price", "received")
    assert case.phone_ciphertext is not None and PHONE_DIGITS.encode() not in case.phone_ciphertext

    track = tourist.get(f"/complaints/track/{code}")
    assert track.status_code == 200 and track.headers["Cache-Control"] == "no-store"
    text = track.get_data(as_text=True)
    assert "已受理" not in text and "已收到" in text and "<script" not in text
    assert 'name="rating"' not in text  # no rating before closure

    queue = official.get("/complaints")
    assert queue.status_code == 200 and code in queue.get_data(as_text=True)
    detail = official.get(f"/complaints/case/{case.id}")
    assert detail.status_code == 200 and MASKED in detail.get_data(as_text=True)
    assert detail.headers["Cache-Control"] == "no-store"

    for action, data, status in (
            ("accept", {"note": "已转景区核实"}, "accepted"),
            ("reply", {"note": "景区承认收费有误"}, "replied"),
            ("mediation", {"note": "双方同意退还20元"}, "mediated"),
            ("close", {"note": "已退款"}, "closed")):
        answer = step(official, case.id, action, **data)
        assert answer.status_code == 302, (action, answer.get_data(as_text=True)[:500])
        assert complaint_of(app, code).status == status
        assert data["note"] in tourist.get(f"/complaints/track/{code}").get_data(as_text=True)

    closed = tourist.get(f"/complaints/track/{code}").get_data(as_text=True)
    assert 'name="rating"' in closed and "已办结" in closed
    token = tourist.token(f"/complaints/track/{code}")
    rated = tourist.post(f"/complaints/track/{code}/rate",
                         data={"csrf_token": token, "rating": "4"})
    assert rated.status_code == 302
    assert complaint_of(app, code).rating == 4
    after = tourist.get(f"/complaints/track/{code}").get_data(as_text=True)
    assert 'name="rating"' not in after and "4" in after
    again = tourist.post(f"/complaints/track/{code}/rate",
                         data={"csrf_token": token, "rating": "1"})
    assert again.status_code == 422 and "已评价" in again.get_data(as_text=True)
    assert complaint_of(app, code).rating == 4

    trail = [a.action for a in audits(app, "complaint_%")
             if a.detail.get("complaint") == case.id]
    assert trail == ["complaint_created", "complaint_accepted", "complaint_replied",
                     "complaint_mediated", "complaint_closed", "complaint_rated"]
    assert [a.actor for a in audits(app, "complaint_accepted")
            if a.detail.get("complaint") == case.id] == [f"official.{city}@test.cn"]
    no_phone_anywhere(world["bodies"])


def test_api_complaint_is_transferred_and_walks_every_stage(world):
    app, (first, second) = world["app"], world["cities"]
    api = world["clients"]["tourist"]
    site = world["spots"][first][1]
    old, new, admin = (world["clients"][first], world["clients"][second],
                       world["clients"]["admin"])

    created = api.post("/api/v1/complaints", json={
        "site": site, "category": "safety", "description": "Broken railing on the bridge.",
        "occurred_on": yesterday(), "contact_phone": PHONE})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert set(body) == {"tracking_code", "status"} and body["status"] == "received"
    code = body["tracking_code"]
    case = complaint_of(app, code)
    assert case.channel == "api"

    read = api.get(f"/api/v1/complaints/{code}")
    assert read.status_code == 200 and read.headers["Cache-Control"] == "no-store"
    data = read.get_json()
    assert {"tracking_code", "status", "category", "site", "received_at", "deadlines",
            "history"} <= set(data)
    assert (data["tracking_code"], data["status"], data["category"], data["site"]) == (
        code, "received", "safety", site)
    assert list(data["deadlines"]) == ["accept"]
    assert data["deadlines"]["accept"]["met"] is None
    assert [h["status"] for h in data["history"]] == ["received"]
    assert not any("phone" in key for key in data)

    # transfer: the old city loses it, the new city gets it
    with app.app_context():
        second_name = get_session().scalar(select(City.name_zh).where(City.code == second))
    assert old.get(f"/complaints/case/{case.id}").status_code == 200
    assert new.get(f"/complaints/case/{case.id}").status_code == 404
    moved = step(old, case.id, "transfer", to_city=second, note="属于邻市管辖")
    assert moved.status_code == 302 and moved.headers["Location"].endswith("/complaints")
    assert old.get(f"/complaints/case/{case.id}").status_code == 404
    assert code not in old.get("/complaints").get_data(as_text=True)
    assert new.get(f"/complaints/case/{case.id}").status_code == 200
    assert code in new.get("/complaints").get_data(as_text=True)
    assert second_name in new.get(f"/complaints/case/{case.id}").get_data(as_text=True)
    assert code in admin.get("/complaints").get_data(as_text=True)
    assert step(old, case.id, "accept").status_code == 404

    for action, data_, status in (
            ("accept", {"note": ""}, "accepted"),
            ("reply", {"note": "Railing repaired."}, "replied"),
            ("mediation", {"note": "Apology accepted."}, "mediated"),
            ("close", {"note": "Repaired and apologised."}, "closed")):
        answer = step(new, case.id, action, **data_)
        assert answer.status_code == 302, (action, answer.get_data(as_text=True)[:500])
        assert complaint_of(app, code).status == status

    data = api.get(f"/api/v1/complaints/{code}").get_json()
    assert data["status"] == "closed"
    assert [h["status"] for h in data["history"]] == [
        "received", "transferred", "accepted", "replied", "mediated", "closed"]
    assert data["history"][1]["note"] == "属于邻市管辖"
    assert set(data["deadlines"]) == {"accept", "reply", "mediation"}
    assert all(d["met"] is True for d in data["deadlines"].values())

    token = api.token(f"/complaints/track/{code}")
    rated = api.post(f"/complaints/track/{code}/rate", data={"csrf_token": token, "rating": "5"})
    assert rated.status_code == 302 and complaint_of(app, code).rating == 5
    assert api.get(f"/api/v1/complaints/{code}").get_json()["rating"] == 5
    [moved_audit] = [a for a in audits(app, "complaint_transferred")
                     if a.detail.get("complaint") == case.id]
    assert moved_audit.actor == f"official.{first}@test.cn"
    no_phone_anywhere(world["bodies"])


# --------------------------------------------------------------------------- city scope


def test_another_citys_official_gets_404_on_every_complaint_url(world):
    app, (first, second) = world["app"], world["cities"]
    site = world["spots"][first][0]
    tourist, own, stranger = (world["clients"]["tourist"], world["clients"][first],
                              world["clients"][second])
    sent = tourist.post(f"/complaints/new?site={site}", data=web_form(tourist, site))
    code = sent.headers["Location"].rsplit("/", 1)[1]
    case = complaint_of(app, code)

    assert code not in stranger.get("/complaints").get_data(as_text=True)
    assert stranger.get(f"/complaints?site={site}").status_code == 400  # not one of theirs
    assert stranger.get(f"/complaints/case/{case.id}").status_code == 404
    token = stranger.token("/complaints")
    for action, data in (("accept", {}), ("reject", {"note": "x"}),
                         ("transfer", {"to_city": second}), ("reply", {"note": "x"}),
                         ("mediation", {"note": "x"}), ("close", {"note": "x"}),
                         ("phone", {})):
        answer = stranger.post(f"/complaints/case/{case.id}/{action}",
                               data={"csrf_token": token, **data})
        assert answer.status_code == 404, action
    assert stranger.post("/complaints/case/999999/accept",
                         data={"csrf_token": token}).status_code == 404
    assert stranger.get("/complaints/escalations").status_code == 404  # admins only
    assert complaint_of(app, code).status == "received"
    assert complaint_of(app, code).city_id == case.city_id
    assert audits(app, "complaint_phone_revealed") == []
    # the own city still sees it; the tourist side needs no login; logged out → login
    assert own.get(f"/complaints/case/{case.id}").status_code == 200
    anonymous = app.test_client()
    assert anonymous.get("/complaints").status_code in (302, 401)
    assert anonymous.get(f"/complaints/case/{case.id}").status_code in (302, 401)
    login(researcher := app.test_client(), "researcher@test.cn")
    assert researcher.get(f"/complaints/case/{case.id}").status_code == 404
    assert researcher.get("/complaints").status_code == 404
    no_phone_anywhere(world["bodies"])


def test_phone_is_masked_and_show_is_audited(world):
    app, (city, _second) = world["app"], world["cities"]
    site = world["spots"][city][0]
    tourist, official = world["clients"]["tourist"], world["clients"][city]
    sent = tourist.post(f"/complaints/new?site={site}", data=web_form(tourist, site))
    case = complaint_of(app, sent.headers["Location"].rsplit("/", 1)[1])
    page = official.get(f"/complaints/case/{case.id}").get_data(as_text=True)
    assert MASKED in page and "/phone" in page
    assert audits(app, "complaint_phone_revealed") == []

    token = official.token(f"/complaints/case/{case.id}")
    shown = official.client.post(f"/complaints/case/{case.id}/phone",
                                 data={"csrf_token": token})
    assert shown.status_code == 200 and PHONE_DIGITS in shown.get_data(as_text=True)
    assert shown.headers["Cache-Control"] == "no-store"
    [entry] = audits(app, "complaint_phone_revealed")
    assert entry.actor == f"official.{city}@test.cn" and entry.detail["complaint"] == case.id
    assert PHONE_DIGITS not in str(entry.detail)
    # without the CSRF token: refused, not audited
    refused = official.client.post(f"/complaints/case/{case.id}/phone")
    assert refused.status_code == 400 and PHONE_DIGITS not in refused.get_data(as_text=True)
    assert len(audits(app, "complaint_phone_revealed")) == 1
    # a case without a phone number
    no_phone = tourist.post(f"/complaints/new?site={site}",
                            data=web_form(tourist, site, contact_phone=""))
    bare = complaint_of(app, no_phone.headers["Location"].rsplit("/", 1)[1])
    assert bare.phone_ciphertext is None
    assert "未提供" in official.get(f"/complaints/case/{bare.id}").get_data(as_text=True)
    no_phone_anywhere(world["bodies"])


# --------------------------------------------------------------------------- bad input


def test_bad_web_form_shows_an_error_next_to_each_field(world):
    app, (city, _second) = world["app"], world["cities"]
    site = world["spots"][city][0]
    tourist = world["clients"]["tourist"]
    before = count_complaints(app)
    future = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    answer = tourist.post(f"/complaints/new?site={site}", data=web_form(
        tourist, site, category="nonsense", description="  ", occurred_on=future,
        contact_phone="12345", consent=None))
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    for field in ("category", "description", "occurred_on", "contact_phone", "consent"):
        assert f'id="e-{field}"' in html, field
    assert "12345" in html  # the tourist's input is kept
    bad_date = tourist.post(f"/complaints/new?site={site}",
                            data=web_form(tourist, site, occurred_on="2026-02-30"))
    assert bad_date.status_code == 422
    assert re.search(r'id="e-occurred_on">[^<]*日期', bad_date.get_data(as_text=True))
    assert tourist.post(f"/complaints/new?site={site}",
                        data=web_form(tourist, site, csrf_token="x")).status_code == 400
    assert count_complaints(app) == before
    en = tourist.get(f"/complaints/new?site={site}&lang=en").get_data(as_text=True)
    assert "What happened?" in en


def test_unknown_site_or_code_is_a_bilingual_404(world):
    for path in ("/complaints/new?site=NOPE", "/complaints/new",
                 "/complaints/track/ABCDEFGHJKMN", "/complaints/track/x",
                 "/complaints/receipt/ABCDEFGHJKMN", "/complaints/track/ABCDEFGHJKMN?lang=en"):
        answer = world["clients"]["tourist"].get(path)
        html = answer.get_data(as_text=True)
        assert answer.status_code == 404, path
        assert "This site or tracking code does not exist." in html, path
        assert "该景区或投诉查询码不存在。" in html, path


def test_web_form_for_a_site_that_is_not_a_scenic_spot(world):
    """Any active site takes complaints (the site's city owns them); an inactive one is a
    404 like an unknown one."""
    tourist = world["clients"]["tourist"]
    assert tourist.get(f"/complaints/new?site={world['other_site']}").status_code == 200


def test_bad_api_input_names_every_field(world):
    api = world["clients"]["tourist"]
    before = count_complaints(world["app"])
    answer = api.post("/api/v1/complaints", json={
        "site": "NOPE", "category": "nonsense", "description": "", "occurred_on": "2026-13-01",
        "contact_phone": "12345", "channel": "hotline", "extra": 1})
    assert answer.status_code == 422
    errors = answer.get_json()["errors"]
    assert answer.get_json()["error"] == "invalid"
    assert set(errors) == {"site", "category", "description", "occurred_on",
                           "contact_phone", "channel", "extra"}
    assert "NOPE" in errors["site"] and "nonsense" in errors["category"]
    missing = api.post("/api/v1/complaints", json={}).get_json()["errors"]
    assert set(missing) == {"site", "category", "description", "occurred_on"}
    typed = api.post("/api/v1/complaints", json={
        "site": 1, "category": ["price"], "description": {}, "occurred_on": 20260101,
        "contact_phone": 13957246813}).get_json()["errors"]
    assert set(typed) == {"site", "category", "description", "occurred_on", "contact_phone"}
    assert all("must be a string" in v for v in typed.values())
    future = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    assert "future" in api.post("/api/v1/complaints", json={
        "site": world["spots"][world["cities"][0]][0], "category": "price",
        "description": "x", "occurred_on": future}).get_json()["errors"]["occurred_on"]
    not_json = api.post("/api/v1/complaints", data="site=x",
                        content_type="application/x-www-form-urlencoded")
    assert not_json.status_code == 415 and "error" in not_json.get_json()
    unknown = api.get("/api/v1/complaints/ABCDEFGHJKMN")
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "not found"
    assert count_complaints(world["app"]) == before


def test_unknown_queue_filter_is_a_400_naming_it(world):
    admin = world["clients"]["admin"]
    for param, value in (("status", "open"), ("category", "noise"), ("site", "NOPE"),
                         ("overdue", "maybe"), ("city", "atlantis")):
        answer = admin.get(f"/complaints?{param}={value}")
        html = answer.get_data(as_text=True)
        assert answer.status_code == 400, param
        assert f"“{param}”" in html and f"“{value}”" in html, param
    assert admin.get("/complaints?status=received&overdue=yes").status_code == 200


def test_rejected_workflow_errors_and_impossible_steps(world):
    app, (city, _second) = world["app"], world["cities"]
    site = world["spots"][city][0]
    tourist, official = world["clients"]["tourist"], world["clients"][city]
    sent = tourist.post(f"/complaints/new?site={site}",
                        data=web_form(tourist, site, contact_phone=""))
    code = sent.headers["Location"].rsplit("/", 1)[1]
    case = complaint_of(app, code)
    empty = step(official, case.id, "reject", note="  ")
    assert empty.status_code == 422
    assert re.search(r'id="e-note"', empty.get_data(as_text=True))
    early = step(official, case.id, "close", note="done")
    assert early.status_code == 422 and complaint_of(app, code).status == "received"
    assert step(official, case.id, "transfer", to_city="atlantis").status_code == 422
    assert step(official, case.id, "nonsense").status_code == 404
    rejected = step(official, case.id, "reject", note="不属于旅游投诉受理范围")
    assert rejected.status_code == 302 and complaint_of(app, code).status == "rejected"
    track = tourist.get(f"/complaints/track/{code}").get_data(as_text=True)
    assert "不属于旅游投诉受理范围" in track and 'name="rating"' in track


def test_overdue_cases_are_marked_and_escalated_for_admins(world):
    app, (city, _second) = world["app"], world["cities"]
    with app.app_context():
        session = get_session()
        site = session.scalar(select(Site).where(Site.code == world["spots"][city][0]))
        late = service.create(session, site=site, category="hygiene", description="Dirty.",
                              occurred_on=None, phone=None, channel="hotline",
                              source="12345", external_id="A-1",
                              received_at=datetime.now(UTC) - timedelta(days=30),
                              actor="test")
        fresh = service.create(session, site=site, category="staff", description="Rude.",
                               occurred_on=None, phone=None, channel="web", actor="test")
        late_code, fresh_code, late_id = late.tracking_code, fresh.tracking_code, late.id
    official, admin = world["clients"][city], world["clients"]["admin"]
    queue = official.get("/complaints").get_data(as_text=True)
    assert late_code in queue and fresh_code in queue
    overdue = official.get("/complaints?overdue=yes").get_data(as_text=True)
    assert late_code in overdue and fresh_code not in overdue
    on_time = official.get("/complaints?overdue=no").get_data(as_text=True)
    assert late_code not in on_time and fresh_code in on_time
    assert 'class="overdue"' in overdue
    assert complaint_of(app, late_code).escalated_at is not None
    assert complaint_of(app, fresh_code).escalated_at is None
    escalated = admin.get("/complaints/escalations")
    assert escalated.status_code == 200
    assert late_code in escalated.get_data(as_text=True)
    assert fresh_code not in escalated.get_data(as_text=True)
    detail = official.get(f"/complaints/case/{late_id}").get_data(as_text=True)
    assert "逾期" in detail
    hygiene = official.get("/complaints?category=hygiene&status=received").get_data(
        as_text=True)
    assert late_code in hygiene and fresh_code not in hygiene


# --------------------------------------------------------------------------- links


def test_scenic_spot_pages_link_to_the_complaint_form(world):
    city = world["cities"][0]
    site = world["spots"][city][0]
    tourist = world["clients"]["tourist"]
    link = f'href="/complaints/new?site={site}"'
    assert link in tourist.get(f"/s/tourism?site={site}").get_data(as_text=True)
    assert link in tourist.get(f"/sites/{site}").get_data(as_text=True)
    hospital = world["other_site"]
    assert "/complaints/new" not in tourist.get(f"/sites/{hospital}").get_data(as_text=True)


def test_tourism_receipt_links_to_the_complaint_form(world):
    app, city = world["app"], world["cities"][0]
    with app.app_context():
        from survey.core.models import Response as StoredResponse

        row = get_session().execute(
            select(StoredResponse.questionnaire, StoredResponse.receipt_code, Site.code)
            .join(Site, Site.id == StoredResponse.site_id)
            .where(StoredResponse.questionnaire == "tourism").limit(1)).first()
        other = get_session().execute(
            select(StoredResponse.receipt_code).where(
                StoredResponse.questionnaire == "healthcare").limit(1)).first()
    assert row is not None and other is not None and city
    tourist = world["clients"]["tourist"]
    done = tourist.get(f"/s/tourism/done/{row.receipt_code}").get_data(as_text=True)
    assert f'href="/complaints/new?site={row.code}"' in done
    assert "/complaints/new" not in tourist.get(
        f"/s/healthcare/done/{other.receipt_code}").get_data(as_text=True)


# --------------------------------------------------------------------------- rate limit


def test_api_rate_limit_answers_json_429(app_config):
    limited = create_app({**app_config, "RATELIMIT_ENABLED": True})
    client = limited.test_client()
    environ = {"REMOTE_ADDR": "10.9.8.6"}
    statuses = [client.post("/api/v1/complaints", json={}, environ_base=environ)
                for _ in range(11)]
    assert [r.status_code for r in statuses[:10]] == [422] * 10
    last = statuses[10]
    assert last.status_code == 429 and last.mimetype == "application/json"
    assert last.get_json()["error"] == "too many requests"
    # another client is not limited
    assert client.post("/api/v1/complaints", json={},
                       environ_base={"REMOTE_ADDR": "10.9.8.5"}).status_code == 422
    reads = [client.get("/api/v1/complaints/ABCDEFGHJKMN", environ_base=environ).status_code
             for _ in range(61)]
    assert reads[:60] == [404] * 60 and reads[60] == 429
    limited.extensions["manyi.engine"].dispose()
