"""survey.complaints core (issue 15, docs/complaints.md): working days on the official 2026
calendar, deadlines, escalation, every workflow step and refusal, transfers, the encrypted
phone number and its erasure, hotline imports and ``manyi complaints``, on the real
database fixtures."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, func, select, text

from survey.complaints import crypto, imports, service
from survey.complaints.categories import CATEGORIES, category_code
from survey.complaints.deadlines import deadlines, is_overdue, stage
from survey.complaints.errors import ComplaintError, ComplaintKeyError
from survey.complaints.workdays import add_working_days, is_working_day, working_days_between
from survey.core.db import get_session
from survey.core.models import AuditLog, City, Complaint, ComplaintEvent, Site, User
from tests.helpers import setup_demo

KEY = Fernet.generate_key().decode()
CST = timezone(timedelta(hours=8))
PHONE = "13812345678"


@pytest.fixture
def app_config(app_config: dict[str, object]) -> dict[str, object]:
    return {**app_config, "COMPLAINT_KEY": KEY}


@pytest.fixture
def world(app):  # type: ignore[no-untyped-def]
    """Two demo cities, a site in each, an official of each city; no complaints (the demo's
    own are removed, so every count here is this test's)."""
    setup_demo(app, cities=2, responses=40)
    with app.app_context():
        session = get_session()
        session.execute(text("DELETE FROM complaint_event"))
        session.execute(text("DELETE FROM complaint"))
        session.execute(text("DELETE FROM audit_log WHERE action LIKE 'complaint%'"))
        session.commit()
        cities = list(session.scalars(select(City).order_by(City.id)))
        sites = [session.scalars(select(Site).where(Site.city_id == c.id)
                                 .order_by(Site.id)).first() for c in cities]
        officials = [session.scalar(select(User).where(User.city_id == c.id)) for c in cities]
        yield {"session": session, "cities": cities, "sites": sites, "officials": officials}


def new(world, **kw) -> Complaint:  # type: ignore[no-untyped-def]
    args = {"site": world["sites"][0], "category": "price", "description": "门票多收了20元",
            "occurred_on": None, "phone": PHONE, "channel": "web", "actor": "web"}
    args.update(kw)
    return service.create(world["session"], **args)


def count(db_url: str, sql: str) -> int:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        n = conn.execute(text(sql)).scalar_one()
    engine.dispose()
    return int(n)


# --- working days ---------------------------------------------------------------------

def test_working_days_follow_the_official_2026_calendar():
    # National Day + Mid-Autumn 2026: 1–7 October off; Saturday 10 October is worked (调休)
    assert [is_working_day(date(2026, 10, d)) for d in range(1, 13)] == [
        False, False, False, False, False, False, False, True, True, True, False, True]
    assert is_working_day(date(2026, 9, 20))  # Sunday, worked (调休)
    assert add_working_days(date(2026, 9, 29), 5) == (date(2026, 10, 12), False)
    # counted by hand: 30 Sep, 8, 9, 10 (Sat), 12 Oct
    assert add_working_days(date(2026, 9, 29), 4) == (date(2026, 10, 10), False)
    assert add_working_days(date(2026, 9, 29), 0) == (date(2026, 9, 29), False)
    assert working_days_between(date(2026, 9, 29), date(2026, 10, 12)) == 5
    assert working_days_between(date(2026, 9, 29), date(2026, 10, 13)) == 6
    assert working_days_between(date(2026, 10, 12), date(2026, 9, 29)) == 0
    for n in range(0, 30):
        start = date(2026, 9, 1) + timedelta(days=n)
        assert working_days_between(start, add_working_days(start, 7)[0]) == 7
    with pytest.raises(ValueError, match="n must be 0 or more"):
        add_working_days(date(2026, 9, 29), -1)


def test_a_year_the_calendar_does_not_cover_is_monday_to_friday_and_provisional():
    # 2027 is not in chinese-calendar yet: New Year's Day (Friday) counts as worked
    assert is_working_day(date(2027, 1, 1)) and not is_working_day(date(2027, 1, 2))
    assert add_working_days(date(2026, 12, 30), 5) == (date(2027, 1, 6), True)
    assert add_working_days(date(2027, 3, 5), 1) == (date(2027, 3, 8), True)
    assert add_working_days(date(2026, 12, 1), 5) == (date(2026, 12, 8), False)


def test_categories_codes_and_labels():
    assert list(CATEGORIES) == ["contract", "injury_loss", "force_majeure", "price", "safety",
                                "hygiene", "staff", "other"]
    assert CATEGORIES["contract"]["zh-Hans"] == "合同未履行或履行不符"
    assert category_code("价格") == "price" and category_code("safety") == "safety"
    assert category_code("Prices") == "price" and category_code("天气") is None


# --- phone numbers -----------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "normal", "masked"), [
    ("13812345678", "13812345678", "138****5678"),
    ("+86 138-1234-5678", "13812345678", "138****5678"),
    ("0571-87654321", "0571-87654321", "0571-****4321"),
    ("010 6512 3456", "010-65123456", "010-****3456"),
    ("87654321", "87654321", "****4321"),
])
def test_phone_numbers_are_normalised_and_masked(raw, normal, masked):
    assert crypto.normalise_phone(raw) == normal
    assert crypto.mask(normal) == masked


@pytest.mark.parametrize("raw", ["12812345678", "1381234567", "138123456789", "abc",
                                 "0571-0765432", "", "12345"])
def test_bad_phone_numbers_are_refused(raw):
    with pytest.raises(ComplaintError) as exc:
        crypto.normalise_phone(raw)
    assert exc.value.field == "phone"
    assert exc.value.text("zh-Hans") == "不是有效的中国手机号码或固定电话号码。"


def test_the_phone_is_stored_encrypted_shown_masked_and_revealed_with_an_audit_row(
        world, db_url):
    c = new(world, phone="138 1234 5678")
    raw = create_engine(db_url).connect().execute(
        text("SELECT phone_ciphertext FROM complaint WHERE id = :i"), {"i": c.id}).scalar_one()
    raw = bytes(raw)
    assert PHONE.encode() not in raw and b"5678" not in raw
    assert Fernet(KEY.encode()).decrypt(raw).decode() == PHONE
    assert service.masked_phone(c) == "138****5678"
    official = world["officials"][0]
    assert service.reveal_phone(world["session"], c, user=official) == PHONE
    entry = world["session"].scalars(select(AuditLog).where(
        AuditLog.action == "complaint_phone_revealed")).one()
    assert entry.actor == official.email and entry.detail == {"complaint": c.id}
    dump = json.dumps([a.detail for a in world["session"].scalars(select(AuditLog))],
                      ensure_ascii=False)
    assert "5678" not in dump and "门票" not in dump
    nophone = new(world, phone=None)
    assert nophone.phone_ciphertext is None and service.masked_phone(nophone) is None
    assert service.reveal_phone(world["session"], nophone, user=official) is None


@pytest.mark.parametrize(("key", "match"), [("", "MANYI_COMPLAINT_KEY is not set"),
                                            ("not-a-key", "MANYI_COMPLAINT_KEY is not a Fernet")])
def test_no_usable_key_refuses_the_phone_and_stores_nothing(world, db_url, key, match):
    from flask import current_app
    current_app.config["COMPLAINT_KEY"] = key
    with pytest.raises(ComplaintKeyError, match=match):
        new(world)
    world["session"].rollback()
    assert count(db_url, "SELECT count(*) FROM complaint") == 0
    assert new(world, phone=None).phone_ciphertext is None  # no phone needs no key


def test_a_wrong_key_cannot_decrypt(world):
    from flask import current_app
    c = new(world)
    current_app.config["COMPLAINT_KEY"] = Fernet.generate_key().decode()
    with pytest.raises(ComplaintKeyError, match="not the key it was stored with"):
        service.masked_phone(c)


# --- the workflow ---------------------------------------------------------------------------

def test_every_step_writes_an_event_and_an_audit_row(world):
    s, official = world["session"], world["officials"][0]
    c = new(world)
    assert len(c.tracking_code) == service.TRACKING_LENGTH >= 12
    assert set(c.tracking_code) <= set(service.TRACKING_ALPHABET)
    assert not set("01OIL") & set(service.TRACKING_ALPHABET)
    assert service.by_tracking_code(s, c.tracking_code.lower()) is c
    assert service.by_tracking_code(s, f" {c.tracking_code[:6]}-{c.tracking_code[6:]} ") is c
    assert service.by_tracking_code(s, "0" * 12) is None
    assert (c.status, c.city_id, stage(c)) == ("received", world["cities"][0].id, "accept")
    assert service.next_steps(c) == ("accept", "reject", "transfer")
    service.accept(s, c, user=official, note="已受理")
    assert c.status == "accepted" and c.accepted_at is not None and stage(c) == "reply"
    service.record_reply(s, c, user=official, note="景区已答复")
    assert c.status == "replied" and stage(c) == "mediation"
    service.record_mediation(s, c, user=official, note="调解成功，退还20元")
    assert c.status == "mediated" and stage(c) == "closing"
    service.close(s, c, user=official, outcome="已退款")
    assert c.status == "closed" and c.outcome == "已退款" and stage(c) is None
    service.rate(s, c, 5)
    assert c.rating == 5 and c.rated_at is not None
    events = list(s.scalars(select(ComplaintEvent).where(ComplaintEvent.complaint_id == c.id)
                            .order_by(ComplaintEvent.id)))
    assert [(e.status, e.note) for e in events] == [
        ("received", ""), ("accepted", "已受理"), ("replied", "景区已答复"),
        ("mediated", "调解成功，退还20元"), ("closed", "已退款")]
    assert [e.user_id for e in events] == [None] + [official.id] * 4
    actions = [a.action for a in s.scalars(select(AuditLog).where(
        AuditLog.action.like("complaint_%")).order_by(AuditLog.id))]
    assert actions == ["complaint_created", "complaint_accepted", "complaint_replied",
                       "complaint_mediated", "complaint_closed", "complaint_rated"]
    names = [d.name for d in deadlines(c)]
    assert names == ["accept", "reply", "mediation"]
    assert all(d.met for d in deadlines(c)) and not is_overdue(c)


def test_a_reply_can_close_without_mediation(world):
    s, official = world["session"], world["officials"][0]
    c = new(world)
    service.accept(s, c, user=official)
    service.record_reply(s, c, user=official, note="答复")
    service.close(s, c, user=official, outcome="投诉人接受答复")
    assert c.status == "closed" and c.mediated_at is None
    assert [d.met for d in deadlines(c)] == [True, True, True]  # closure ends the 60 days


def test_impossible_steps_are_refused_naming_them(world):
    s, official = world["session"], world["officials"][0]
    c = new(world)
    for step, call in [
        ("record_reply", lambda: service.record_reply(s, c, user=official, note="x")),
        ("record_mediation", lambda: service.record_mediation(s, c, user=official, note="x")),
        ("close", lambda: service.close(s, c, user=official, outcome="x")),
    ]:
        with pytest.raises(ComplaintError, match=f"received complaint cannot take the step "
                                                 f"'{step}'") as exc:
            call()
        assert exc.value.field == "status"
    with pytest.raises(ComplaintError, match="closed"):
        service.rate(s, c, 4)
    service.accept(s, c, user=official)
    for step, call in [
        ("accept", lambda: service.accept(s, c, user=official)),
        ("reject", lambda: service.reject(s, c, user=official, reason="x")),
        ("transfer", lambda: service.transfer(s, c, user=official,
                                              to_city=world["cities"][1])),
        ("close", lambda: service.close(s, c, user=official, outcome="x")),
    ]:
        with pytest.raises(ComplaintError, match=f"'{step}'"):
            call()
    with pytest.raises(ComplaintError) as exc:
        service.record_reply(s, c, user=official, note="  ")
    assert exc.value.field == "note"
    assert exc.value.text("zh-Hans") == "此项为必填项。"
    assert c.status == "accepted"
    s.refresh(c)
    assert c.status == "accepted" and len(c.events) == 2


def test_reject_closes_with_its_reason_and_rating_rules(world):
    s, official = world["session"], world["officials"][0]
    c = new(world)
    with pytest.raises(ComplaintError) as exc:
        service.reject(s, c, user=official, reason="")
    assert exc.value.field == "reason"
    service.reject(s, c, user=official, reason="不属于旅游投诉受理范围")
    assert c.status == "rejected" and c.closed_at is not None
    assert c.reject_reason == "不属于旅游投诉受理范围" and stage(c) is None
    assert c.events[-1].status == "rejected" and c.events[-1].note == c.reject_reason
    assert service.next_steps(c) == ()
    with pytest.raises(ComplaintError, match="'close'"):
        service.close(s, c, user=official, outcome="x")
    for bad in (0, 6, True, 2.5):
        with pytest.raises(ComplaintError, match="1 to 5"):
            service.rate(s, c, bad)  # type: ignore[arg-type]
    service.rate(s, c, 1)
    with pytest.raises(ComplaintError, match="rated already"):
        service.rate(s, c, 3)
    assert c.rating == 1


def test_create_refuses_bad_input(world):
    for kw, field in [({"category": "weather"}, "category"), ({"description": " "}, "description"),
                      ({"channel": "fax"}, "channel"), ({"phone": "123"}, "phone"),
                      ({"site": None}, "site"),
                      ({"received_at": datetime(2026, 9, 1, 10)}, "received_at"),
                      ({"received_at": datetime.now(UTC) + timedelta(days=1)}, "received_at"),
                      ({"occurred_on": date.today() + timedelta(days=2)}, "occurred_on"),
                      ({"source": "12345"}, "external_id"),
                      ({"description": "x" * 5001}, "description")]:
        with pytest.raises(ComplaintError) as exc:
            new(world, **kw)
        assert exc.value.field == field, kw
    new(world, source="12345", external_id="A-1", channel="hotline")
    with pytest.raises(ComplaintError, match="imported before"):
        new(world, source="12345", external_id="A-1", channel="hotline")


def test_transfer_hands_ownership_to_another_city_and_restarts_the_clock(world):
    s, official = world["session"], world["officials"][0]
    other = world["cities"][1]
    received = datetime(2026, 9, 29, 10, tzinfo=CST)
    c = new(world, received_at=received)
    c.escalated_at = datetime(2026, 11, 1, tzinfo=UTC)
    s.commit()
    with pytest.raises(ComplaintError, match="another city") as exc:
        service.transfer(s, c, user=official, to_city=world["cities"][0])
    assert exc.value.field == "to_city"
    service.transfer(s, c, user=official, to_city=other, note="属乙市管辖")
    assert c.city_id == other.id and c.status == "received" and c.escalated_at is None
    assert c.site_id == world["sites"][0].id
    assert c.stage_started_at > received
    last = c.events[-1]
    assert (last.status, last.city_id, last.note) == ("transferred", other.id, "属乙市管辖")
    entry = s.scalars(select(AuditLog).where(AuditLog.action == "complaint_transferred")).one()
    assert entry.city_id == other.id
    assert entry.detail == {"complaint": c.id, "from_city": world["cities"][0].id,
                            "to_city": other.id}
    [accept] = deadlines(c)
    assert accept.due == add_working_days(datetime.now(CST).date(), 5)[0]
    assert not is_overdue(c)
    service.accept(s, c, user=world["officials"][1])
    assert c.events[-1].city_id == other.id


# --- deadlines and escalation ---------------------------------------------------------------

def test_unaccepted_for_six_working_days_over_national_day_is_overdue_and_escalated(world):
    s = world["session"]
    c = new(world, received_at=datetime(2026, 9, 29, 10, tzinfo=CST))
    # 5 working days later (30 Sep, 8, 9, 10 Oct (Sat, worked), 12 Oct): due, not overdue
    [d] = deadlines(c, today=date(2026, 10, 12))
    assert (d.name, d.due, d.met, d.overdue_days, d.provisional) == (
        "accept", date(2026, 10, 12), None, 0, False)
    assert not is_overdue(c, date(2026, 10, 12))
    assert service.escalate_overdue(s, now=datetime(2026, 10, 12, 23, tzinfo=CST)) == []
    assert c.escalated_at is None
    # the 6th working day (13 Oct): overdue by one day, escalated once
    [d] = deadlines(c, today=date(2026, 10, 13))
    assert (d.met, d.overdue_days, d.overdue) == (False, 1, True)
    now = datetime(2026, 10, 13, 9, tzinfo=CST)
    assert service.escalate_overdue(s, now=now) == [c]
    s.refresh(c)
    assert c.escalated_at is not None and c.escalated_at.replace(tzinfo=UTC) == now
    assert service.escalate_overdue(s, now=now + timedelta(days=1)) == []
    entry = s.scalars(select(AuditLog).where(AuditLog.action == "complaint_escalated")).one()
    assert entry.detail == {"complaint": c.id, "deadlines": ["accept"], "overdue_days": 1}
    # the days of the National Day holiday do not count: received 30 Sep → due 13 Oct
    c2 = new(world, received_at=datetime(2026, 9, 30, 10, tzinfo=CST))
    assert deadlines(c2, today=date(2026, 10, 13))[0].due == date(2026, 10, 13)
    # the local date counts: 23:30 UTC on 29 Sep is 07:30 on 30 Sep in China
    c3 = new(world, received_at=datetime(2026, 9, 29, 23, 30, tzinfo=UTC))
    assert deadlines(c3)[0].due == date(2026, 10, 13)
    c4 = new(world, received_at=datetime(2026, 9, 29, 15, 30, tzinfo=UTC))  # 23:30 in China
    assert deadlines(c4)[0].due == date(2026, 10, 12)


def test_reply_and_mediation_deadlines_count_calendar_days_from_acceptance(world):
    s, official = world["session"], world["officials"][0]
    c = new(world)
    service.accept(s, c, user=official)
    accepted = c.accepted_at.replace(tzinfo=UTC).astimezone(CST).date()  # type: ignore[union-attr]
    accept, reply, mediation = deadlines(c, today=accepted)
    assert accept.met is True and accept.done_at is not None
    assert reply.due == accepted + timedelta(days=10)
    assert mediation.due == accepted + timedelta(days=60)
    late = deadlines(c, today=accepted + timedelta(days=12))
    assert (late[1].met, late[1].overdue_days, late[2].met) == (False, 2, None)
    assert is_overdue(c, accepted + timedelta(days=12))
    assert service.escalate_overdue(
        s, now=datetime.now(UTC) + timedelta(days=12)) == [c]
    # escalated again when the next deadline (mediation) passes too
    assert service.escalate_overdue(s, now=datetime.now(UTC) + timedelta(days=13)) == []
    assert service.escalate_overdue(s, now=datetime.now(UTC) + timedelta(days=62)) == [c]


def test_an_acceptance_after_the_deadline_is_recorded_as_late(world):
    s = world["session"]
    c = new(world, received_at=datetime(2026, 9, 29, 10, tzinfo=CST))
    service.accept(s, c, user=world["officials"][0])
    accept = deadlines(c)[0]
    today = datetime.now(CST).date()
    assert accept.met is False and accept.overdue_days == (today - date(2026, 10, 12)).days > 0
    assert not accept.overdue  # done, late


# --- erasure ------------------------------------------------------------------------------------

def test_phone_numbers_are_erased_180_days_after_closure(world, db_url):
    s, official = world["session"], world["officials"][0]
    c = new(world)
    service.reject(s, c, user=official, reason="重复投诉")
    kept = new(world)  # open: never erased
    closed = c.closed_at.replace(tzinfo=UTC)  # type: ignore[union-attr]
    assert service.erase_expired_phones(s, now=closed + timedelta(days=179)) == 0
    assert c.phone_ciphertext is not None
    assert service.erase_expired_phones(s, now=closed + timedelta(days=180)) == 1
    s.refresh(c)
    assert c.phone_ciphertext is None and c.phone_erased_at is not None
    assert service.masked_phone(c) is None
    assert service.reveal_phone(s, c, user=official) is None
    assert kept.phone_ciphertext is not None
    assert count(db_url, "SELECT count(*) FROM complaint WHERE phone_ciphertext IS NULL") == 1
    entry = s.scalars(select(AuditLog).where(AuditLog.action == "complaint_phones_erased")).one()
    assert entry.detail == {"count": 1, "complaints": [c.id]}
    assert service.erase_expired_phones(s, now=closed + timedelta(days=400)) == 0


# --- imports and commands -------------------------------------------------------------------------

HEADER = "source,external_id,site,category,description,received_at,contact_phone\n"


def csv_file(tmp_path, site: str, other: str, bad: bool = True):  # type: ignore[no-untyped-def]
    rows = [f"12345,H-1,{site},price,票价不符,2026-11-20 09:30,13812345678",
            f"12345,H-2,{other},卫生,厕所脏,2026-11-21T10:00:00+08:00,",
            f"12301,H-1,{site},staff,态度差,2026-11-22 08:00,0571-87654321"]
    if bad:
        rows += ["12345,H-3,NOPE,price,x,2026-11-20 09:30,",
                 f"12345,H-4,{site},天气,x,2026-11-20 09:30,",
                 f"12345,H-5,{site},price,x,yesterday,",
                 f"12345,H-6,{site},price,x,2026-11-20 09:30,123",
                 f"12345,H-1,{site},price,again,2026-11-20 09:30,",
                 f"12345,,{site},price,,2026-11-20 09:30,"]
    path = tmp_path / "hotline.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_import_stores_valid_rows_reports_bad_ones_and_is_idempotent(app, world, db_url,
                                                                      tmp_path):
    site, other = world["sites"][0].code, world["sites"][1].code
    path = csv_file(tmp_path, site, other)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["complaints", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "9 rows, 3 stored, 0 already present, 6 with errors" in result.stderr
    for line in ["row 4, site: no site with code 'NOPE'", "row 5, category: unknown category",
                 "row 6, received_at: not an ISO 8601", "row 7, contact_phone: Not a Chinese",
                 "row 8, external_id: the same source and external_id as row 1",
                 "row 9, external_id: empty", "row 9, description: empty"]:
        assert line in result.stderr, line
    assert "13812345678" not in result.output
    assert count(db_url, "SELECT count(*) FROM complaint") == 3
    assert count(db_url, "SELECT count(*) FROM complaint WHERE channel = 'hotline' AND "
                         "phone_ciphertext IS NOT NULL") == 2
    rows = world["session"].scalars(select(Complaint).order_by(Complaint.id)).all()
    assert [(r.source, r.external_id, r.category) for r in rows] == [
        ("12345", "H-1", "price"), ("12345", "H-2", "hygiene"), ("12301", "H-1", "staff")]
    assert rows[0].received_at.replace(tzinfo=UTC) == datetime(2026, 11, 20, 1, 30,
                                                                tzinfo=UTC)
    assert rows[1].city_id == world["cities"][1].id
    assert service.masked_phone(rows[2]) == "0571-****4321"

    again = runner.invoke(args=["complaints", "import", str(path)])
    assert again.exit_code == 0
    assert "9 rows, 0 stored, 3 already present, 6 with errors" in again.stderr
    assert count(db_url, "SELECT count(*) FROM complaint") == 3
    assert count(db_url, "SELECT count(*) FROM complaint_event") == 3

    changed = tmp_path / "changed.csv"
    changed.write_text(HEADER + f"12345,H-1,{site},price,另一内容,2026-11-20 09:30,\n",
                       encoding="utf-8")
    result = runner.invoke(args=["complaints", "import", str(changed)])
    assert "row 1, external_id: imported before with other content" in result.stderr


def test_strict_import_stores_nothing_when_a_row_is_bad(app, world, db_url, tmp_path):
    path = csv_file(tmp_path, world["sites"][0].code, world["sites"][1].code)
    result = app.test_cli_runner().invoke(args=["complaints", "import", "--strict", str(path)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == \
        "manyi: hotline.csv: 6 bad row(s), nothing stored (--strict)"
    assert count(db_url, "SELECT count(*) FROM complaint") == 0
    good = csv_file(tmp_path, world["sites"][0].code, world["sites"][1].code, bad=False)
    result = app.test_cli_runner().invoke(args=["complaints", "import", "--strict", str(good)])
    assert result.exit_code == 0 and count(db_url, "SELECT count(*) FROM complaint") == 3


def test_an_interrupted_import_stores_nothing(world, db_url, tmp_path, monkeypatch):
    path = csv_file(tmp_path, world["sites"][0].code, world["sites"][1].code, bad=False)
    calls = []
    real = crypto.encrypt

    def dying(number: str) -> bytes:
        calls.append(number)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed after the first row was added
        return real(number)

    monkeypatch.setattr(crypto, "encrypt", dying)
    audits = count(db_url, "SELECT count(*) FROM audit_log")
    with pytest.raises(KeyboardInterrupt):
        imports.import_csv(world["session"], path.read_bytes(), actor="cli")
    assert len(calls) == 2
    for table in ("complaint", "complaint_event"):
        assert count(db_url, f"SELECT count(*) FROM {table}") == 0, table
    assert count(db_url, "SELECT count(*) FROM audit_log") == audits


@pytest.mark.parametrize(("content", "message"), [
    (b"source,external_id\n1,2\n", "missing column(s) site, category, description"),
    (HEADER.replace("\n", ",extra\n").encode(), "unknown column(s) extra"),
    (b"", "no header row"),
    (b"source\x00,x\n", "NUL"),
    (b"\xff\xfe\x81", "neither UTF-8 nor GB18030"),
])
def test_a_bad_file_is_refused_whole_with_one_line(app, world, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    result = app.test_cli_runner().invoke(args=["complaints", "import", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("manyi: bad.csv: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    missing = app.test_cli_runner().invoke(args=["complaints", "import", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "No such file" in missing.stderr


def test_import_without_a_key_refuses_the_file(app, world, db_url, tmp_path):
    app.config["COMPLAINT_KEY"] = ""
    path = csv_file(tmp_path, world["sites"][0].code, world["sites"][1].code, bad=False)
    result = app.test_cli_runner().invoke(args=["complaints", "import", str(path)])
    assert result.exit_code == 2 and "MANYI_COMPLAINT_KEY is not set" in result.stderr
    assert count(db_url, "SELECT count(*) FROM complaint") == 0


def test_sla_lists_open_cases_with_due_dates_and_no_contact_data(app, world):
    s, official = world["session"], world["officials"][0]
    late = new(world, received_at=datetime(2026, 9, 29, 10, tzinfo=CST))
    fresh = new(world, site=world["sites"][1])
    done = new(world)
    service.reject(s, done, user=official, reason="重复")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["complaints", "sla", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    today = datetime.now(CST).date()
    fresh_due = add_working_days(today, 5)
    assert rows == [
        {"id": late.id, "city": world["cities"][0].code, "site": world["sites"][0].code,
         "category": "price", "status": "received", "stage": "accept", "due": "2026-10-12",
         "days_overdue": (today - date(2026, 10, 12)).days, "provisional": False,
         "escalated": False},
        {"id": fresh.id, "city": world["cities"][1].code, "site": world["sites"][1].code,
         "category": "price", "status": "received", "stage": "accept",
         "due": fresh_due[0].isoformat(), "days_overdue": 0, "provisional": fresh_due[1],
         "escalated": False}]
    for secret in (PHONE, "5678", late.tracking_code, "门票"):
        assert secret not in result.output
    one = runner.invoke(args=["complaints", "sla", "--city", world["cities"][1].code,
                              "--format", "json"])
    assert [r["id"] for r in json.loads(one.stdout)] == [fresh.id]
    table = runner.invoke(args=["complaints", "sla"])
    assert table.stdout.splitlines()[0].split() == [
        "id", "city", "site", "category", "status", "stage", "due", "days_overdue",
        "provisional", "escalated"]
    assert len(table.stdout.splitlines()) == 3
    bad = runner.invoke(args=["complaints", "sla", "--city", "NOPE"])
    assert bad.exit_code == 2 and bad.stderr == "manyi: --city: no city with code 'NOPE'\n"

    esc = runner.invoke(args=["complaints", "escalate", "--format", "json"])
    assert esc.exit_code == 0 and [r["id"] for r in json.loads(esc.stdout)] == [late.id]
    assert "1 complaint(s) escalated" in esc.stderr
    s.expire_all()
    assert s.get(Complaint, late.id).escalated_at is not None  # type: ignore[union-attr]
    assert s.get(Complaint, fresh.id).escalated_at is None  # type: ignore[union-attr]
    again = runner.invoke(args=["complaints", "escalate", "--format", "json"])
    assert json.loads(again.stdout) == []
    erase = runner.invoke(args=["complaints", "erase-phones"])
    assert erase.exit_code == 0 and erase.stdout == "0 phone number(s) erased\n"
    assert s.scalar(select(func.count()).select_from(Complaint)) == 3
