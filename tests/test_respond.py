"""The respondent flow (`/s/<questionnaire>?site=<code>`): consent, age gate, one page
per section, server-side drafts, show_if, validation next to the field, idempotent
submit, receipt, language, QR codes. Real database, real HTTP client, JavaScript off."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import segno
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from survey.core.db import get_session
from survey.core.models import Draft, Response, Score
from survey.demo.data import load_demo
from survey.respond import drafts
from survey.respond.forms import pages
from survey.respond.views import CONSENT_TEXTS

# --------------------------------------------------------------------------- helpers


@pytest.fixture
def sites(app: Flask) -> dict[str, str]:
    """Demo places (no responses): site kind → the code of one active site of that kind."""
    with app.app_context():
        session = get_session()
        load_demo(session, app.extensions["manyi.questionnaires"], cities=1, responses=0,
                  seed=1)
        from survey.core.models import Site

        out: dict[str, str] = {}
        for site in session.scalars(select(Site).order_by(Site.code)):
            out.setdefault(site.kind, site.code)
        return out


def site_for(app: Flask, sites: Mapping[str, str], qid: str) -> str:
    q = app.extensions["manyi.questionnaires"][qid]
    return sites[q.site_kinds[0]]


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def shown_ids(html: str) -> list[str]:
    match = re.search(r'name="shown" type="hidden" value="([^"]*)"', html)
    assert match, "no list of shown items in the page"
    return match.group(1).split()


def location(response: Any) -> str:
    assert response.status_code in (302, 303), (response.status_code, response.text[:2000])
    return response.headers["Location"]


def agree(client: FlaskClient, qid: str, site: str) -> str:
    """Open the consent page, agree; returns the first page's URL."""
    page = client.get(f"/s/{qid}?site={site}")
    assert page.status_code == 200
    return location(client.post(f"/s/{qid}?site={site}",
                                data={"csrf_token": csrf_token(page.text), "consent": "yes"}))


def form_data(html: str, answers: Mapping[str, Any], action: str = "next") -> dict[str, Any]:
    """What a browser posts for the page in ``html`` when the respondent gives ``answers``
    to the items it shows."""
    data: dict[str, Any] = {"csrf_token": csrf_token(html), "shown": " ".join(shown_ids(html)),
                            "action": action}
    for item in shown_ids(html):
        if item in answers:
            value = answers[item]
            data[item] = [str(v) for v in value] if isinstance(value, list) else str(value)
    return data


def walk(client: FlaskClient, qid: str, site: str, answers: Mapping[str, Any]) -> str:
    """Answer every page through the HTML flow and submit; returns the receipt code.

    Pages that re-render (an answer opened a follow-up item on the same page) are posted
    again with the newly shown items answered.
    """
    url = agree(client, qid, site)
    for _ in range(50):
        if url.endswith("/review"):
            break
        html = client.get(url).text
        response = client.post(url, data=form_data(html, answers))
        while response.status_code == 200:  # re-rendered with newly applicable items
            response = client.post(url, data=form_data(response.text, answers))
        url = location(response)
    review = client.get(url)
    assert review.status_code == 200, review.text
    uid = re.search(r'name="client_uuid" type="hidden" value="([^"]+)"', review.text)
    assert uid, "no client_uuid on the review page"
    done = client.post(f"/s/{qid}/submit", data={"csrf_token": csrf_token(review.text),
                                                  "client_uuid": uid.group(1)})
    match = re.search(r"/done/([A-Z0-9]+)$", location(done))
    assert match
    return match.group(1)


def response_count(app: Flask) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(Response)) or 0


def draft_rows(app: Flask) -> list[Draft]:
    with app.app_context():
        return list(get_session().scalars(select(Draft)))


HEALTHCARE = {
    "visit_type": "outpatient", "registration_ease": 4, "wayfinding": 5, "process_smooth": 3,
    "wait_doctor": 3, "wait_tests": 2, "wait_too_long": 2, "doctor_listened": 5,
    "doctor_explained": 4, "nurse_attitude": "na", "privacy": 5, "cost_informed": 1,
    "bill_clear": 3, "cost_value": 2, "cleanliness": 5, "amenities": 4,
    "overall_satisfaction": 4, "expectation": 3, "recommend": 4, "complained": "no",
    "comment": "候诊区座位不够。", "respondent": "patient", "age_band": "45_59",
    "gender": "female", "visit_frequency": "once",
}


def start_healthcare(client: FlaskClient, sites: Mapping[str, str]) -> None:
    """Consent and the age page (45–59): the draft is at page 2."""
    url = agree(client, "healthcare", sites["hospital"])
    html = client.get(url).text
    assert location(client.post(url, data=form_data(html, HEALTHCARE))).endswith("/p/2")


# --------------------------------------------------------------------------- consent


def test_consent_page_comes_first_in_both_languages_with_its_version(client, sites):
    zh = client.get(f"/s/healthcare?site={sites['hospital']}")
    assert zh.status_code == 200
    assert "医疗服务满意度调查" in zh.text and "本调查不记名" in zh.text
    assert "知情同意书版本 2026-01" in zh.text
    en = client.get(f"/s/healthcare?site={sites['hospital']}&lang=en").text
    assert "This survey is anonymous" in en and "Consent text version 2026-01" in en
    assert "used only in aggregate statistics" in en


def test_every_questionnaires_consent_version_has_a_text(app):
    for q in app.extensions["manyi.questionnaires"].values():
        assert q.consent_version in CONSENT_TEXTS, q.id


@pytest.mark.parametrize("query", ["", "?site=nope", "?site={clinic_for_tourism}"])
def test_an_unknown_site_or_one_of_the_wrong_kind_is_404(client, sites, query):
    url = "/s/tourism" + query.format(clinic_for_tourism=sites["clinic"])
    assert client.get(url).status_code == 404


def test_an_unknown_questionnaire_is_404(client, sites):
    assert client.get(f"/s/nope?site={sites['hospital']}").status_code == 404


def test_agreeing_keeps_answers_server_side_and_only_a_token_in_the_cookie(app, client,
                                                                          sites):
    url = agree(client, "healthcare", sites["hospital"])
    assert url.endswith("/s/healthcare/p/1")
    [draft] = draft_rows(app)
    assert drafts.answers_of(draft) == {} and draft.consent_version == "2026-01"
    token = drafts.survey_token(draft)  # the survey token stays server-side too
    assert token
    cookie = client.get_cookie("session")
    assert cookie is not None
    payload = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    assert payload["drafts"] == {"healthcare": draft.id}
    assert set(payload) <= {"drafts", "csrf_token", "lang", "_fresh"}
    assert token not in repr(payload)
    # After answering, the cookie still holds only the token.
    html = client.get(url).text
    client.post(url, data=form_data(html, {"age_band": "45_59"}))
    payload = app.session_interface.get_signing_serializer(app).loads(
        client.get_cookie("session").value)  # type: ignore[union-attr]
    assert "45_59" not in repr(payload)
    assert drafts.answers_of(draft_rows(app)[0]) == {"age_band": "45_59"}
    assert drafts.survey_token(draft_rows(app)[0]) == token


def test_agreeing_without_the_csrf_token_is_refused(app, client, sites):
    client.get(f"/s/healthcare?site={sites['hospital']}")
    response = client.post(f"/s/healthcare?site={sites['hospital']}", data={"consent": "yes"})
    assert response.status_code == 400 and "页面已过期" in response.text
    assert draft_rows(app) == []


# --------------------------------------------------------------------------- age gate


def test_the_age_question_comes_first_on_its_own_page(client, sites):
    url = agree(client, "healthcare", sites["hospital"])
    html = client.get(url).text
    assert shown_ids(html) == ["age_band"]
    assert "第 1/10 页" in html and '<progress max="10" value="1">' in html


def test_a_respondent_under_14_is_stopped_politely_and_nothing_is_stored(app, client, sites):
    url = agree(client, "healthcare", sites["hospital"])
    html = client.get(url).text
    stop = location(client.post(url, data=form_data(html, {"age_band": "under_14"})))
    assert stop.endswith("/s/healthcare/stopped")
    page = client.get(stop).text
    assert "感谢您的关注" in page and "14岁及以上" in page and "没有保存" in page
    assert draft_rows(app) == [] and response_count(app) == 0
    # The draft is gone: later pages cannot be reached.
    assert "找不到您的答卷" in client.get("/s/healthcare/p/2").text


def test_later_pages_need_the_age_answer_first(client, sites):
    agree(client, "healthcare", sites["hospital"])
    assert location(client.get("/s/healthcare/p/3")).endswith("/s/healthcare/p/1")
    assert location(client.get("/s/healthcare/review")).endswith("/s/healthcare/p/1")


def test_pages_without_a_draft_explain_what_to_do(client, sites):
    page = client.get("/s/healthcare/p/2?lang=en")
    assert page.status_code == 200
    assert "We could not find your answers" in page.text and "scan the QR code" in page.text


# --------------------------------------------------------------------------- pages


def test_one_section_per_page_with_progress_and_no_javascript(app, client, sites):
    start_healthcare(client, sites)
    q = app.extensions["manyi.questionnaires"]["healthcare"]
    html = client.get("/s/healthcare/p/3").text
    assert shown_ids(html) == [i.id for i in q.sections[1].items]  # the "access" section
    assert "第 3/10 页" in html and "挂号与就诊流程" in html
    assert "<script" not in html
    # Scale items: radios in a fieldset with a legend, N/A as its own radio, 48 px buttons.
    assert html.count("<fieldset") == 3 and html.count("<legend") == 3
    assert html.count('type="radio"') == 3 * 6
    assert 'value="na"' in html and "不适用／未经历" in html
    assert '<button class="primary" name="action" value="next">下一页</button>' in html


def test_every_questionnaire_page_renders_its_items_as_the_right_inputs(app, client, sites):
    qs = app.extensions["manyi.questionnaires"]
    q = qs["elderly_care"]
    url = agree(client, "elderly_care", site_for(app, sites, "elderly_care"))
    html = client.get(url).text
    client.post(url, data=form_data(html, {"age_band": "70_79"}))
    html = client.get("/s/elderly_care/p/2").text
    assert html.count('type="checkbox"') == len(q.item("services_used").options or [])
    tourism_url = agree(client, "tourism", sites["scenic_spot"])
    html = client.get(tourism_url).text
    client.post(tourism_url, data=form_data(html, {"age_band": "18_29"}))
    last_section = len(qs["tourism"].sections) + 1
    html = client.get(f"/s/tourism/p/{last_section}").text
    nps = re.search(r'<fieldset id="q-recommend".*?</fieldset>', html, re.S)
    assert nps and nps.group(0).count('type="radio"') == 11  # 0–10, no N/A
    assert re.search(r'<textarea[^>]*maxlength="2000"', html)


def test_a_missing_answer_gets_a_message_next_to_the_field_and_a_summary(app, client, sites):
    start_healthcare(client, sites)
    html = client.get("/s/healthcare/p/3").text
    answers = {"registration_ease": 4, "process_smooth": 3}  # wayfinding left out
    response = client.post("/s/healthcare/p/3", data=form_data(html, answers))
    assert response.status_code == 422
    page = response.text
    assert '<a href="#q-wayfinding">' in page  # the summary links to the field
    field = re.search(r'<fieldset id="q-wayfinding".*?</fieldset>', page, re.S)
    assert field and "请回答此题。" in field.group(0) and 'class="q bad"' in field.group(0)
    # What was answered is still checked.
    assert re.search(r'name="registration_ease" type="radio" value="4" checked|'
                     r'checked[^>]*name="registration_ease"[^>]*value="4"', page)
    en = client.post("/s/healthcare/p/3?lang=en", data=form_data(html, answers)).text
    assert "Please answer this question." in en
    # The page's valid answers were kept in the draft; the page did not advance.
    [draft] = draft_rows(app)
    assert draft.answers.get("registration_ease") == "4" and "wayfinding" not in draft.answers


def test_an_answer_outside_the_options_is_refused_by_the_one_validation_path(client, sites):
    start_healthcare(client, sites)
    html = client.get("/s/healthcare/p/3").text
    data = form_data(html, {"registration_ease": 9, "wayfinding": 5, "process_smooth": 3})
    response = client.post("/s/healthcare/p/3", data=data)
    assert response.status_code == 422
    field = re.search(r'<fieldset id="q-registration_ease".*?</fieldset>', response.text, re.S)
    assert field and 'class="error"' in field.group(0)


def test_back_and_forward_keep_the_answers(app, client, sites):
    start_healthcare(client, sites)
    html = client.get("/s/healthcare/p/2").text
    assert location(client.post("/s/healthcare/p/2", data=form_data(html, HEALTHCARE))
                    ).endswith("/p/3")
    html = client.get("/s/healthcare/p/3").text
    partial = {"registration_ease": 2}
    back = client.post("/s/healthcare/p/3", data=form_data(html, partial, action="back"))
    assert location(back).endswith("/p/2")  # Back never blocks on missing answers
    again = client.get("/s/healthcare/p/2").text
    assert re.search(r'checked[^>]*value="outpatient"|value="outpatient"[^>]*checked', again)
    forward = client.get("/s/healthcare/p/3").text
    assert re.search(r'checked[^>]*name="registration_ease"[^>]*value="2"|'
                     r'name="registration_ease"[^>]*value="2"[^>]*checked', forward)


def test_a_closed_tab_resumes_where_the_respondent_stopped(client, sites):
    start_healthcare(client, sites)
    html = client.get("/s/healthcare/p/2").text
    client.post("/s/healthcare/p/2", data=form_data(html, HEALTHCARE))
    # The tab is closed; the QR code is scanned again with the same browser.
    start = client.get(f"/s/healthcare?site={sites['hospital']}").text
    assert "您已经开始填写这份问卷" in start
    assert 'href="/s/healthcare/p/3"' in start


def test_show_if_on_an_earlier_page_decides_which_items_are_shown(client, sites):
    start_healthcare(client, sites)
    html = client.get("/s/healthcare/p/2").text
    client.post("/s/healthcare/p/2", data=form_data(html, {"visit_type": "inpatient"}))
    waiting = shown_ids(client.get("/s/healthcare/p/4").text)
    assert "wait_admission" in waiting and "wait_doctor" not in waiting
    html = client.get("/s/healthcare/p/2").text
    client.post("/s/healthcare/p/2", data=form_data(html, {"visit_type": "outpatient"}))
    waiting = shown_ids(client.get("/s/healthcare/p/4").text)
    assert "wait_doctor" in waiting and "wait_admission" not in waiting


def test_an_answer_that_opens_a_follow_up_on_the_same_page_shows_it_without_js(app, client,
                                                                              sites):
    start_healthcare(client, sites)
    last = len(pages(app.extensions["manyi.questionnaires"]["healthcare"])) - 1  # "overall"
    html = client.get(f"/s/healthcare/p/{last}").text
    assert "complaint_handling" not in shown_ids(html)
    answers = {**HEALTHCARE, "complained": "yes", "complaint_handling": 2}
    again = client.post(f"/s/healthcare/p/{last}", data=form_data(html, answers))
    assert again.status_code == 200  # the same page, with the follow-up question
    assert "complaint_handling" in shown_ids(again.text)
    assert "您的回答使本页出现了新的问题" in again.text
    assert 'id="q-complaint_handling"' in again.text and "请回答此题" not in again.text
    done = client.post(f"/s/healthcare/p/{last}", data=form_data(again.text, answers))
    assert location(done).endswith(f"/p/{last + 1}")
    [draft] = draft_rows(app)
    assert draft.answers["complaint_handling"] == "2"


def test_changing_an_answer_drops_answers_to_items_it_now_hides(app, client, sites):
    start_healthcare(client, sites)
    html = client.get("/s/healthcare/p/2").text
    client.post("/s/healthcare/p/2", data=form_data(html, {"visit_type": "outpatient"}))
    html = client.get("/s/healthcare/p/4").text
    client.post("/s/healthcare/p/4", data=form_data(html, HEALTHCARE))
    assert "wait_doctor" in draft_rows(app)[0].answers
    html = client.get("/s/healthcare/p/2").text
    client.post("/s/healthcare/p/2", data=form_data(html, {"visit_type": "inpatient"}))
    assert "wait_doctor" not in draft_rows(app)[0].answers


def test_a_page_whose_items_are_all_hidden_is_skipped(app, client, sites):
    url = agree(client, "elderly_care", site_for(app, sites, "elderly_care"))
    html = client.get(url).text
    client.post(url, data=form_data(html, {"age_band": "70_79"}))
    html = client.get("/s/elderly_care/p/2").text
    # Only meals used: the day care (p/4) and home service (p/5) pages are skipped.
    response = client.post("/s/elderly_care/p/2",
                           data=form_data(html, {"services_used": ["meals"]}))
    assert location(response).endswith("/p/3")
    html = client.get("/s/elderly_care/p/3").text
    response = client.post("/s/elderly_care/p/3",
                           data=form_data(html, {"meal_quality": 4, "meal_convenience": 5}))
    assert location(response).endswith("/p/6")
    html = client.get("/s/elderly_care/p/6").text
    assert location(client.post("/s/elderly_care/p/6", data=form_data(html, {}, "back"))
                    ).endswith("/p/3")
    assert location(client.get("/s/elderly_care/p/4")).endswith("/p/6")


def test_a_page_posted_without_csrf_token_saves_nothing(app, client, sites):
    start_healthcare(client, sites)
    html = client.get("/s/healthcare/p/3").text
    data = form_data(html, HEALTHCARE)
    del data["csrf_token"]
    response = client.post("/s/healthcare/p/3", data=data)
    assert response.status_code == 400 and "本页已过期" in response.text
    assert "registration_ease" not in draft_rows(app)[0].answers


# --------------------------------------------------------------------------- submit


def test_review_lists_the_answers_and_submit_stores_one_scored_response(app, client, sites):
    receipt = walk(client, "healthcare", sites["hospital"], HEALTHCARE)
    assert re.fullmatch(r"[A-Z2-9]{8}", receipt)
    with app.app_context():
        session = get_session()
        [response] = session.scalars(select(Response))
        assert response.receipt_code == receipt and response.channel == "web"
        assert response.consent_version == "2026-01" and response.started_at is not None
        assert response.age_band == "45_59" and response.gender == "female"
        scores = {s.dimension: s.value for s in session.scalars(select(Score))}
        assert set(scores) == {"access", "waiting", "communication", "cost", "environment",
                               "overall"}
        assert response.overall_score == pytest.approx(scores["overall"])
    assert draft_rows(app) == []  # the draft is deleted at submit


def test_a_double_tap_on_submit_stores_one_response_and_shows_the_same_receipt(app, client,
                                                                              sites):
    start_healthcare(client, sites)
    url = "/s/healthcare/p/2"
    while not url.endswith("/review"):
        html = client.get(url).text
        url = location(client.post(url, data=form_data(html, HEALTHCARE)))
    review = client.get(url).text
    assert "候诊区座位不够。" in review  # the review shows the answers
    data = {"csrf_token": csrf_token(review),
            "client_uuid": re.search(r'name="client_uuid" type="hidden" value="([^"]+)"',
                                     review).group(1)}  # type: ignore[union-attr]
    first = location(client.post("/s/healthcare/submit", data=data))
    second = location(client.post("/s/healthcare/submit", data=data))
    assert first == second and "/s/healthcare/done/" in first
    assert response_count(app) == 1


def test_the_receipt_page_shows_the_code_and_nothing_personal(app, client, sites):
    receipt = walk(client, "healthcare", sites["hospital"], HEALTHCARE)
    page = client.get(f"/s/healthcare/done/{receipt}").text
    assert receipt in page and "谢谢" in page
    for personal in ("候诊区座位不够", "45_59", "45–59", "female", "女", sites["hospital"]):
        assert personal not in page
    assert client.get("/s/healthcare/done/AAAAAAAA").status_code == 404


def test_a_submit_with_a_foreign_client_uuid_is_refused(app, client, sites):
    start_healthcare(client, sites)
    review = client.get("/s/healthcare/review")
    assert review.status_code == 200 and "还有问题需要回答" in review.text
    assert 'name="client_uuid"' not in review.text  # no submit while answers are missing
    token = csrf_token(client.get("/s/healthcare/p/2").text)
    response = client.post("/s/healthcare/submit",
                           data={"csrf_token": token,
                                 "client_uuid": "6f1c2a4e-0b7d-4f4e-9a51-0c6f2d7e8b13"})
    assert response.status_code == 400 and response_count(app) == 0


def test_stale_drafts_are_purged(app, sites):
    q = app.extensions["manyi.questionnaires"]["healthcare"]
    with app.app_context():
        session = get_session()
        from survey.core.places import site_by_code

        site = site_by_code(session, sites["hospital"])
        assert site is not None
        old = drafts.create(session, q, site.id, now=datetime.now(UTC) - timedelta(days=8))
        fresh = drafts.create(session, q, site.id)
        remaining = {d.id for d in session.scalars(select(Draft))}
    assert old.id not in remaining and fresh.id in remaining


# --------------------------------------------------------------------------- language


def test_the_language_choice_is_remembered_through_the_flow(client, sites):
    client.get(f"/s/healthcare?site={sites['hospital']}&lang=en")
    url = agree(client, "healthcare", sites["hospital"])
    html = client.get(url).text
    assert 'lang="en"' in html and "Page 1 of 10" in html and "Your age" in html
    assert "中文" in html  # the switch back


# --------------------------------------------------------------------------- QR codes


def test_the_site_qr_code_encodes_the_survey_url_as_svg(client, sites):
    code = sites["hospital"]
    response = client.get(f"/sites/{code}/qr")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    expected_url = f"http://localhost/s/healthcare?site={code}"
    buf = io.BytesIO()
    segno.make(expected_url, error="m").save(buf, kind="svg", scale=6, border=2,
                                             xmldecl=False)
    assert response.data == buf.getvalue()
    assert client.get(expected_url.removeprefix("http://localhost")).status_code == 200


def test_the_site_qr_code_as_png(client, sites):
    code = sites["scenic_spot"]
    response = client.get(f"/sites/{code}/qr?format=png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.data.startswith(b"\x89PNG\r\n\x1a\n")
    buf = io.BytesIO()
    segno.make(f"http://localhost/s/tourism?site={code}", error="m").save(
        buf, kind="png", scale=8, border=2)
    assert response.data == buf.getvalue()


def test_a_site_with_several_questionnaires_gets_a_chooser(client, sites):
    code = sites["community_centre"]
    response = client.get(f"/sites/{code}/qr")
    buf = io.BytesIO()
    segno.make(f"http://localhost/sites/{code}", error="m").save(
        buf, kind="svg", scale=6, border=2, xmldecl=False)
    assert response.data == buf.getvalue()
    html = client.get(f"/sites/{code}").text
    assert f"/s/community?site={code}" in html and f"/s/elderly_care?site={code}" in html
    assert client.get(f"/s/elderly_care?site={code}").status_code == 200


def test_an_unknown_site_has_no_qr_code(client, sites):
    assert client.get("/sites/nope/qr").status_code == 404


def test_submissions_are_rate_limited(app_config, sites):
    from survey import create_app

    limited = create_app({**app_config, "RATELIMIT_ENABLED": True})
    client = limited.test_client()
    environ = {"REMOTE_ADDR": "10.9.8.7"}
    statuses = [client.post("/s/healthcare/submit", environ_base=environ).status_code
                for _ in range(11)]
    assert statuses[:10] == [200] * 10 and statuses[10] == 429
    limited.extensions["manyi.engine"].dispose()
