"""The admin's pages: overview and the printable sheet of site QR codes."""

from __future__ import annotations

import re

from sqlalchemy import select

from survey.accounts.users import create_user
from survey.core.db import get_session
from survey.core.models import City, Site
from survey.demo.data import load_demo
from tests.helpers import PASSWORD, login


def _setup(app) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    with app.app_context():
        session = get_session()
        load_demo(session, app.extensions["manyi.questionnaires"], cities=2, responses=0, seed=1)
        create_user(session, email="admin@x.cn", password=PASSWORD, role="admin")
        create_user(session, email="official@x.cn", password=PASSWORD, role="official",
                    city_code="hangzhou")
        session.commit()
        city = session.scalar(select(City).where(City.code == "hangzhou"))
        codes = list(session.scalars(select(Site.code).where(Site.city_id == city.id)))
    return "hangzhou", codes


def test_the_qr_sheet_shows_every_site_of_the_city_with_a_working_code(app, client):
    city, codes = _setup(app)
    assert login(client, "admin@x.cn").status_code == 302
    html = client.get(f"/admin/qr-sheet/{city}").get_data(as_text=True)
    shown = re.findall(r'src="/sites/([^/"]+)/qr"', html)
    assert sorted(shown) == sorted(codes) and len(codes) > 20
    svg = client.get(f"/sites/{shown[0]}/qr")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert "chengdu" not in " ".join(shown)


def test_the_admin_overview_lists_cities_and_is_admin_only(app, client):
    _setup(app)
    assert login(client, "official@x.cn").status_code == 302
    assert client.get("/admin/").status_code == 404
    assert client.get("/admin/qr-sheet/hangzhou").status_code == 404
    client.post("/auth/logout", data={})
    client2 = app.test_client()
    assert login(client2, "admin@x.cn").status_code == 302
    html = client2.get("/admin/").get_data(as_text=True)
    assert "/admin/qr-sheet/hangzhou" in html and "/admin/qr-sheet/chengdu" in html


def test_the_acceptance_report_gives_its_reasons_in_the_readers_language(app, client):
    with app.app_context():
        session = get_session()
        load_demo(session, app.extensions["manyi.questionnaires"], cities=1, responses=50,
                  seed=2, end_wave="2026Q4", agency=True)
        create_user(session, email="admin@x.cn", password=PASSWORD, role="admin")
        session.commit()
    assert login(client, "admin@x.cn").status_code == 302
    zh = client.get("/agency/batches/1").get_data(as_text=True)
    assert "访员 I08 的答卷与其他访员明显不同（可能存在造假）。" in zh
    en = client.get("/agency/batches/1?lang=en").get_data(as_text=True)
    assert "Interviewer(s) I08 answer unlike the others (possible fabrication)." in en
