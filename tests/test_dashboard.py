"""The pilot-city dashboard: its numbers equal :mod:`analysis` run on the same responses
fetched row by row, filters are validated and kept in links, every chart has a table and a
CSV, small cells are suppressed, views are audited. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from sqlalchemy import select

import analysis
from survey.core.db import get_session
from survey.core.models import AuditLog, Site
from tests.helpers import fetch, floats, login, read_csv, setup_demo

REL = 1e-9
WAVE = "2026Q4"
PREVIOUS = "2026Q3"
ROWS_SQL = ("SELECT overall_score, satisfied, final_weight, district_id, site_id, gender, "
            "wave FROM response WHERE city_id = (SELECT id FROM city WHERE code = :city) "
            "AND questionnaire = :q AND status = 'valid'")


@pytest.fixture
def demo(app, client):  # type: ignore[no-untyped-def]
    info = setup_demo(app)
    assert login(client, "admin@test.cn").status_code == 302
    return info


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-12)


def row_mean(rows: dict[str, np.ndarray], where: np.ndarray, value: str = "overall_score"):  # type: ignore[no-untyped-def]
    y = floats(rows[value])
    keep = where & ~np.isnan(y)
    return analysis.mean(np.where(keep, y, 0.0), weights=floats(rows["final_weight"]),
                         strata=rows["district_id"].astype(int),
                         clusters=rows["site_id"].astype(int), where=keep, single_psu="collapse")


def test_city_index_and_ci_equal_analysis_mean_on_rows(app, client, demo, db_url):
    rows = fetch(db_url, ROWS_SQL, city="hangzhou", q="healthcare")
    table = read_csv(client.get(f"/dashboard/hangzhou/healthcare?wave={WAVE}&format=csv"
                                "&table=trend"))
    by_wave = {r[0]: r for r in table[1:]}
    checked = 0
    for wave in (WAVE, PREVIOUS):
        in_wave = rows["wave"] == wave
        sub = {k: v[in_wave] for k, v in rows.items()}
        expected = row_mean(sub, np.ones(in_wave.sum(), dtype=bool))
        got = by_wave[wave]
        assert int(got[1]) == expected.n
        for column, value in ((2, expected.estimate), (3, expected.ci_low),
                              (4, expected.ci_high), (5, expected.n_effective)):
            assert close(float(got[column]), value), (wave, column, got[column], value)
        rate = analysis.proportion(sub["satisfied"].astype(int), 1,
                                   weights=floats(sub["final_weight"]),
                                   strata=sub["district_id"].astype(int),
                                   clusters=sub["site_id"].astype(int), single_psu="collapse")
        assert close(float(got[6]), 100 * rate.estimate)
        checked += 1
    assert checked == 2


def test_satisfaction_rate_ci_is_the_logit_interval_of_analysis_proportion(app, demo, db_url):
    from survey.core.models import Response
    from survey.dashboard import estimates

    rows = fetch(db_url, ROWS_SQL + " AND wave = :w", city="chengdu", q="community", w=WAVE)
    expected = analysis.proportion(rows["satisfied"].astype(int), 1,
                                   weights=floats(rows["final_weight"]),
                                   strata=rows["district_id"].astype(int),
                                   clusters=rows["site_id"].astype(int), single_psu="collapse")
    with app.app_context():
        city_id = get_session().scalar(select(Site.city_id).where(Site.code.like("chengdu-%")))
        kpi = estimates.kpis_by_split(get_session(), estimates.Settings("center", 10),
                                  estimates.Scope(("community",), (WAVE,), city_id),
                                  estimates.Filters(), [Response.wave])[(WAVE,)]
    got = kpi.rate.value
    assert got is not None
    for a, b in ((got.estimate, expected.estimate), (got.ci_low, expected.ci_low),
                 (got.ci_high, expected.ci_high), (got.standard_error, expected.standard_error)):
        assert close(a, b)
    assert got.ci_low < got.estimate < got.ci_high


def test_filter_is_a_domain_of_the_full_design(app, client, demo, db_url):
    rows = fetch(db_url, ROWS_SQL + " AND wave = :w", city="hangzhou", q="healthcare", w=WAVE)
    expected = row_mean(rows, rows["gender"] == "female")
    table = read_csv(client.get(f"/dashboard/hangzhou/healthcare?wave={WAVE}&gender=female"
                                "&format=csv&table=trend"))
    got = {r[0]: r for r in table[1:]}[WAVE]
    assert int(got[1]) == expected.n < len(rows["gender"])
    assert close(float(got[2]), expected.estimate) and close(float(got[3]), expected.ci_low)


def test_overview_change_since_previous_wave_is_analysis_difference(app, client, demo, db_url):
    rows = fetch(db_url, ROWS_SQL, city="hangzhou", q="healthcare")
    est = {}
    for wave in (WAVE, PREVIOUS):
        sub = {k: v[rows["wave"] == wave] for k, v in rows.items()}
        est[wave] = row_mean(sub, np.ones(len(sub["wave"]), dtype=bool))
    expected = analysis.difference(est[WAVE], est[PREVIOUS])
    table = read_csv(client.get("/dashboard/hangzhou?format=csv&table=overview&lang=en"))
    assert table[0][7:10] == ["Change since previous wave", "p-value", "Significant"]
    row = next(r for r in table[1:] if r[0] == "Patient satisfaction survey")
    assert close(float(row[2]), est[WAVE].estimate)
    assert close(float(row[7]), expected.estimate) and close(float(row[8]), expected.p_value)
    assert row[9] == ("yes" if expected.p_value < 0.05 else "no")


def test_default_wave_is_the_latest_with_data(app, client, demo):
    html = client.get("/dashboard/hangzhou?lang=en").get_data(as_text=True)
    assert re.search(rf'<option value="{WAVE}" selected>', html)
    assert f"<h1>Hangzhou <span class=\"muted\">{WAVE}</span></h1>" in html


ALL_SQL = ("SELECT overall_score, satisfied, final_weight, district_id, site_id, gender, wave, "
           "city_id FROM response WHERE questionnaire = 'healthcare' AND status = 'valid' "
           "AND wave = :w")
MARK = {"better": "better", "worse": "worse", "same": "not different",
        "unknown": "cannot tell (no interval)"}


def expected_mark(e: analysis.Estimate, d: analysis.Difference) -> str:
    if not (e.has_interval and d.has_interval):
        return MARK["unknown"]
    if d.p_value < 0.05:
        return MARK["better" if d.estimate > 0 else "worse"]
    return MARK["same"]


def design_of(rows: dict[str, np.ndarray]) -> dict[str, object]:
    return {"weights": floats(rows["final_weight"]), "strata": rows["district_id"].astype(int),
            "clusters": rows["site_id"].astype(int), "single_psu": "collapse"}


def test_district_league_marks_come_from_the_contrast_with_the_benchmark(app, client, demo,
                                                                          db_url):
    # Each district is a domain of the all-city design, which contains it: the mark is the
    # t test of analysis.contrast({district: 1, TOTAL: -1}) (R svycontrast on svyby
    # covmat=TRUE), never the interval-excludes-the-benchmark rule that ignores covariance.
    all_rows = fetch(db_url, ALL_SQL, w=WAVE)
    y = floats(all_rows["overall_score"])
    keep = ~np.isnan(y)
    districts = all_rows["district_id"].astype(int)
    domains = analysis.mean(np.nan_to_num(y), by=districts, where=keep, **design_of(all_rows))
    names = {int(i): n for i, n in zip(*fetch(db_url, "SELECT id, name_en FROM district")
                                           .values(), strict=True)}
    mine = set(fetch(db_url, ROWS_SQL + " AND wave = :w", city="hangzhou", q="healthcare",
                     w=WAVE)["district_id"].astype(int))
    table = read_csv(client.get(f"/dashboard/hangzhou/healthcare?wave={WAVE}&lang=en"
                                "&format=csv&table=districts"))
    assert table[0][6:9] == ["Against benchmark", "Difference from benchmark", "p-value"]
    got = {r[0]: r for r in table[1:]}
    assert set(got) == {names[k] for k in mine} and len(got) >= 4
    marks = set()
    for district_id in mine:
        e = domains[district_id]
        r = got[names[district_id]]
        if e.n < 10:
            assert r[1] == "< 10" and r[2] == "suppressed (n < 10)" and r[6] == ""
            continue
        d = analysis.contrast(np.nan_to_num(y), {district_id: 1, analysis.TOTAL: -1},
                              by=districts, where=keep, **design_of(all_rows))
        assert close(float(r[2]), e.estimate)
        assert r[6] == expected_mark(e, d)
        assert close(float(r[7]), d.estimate)
        if e.has_interval:
            assert close(float(r[4]), e.ci_high) and close(float(r[8]), d.p_value)
        else:  # one site: no interval, empty cells, never better or worse
            assert r[3] == r[4] == "" and e.df == 0
        marks.add(r[6])
    assert marks


def test_one_site_district_has_no_interval_and_no_mark(app, client, demo, db_url):
    # The case: a district with one site got SE 0 and [55.067, 55.067], and was then
    # called better or worse. It must show no interval and "cannot tell". Make one: move a
    # district's respondents of this wave into its first site.
    from sqlalchemy import func, update

    from survey.core.models import Response

    all_rows = fetch(db_url, ALL_SQL, w=WAVE)
    district = int(np.bincount(all_rows["district_id"].astype(int)).argmax())
    with app.app_context():
        session = get_session()
        first = session.scalar(select(func.min(Site.id)).where(Site.district_id == district))
        session.execute(update(Response).where(
            Response.district_id == district, Response.wave == WAVE,
            Response.questionnaire == "healthcare").values(site_id=first))
        session.commit()
    lonely = [district]
    names = dict(zip(*fetch(db_url, "SELECT id, name_en FROM district").values(), strict=True))
    codes = dict(zip(*fetch(db_url, "SELECT id, code FROM district").values(), strict=True))
    cities = dict(zip(*fetch(db_url, "SELECT d.id, c.code FROM district d JOIN city c ON "
                             "c.id = d.city_id").values(), strict=True))
    for d in lonely:
        city = cities[d]
        table = read_csv(client.get(f"/dashboard/{city}/healthcare?wave={WAVE}&lang=en"
                                    "&format=csv&table=districts"))
        row = {r[0]: r for r in table[1:]}[names[d]]
        assert row[3] == row[4] == "" and row[6] == "cannot tell (no interval)"
        html = client.get(f"/dashboard/{city}/healthcare?wave={WAVE}&lang=en"
                          f"&district={codes[d]}").get_data(as_text=True)
        assert "no confidence interval" in html
        assert 'class="badge better"' not in html and 'class="badge worse"' not in html


def test_site_league_uses_each_sites_respondents(app, client, demo, db_url):
    rows = fetch(db_url, ROWS_SQL + " AND wave = :w", city="hangzhou", q="healthcare", w=WAVE)
    sites = fetch(db_url, "SELECT id, name_en FROM site")
    names = dict(zip(sites["id"].astype(int), sites["name_en"], strict=True))
    table = read_csv(client.get(f"/dashboard/hangzhou/healthcare?wave={WAVE}&lang=en"
                                "&format=csv&table=sites"))
    got = {r[0]: r for r in table[1:]}
    site_ids = rows["site_id"].astype(int)
    published = 0
    for site_id in np.unique(site_ids):
        mask = site_ids == site_id
        r = got[names[site_id]]
        if mask.sum() < 10:
            assert r[2] == "suppressed (n < 10)" and r[1] == "< 10"
            continue
        e = analysis.mean(floats(rows["overall_score"])[mask],
                          weights=floats(rows["final_weight"])[mask])
        assert close(float(r[2]), e.estimate) and close(float(r[3]), e.ci_low)
        published += 1
    assert published >= 1


def test_dimension_scores_from_the_score_table(app, client, demo, db_url):
    rows = fetch(db_url, "SELECT s.dimension, s.value, r.final_weight, r.district_id, "
                 "r.site_id FROM response r JOIN score s ON s.response_id = r.id WHERE "
                 "r.city_id = (SELECT id FROM city WHERE code = 'hangzhou') AND "
                 "r.questionnaire = 'healthcare' AND r.wave = :w AND r.status = 'valid' "
                 "AND s.dimension <> 'overall'", w=WAVE)
    expected = analysis.mean(floats(rows["value"]), weights=floats(rows["final_weight"]),
                             strata=rows["district_id"].astype(int),
                             clusters=rows["site_id"].astype(int), by=rows["dimension"],
                             single_psu="collapse")
    with app.app_context():
        q = app.extensions["manyi.questionnaires"]["healthcare"]
        titles = {d.id: d.title.en for d in q.dimensions}
    table = read_csv(client.get(f"/dashboard/hangzhou/healthcare?wave={WAVE}&lang=en"
                                "&format=csv&table=dimensions"))
    got = {r[0]: r for r in table[1:]}
    assert len(got) == len(expected) == len(titles)
    for dim, e in expected.items():
        r = got[titles[dim]]
        assert close(float(r[2]), e.estimate) and close(float(r[4]), e.ci_high)


def test_importance_performance_is_analysis_importance_performance(app, client, demo, db_url):
    table = read_csv(client.get(f"/dashboard/hangzhou/healthcare?wave={WAVE}&lang=en"
                                "&format=csv&table=ipa"))
    rows = fetch(db_url, "SELECT r.id, r.final_weight, a.value_num FROM response r JOIN answer "
                 "a ON a.response_id = r.id AND a.item = 'overall_satisfaction' WHERE "
                 "r.city_id = (SELECT id FROM city WHERE code = 'hangzhou') AND "
                 "r.questionnaire = 'healthcare' AND r.wave = :w AND r.status = 'valid' "
                 "AND a.value_num IS NOT NULL ORDER BY r.id", w=WAVE)
    scores = fetch(db_url, "SELECT response_id, dimension, value FROM score")
    dims = sorted({d for d in scores["dimension"] if d != "overall"} & {
        d.id for d in app.extensions["manyi.questionnaires"]["healthcare"].dimensions})
    lookup = {(int(i), d): float(v) for i, d, v in zip(*scores.values(), strict=True)}
    x = np.array([[lookup.get((int(i), d), np.nan) for d in dims] for i in rows["id"]])
    ok = ~np.isnan(x).any(axis=1)
    expected = analysis.importance_performance(x[ok], floats(rows["value_num"])[ok],
                                               weights=floats(rows["final_weight"])[ok])
    assert len(table) - 1 == len(dims)
    for i, r in enumerate(table[1:]):
        assert close(float(r[1]), float(expected.importance[i]))
        assert close(float(r[2]), float(expected.performance[i]))
    assert {r[3] for r in table[1:]} <= {"Concentrate here", "Keep up the good work",
                                        "Low priority", "Possible overkill"}


def test_unknown_filter_values_are_a_400_naming_the_filter(app, client, demo):
    for query, param in (("age_band=99_plus", "age_band"), ("wave=2019Q1", "wave"),
                         ("wave=garbage", "wave"), ("district=chengdu-01", "district"),
                         ("channel=fax", "channel"), ("site_kind=zoo", "site_kind"),
                         ("format=xlsx", "format"), ("format=csv&table=nope", "table")):
        response = client.get(f"/dashboard/hangzhou/healthcare?{query}&lang=en")
        assert response.status_code == 400, query
        html = response.get_data(as_text=True)
        assert f"for the filter “{param}”" in html, query
    html = client.get("/dashboard/hangzhou?gender=x&lang=en").get_data(as_text=True)
    assert "Allowed values:" in html and "<code>female</code>" in html


def test_filters_are_kept_in_links_and_csv_urls(app, client, demo):
    html = client.get(f"/dashboard/hangzhou?wave={PREVIOUS}&gender=female&channel=web"
                      ).get_data(as_text=True)
    assert re.search(r'<option value="female" selected>', html)
    csv_links = re.findall(r'class="csv" href="([^"]+)"', html)
    # the overview, and the complaint figures of the tourism sites (issue 15)
    assert sorted(re.sub(r".*table=", "", link) for link in csv_links) == [
        "complaints_categories", "complaints_sites", "complaints_waves", "overview",
        "satisfaction_composite"]
    for link in csv_links:
        link = link.replace("&amp;", "&")
        assert f"wave={PREVIOUS}" in link and "gender=female" in link and "format=csv" in link
    detail = re.search(r'href="(/dashboard/hangzhou/healthcare[^"]*)"', html)
    assert detail and "gender=female" in detail.group(1)


def test_every_chart_has_json_figure_table_and_csv(app, client, demo):
    for path in ("/dashboard/hangzhou", f"/dashboard/hangzhou/healthcare?wave={WAVE}",
                 "/dashboard/all-cities"):
        html = client.get(path).get_data(as_text=True)
        figures = re.findall(r'<script type="application/json" id="(fig-[^"]+)">(.*?)</script>',
                             html, re.S)
        assert figures, path
        for fig_id, body in figures:
            fig = json.loads(body)
            assert fig["data"], fig_id
            name = fig_id.removeprefix("fig-")
            assert f'id="section-{name}"' in html and "<details" in html
            assert f"table={name}" in html
        assert "/assets/plotly-" in html and "/static/dashboard.js" in html
        assert "<script>" not in html  # no inline script (CSP)
    assert "/assets/plotly-" not in client.get("/").get_data(as_text=True)


def test_small_cells_are_suppressed_in_tables_charts_and_csv(app, client, demo, db_url):
    rows = fetch(db_url, "SELECT site_id, COUNT(*) AS n FROM response WHERE city_id = (SELECT "
                 "id FROM city WHERE code = 'hangzhou') AND questionnaire = 'healthcare' AND "
                 "wave = :w AND status = 'valid' GROUP BY site_id", w=WAVE)
    with app.app_context():
        names = {s.id: s.name_en for s in get_session().scalars(select(Site))}
    small = [names[int(i)] for i, n in zip(rows["site_id"], rows["n"], strict=True) if n < 10]
    big = [names[int(i)] for i, n in zip(rows["site_id"], rows["n"], strict=True) if n >= 10]
    assert small and big
    html = client.get(f"/dashboard/hangzhou/healthcare?wave={WAVE}&lang=en"
                      ).get_data(as_text=True)
    fig = json.loads(re.search(r'id="fig-sites">(.*?)</script>', html, re.S).group(1))
    labels = set(fig["data"][0]["customdata"])
    assert labels == set(big) and not labels & set(small)
    assert "suppressed (n &lt; 10)" in html
    table = read_csv(client.get(f"/dashboard/hangzhou/healthcare?wave={WAVE}&lang=en"
                                "&format=csv&table=sites"))
    for r in table[1:]:
        if r[0] in small:
            assert r[1:6] == ["< 10", "suppressed (n < 10)", "", "", ""]


def test_csv_escapes_spreadsheet_formulas(app, client, demo):
    with app.app_context():
        session = get_session()
        site = session.scalar(select(Site).where(Site.code == "hangzhou-01-hos1"))
        site.name_en = '=HYPERLINK("http://evil.example","x")'
        session.commit()
    table = read_csv(client.get(f"/dashboard/hangzhou/healthcare?wave={WAVE}&lang=en"
                                "&format=csv&table=sites"))
    cells = [r[0] for r in table[1:]]
    assert "'" + '=HYPERLINK("http://evil.example","x")' in cells
    assert not any(c.startswith(("=", "+", "-", "@")) for r in table for c in r[:1])


def test_city_views_are_audited(app, client, demo):
    client.get("/dashboard/hangzhou?gender=male")
    client.get("/dashboard/chengdu/healthcare?format=csv&table=trend")
    with app.app_context():
        entries = list(get_session().scalars(select(AuditLog).where(
            AuditLog.action == "view_city").order_by(AuditLog.id)))
        city_ids = dict(get_session().execute(select(Site.city_id, Site.city_id)).all())
    assert [e.detail["page"] for e in entries] == ["overview", "questionnaire"]
    assert entries[0].detail["filters"] == {"gender": "male"}
    assert entries[1].detail["filters"]["format"] == "csv"
    assert all(e.actor == "admin@test.cn" and e.city_id in city_ids for e in entries)
    assert entries[0].city_id != entries[1].city_id


def test_admin_view_cities_side_by_side_and_red_black_lists(app, client, demo, db_url):
    rows = fetch(db_url, ALL_SQL, w=WAVE)
    table = read_csv(client.get(f"/dashboard/all-cities?questionnaire=healthcare&wave={WAVE}"
                                "&lang=en&format=csv&table=cities"))
    got = {r[0]: r for r in table[1:]}
    assert set(got) == {"Hangzhou", "Chengdu"}
    city_ids = dict(zip(*fetch(db_url, "SELECT name_en, id FROM city").values(), strict=True))
    y = floats(rows["overall_score"])
    keep = ~np.isnan(y)
    for city, r in got.items():
        sub = {k: v[rows["city_id"] == city_ids[city]] for k, v in rows.items()}
        e = row_mean(sub, np.ones(len(sub["wave"]), dtype=bool))
        assert close(float(r[2]), e.estimate) and close(float(r[3]), e.ci_low)
        d = analysis.contrast(np.nan_to_num(y), {city_ids[city]: 1, analysis.TOTAL: -1},
                              by=rows["city_id"].astype(int), where=keep, **design_of(rows))
        assert close(float(r[7]), d.estimate) and close(float(r[8]), d.p_value)
    # Red and black lists: sites (respondents as the sample, site = stratum) whose contrast
    # site − benchmark is significant; analysis.units_versus_overall = R svycontrast.
    sites = rows["site_id"].astype(int)
    result = analysis.units_versus_overall(analysis.UnitMoments.from_rows(
        y[keep], weights=floats(rows["final_weight"])[keep], units=sites[keep]),
        single_psu="collapse")
    names = dict(zip(*fetch(db_url, "SELECT id, name_en FROM site").values(), strict=True))
    expected = {"red": set(), "black": set()}
    for site, e in result.units.items():
        d = result.versus_overall[site]
        if e.n >= 10 and e.has_interval and d.has_interval and d.p_value < 0.05:
            expected["red" if d.estimate > 0 else "black"].add(names[site])
    assert expected["red"] or expected["black"]
    for name in ("red", "black"):
        listed = read_csv(client.get(f"/dashboard/all-cities?questionnaire=healthcare&wave="
                                     f"{WAVE}&lang=en&format=csv&table={name}"))
        assert {r[0] for r in listed[1:]} == expected[name]
        for r in listed[1:]:
            assert r[4] != "" and r[5] != "" and float(r[8]) < 0.05  # an interval, significant
    html = client.get("/dashboard/all-cities?lang=en").get_data(as_text=True)
    assert "Red list" in html and "Black list" in html


def test_no_unit_without_an_interval_is_on_a_red_or_black_list(app, client, demo, db_url):
    # Plant a site whose 12 respondents all answered the same: SE 0, no interval. Its mean is
    # far above the benchmark, so an interval-free rule would put it on the red list.
    from survey.core.models import Response

    rows = fetch(db_url, ALL_SQL, w=WAVE)
    site = int(np.bincount(rows["site_id"].astype(int)).argmax())
    with app.app_context():
        session = get_session()
        chosen = list(session.scalars(select(Response).where(
            Response.site_id == site, Response.wave == WAVE,
            Response.questionnaire == "healthcare", Response.status == "valid")))
        for r in chosen:
            r.overall_score = 100.0
        session.commit()
    names = dict(zip(*fetch(db_url, "SELECT id, name_en FROM site").values(), strict=True))
    listed = {name: read_csv(client.get(f"/dashboard/all-cities?questionnaire=healthcare"
                                        f"&wave={WAVE}&lang=en&format=csv&table={name}"))
              for name in ("red", "black")}
    assert names[site] not in {r[0] for t in listed.values() for r in t[1:]}
    assert len(chosen) >= 10


def test_admin_view_is_admin_only(app, client, demo):
    other = app.test_client()
    login(other, "official.hangzhou@test.cn")
    assert other.get("/dashboard/all-cities").status_code == 404
    assert client.get("/dashboard/all-cities?district=hangzhou-01").status_code == 400
