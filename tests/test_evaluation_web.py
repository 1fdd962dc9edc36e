"""The /evaluation pages (survey/evaluation/views.py): the ranking for admins with rank
intervals, tied groups, provinces, the trend and each city's breakdown; the CSV equal to the
service's figures; the print-ready report; an official sees only their own city's card
(another city's is a 404); bad parameters and a broken rule file named on the page."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml

from survey.core.db import get_session
from survey.dashboard.estimates import Settings
from survey.evaluation import service
from tests.helpers import login, read_csv, setup_demo

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "evaluation" / "quality_work.yaml"


@pytest.fixture
def world(app):  # type: ignore[no-untyped-def]
    return setup_demo(app, cities=3, responses=300)


def _expected(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        session = get_session()
        rules = service.load(SHIPPED, session, list(app.extensions["manyi.questionnaires"]))
        return service.evaluate(session, rules, "2026", settings=Settings(
            app.config["SINGLE_PSU"], app.config["MIN_CELL_SIZE"]))


def test_admins_see_the_ranking_with_intervals_and_the_csv_equals_the_service(app, client,
                                                                              world):
    login(client, "admin@test.cn")
    page = client.get("/evaluation/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    expected = _expected(app)
    for c in expected.cities:
        assert c.city.name_zh in html
        r = c.ranked
        assert f"95%区间 {r.rank_low}–{r.rank_high}" in html
        assert f'id="city-{c.city.code}"' in html  # the component breakdown
    assert "并列组" in html and "省份" in html and "历期变化" in html
    assert "城市公共服务质量工作考核评分细则（示范）" in html
    assert 'href="/evaluation/?rules=quality_work&amp;period=2026&amp;format=csv"' in html
    rows = read_csv(client.get("/evaluation/?format=csv"))
    header, body = rows[0], rows[1:]
    assert header[:9] == ["rank", "rank_low", "rank_high", "tied_group", "city", "city_name",
                          "province", "province_name", "total"]
    assert [r[4] for r in body] == [c.city.code for c in expected.cities]
    for row, c in zip(body, expected.cities, strict=True):
        values = dict(zip(header, row, strict=True))
        assert int(values["rank"]) == c.ranked.rank
        assert (int(values["rank_low"]), int(values["rank_high"])) == (c.ranked.rank_low,
                                                                       c.ranked.rank_high)
        assert float(values["total"]) == pytest.approx(c.ranked.total, abs=1e-6)
        points = sum(float(values[f"{s.name}_points"]) for s in c.score.components)
        assert float(values["total"]) == pytest.approx(points, abs=1e-5)
    en = client.get("/evaluation/?lang=en").get_data(as_text=True)
    assert "Tied group" in en and "Ranking of the cities" in en and "Hangzhou" in en
    nav = client.get("/dashboard/").get_data(as_text=True)
    assert 'href="/evaluation/"' in nav


def test_the_report_is_print_ready_on_a4(app, client, world):
    login(client, "admin@test.cn")
    page = client.get("/evaluation/report?period=2026")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'class="eval-report"' in html and "page-break" in html
    css = client.get("/static/manyi.css").get_data(as_text=True)
    section = css[css.index("/* evaluation"):]
    assert "@page{size:A4" in section and "@media print" in section
    assert "header.top" in section  # the navigation is not printed


def test_an_official_sees_only_their_own_card(app, client, world):
    login(client, "official.hangzhou@test.cn")
    sent = client.get("/evaluation/")
    assert sent.status_code == 302 and sent.headers["Location"].endswith(
        "/evaluation/city/hangzhou")
    card = client.get("/evaluation/city/hangzhou")
    assert card.status_code == 200
    html = card.get_data(as_text=True)
    expected = _expected(app).city("hangzhou")
    assert expected is not None
    assert "杭州市" in html and f"{expected.ranked.total:.2f}" in html
    assert "成都市" not in html and "青岛市" not in html
    assert client.get("/evaluation/city/chengdu").status_code == 404
    assert client.get("/evaluation/city/nowhere").status_code == 404
    assert client.get("/evaluation/report").status_code == 404
    csv_try = client.get("/evaluation/?format=csv")
    assert csv_try.status_code == 302 and csv_try.mimetype != "text/csv"


def test_other_roles_and_anonymous_visitors_get_nothing(app, client, world):
    assert client.get("/evaluation/").status_code in (302, 401)
    assert client.get("/evaluation/city/hangzhou").status_code in (302, 401)
    login(client, "researcher@test.cn")
    assert client.get("/evaluation/").status_code == 404
    assert client.get("/evaluation/city/hangzhou").status_code == 404
    assert client.get("/evaluation/report").status_code == 404


def test_admins_may_open_any_card(app, client, world):
    login(client, "admin@test.cn")
    for code, name in (("hangzhou", "杭州市"), ("chengdu", "成都市")):
        page = client.get(f"/evaluation/city/{code}")
        assert page.status_code == 200 and name in page.get_data(as_text=True)


@pytest.mark.parametrize(("query", "param", "allowed"), [
    ("period=1999", "period", "2026"),
    ("rules=nope", "rules", "quality_work"),
    ("format=xlsx", "format", "csv"),
])
def test_bad_parameters_are_a_400_naming_them(app, client, world, query, param, allowed):
    login(client, "admin@test.cn")
    page = client.get(f"/evaluation/?{query}&lang=en")
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert f"for the parameter “{param}”" in html and f"<code>{allowed}</code>" in html


def test_a_broken_rule_file_is_named_on_the_page(app, client, world, tmp_path):
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    data["simulation"]["draws"] = 10
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                          encoding="utf-8")
    app.config["EVALUATION_DIR"] = str(tmp_path)
    login(client, "admin@test.cn")
    page = client.get("/evaluation/")
    assert page.status_code == 500
    html = page.get_data(as_text=True)
    assert f"{tmp_path / 'broken.yaml'}: simulation.draws: " in html
    assert "greater than or equal to 1000" in html


def test_csv_cells_are_guarded_against_formulas(app, client, world):
    from sqlalchemy import update

    from survey.core.models import City

    with app.app_context():
        session = get_session()
        session.execute(update(City).where(City.code == "chengdu").values(name_zh="=HYPERLINK()"))
        session.commit()
    login(client, "admin@test.cn")
    rows = list(csv.reader(io.StringIO(client.get("/evaluation/?format=csv")
                                       .get_data(as_text=True).lstrip("\ufeff"))))
    names = [r[5] for r in rows[1:]]
    assert "'=HYPERLINK()" in names
