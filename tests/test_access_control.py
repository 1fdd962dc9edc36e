"""Accounts and city isolation: login, logout and failed logins are audited; ``manyi users
create`` reads the password from stdin; every registered URL rule either is public by
design (listed below with the reason) or is exercised here as an official of city A asking
for city B's things — which must be a 404 (or 405), never B's data."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from survey import create_app
from survey.agency import tokens
from survey.complaints import service as complaints
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
    SiteKind,
    User,
)
from tests.helpers import PASSWORD, csrf_token, login, manyi, setup_demo

# endpoint → why it is public (no city data behind a login)
PUBLIC = {
    "static": "CSS/JS files",
    "assets.asset": "plotly.min.js from our origin",
    "respond.index": "citizen home page",
    "respond.site_qr": "a site's QR code is printed and posted at the site",
    "respond.site_landing": "where a site's QR code leads when it has several questionnaires",
    "auth.login": "the login form",
    "auth.logout": "logging out",
    "api.list_questionnaires": "public questionnaire list for the survey app",
    "api.get_questionnaire": "public questionnaire definition",
    "api.list_sites": "public site list for the survey app (no responses)",
    "api.submit_response": "citizens submit responses",
    "api.survey_token": "a survey token for one response at a public site (no data)",
    "complaints.new": "tourists file complaints about a public site (no login)",
    "complaints.receipt": "the complainant's receipt, found by the unguessable tracking code",
    "complaints.track": "the complainant's tracking page (tracking code; no contact data)",
    "complaints.rate": "the complainant rates the handling (tracking code)",
    "complaints_api.submit": "tourists file complaints through the API",
    "complaints_api.track": "a complaint's public status by its tracking code",
    # issue 16: released figures are public by design; they come from release snapshots only
    # (tests/test_public.py: nothing before release, no cell under 10 anywhere)
    "public.index": "cities and their latest public release",
    "public.city_page": "a city's released figures",
    "public.questionnaire_page": "a city's released figures of one questionnaire",
    "public.methodology": "how the public figures are made",
    "public.lists": "the published red and black lists",
    "public.list_entry": "one published list entry (proposals are 404)",
    "public.objection": "the listed unit's objection, by its one-time link",
    "public.data_index": "open data index",
    "public.data_file": "open data: a city's latest release of a wave",
    "public.data_release_file": "open data: one release",
    "public_api.releases": "the list of public releases",
}
PUBLIC_PREFIXES = {"/s/": "the citizen questionnaire flow"}
# Token-authenticated APIs ignore the session: a logged-in official is 401 there (no data);
# which agency token may see which batch is the agency API's own tests' business.
TOKEN_API_PREFIXES = ("/api/v1/agency/",)


def is_public(rule) -> bool:  # type: ignore[no-untyped-def]
    return rule.endpoint in PUBLIC or rule.rule.startswith(tuple(PUBLIC_PREFIXES))


@pytest.fixture
def two_cities(app):  # type: ignore[no-untyped-def]
    setup_demo(app, cities=2, responses=600)
    with app.app_context():
        session = get_session()
        a, b = session.scalars(select(City).order_by(City.id)).all()
        site_b = session.scalars(select(Site).where(Site.city_id == b.id).order_by(Site.id)).first()
        district_b = session.scalars(select(District).where(District.city_id == b.id)).first()
        response_b = session.scalar(select(Response.id).where(Response.city_id == b.id))
        agency_b = Agency(code="agency-b", name="Agency of city B only")
        session.add(agency_b)
        session.flush()
        session.add(AgencyCity(agency_id=agency_b.id, city_id=b.id))
        batch_b = Batch(agency_id=agency_b.id, city_id=b.id, filename="b.csv", sha256="0" * 64,
                        auto_decision="accepted")
        session.add(batch_b)
        token_b, _raw = tokens.create(session, agency_b, actor="test")
        spot_b = session.scalars(select(Site).where(
            Site.city_id == b.id, Site.kind == SiteKind.scenic_spot)).first()
        complaint_b = complaints.create(
            session, site=spot_b, category="price", description="city B's complaint",
            occurred_on=None, phone=None, channel="web", actor="test")
        session.commit()
        user_b = session.scalar(select(User.id).where(User.email == f"official.{b.code}@test.cn"))
        return {"a": a.code, "b": b.code, "b_names": (b.code, b.name_zh, b.name_en),
                "site_b": site_b.code, "district_b": district_b.code,
                "response_b": str(response_b), "agency_b": agency_b.code,
                "batch_b": str(batch_b.id), "user_b": str(user_b), "token_b": str(token_b.id),
                "complaint_b": str(complaint_b.id)}


def candidates(arg: str, t: dict) -> list[str]:
    """City B's values for a rule argument; unknown argument names fail the test."""
    table = {
        "city": [t["b"]], "city_code": [t["b"]],
        "code": [t["b"], t["site_b"], t["district_b"], t["agency_b"]],
        "agency": [t["agency_b"]], "agency_code": [t["agency_b"]],
        "batch_id": [t["batch_b"]], "response_id": [t["response_b"]], "user_id": [t["user_b"]],
        "token_id": [t["token_b"]], "cid": [t["complaint_b"]],
        "entry_id": ["1"],  # list entries: admin-only POST actions (role check before lookup)
        "action": ["accept", "reject", "transfer", "reply", "mediation", "close", "phone"],
        "site": [t["site_b"]], "site_code": [t["site_b"]],
        "district": [t["district_b"]], "district_code": [t["district_b"]],
        "questionnaire": ["healthcare"], "qid": ["healthcare"],
    }
    if arg not in table:
        pytest.fail(f"unknown URL argument <{arg}>: teach test_access_control which of city "
                    "B's values fill it (or list the rule as public with a reason)")
    return table[arg]


def test_every_rule_is_public_or_refuses_another_citys_official(app_config, two_cities):
    app = create_app({**app_config, "WTF_CSRF_ENABLED": False})
    official_a = app.test_client()
    assert login(official_a, f"official.{two_cities['a']}@test.cn").status_code == 302
    admin = app.test_client()
    assert login(admin, "admin@test.cn").status_code == 302
    exercised, public = set(), set()
    for rule in app.url_map.iter_rules():
        if is_public(rule):
            public.add(rule.endpoint)
            continue
        args = sorted(rule.arguments)
        combos = list(itertools.product(*(candidates(a, two_cities) for a in args)))
        admin_ok = False
        for combo in combos:
            with app.test_request_context():
                from flask import url_for

                url = url_for(rule.endpoint, **dict(zip(args, combo, strict=True)))
            for method in ("GET", "POST"):
                response = official_a.open(url, method=method)
                body = response.get_data(as_text=True)
                refusals = (404, 405, 401) if rule.rule.startswith(TOKEN_API_PREFIXES) \
                    else (404, 405)
                if args:
                    assert response.status_code in refusals, (
                        f"{method} {url} ({rule.endpoint}) as official of city A answered "
                        f"{response.status_code}: city-scoped rules must 404")
                    if method not in rule.methods:
                        assert response.status_code in (405, 401)
                else:
                    where = response.headers.get("Location", "")
                    # a redirect only to the login or to the official's own city's page
                    assert response.status_code < 500 and response.status_code != 302 or \
                        "/auth/login" in where or where.endswith(f"/{two_cities['a']}"), url
                    if response.status_code == 200:
                        for value in two_cities["b_names"]:
                            assert value not in body, f"{url} shows city B ({value})"
            if "GET" in rule.methods and admin.get(url).status_code != 404:
                admin_ok = True  # the values name an existing thing
        if args and "GET" in rule.methods:
            assert admin_ok, f"{rule.rule}: no candidate URL is valid even for an admin, so " \
                             "the 404s above prove nothing"
        exercised.add(rule.endpoint)
    every = {r.endpoint for r in app.url_map.iter_rules()}
    assert every == exercised | public
    assert {"dashboard.city_overview", "dashboard.questionnaire", "admin.qr_sheet"} <= exercised
    # the official does see their own city
    assert official_a.get(f"/dashboard/{two_cities['a']}").status_code == 200
    assert official_a.get(f"/dashboard/{two_cities['a']}/healthcare").status_code == 200
    app.extensions["manyi.engine"].dispose()


def test_dashboard_needs_login_and_is_hidden_from_researchers(app, client, two_cities):
    pages = ["/dashboard/", f"/dashboard/{two_cities['a']}",
             f"/dashboard/{two_cities['a']}/healthcare", "/dashboard/all-cities"]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    login(client, "researcher@test.cn")
    for page in pages:
        assert client.get(page).status_code == 404, page


def test_login_logout_and_failed_login_are_audited(app, client, two_cities):
    failed = client.post("/auth/login", data={"email": "admin@test.cn", "password": "wrong pw!!",
                                              "csrf_token": csrf_token(client)})
    assert failed.status_code == 401
    assert login(client, f"official.{two_cities['a']}@test.cn").status_code == 302
    assert client.get("/dashboard/").status_code == 200
    logout = client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    assert logout.status_code == 302
    assert client.get("/dashboard/").status_code == 302
    with app.app_context():
        session = get_session()
        log = [(e.action, e.actor, e.user_id, e.city_id)
               for e in session.scalars(select(AuditLog).order_by(AuditLog.id))
               if e.action in ("login", "login_failed", "logout")]
        official = session.scalar(select(User).where(
            User.email == f"official.{two_cities['a']}@test.cn"))
    email = official.email
    assert log == [("login_failed", "admin@test.cn", None, None),
                   ("login", email, official.id, official.city_id),
                   ("logout", email, official.id, None)]


def test_login_without_csrf_token_is_refused(app, client, two_cities):
    response = client.post("/auth/login", data={"email": "admin@test.cn", "password": PASSWORD})
    assert response.status_code in (200, 400)
    assert client.get("/dashboard/").status_code == 302
    with app.app_context():
        assert get_session().scalar(select(AuditLog).where(AuditLog.action == "login")) is None


def _manyi(db_url: str, tmp_path: Path, *args: str, stdin: str):  # type: ignore[no-untyped-def]
    env = {**os.environ, "MANYI_DATABASE_URL": db_url, "MANYI_INSTANCE_DIR": str(tmp_path)}
    return manyi("users", "create", *args, env=env, stdin=stdin)


def test_users_create_reads_the_password_from_stdin(app, client, two_cities, db_url, tmp_path):
    city = two_cities["a"]
    done = _manyi(db_url, tmp_path, "--email", "New.Official@test.cn", "--role", "official",
                  "--city", city, stdin="a long enough secret\n")
    assert done.returncode == 0, done.stderr
    assert "created official new.official@test.cn" in done.stdout
    assert "a long enough secret" not in done.stdout + done.stderr
    assert login(client, "new.official@test.cn", "a long enough secret").status_code == 302
    assert client.get(f"/dashboard/{city}").status_code == 200
    assert client.get(f"/dashboard/{two_cities['b']}").status_code == 404
    with app.app_context():
        user = get_session().scalar(select(User).where(User.email == "new.official@test.cn"))
        assert user.password_hash.startswith("$argon2id$")
        assert get_session().scalar(select(AuditLog).where(
            AuditLog.action == "user_created")).detail["email"] == "new.official@test.cn"

    short = _manyi(db_url, tmp_path, "--email", "x@test.cn", "--role", "admin", stdin="short\n")
    assert short.returncode != 0 and "password" in short.stderr
    cityless = _manyi(db_url, tmp_path, "--email", "y@test.cn", "--role", "official",
                      stdin="a long enough secret\n")
    assert cityless.returncode != 0 and "city" in cityless.stderr


def test_passwords_are_hashed_with_the_production_argon2id_profile(production_argon2):
    from survey.core.security import hash_password, verify_password

    stored = hash_password("a long enough secret")
    # argon2-cffi's default = RFC 9106's second recommended option (low memory)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$"), stored
    assert verify_password(stored, "a long enough secret")
    assert not verify_password(stored, "a long enough secreT")
