"""Public results (issue 16, docs/public.md): release → frozen public pages and open data
equal to the dashboard; corrections; reliability rules; red/black lists with due process.
Real HTTP client, real database (SQLite and PostgreSQL), the real ``manyi release``."""

from __future__ import annotations

import json
import os
import re
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from survey.core.db import get_session
from survey.core.models import AuditLog, City, District, ListEntry, Release, Response, Site
from survey.public import reliability as rules
from tests.helpers import csrf_token, login, manyi, read_csv, setup_demo

WAVE = "2026Q4"


@pytest.fixture
def demo(app):  # type: ignore[no-untyped-def]
    return setup_demo(app, cities=2, responses=2500)


def _env(app_config: dict[str, Any], tmp_path: Any) -> dict[str, str]:
    return {**os.environ, "MANYI_DATABASE_URL": str(app_config["DATABASE_URL"]),
            "MANYI_INSTANCE_DIR": str(tmp_path)}


def _release(app_config, tmp_path, *extra: str):  # type: ignore[no-untyped-def]
    return manyi("release", "--city", "hangzhou", "--wave", WAVE, *extra,
                 env=_env(app_config, tmp_path))


def _public_csv(client, path: str) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    rows = read_csv(client.get(path))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def _f(value: str) -> float | None:
    return float(value) if value != "" else None


# --------------------------------------------------------------------------- release

def test_nothing_is_public_before_release_and_after_it_equals_the_dashboard(
        demo, app, app_config, client, tmp_path):
    assert "has not released" in client.get("/public/hangzhou?lang=en").get_data(as_text=True)
    for path in ("/public/hangzhou/healthcare", f"/public/data/hangzhou/{WAVE}.csv",
                 f"/public/data/hangzhou/{WAVE}.json", f"/public/data/national/{WAVE}.csv",
                 f"/public/hangzhou?wave={WAVE}"):
        assert client.get(path).status_code == 404, path
    assert client.get("/api/v1/public/releases").get_json() == {"releases": []}

    done = _release(app_config, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "release 1 published" in done.stderr

    rows = _public_csv(client, f"/public/data/hangzhou/{WAVE}.csv")
    official = app.test_client()
    login(official, "official.hangzhou@test.cn")
    compared = 0
    for table, kind in (("districts", "district"), ("sites", "site"),
                        ("dimensions", "dimension")):
        dash = read_csv(official.get(f"/dashboard/hangzhou/healthcare?format=csv&table={table}"
                                     f"&wave={WAVE}"))
        by_name = {r[0]: r for r in dash[1:]}
        for row in rows:
            if row["questionnaire"] != "healthcare" or row["kind"] != kind:
                continue
            if row["status"] == "suppressed":
                continue
            d = by_name[row["name_zh"]]
            assert int(row["n"]) == int(d[1])
            for public, dashboard in ((row["estimate"], d[2]), (row["ci_low"], d[3]),
                                      (row["ci_high"], d[4])):
                if public:
                    assert float(public) == pytest.approx(float(dashboard), rel=1e-12)
            compared += 1
    overview = read_csv(official.get(f"/dashboard/hangzhou?format=csv&table=overview"
                                     f"&wave={WAVE}"))
    index = next(r for r in rows if r["questionnaire"] == "healthcare" and r["kind"] == "index")
    dash = next(r for r in overview[1:] if r[0] == "医疗服务满意度调查")
    assert float(index["estimate"]) == pytest.approx(float(dash[2]), rel=1e-12)
    assert compared >= 8
    # the page shows the same cells as the file: every shown index of a district/site
    page = client.get("/public/hangzhou/healthcare?lang=en").get_data(as_text=True)
    for row in rows:
        if row["questionnaire"] == "healthcare" and row["kind"] in ("district", "site") \
                and row["status"] != "suppressed":
            cell = re.search(rf'data-key="{re.escape(row["key"])}"><th scope="row">[^<]*</th>'
                             r"<td>([^<]*)", page)
            assert cell and cell.group(1) == f'{float(row["estimate"]):.1f}', row["key"]
    # JSON = CSV rows; the national file holds them; the API lists the release
    data = client.get(f"/public/data/hangzhou/{WAVE}.json").get_json()
    assert data["licence"] == "CC BY 4.0" and len(data["rows"]) == len(rows)
    assert [str(r["estimate"] if r["estimate"] is not None else "") for r in data["rows"]] == \
        [r["estimate"] for r in rows]
    national = _public_csv(client, f"/public/data/national/{WAVE}.csv")
    assert national == rows  # only Hangzhou released
    listed = client.get("/api/v1/public/releases").get_json()["releases"]
    assert [(r["city"], r["wave"], r["number"], r["latest"]) for r in listed] == [
        ("hangzhou", WAVE, 1, True)]
    with app.app_context():
        audit = get_session().scalar(select(AuditLog).where(AuditLog.action == "public_release"))
        assert audit is not None and audit.detail["number"] == 1


def test_later_responses_and_weights_change_the_dashboard_not_the_release(
        demo, app, app_config, client, tmp_path):
    assert _release(app_config, tmp_path).returncode == 0
    before = client.get(f"/public/data/hangzhou/{WAVE}.csv").get_data()
    official = app.test_client()
    login(official, "official.hangzhou@test.cn")
    dash = official.get(f"/dashboard/hangzhou?format=csv&table=overview&wave={WAVE}").get_data()
    with app.app_context():
        session = get_session()
        city = session.scalar(select(City.id).where(City.code == "hangzhou"))
        session.execute(update(Response).where(Response.city_id == city, Response.wave == WAVE)
                        .values(final_weight=Response.final_weight * (1 + Response.id % 3),
                                overall_score=Response.overall_score * 0.9))
        session.commit()
    assert official.get(f"/dashboard/hangzhou?format=csv&table=overview&wave={WAVE}"
                        ).get_data() != dash
    assert client.get(f"/public/data/hangzhou/{WAVE}.csv").get_data() == before
    with app.app_context():
        rel = get_session().scalar(select(Release))
        from survey.public.service import digest
        assert rel is not None and digest(rel.snapshot) == rel.digest


def test_a_correction_is_release_2_with_its_public_note(demo, app, app_config, client,
                                                        tmp_path):
    assert _release(app_config, tmp_path).returncode == 0
    with app.app_context():
        session = get_session()
        session.execute(update(Response).where(Response.questionnaire == "healthcare")
                        .values(overall_score=Response.overall_score * 0.95))
        session.commit()
    no_note = _release(app_config, tmp_path, "--questionnaire", "healthcare")
    assert no_note.returncode == 2
    assert no_note.stderr.strip().splitlines() == [
        f"manyi: hangzhou {WAVE} release 2 changes release 1: a public note of what changed "
        "and why is required"]
    note = "医疗问卷权重更正：重新计算 corrected weights"
    done = _release(app_config, tmp_path, "--questionnaire", "healthcare", "--note", note)
    assert done.returncode == 0, done.stderr
    first = _public_csv(client, f"/public/data/hangzhou/{WAVE}/r1.csv")
    latest = _public_csv(client, f"/public/data/hangzhou/{WAVE}.csv")
    assert {r["release"] for r in latest} == {"2"}
    h1 = next(r for r in first if r["questionnaire"] == "healthcare" and r["kind"] == "index")
    h2 = next(r for r in latest if r["questionnaire"] == "healthcare" and r["kind"] == "index")
    assert float(h2["estimate"]) == pytest.approx(float(h1["estimate"]) * 0.95, rel=1e-9)
    # the other questionnaires are carried over unchanged
    other = [(r["questionnaire"], r["kind"], r["key"], r["estimate"]) for r in first
             if r["questionnaire"] != "healthcare"]
    assert other == [(r["questionnaire"], r["kind"], r["key"], r["estimate"]) for r in latest
                     if r["questionnaire"] != "healthcare"]
    page = client.get("/public/hangzhou?lang=en").get_data(as_text=True)
    assert "Release 2 of 2026Q4" in page and note in page
    api = client.get("/api/v1/public/releases").get_json()["releases"]
    assert [(r["number"], r["latest"], r["note"]) for r in api] == [(2, True, note),
                                                                      (1, False, "")]


def test_bad_release_input_is_refused_naming_it(demo, app_config, tmp_path):
    env = _env(app_config, tmp_path)
    for args, message in (
            (["--city", "atlantis", "--wave", WAVE], "city 'atlantis': no such city"),
            (["--city", "hangzhou", "--wave", "2026-4"], "wave '2026-4': expected YYYYQn"),
            (["--city", "hangzhou", "--wave", WAVE, "--questionnaire", "nope"],
             "questionnaire 'nope': no such questionnaire"),
            (["--city", "hangzhou", "--wave", "2019Q1"], "no valid responses")):
        done = manyi("release", *args, env=env)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
    dry = manyi("release", "--city", "hangzhou", "--wave", WAVE, "--dry-run", env=env)
    assert dry.returncode == 0 and "not stored" in dry.stderr


def test_the_release_page_previews_exactly_what_is_published(demo, app, client):
    assert client.get("/public/admin/releases").status_code in (302, 401)
    login(client, "official.hangzhou@test.cn")
    assert client.get("/public/admin/releases").status_code == 404
    admin = app.test_client()
    login(admin, "admin@test.cn")
    page = admin.get(f"/public/admin/releases?city=hangzhou&wave={WAVE}")
    html = page.get_data(as_text=True)
    digest = re.search(r'name="digest" value="([0-9a-f]{64})"', html).group(1)  # type: ignore[union-attr]
    assert admin.post("/public/admin/releases", data={
        "action": "release", "digest": digest, "city": "hangzhou", "wave": WAVE}
    ).status_code == 400  # no CSRF token
    token = csrf_token(admin, f"/public/admin/releases?city=hangzhou&wave={WAVE}")
    stale = admin.post("/public/admin/releases", data={
        "csrf_token": token, "action": "release", "digest": "0" * 64, "city": "hangzhou",
        "wave": WAVE, "note": ""})
    assert stale.status_code == 422
    done = admin.post("/public/admin/releases", data={
        "csrf_token": token, "action": "release", "digest": digest, "city": "hangzhou",
        "wave": WAVE, "note": ""})
    assert done.status_code == 200
    with app.app_context():
        rel = get_session().scalar(select(Release))
        assert rel is not None and rel.digest == digest and rel.number == 1


# --------------------------------------------------------------------------- reliability

def test_no_cell_under_10_respondents_carries_a_number_anywhere_public(
        demo, app, app_config, client, tmp_path):
    assert _release(app_config, tmp_path).returncode == 0
    with app.app_context():
        session = get_session()
        city = session.scalar(select(City.id).where(City.code == "hangzhou"))
        counts = {}
        for column, model in ((Response.site_id, Site), (Response.district_id, District)):
            for q, unit_id, n in session.execute(
                    select(Response.questionnaire, column, func.count())
                    .where(Response.city_id == city, Response.wave == WAVE,
                           Response.status == "valid", Response.final_weight > 0,
                           Response.overall_score.is_not(None))
                    .group_by(Response.questionnaire, column)):
                code = session.get(model, unit_id).code  # type: ignore[union-attr]
                counts[(q, code)] = n
    rows = _public_csv(client, f"/public/data/hangzhou/{WAVE}.csv")
    data = client.get(f"/public/data/hangzhou/{WAVE}.json").get_json()["rows"]
    small = [r for r in rows if r["kind"] in ("site", "district")
             and counts[(r["questionnaire"], r["key"])] < rules.MIN_N]
    assert small, "the demo has small sites"
    numbers = ("n", "estimate", "se", "ci_low", "ci_high", "df", "n_effective", "versus_p")
    for r in small:
        assert r["status"] == "suppressed" and all(r[k] == "" for k in numbers), r
    for r in data:
        if r["kind"] in ("site", "district") and \
                counts[(r["questionnaire"], r["key"])] < rules.MIN_N:
            assert all(r[k] is None for k in numbers), r
    # complementary: a partition never has exactly one cell with its count withheld
    for q in {r["questionnaire"] for r in rows}:
        for kind in ("site", "district"):
            hidden = [r for r in rows if r["questionnaire"] == q and r["kind"] == kind
                      and r["n"] == ""]
            assert len(hidden) != 1, (q, kind)
    comp = [r for r in rows if "complementary" in r["reasons"]]
    assert all(counts[(r["questionnaire"], r["key"])] >= rules.MIN_N for r in comp)
    # pages: the row of a small unit shows no number
    for q in {r["questionnaire"] for r in small}:
        page = client.get(f"/public/hangzhou/{q}").get_data(as_text=True)
        for r in (x for x in small if x["questionnaire"] == q):
            row = re.search(rf'<tr data-key="{re.escape(r["key"])}">(.*?)</tr>', page)
            assert row is not None
            cells = re.findall(r"<td>(.*?)</td>", row.group(1))
            assert not any(re.search(r"\d", re.sub(r"<[^>]+>", "", c)) for c in cells[:3]), \
                (r["key"], cells)


@pytest.mark.parametrize(("args", "status", "reason"), [
    ((9, 0.8, 0.7, 0.9, 20, 9.0), "suppressed", rules.FEW_RESPONDENTS),
    ((200, 0.5, 0.40, 0.60, 20, 29.9), "suppressed", rules.LOW_EFFECTIVE_N),
    ((200, 0.5, 0.34, 0.64, 20, 100.0), "suppressed", rules.WIDE_INTERVAL),  # width 0.30
    ((200, 0.05, 0.01, 0.1, 20, 100.0), "suppressed", rules.WIDE_RELATIVE),  # 0.09/0.05 = 180 %
    ((200, 0.1, 0.05, 0.14, 20, 100.0), "shown", None),   # 0.09/0.1 = 90 %
    ((200, 0.02, 0.005, 0.035, 20, 100.0), "shown", None),  # width 0.03 ≤ 0.05: always shown
    ((200, 0.8, 0.75, 0.85, 5, 100.0), "marked", rules.LOW_DF),
    ((200, 0.8, None, None, 0, 100.0), "suppressed", rules.NO_INTERVAL),
])
def test_nchs_rules_for_proportions(args, status, reason):
    # NCHS Data Presentation Standards for Proportions (Vital Health Stat 2(175), 2017)
    j = rules.judge_proportion(*args)
    assert j.status == status and (reason is None or reason in j.reasons), j


def test_rules_for_means_mark_and_never_suppress_above_10():
    assert rules.judge_mean(9, 70.0, 2.0, 66.0, 74.0, 20, 9.0).status == "suppressed"
    assert rules.judge_mean(50, 70.0, 2.0, 66.0, 74.0, 20, 50.0).status == "shown"
    marked = rules.judge_mean(50, 70.0, 2.0, None, None, 0, 50.0)
    assert marked.status == "marked" and marked.reasons == (rules.NO_INTERVAL,)
    assert rules.judge_mean(50, 70.0, 2.0, 66.0, 74.0, 20, 12.0).reasons == (
        rules.LOW_EFFECTIVE_N,)
    assert rules.HIGH_RSE in rules.judge_mean(50, 5.0, 2.0, 1.0, 9.0, 20, 50.0).reasons


def test_complementary_suppression_hides_the_next_smallest():
    shown, few = rules.Judgement("shown"), rules.Judgement("suppressed", (rules.FEW_RESPONDENTS,))
    out = rules.complementary({"a": few, "b": shown, "c": shown}, {"a": 5, "b": 40, "c": 12})
    assert out["c"].reasons == (rules.COMPLEMENTARY,) and out["b"] == shown
    two = {"a": few, "b": few, "c": shown}
    assert rules.complementary(two, {"a": 5, "b": 4, "c": 12}) == two


# --------------------------------------------------------------------------- lists

def _plant_extremes(app) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Gather the healthcare respondents of two districts at one hospital each (sites big
    enough to judge: n and effective n ≥ 30) and move their scores far down / up: a black
    and a red proposal."""
    with app.app_context():
        session = get_session()
        city = session.scalar(select(City).where(City.code == "hangzhou"))
        assert city is not None
        ds = list(session.scalars(select(District).where(District.city_id == city.id)
                                  .order_by(District.code)))
        sqlite = session.get_bind().dialect.name == "sqlite"
        low, high = (func.max, func.min) if sqlite else (func.greatest, func.least)
        codes = []
        for (home, other), delta in (((ds[0], ds[3]), -30.0), ((ds[1], ds[2]), 20.0)):
            hospital = session.scalar(select(Site).where(Site.district_id == home.id,
                                                         Site.kind == "hospital"))
            assert hospital is not None
            session.execute(update(Response).where(
                Response.district_id.in_([home.id, other.id]),
                Response.questionnaire == "healthcare", Response.wave == WAVE).values(
                site_id=hospital.id, district_id=home.id, final_weight=1.0,
                overall_score=high(low(Response.overall_score + delta, 0.0), 100.0)))
            codes.append(hospital.code)
        session.commit()
    return codes[0], codes[1]


@pytest.fixture
def big_demo(app):  # type: ignore[no-untyped-def]
    return setup_demo(app, cities=2, responses=4000)


def _entries(app) -> dict[str, ListEntry]:  # type: ignore[no-untyped-def]
    with app.app_context():
        session = get_session()
        return {session.get(Site, e.site_id).code: e  # type: ignore[union-attr]
                for e in session.scalars(select(ListEntry))}


def _post(client, path: str, **data: str):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf_token": csrf_token(client, "/public/admin/lists"),
                                   **data})


def test_an_entry_walks_from_proposal_through_objection_to_a_decision(
        big_demo, app, app_config, client, tmp_path):
    black, red = _plant_extremes(app)
    assert _release(app_config, tmp_path).returncode == 0
    entries = _entries(app)
    assert entries[black].kind == "black" and entries[red].kind == "red"
    assert all(e.status == "proposed" for e in entries.values())
    # proposals are not public
    assert f"/public/lists/{entries[black].id}" not in client.get("/public/lists").get_data(
        as_text=True)
    assert client.get(f"/public/lists/{entries[black].id}").status_code == 404

    admin = app.test_client()
    login(admin, "admin@test.cn")
    official = app.test_client()
    login(official, "official.hangzhou@test.cn")
    assert official.get("/public/admin/lists").status_code == 404
    short = _post(admin, f"/public/admin/lists/{entries[black].id}/confirm", reason="bad",
                  months="6")
    assert short.status_code == 422
    assert "理由：请写明理由（至少10个字）" in short.get_data(as_text=True)
    english = admin.post(f"/public/admin/lists/{entries[black].id}/confirm?lang=en", data={
        "csrf_token": csrf_token(admin, "/public/admin/lists"), "reason": "bad", "months": "6"})
    assert "reason: write the reason (at least 10 characters)" in english.get_data(as_text=True)
    odd = _post(admin, f"/public/admin/lists/{entries[black].id}/confirm",
                reason="连续两期显著低于全市平均水平", months="5")
    assert odd.status_code == 422
    done = _post(admin, f"/public/admin/lists/{entries[black].id}/confirm",
                 reason="连续两期显著低于全市平均水平", months="6")
    assert done.status_code == 200
    link = re.search(r"<code>(http[^<]+/public/objection/[^<]+)</code>",
                     done.get_data(as_text=True))
    assert link is not None
    path = link.group(1).split("localhost", 1)[1]
    assert client.get(f"/public/lists/{entries[black].id}").status_code == 200
    current = client.get("/public/lists?lang=en").get_data(as_text=True)
    assert f"/public/lists/{entries[black].id}" in current

    # the listed unit objects once through its link (CSRF-protected form)
    assert client.get("/public/objection/not-a-token").status_code == 404
    form = client.get(path)
    assert form.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.get_data(as_text=True))
    assert token is not None
    too_short = client.post(path, data={"csrf_token": token.group(1), "text": "不对"})
    assert too_short.status_code == 422
    objection = "样本集中在一个科室，且当期正在装修，数据不能代表整体服务水平。"
    sent = client.post(path, data={"csrf_token": token.group(1), "text": objection})
    assert sent.status_code == 200
    again = client.post(path + "?lang=en", data={"csrf_token": token.group(1),
                                                 "text": objection + "再次"})
    assert again.status_code == 422
    assert "An objection was made through this link" in again.get_data(as_text=True)
    entry_page = client.get(f"/public/lists/{entries[black].id}?lang=en").get_data(as_text=True)
    assert "objection under review" in entry_page and objection not in entry_page

    decided = _post(admin, f"/public/admin/lists/{entries[black].id}/decide",
                    decision="withdrawn", reason="复核确认样本不具代表性，撤销本条")
    assert decided.status_code == 302
    entry_page = client.get(f"/public/lists/{entries[black].id}?lang=en").get_data(as_text=True)
    assert "entry withdrawn" in entry_page and "复核确认样本不具代表性" in entry_page
    assert f"/public/lists/{entries[black].id}" not in client.get("/public/lists").get_data(
        as_text=True)
    assert f"/public/lists/{entries[black].id}" in client.get("/public/lists?history=1"
                                                              ).get_data(as_text=True)
    with app.app_context():
        actions = [a for (a,) in get_session().execute(
            select(AuditLog.action).where(AuditLog.action.like("list_%")).order_by(AuditLog.id))]
        assert actions == ["list_proposed", "list_confirmed", "list_objection", "list_decision"]


def test_an_entry_expires_by_itself_and_stays_in_the_history(big_demo, app, app_config,
                                                            client, tmp_path):
    _, red = _plant_extremes(app)
    assert _release(app_config, tmp_path).returncode == 0
    entry = _entries(app)[red]
    admin = app.test_client()
    login(admin, "admin@test.cn")
    assert _post(admin, f"/public/admin/lists/{entry.id}/confirm",
                 reason="显著高于全部城市平均水平，予以表扬", months="3").status_code == 200
    link = f"/public/lists/{entry.id}"
    assert link in client.get("/public/lists").get_data(as_text=True)
    with app.app_context():
        session = get_session()
        row = session.get(ListEntry, entry.id)
        assert row is not None and row.listed_until is not None
        assert (row.listed_until - row.confirmed_at.date()).days in range(89, 93)  # type: ignore[union-attr]
        session.execute(text("UPDATE list_entry SET listed_until = :d WHERE id = :i"),
                        {"d": date.today() - timedelta(days=1), "i": entry.id})
        session.commit()
    assert link not in client.get("/public/lists").get_data(as_text=True)
    history = client.get("/public/lists?history=1&lang=en").get_data(as_text=True)
    assert link in history and "expired" in history
    assert "expired" in client.get(f"{link}?lang=en").get_data(as_text=True)


def test_a_black_entry_is_removed_early_after_rectification(big_demo, app, app_config,
                                                            client, tmp_path):
    black, red = _plant_extremes(app)
    assert _release(app_config, tmp_path).returncode == 0
    entries = _entries(app)
    admin = app.test_client()
    login(admin, "admin@test.cn")
    for code in (black, red):
        assert _post(admin, f"/public/admin/lists/{entries[code].id}/confirm",
                     reason="依据显著性规则及复核意见列入", months="12").status_code == 200
    refused = _post(admin, f"/public/admin/lists/{entries[red].id}/remove",
                    reason="整改已经完成并通过复核验收")
    assert refused.status_code == 422
    notice = "整改已经完成并通过复核验收，提前移出黑榜"
    assert _post(admin, f"/public/admin/lists/{entries[black].id}/remove",
                 reason=notice).status_code == 302
    page = client.get(f"/public/lists/{entries[black].id}?lang=en").get_data(as_text=True)
    assert "removed after rectification" in page and notice in page
    assert f"/public/lists/{entries[black].id}" not in client.get("/public/lists").get_data(
        as_text=True)


def test_a_marked_or_intervalless_site_is_never_proposed(demo, app, app_config, tmp_path):
    assert _release(app_config, tmp_path).returncode == 0
    with app.app_context():
        session = get_session()
        rel = session.scalar(select(Release))
        assert rel is not None
        shown = {(q, c["key"]) for q, f in rel.snapshot["questionnaires"].items()
                 for c in f["sites"] if c["status"] == "shown"
                 and c["versus"] in ("better", "worse")}
        proposed = {(e.questionnaire, session.get(Site, e.site_id).code)  # type: ignore[union-attr]
                    for e in session.scalars(select(ListEntry))}
        assert proposed == shown
        for f in rel.snapshot["questionnaires"].values():
            for c in f["sites"]:
                if c["status"] != "shown":
                    assert (f["id"], c["key"]) not in proposed
    json.dumps(rel.snapshot, allow_nan=False)  # no NaN anywhere in what is published


def test_display_periods_come_from_the_configuration(big_demo, app, app_config, tmp_path):
    from survey import create_app
    from survey.config import ConfigError

    with pytest.raises(ConfigError, match="MANYI_LIST_DISPLAY_MONTHS: expected whole months"):
        create_app({**app_config, "LIST_DISPLAY_MONTHS": "3,six"})
    _, red = _plant_extremes(app)
    assert _release(app_config, tmp_path).returncode == 0
    entry = _entries(app)[red]
    custom = create_app({**app_config, "LIST_DISPLAY_MONTHS": "1,24"})
    admin = custom.test_client()
    login(admin, "admin@test.cn")
    page = admin.get("/public/admin/lists").get_data(as_text=True)
    assert "<option>24</option>" in page and "<option>6</option>" not in page
    refused = _post(admin, f"/public/admin/lists/{entry.id}/confirm",
                    reason="显著高于全部城市平均水平，予以表扬", months="6")
    assert refused.status_code == 422 and "公示期：应为 1, 24 个月之一，而不是 6" in \
        refused.get_data(as_text=True)
    assert _post(admin, f"/public/admin/lists/{entry.id}/confirm",
                 reason="显著高于全部城市平均水平，予以表扬", months="24").status_code == 200
    with custom.app_context():
        row = get_session().get(ListEntry, entry.id)
        assert row is not None and row.display_months == 24
    custom.extensions["manyi.engine"].dispose()
