"""Web-response integrity: a city must not be able to fill its own index.

Survey tokens (403 naming the reason, nothing stored), replays, the per-client daily cap
(429), the screening at submit (straight-lining, speeders, duplicates, bursts) and daily
(``manyi integrity screen`` as a subprocess), the stuffing attack leaving every index where
it was, the web flow, the admin's integrity page and the dashboard's held-back counts.
Real HTTP client, real database (SQLite; PostgreSQL too with MANYI_TEST_DATABASE_URL)."""

from __future__ import annotations

import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

from survey.core.db import get_session
from survey.core.models import AuditLog, City, Response, Site
from survey.core.places import site_refs
from survey.core.responses.ingest import TokenUsed, prepare, store
from survey.core.waves import CHINA_TZ
from survey.dashboard import estimates
from survey.integrity import tokens
from tests.helpers import PASSWORD, Ran, login, manyi, read_csv, setup_demo, survey_token
from tests.test_api import HOSPITAL_ANSWERS, answers_from_definition, body
from tests.test_respond import (  # noqa: F401  (sites is a fixture)
    HEALTHCARE,
    agree,
    csrf_token,
    form_data,
    location,
    sites,
    walk,
)

REPO = Path(__file__).resolve().parent.parent
ALL_ONES = {k: (1 if isinstance(v, int) else v) for k, v in HOSPITAL_ANSWERS.items()}
SCALE_ITEMS = [k for k, v in HOSPITAL_ANSWERS.items() if isinstance(v, int)]


def _count(app: Any) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(Response)) or 0


def _stored(app: Any, client_uuid: str) -> Response:
    with app.app_context():
        session = get_session()
        row = session.scalars(select(Response).where(Response.client_uuid == client_uuid)).one()
        session.expunge(row)
        return row


def _times(minutes_ago: float = 0, minutes_taken: float = 4) -> dict[str, str]:
    end = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).replace(microsecond=0)
    return {"started_at": (end - timedelta(minutes=minutes_taken)).isoformat(),
            "submitted_at": end.isoformat()}


def _varied(i: int) -> dict[str, Any]:
    """Healthcare answers that differ for every ``i`` < 5**6 (its base-5 digits are the
    first six scale answers) and are never straight-lined (a 2 and a 4 in every row)."""
    answers = dict(HOSPITAL_ANSWERS)
    digits = i
    for j, item in enumerate(SCALE_ITEMS):
        if j < 6:
            answers[item] = 1 + digits % 5
            digits //= 5
        elif item != "recommend":
            answers[item] = 1 + (i * 7 + j * 3) % 5
    answers[SCALE_ITEMS[6]], answers[SCALE_ITEMS[7]] = 2, 4
    return answers


def _post(client: Any, site: str, *, token: str | None = None, address: str = "127.0.0.1",
          **changes: Any) -> Any:
    token = token if token is not None else survey_token(client, site)
    changes.setdefault("client_uuid", str(uuid.uuid4()))
    return client.post("/api/v1/responses", json=body(site, token, **changes),
                       environ_base={"REMOTE_ADDR": address})


def _refused(response: Any, reason: str) -> None:
    assert response.status_code == 403, response.get_json()
    data = response.get_json()
    assert data["error"] == "survey token" and data["reason"] == reason, data
    assert data["message"]


# --------------------------------------------------------------------------- tokens


def test_the_token_endpoint_issues_bound_tokens_and_refuses_bad_requests(app, client, sites):  # noqa: F811
    response = client.get("/api/v1/survey-token",
                          query_string={"site": sites["hospital"], "questionnaire": "healthcare"})
    assert response.status_code == 200
    data = response.get_json()
    assert set(data) == {"token", "expires_at"}
    token = tokens.read(app.config["SECRET_KEY"], data["token"])
    assert (token.site, token.questionnaire) == (sites["hospital"], "healthcare")
    expires = datetime.fromisoformat(data["expires_at"])
    assert expires == token.issued_at + timedelta(minutes=120)
    assert abs((token.issued_at - datetime.now(UTC)).total_seconds()) < 5
    for query, status, field in [
        ({"site": sites["hospital"]}, 422, "questionnaire"),
        ({"questionnaire": "healthcare"}, 422, "site"),
        ({"site": "nope", "questionnaire": "healthcare"}, 404, "site"),
        ({"site": sites["hospital"], "questionnaire": "nope"}, 404, "questionnaire"),
        ({"site": sites["dealer"], "questionnaire": "healthcare"}, 422, "site"),
    ]:
        refused = client.get("/api/v1/survey-token", query_string=query)
        assert refused.status_code == status, query
        assert refused.is_json and field in refused.get_json()["errors"], refused.get_json()
    assert "dealer" in client.get("/api/v1/survey-token", query_string={
        "site": sites["dealer"], "questionnaire": "healthcare"}).get_json()["errors"]["site"]


def test_a_submission_without_a_token_is_403_missing(app, client, sites):  # noqa: F811
    response = client.post("/api/v1/responses",
                           json=body(sites["hospital"], client_uuid=str(uuid.uuid4()),
                                     **_times()))
    _refused(response, "missing")
    assert "survey_token" in response.get_json()["message"]
    assert _count(app) == 0


def test_tampered_and_malformed_tokens_are_403(app, client, sites):  # noqa: F811
    site = sites["hospital"]
    good = survey_token(client, site)
    payload, stamp, signature = good.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    _refused(_post(client, site, token=f"{flipped}.{stamp}.{signature}", **_times()),
             "bad signature")
    other_key = URLSafeTimedSerializer("another server's key", salt=tokens.SALT).dumps(
        {"i": "x" * 22, "s": site, "q": "healthcare"})
    _refused(_post(client, site, token=other_key, **_times()), "bad signature")
    _refused(_post(client, site, token="not a token", **_times()), "malformed")
    response = client.post("/api/v1/responses", json=body(
        site, client_uuid=str(uuid.uuid4()), survey_token=12345, **_times()))
    _refused(response, "malformed")
    assert _count(app) == 0


def test_an_expired_token_is_403_expired(app, client, sites, monkeypatch):  # noqa: F811
    site = sites["hospital"]
    token = survey_token(client, site)
    later = datetime.now(UTC) + timedelta(minutes=121)
    monkeypatch.setattr(tokens, "current_time", lambda: later)
    response = _post(client, site, token=token, **_times())
    _refused(response, "expired")
    assert "expired at" in response.get_json()["message"]
    assert _count(app) == 0
    # a tiny lifetime from the configuration expires it just as well
    monkeypatch.undo()
    app.config["SURVEY_TOKEN_MINUTES"] = 0
    short = client.get("/api/v1/survey-token", query_string={
        "site": site, "questionnaire": "healthcare"}).get_json()
    assert datetime.fromisoformat(short["expires_at"]) <= datetime.now(UTC)
    monkeypatch.setattr(tokens, "current_time",
                        lambda: datetime.now(UTC) + timedelta(seconds=2))
    _refused(_post(client, site, token=short["token"], **_times()), "expired")
    assert _count(app) == 0


def test_a_token_for_another_site_or_questionnaire_is_403(app, client, sites):  # noqa: F811
    with app.app_context():
        hospitals = sorted(get_session().scalars(select(Site.code).where(
            Site.kind == "hospital")))
    site, other = hospitals[:2]
    response = _post(client, site, token=survey_token(client, other), **_times())
    _refused(response, "other site")
    assert other in response.get_json()["message"]

    centre = sites["community_centre"]  # both community and elderly_care are asked there
    definition = client.get("/api/v1/questionnaires/community").get_json()
    submission = {"client_uuid": str(uuid.uuid4()), "questionnaire": "community",
                  "version": definition["version"], "site": centre,
                  "answers": answers_from_definition(definition),
                  "consent_version": definition["consent_version"], "channel": "web",
                  "survey_token": survey_token(client, centre, "elderly_care"), **_times()}
    response = client.post("/api/v1/responses", json=submission)
    _refused(response, "other questionnaire")
    assert _count(app) == 0
    submission["survey_token"] = survey_token(client, centre, "community")
    assert client.post("/api/v1/responses", json=submission).status_code == 201


def test_a_token_is_good_for_one_response_and_a_replay_is_200(app, client, sites):  # noqa: F811
    site = sites["hospital"]
    token = survey_token(client, site)
    first = body(site, token, client_uuid=str(uuid.uuid4()), **_times())
    stored = client.post("/api/v1/responses", json=first)
    assert stored.status_code == 201
    again = client.post("/api/v1/responses", json=first)
    assert again.status_code == 200 and again.get_json() == stored.get_json()
    second = body(site, token, client_uuid=str(uuid.uuid4()), answers=_varied(3), **_times())
    _refused(client.post("/api/v1/responses", json=second), "already used")
    assert _count(app) == 1
    row = _stored(app, first["client_uuid"])
    assert row.survey_token == tokens.read(app.config["SECRET_KEY"], token).id
    # the replay still works once the token has expired
    app.config["SURVEY_TOKEN_MINUTES"] = 0
    late = client.post("/api/v1/responses", json=first)
    assert late.status_code == 200 and late.get_json() == stored.get_json()


def test_back_dating_before_the_token_was_issued_is_403(app, client, sites):  # noqa: F811
    response = _post(client, sites["hospital"], **_times(minutes_ago=125))
    _refused(response, "predates token")
    assert _count(app) == 0


def test_concurrent_different_submissions_with_one_token_store_one(app, client, sites):  # noqa: F811
    """The unique index decides when two submissions race past the 'already used' check."""
    site = sites["hospital"]
    token = survey_token(client, site)
    with app.app_context():
        session = get_session()
        refs = site_refs(session, {site})
        qs = app.extensions["manyi.questionnaires"]
        a = prepare(qs, body(site, client_uuid=str(uuid.uuid4()), **_times()), refs)
        b = prepare(qs, body(site, client_uuid=str(uuid.uuid4()), answers=_varied(1),
                             **_times()), refs)
        token_id = tokens.read(app.config["SECRET_KEY"], token).id
        store(session, a, survey_token=token_id)
        with pytest.raises(TokenUsed):
            store(session, b, survey_token=token_id)
    assert _count(app) == 1


# --------------------------------------------------------------------------- the daily cap


def test_the_daily_cap_per_client_and_site(app, client, sites):  # noqa: F811
    site = sites["hospital"]
    for i in range(5):
        assert _post(client, site, answers=_varied(i), **_times()).status_code == 201
    capped = _post(client, site, answers=_varied(9), **_times())
    assert capped.status_code == 429
    data = capped.get_json()
    assert data["error"] == "daily limit" and data["limit"] == 5 and "24 hours" in data["message"]
    assert _count(app) == 5
    # another client, or the same client at another site, is not capped
    assert _post(client, site, address="10.0.0.9", answers=_varied(10),
                 **_times()).status_code == 201
    with app.app_context():
        other = sorted(get_session().scalars(select(Site.code).where(
            Site.kind == "hospital")))[1]
    assert _post(client, other, answers=_varied(11), **_times()).status_code == 201
    assert _count(app) == 7
    with app.app_context():
        hashes = set(get_session().scalars(select(Response.client_hash)))
    assert len(hashes) == 2 and all(re.fullmatch(r"[0-9a-f]{16}", h) for h in hashes)
    assert not any("127" in h or "10.0" in h for h in hashes)

    # the web flow says so on a page, and stores nothing
    page = _walk_raw(client, site)
    assert page.status_code == 429
    assert "5" in page.text and "24" in page.text
    assert _count(app) == 7


def _walk_raw(client: Any, site: str, before_submit: Any = None) -> Any:
    """The HTML flow up to the submit POST (after ``before_submit()``, if given); returns
    that POST's response."""
    url = agree(client, "healthcare", site)
    while not url.endswith("/review"):
        html = client.get(url).text
        response = client.post(url, data=form_data(html, HEALTHCARE))
        while response.status_code == 200:
            response = client.post(url, data=form_data(response.text, HEALTHCARE))
        url = location(response)
    review = client.get(url)
    uid = re.search(r'name="client_uuid" type="hidden" value="([^"]+)"', review.text)
    assert uid
    if before_submit is not None:
        before_submit()
    return client.post("/s/healthcare/submit", data={"csrf_token": csrf_token(review.text),
                                                     "client_uuid": uid.group(1)})


# --------------------------------------------------------------------------- the web flow


def test_the_web_flow_carries_its_token_and_stores_a_valid_response(app, client, sites):  # noqa: F811
    site = sites["hospital"]
    receipt = walk(client, "healthcare", site, HEALTHCARE)
    with app.app_context():
        row = get_session().scalars(select(Response).where(
            Response.receipt_code == receipt)).one()
        assert row.status == "valid" and row.status_reason is None
        assert row.survey_token and len(row.survey_token) == 22
        assert row.client_hash and re.fullmatch(r"[0-9a-f]{16}", row.client_hash)
    # a second walk from the same browser is a second scan: a new token, a second response
    walk(client, "healthcare", site, {**HEALTHCARE, "wayfinding": 2})
    with app.app_context():
        assert len(set(get_session().scalars(select(Response.survey_token)))) == 2


def test_a_web_draft_whose_token_expired_cannot_be_submitted(app, client, sites, monkeypatch):  # noqa: F811
    site = sites["hospital"]
    later = datetime.now(UTC) + timedelta(minutes=121)
    done = _walk_raw(client, site, lambda: monkeypatch.setattr(tokens, "current_time",
                                                               lambda: later))
    assert done.status_code == 403
    assert f"/s/healthcare?site={site}" in done.text
    assert _count(app) == 0


# --------------------------------------------------------------------------- screening


def _plant(app: Any, site: str, answers: list[dict[str, Any]], ends: list[datetime],
           minutes_taken: float = 5) -> list[int]:
    """Store valid web responses directly (as if they came before any check ran)."""
    ids = []
    with app.app_context():
        session = get_session()
        refs = site_refs(session, {site})
        qs = app.extensions["manyi.questionnaires"]
        for a, end in zip(answers, ends, strict=True):
            payload = body(site, client_uuid=str(uuid.uuid4()), answers=a,
                           started_at=(end - timedelta(minutes=minutes_taken)).isoformat(),
                           submitted_at=end.isoformat())
            p = prepare(qs, payload, refs, now=end + timedelta(minutes=1))
            response, _ = store(session, p)
            ids.append(response.id)
    return ids


def test_a_speeder_and_an_exact_copy_are_flagged_at_submit(app, client, sites):  # noqa: F811
    site = sites["hospital"]
    now = datetime.now(UTC).replace(microsecond=0)
    durations = [240 + 10 * i for i in range(25)]  # 240 … 480 s: median 360 s
    planted = []
    for i, d in enumerate(durations):
        end = now - timedelta(days=1 + i % 20, hours=i % 7)
        planted += _plant(app, site, [_varied(100 + i)], [end], minutes_taken=d / 60)
    median = float(np.median(durations))
    quick = _post(client, site, address="10.1.1.1", answers=_varied(7),
                  **_times(minutes_taken=1))  # 60 s < 360 / 3
    assert quick.status_code == 201 and quick.get_json()["status"] == "flagged"
    row = _stored(app, _client_uuid_of(app, quick.get_json()["id"]))
    assert row.status_reason == (f"speeders: 60 s, the site's median is {median:.0f} s "
                                 f"(limit {median / 3:.0f} s)")
    ok = _post(client, site, address="10.1.1.2", answers=_varied(8), **_times(minutes_taken=3))
    assert ok.get_json()["status"] == "valid"  # 180 s ≥ 120 s

    first = _post(client, site, address="10.1.1.3", answers=_varied(9), **_times())
    copy = _post(client, site, address="10.1.1.4", answers=_varied(9), **_times())
    assert first.get_json()["status"] == "valid"
    assert copy.status_code == 201 and copy.get_json()["status"] == "flagged"
    reason = _stored(app, _client_uuid_of(app, copy.get_json()["id"])).status_reason
    assert reason is not None
    assert reason.startswith(f"duplicates: same answers as response {first.get_json()['id']} "
                             "at this site")


def _client_uuid_of(app: Any, response_id: int) -> str:
    with app.app_context():
        return get_session().get_one(Response, response_id).client_uuid


def test_a_burst_of_varied_answers_is_flagged_with_the_hour_before_it(app, client, sites):  # noqa: F811
    site = sites["hospital"]
    ids = []
    for i in range(25):
        response = _post(client, site, address=f"10.2.0.{i}", answers=_varied(i),
                         **_times(minutes_ago=(25 - i) * 0.4))
        assert response.status_code == 201, response.get_json()
        ids.append(response.get_json()["id"])
    with app.app_context():
        rows = {r.id: r for r in get_session().scalars(select(Response))}
    # no history: usual 0.0, so the limit is the floor, 20; the 21st completion exceeds it
    # and flags the whole hour, the 22nd… carry their own count
    for n, rid in enumerate(ids, start=1):
        r = rows[rid]
        assert r.status == "flagged", (n, r.status_reason)
        expected = f"burst: {max(n, 21)} completions in the hour, usual 0.0"
        assert r.status_reason == expected


def test_the_stuffing_attack_leaves_every_index_where_it_was(app, client):
    info = setup_demo(app, cities=2, responses=2000)
    wave = "2026Q4"
    now = datetime.now(UTC)
    with app.app_context():
        session = get_session()
        city = session.scalars(select(City).order_by(City.code)).first()
        assert city is not None
        quiet = set(session.scalars(select(Response.site_id).where(
            Response.submitted_at >= now - timedelta(hours=3),
            Response.submitted_at <= now + timedelta(hours=3))))
        counts = dict(session.execute(
            select(Response.site_id, func.count()).where(
                Response.city_id == city.id, Response.questionnaire == "healthcare",
                Response.wave == wave, Response.status == "valid")
            .group_by(Response.site_id)).all())
        site = max((s for s in session.scalars(select(Site).where(
            Site.city_id == city.id, Site.kind == "hospital")) if s.id not in quiet),
            key=lambda s: (counts.get(s.id, 0), s.code))
        site_code, site_id, city_code, city_id = site.code, site.id, city.code, city.id
    assert city_code in info["cities"]  # type: ignore[operator]

    def indices() -> tuple[Any, ...]:
        with app.app_context():
            session = get_session()
            settings = estimates.Settings(app.config["SINGLE_PSU"], app.config["MIN_CELL_SIZE"])
            scope = estimates.Scope(("healthcare",), (wave,), city_id)
            whole = estimates.kpis_by_split(session, settings, scope, estimates.Filters(), [])
            by_site = estimates.kpis_by_split(session, settings, scope, estimates.Filters(),
                                              [Response.site_id])
            cell, mine = whole[()].index, by_site[(site_id,)].index
            assert cell.estimate is not None and mine.estimate is not None
            return (cell.estimate.estimate, cell.estimate.n, mine.estimate.estimate,
                    mine.estimate.n, whole[()].rate.estimate)

    assert login(client, "admin@test.cn").status_code == 302
    page = f"/dashboard/{city_code}/healthcare?wave={wave}"

    def dashboard() -> tuple[str, list[list[str]], list[list[str]]]:
        html = client.get(page).text
        kpis = re.search(r'<div class="kpis">(.*?)</div>\n</div>', html, re.S)
        assert kpis
        return (kpis.group(1), read_csv(client.get(page + "&format=csv&table=sites")),
                read_csv(client.get(f"/dashboard/{city_code}?wave={wave}&format=csv"
                                    "&table=overview")))

    before, before_page = indices(), dashboard()
    assert re.search(r"<b>\d+\.\d</b>", before_page[0]), "the page shows no index"
    before_count = _count(app)

    start = datetime.now(UTC).replace(microsecond=0)
    for i in range(60):
        end = start - timedelta(seconds=10 * (59 - i))  # 60 within 10 minutes
        response = _post(client, site_code, address=f"10.3.{i // 250}.{i % 250}",
                         answers=dict(ALL_ONES),
                         started_at=(end - timedelta(minutes=4)).isoformat(),
                         submitted_at=end.isoformat())
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["status"] == "flagged"

    assert _count(app) == before_count + 60
    with app.app_context():
        attack = list(get_session().scalars(select(Response).where(
            Response.site_id == site_id, Response.survey_token.is_not(None))))
    assert len(attack) == 60
    assert all(r.status == "flagged" for r in attack)
    assert all(r.status_reason and r.status_reason.startswith(
        "straightlining: 1.00 of answers identical") for r in attack)
    bursts = [r for r in attack if r.status_reason and "burst: " in r.status_reason]
    assert len(bursts) == 40  # the 21st to the 60th completion of the hour
    assert indices() == before
    assert dashboard() == before_page

    # the dashboard says how many were held back and why
    with app.app_context():
        held = get_session().scalar(select(func.count()).select_from(Response).where(
            Response.city_id == city_id, Response.questionnaire == "healthcare",
            Response.wave == wave, Response.status != "valid")) or 0
    assert held >= 60
    html = client.get(f"/dashboard/{city_code}/healthcare?wave={wave}&lang=en").text
    line = re.search(r'<p class="muted small held-back">(.*?)</p>', html, re.S)
    assert line, "no held-back line on the questionnaire page"
    text = " ".join(line.group(1).split())
    assert f"Held back from the index: {held} response(s)" in text
    assert "Straight-lining 60" in text and "Burst of completions 40" in text
    overview = client.get(f"/dashboard/{city_code}?wave={wave}&lang=en").text
    assert f"Held back from the index: {held} response(s)" in " ".join(overview.split())


# --------------------------------------------------------------------------- the page


def _flag_two(app: Any, client: Any, site: str) -> list[int]:
    ids = []
    for i in range(2):
        response = _post(client, site, address=f"10.4.0.{i}", answers=dict(ALL_ONES),
                         **_times())
        assert response.get_json()["status"] == "flagged"
        ids.append(response.get_json()["id"])
    return ids


def _page_csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_the_integrity_page_lists_flagged_responses_and_an_admin_restores_one(app, client,
                                                                             sites):  # noqa: F811
    from survey.accounts.users import create_user

    with app.app_context():
        session = get_session()
        city = session.scalars(select(City).order_by(City.code)).first()
        assert city is not None
        create_user(session, email="admin@test.cn", password=PASSWORD, role="admin")
        create_user(session, email="official@test.cn", password=PASSWORD, role="official",
                    city_code=city.code)
        create_user(session, email="researcher@test.cn", password=PASSWORD,
                    role="researcher")
        session.commit()
    site = sites["hospital"]
    first, second = _flag_two(app, client, site)

    for email in ("official@test.cn", "researcher@test.cn"):
        other = app.test_client()
        assert login(other, email).status_code == 302
        assert other.get("/integrity/").status_code == 404
        token = _page_csrf(other.get("/").text)
        decision = {"csrf_token": token, "decision": "restore", "reason": "x" * 20}
        assert other.post(f"/integrity/responses/{first}/decision",
                          data=decision).status_code == 404
        assert other.post(f"/integrity/sites/{site}/decision", data=decision).status_code == 404
    assert app.test_client().get("/integrity/").status_code in (302, 401)

    assert login(client, "admin@test.cn").status_code == 302
    html = client.get("/integrity/?lang=en").text
    assert site in html and f"#{first}" in html and f"#{second}" in html
    assert "straightlining: 1.00 of answers identical" in html
    assert "Straight-lining" in html

    # no CSRF token: refused, nothing changed
    refused = client.post(f"/integrity/responses/{first}/decision",
                          data={"decision": "restore", "reason": "checked the paper slips"})
    assert refused.status_code == 400
    # too short a reason: not applied
    client.post(f"/integrity/responses/{first}/decision",
                data={"csrf_token": _page_csrf(html), "decision": "restore", "reason": "ok"})
    assert _stored(app, _client_uuid_of(app, first)).status == "flagged"

    reason = "Confirmed with the site manager: a patient group"
    done = client.post(f"/integrity/responses/{first}/decision",
                       data={"csrf_token": _page_csrf(html), "decision": "restore",
                             "reason": reason})
    assert done.status_code == 302
    row = _stored(app, _client_uuid_of(app, first))
    assert row.status == "valid" and row.status_reason == f"restored: {reason}"
    with app.app_context():
        [entry] = get_session().scalars(select(AuditLog).where(
            AuditLog.action == "web_response_restored"))
        assert entry.actor == "admin@test.cn" and entry.city_id == row.city_id
        assert entry.detail["reason"] == reason
        assert [r["id"] for r in entry.detail["responses"]] == [first]
        assert entry.detail["responses"][0]["previous_reason"].startswith("straightlining")
    page = client.get("/integrity/").text
    assert f"#{first}" not in page and f"#{second}" in page

    # a whole site at once: keep excluded
    client.post(f"/integrity/sites/{site}/decision",
                data={"csrf_token": _page_csrf(page), "decision": "exclude",
                      "reason": "Bulk test entries from the site's own staff"})
    row = _stored(app, _client_uuid_of(app, second))
    assert row.status == "excluded"
    assert row.status_reason is not None and row.status_reason.startswith("straightlining")
    assert row.status_reason.endswith("| kept excluded: Bulk test entries from the site's "
                                      "own staff")
    with app.app_context():
        assert get_session().scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "web_response_excluded")) == 1
    assert client.post(f"/integrity/sites/{site}/decision",
                       data={"csrf_token": _page_csrf(page), "decision": "exclude",
                             "reason": "nothing left to decide here"}).status_code == 404


# --------------------------------------------------------------------------- the command


def _manyi(*args: str, env: dict[str, str]) -> Ran:
    return manyi(*args, env=env)


def test_the_daily_screen_flags_a_planted_burst(app, app_config, sites, tmp_path):  # noqa: F811
    site = sites["hospital"]
    now = datetime.now(UTC).replace(microsecond=0)
    # usual: one valid completion in each of 10 hours over the last weeks
    history = _plant(app, site, [_varied(200 + i) for i in range(10)],
                     [now - timedelta(days=2 + i) for i in range(10)])
    burst = _plant(app, site, [_varied(i) for i in range(30)],
                   [now - timedelta(minutes=1 + i) for i in range(30)])
    quiet = _plant(app, site, [_varied(300)], [now - timedelta(hours=5)])
    env = {**os.environ, "MANYI_DATABASE_URL": str(app_config["DATABASE_URL"]),
           "MANYI_INSTANCE_DIR": str(tmp_path)}
    result = _manyi("integrity", "screen", env=env)
    assert result.returncode == 0, result.stderr
    assert f"{site}: 30 of 31 flagged (burst 30)" in result.stdout
    assert "screened 31 web responses at 1 sites" in result.stdout
    with app.app_context():
        rows = {r.id: r for r in get_session().scalars(select(Response))}
        entry = get_session().scalars(select(AuditLog).where(
            AuditLog.action == "web_responses_screened")).one()
    assert all(rows[i].status == "valid" for i in history + quiet)
    assert {rows[i].status_reason for i in burst} == {
        "burst: 30 completions in the hour, usual 1.0"}
    assert all(rows[i].status == "flagged" for i in burst)
    assert entry.actor == "cli" and entry.detail["flagged"] == 30

    again = _manyi("integrity", "screen", "--day", now.astimezone(CHINA_TZ).date().isoformat(),
                   env=env)
    assert again.returncode == 0, again.stderr
    bad = _manyi("integrity", "screen", "--day", "25.11.2026", env=env)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "--day" in bad.stderr and "YYYY-MM-DD" in bad.stderr
