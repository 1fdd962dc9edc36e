"""Complaint figures and the tourist satisfaction composite (issue 15): every figure equals a
hand computation on a small constructed set of complaints (real database, the dashboard's
CSV through the real HTTP client), the composite equals its formula on independently fetched
rows, a missing component gives no composite and says why, and online reviews import all
rows or none, once. SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sqlalchemy import func, select

from survey.accounts.users import create_user
from survey.complaints import composite, service
from survey.complaints.figures import CITY, category_key, city_figures, site_key
from survey.complaints.reviews import (
    AlreadyImported,
    ReviewFileError,
    ReviewRowsError,
    import_reviews,
)
from survey.complaints.reviews_cli import reviews
from survey.config import Config, ConfigError
from survey.core.db import get_session
from survey.core.models import City, Complaint, OnlineReview, Site, SiteVisitors
from survey.core.waves import CHINA_TZ
from survey.demo.data import load_demo
from tests.helpers import PASSWORD, fetch, floats, login, read_csv

WAVE, NEXT = "2026Q3", "2026Q4"
TODAY = date(2027, 1, 15)  # every deadline of the constructed complaints has passed
MIN_CELL = 3
WEIGHTS = {"SATISFACTION_WEIGHT_ONSITE": 0.5, "SATISFACTION_WEIGHT_REVIEWS": 0.3,
           "SATISFACTION_WEIGHT_COMPLAINTS": 0.2, "COMPLAINT_RATE_CEILING": 500.0}
REL = 1e-9
# Columns of the complaint tables (views._complaint_headers).
COMPLAINTS, RESPONSES, PER_1000, VISITORS, PER_10000, ACCEPT, REPLY, MEDIATION, MEDIAN, \
    RATED, RATING, LOW, HIGH = range(1, 14)


@pytest.fixture
def app_config(app_config):  # type: ignore[no-untyped-def]
    return {**app_config, "MIN_CELL_SIZE": MIN_CELL, **WEIGHTS}


def cst(*parts: int) -> datetime:
    """A China Standard Time moment, as the UTC datetime the database stores."""
    return datetime(*parts, tzinfo=CHINA_TZ).astimezone(UTC)  # type: ignore[misc]


STEPS = {
    "accept": (lambda s, c: service.accept(s, c, user=None), "accepted_at"),
    "reject": (lambda s, c: service.reject(s, c, user=None, reason="不属于受理范围"), "closed_at"),
    "reply": (lambda s, c: service.record_reply(s, c, user=None, note="已回复"), "replied_at"),
    "mediation": (lambda s, c: service.record_mediation(s, c, user=None, note="已调解"),
                  "mediated_at"),
    "close": (lambda s, c: service.close(s, c, user=None, outcome="已处理"), "closed_at"),
}


def make(session, site: Site, category: str, received: datetime,  # type: ignore[no-untyped-def]
         steps: list[tuple[str, datetime]], rating: int | None = None) -> Complaint:
    """A complaint through the service; each step's timestamp then set to the given moment
    (the service stamps "now")."""
    c = service.create(session, site=site, category=category, description="门票价格不符",
                       occurred_on=None, phone=None, channel="web", received_at=received,
                       actor="test")
    for name, when in steps:
        step, column = STEPS[name]
        step(session, c)
        setattr(c, column, when)
        session.commit()
    if rating is not None:
        service.rate(session, c, rating)
    return c


def review_csv(code: str, other: str) -> bytes:
    return ("platform,site,rating,max_rating,reviewed_on,text\n"
            f"ctrip,{code},4,5,2026-07-10,风景很好\n"
            f"mafengwo,{code},9,10,2026-08-01,\n"
            f"meituan,{code},3,5,2026-09-30,排队太久\n"
            f"meituan,{code},1,5,2026-10-01,not in the wave\n"
            f"ctrip,{other},2,5,2026-12-01,another city's site? no: next wave\n").encode()


@pytest.fixture
def world(app):  # type: ignore[no-untyped-def]
    """One demo city (responses only), five constructed complaints at two scenic sites A, B:

    ===  ====  ========  ==========  ==========================================  ======
    c    site  category  received    steps (CST)                                 rating
    ===  ====  ========  ==========  ==========================================  ======
    c1   A     price     07-06 10:00 accept 07-08, reply 07-15, mediation 07-20,  4
                                     close 07-21 10:00
    c2   A     hygiene   07-06 10:00 accept 07-20 (late), reply 08-10 (late),     2
                                     close 08-12 10:00 (mediation deadline met)
    c3   A     price     08-03 09:00 reject 08-05 09:00                           5
    c4   B     price     09-01 09:00 none: acceptance overdue
    c5   B     staff     10-12 10:00 reject 10-13 (next wave)
    ===  ====  ========  ==========  ==========================================  ======

    Deadlines (5 working days / 10 days / 60 days): c1 accept due 07-13 met, reply due 07-18
    met, mediation due 09-06 met; c2 accept due 07-13 missed, reply due 07-30 missed,
    mediation due 09-18 met; c3 accept due 08-10 met; c4 accept due 09-08 missed.
    """
    with app.app_context():
        s = get_session()
        load_demo(s, app.extensions["manyi.questionnaires"], cities=1, responses=1200,
                  seed=5, end_wave=NEXT, tourism=False)
        create_user(s, email="admin@test.cn", password=PASSWORD, role="admin")
        city = s.scalar(select(City))
        assert city is not None
        scenic = list(s.scalars(select(Site).where(Site.city_id == city.id,
                                                   Site.kind == "scenic_spot")
                                .order_by(Site.code)))
        a, b = scenic[:2]
        make(s, a, "price", cst(2026, 7, 6, 10), [
            ("accept", cst(2026, 7, 8, 9)), ("reply", cst(2026, 7, 15, 9)),
            ("mediation", cst(2026, 7, 20, 9)), ("close", cst(2026, 7, 21, 10))], rating=4)
        make(s, a, "hygiene", cst(2026, 7, 6, 10), [
            ("accept", cst(2026, 7, 20, 9)), ("reply", cst(2026, 8, 10, 9)),
            ("close", cst(2026, 8, 12, 10))], rating=2)
        make(s, a, "price", cst(2026, 8, 3, 9), [("reject", cst(2026, 8, 5, 9))], rating=5)
        make(s, b, "price", cst(2026, 9, 1, 9), [])
        make(s, b, "staff", cst(2026, 10, 12, 10), [("reject", cst(2026, 10, 13, 10))])
        s.add(SiteVisitors(site_id=a.id, wave=WAVE, visitors=120_000))
        s.commit()
        import_reviews(s, filename="reviews.csv", data=review_csv(a.code, b.code),
                       actor="test", today=TODAY)
        return {"city": city.code, "city_id": city.id, "city_name": city.name_en,
                "a": a.id, "b": b.id, "a_name": a.name_en, "b_name": b.name_en,
                "scenic": [x.id for x in scenic]}


def responses(db_url: str, city_id: int, wave: str, site_id: int | None = None) -> int:
    sql = ("SELECT id FROM response WHERE city_id = :c AND wave = :w AND status = 'valid' "
           "AND questionnaire = 'tourism'" + (" AND site_id = :s" if site_id else ""))
    return len(fetch(db_url, sql, c=city_id, w=wave, s=site_id)["id"])


def index_point(db_url: str, city_id: int, site_id: int | None = None) -> tuple[float, int]:
    """The weighted mean overall score Σwy / Σw of the tourism responses of WAVE (the
    point estimate of the dashboard's index for the city, and for a site from its own
    respondents), from plain SQL."""
    sql = ("SELECT overall_score, final_weight FROM response WHERE city_id = :c AND wave = :w "
           "AND status = 'valid' AND questionnaire = 'tourism' AND overall_score IS NOT NULL "
           "AND final_weight > 0" + (" AND site_id = :s" if site_id else ""))
    rows = fetch(db_url, sql, c=city_id, w=WAVE, s=site_id)
    y, w = floats(rows["overall_score"]), floats(rows["final_weight"])
    return float((w * y).sum() / w.sum()), len(y)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-12)


def csv_table(client, world, table: str, page: str = "") -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    url = f"/dashboard/{world['city']}{page}?wave={WAVE}&lang=en&format=csv&table={table}"
    rows = read_csv(client.get(url))
    return {r[0]: r for r in rows[1:]}


def t_interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95% t interval of a simple random sample, by hand."""
    y = np.asarray(values, dtype=float)
    se = y.std(ddof=1) / math.sqrt(len(y))
    t = stats.t.ppf(0.975, len(y) - 1)
    return float(y.mean()), float(y.mean() - t * se), float(y.mean() + t * se)


# --------------------------------------------------------------------------- figures

def test_site_and_city_figures_equal_a_hand_computation(app, client, world, db_url):
    assert login(client, "admin@test.cn").status_code == 302
    table = csv_table(client, world, "complaints_sites")
    r_a = responses(db_url, world["city_id"], WAVE, world["a"])
    r_b = responses(db_url, world["city_id"], WAVE, world["b"])
    r_city = responses(db_url, world["city_id"], WAVE)
    assert r_a > 0 and r_b > 0

    a = table[world["a_name"]]
    assert int(a[COMPLAINTS]) == 3 and int(a[RESPONSES]) == r_a
    assert close(float(a[PER_1000]), 1000 * 3 / r_a)
    assert int(a[VISITORS]) == 120_000 and close(float(a[PER_10000]), 10000 * 3 / 120_000)
    assert close(float(a[ACCEPT]), 100 * 2 / 3)       # c1, c3 met; c2 late
    assert close(float(a[REPLY]), 100 * 1 / 2)        # c1 met; c2 late
    assert close(float(a[MEDIATION]), 100.0)          # c1 mediated, c2 closed in time
    assert close(float(a[MEDIAN]), 15.0)              # median of 15, 37, 2 days
    mean, low, high = t_interval([4, 2, 5])
    assert int(a[RATED]) == 3
    assert close(float(a[RATING]), mean) and close(float(a[LOW]), low)
    assert close(float(a[HIGH]), high)

    b = table[world["b_name"]]
    assert int(b[COMPLAINTS]) == 1 and close(float(b[PER_1000]), 1000 / r_b)
    assert b[VISITORS] == "" and b[PER_10000] == ""   # no visitor count for B
    assert float(b[ACCEPT]) == 0.0 and b[REPLY] == "" and b[MEDIATION] == ""
    assert b[MEDIAN] == "" and int(b[RATED]) == 0 and b[RATING] == ""

    whole = table[f"{world['city_name']} (whole city)"]
    assert int(whole[COMPLAINTS]) == 4 and int(whole[RESPONSES]) == r_city
    assert close(float(whole[PER_1000]), 4000 / r_city)
    assert whole[PER_10000] == ""                    # not every site has a count
    assert close(float(whole[ACCEPT]), 50.0)         # 2 of c1..c4
    assert close(float(whole[REPLY]), 50.0) and close(float(whole[MEDIATION]), 100.0)
    assert close(float(whole[MEDIAN]), 15.0)

    waves = csv_table(client, world, "complaints_waves")
    assert int(waves[WAVE][COMPLAINTS]) == 4
    assert int(waves["2026Q2"][COMPLAINTS]) == 0
    assert NEXT not in waves                          # only up to the chosen wave
    later = read_csv(client.get(f"/dashboard/{world['city']}?wave={NEXT}&lang=en&format=csv"
                                "&table=complaints_waves"))
    assert [int(r[COMPLAINTS]) for r in later[1:] if r[0] == NEXT] == [1]   # c5


def test_category_figures_and_suppressed_ratings(app, client, world, db_url):
    assert login(client, "admin@test.cn").status_code == 302
    table = csv_table(client, world, "complaints_categories")
    r_city = responses(db_url, world["city_id"], WAVE)
    price = table["Prices"]                           # c1, c3, c4
    assert int(price[COMPLAINTS]) == 3 and close(float(price[PER_1000]), 3000 / r_city)
    assert close(float(price[ACCEPT]), 100 * 2 / 3)
    assert close(float(price[REPLY]), 100.0) and close(float(price[MEDIATION]), 100.0)
    assert close(float(price[MEDIAN]), 8.5)           # median of 15 and 2 days
    hygiene = table["Hygiene"]                        # c2 alone
    assert int(hygiene[COMPLAINTS]) == 1 and close(float(hygiene[MEDIAN]), 37.0)
    for row in (price, hygiene):                      # 2 and 1 ratings < MIN_CELL (3)
        assert row[RATED] == f"< {MIN_CELL}"
        assert row[RATING] == f"suppressed (n < {MIN_CELL})"
        assert row[LOW] == "" and row[HIGH] == ""
    assert "Staff attitude" not in table              # c5 is in the next wave


def test_deadline_still_running_is_not_counted_and_ratings_are_not_computed_below_min(
        app, world):
    with app.app_context():
        s = get_session()
        qs = app.extensions["manyi.questionnaires"]
        # On 2026-09-03 c4's acceptance (due 09-08) is still running: not in the share.
        figs = city_figures(s, world["city_id"], questionnaire="tourism",
                            site_kinds=qs["tourism"].site_kinds, waves=[WAVE],
                            today=date(2026, 9, 3), min_cell=10)
        b = figs.get(site_key(world["b"]), WAVE)
        assert b is not None and b.on_time["accept"].eligible == 0
        assert b.on_time["accept"].value is None
        city = figs.get(CITY, WAVE)
        assert city is not None and (city.on_time["accept"].met,
                                     city.on_time["accept"].eligible) == (2, 3)
        a = figs.get(site_key(world["a"]), WAVE)
        assert a is not None and a.rated == 3 and a.rating is None   # 3 < 10: not computed
        one = city_figures(s, world["city_id"], questionnaire="tourism",
                           site_kinds=qs["tourism"].site_kinds, waves=[WAVE], today=TODAY,
                           min_cell=1).get(category_key("hygiene"), WAVE)
        assert one is not None and one.rating is not None
        assert one.rating.estimate == 2.0 and math.isnan(one.rating.ci_low)   # n = 1: NaN
        assert math.isnan(one.rating.ci_high) and one.rating.note


def test_overdue_cases_are_marked_on_the_city_dashboard(app, client, world):
    assert login(client, "admin@test.cn").status_code == 302
    html = client.get(f"/dashboard/{world['city']}?wave={WAVE}&lang=en").get_data(as_text=True)
    assert "Overdue complaints: 1" in html            # c4
    assert "overdue=yes" in html
    assert 'id="fig-complaints_sites"' in html and 'id="fig-satisfaction_composite"' in html


def test_tourism_questionnaire_page_shows_the_same_figures(app, client, world):
    assert login(client, "admin@test.cn").status_code == 302
    city_page = csv_table(client, world, "complaints_sites")
    q_page = csv_table(client, world, "complaints_sites", "/tourism")
    assert q_page == city_page
    html = client.get(f"/dashboard/{world['city']}/tourism?wave={WAVE}&lang=en").get_data(
        as_text=True)
    assert "Tourist satisfaction composite" in html and "0.50 × on-site survey index" in html
    other = client.get(f"/dashboard/{world['city']}/healthcare?wave={WAVE}&lang=en"
                       "&format=csv&table=complaints_sites")
    assert other.status_code == 400                   # not on other questionnaires' pages


# --------------------------------------------------------------------------- composite

def test_composite_equals_its_formula_and_is_not_computed_without_a_component(
        app, client, world, db_url):
    assert login(client, "admin@test.cn").status_code == 302
    table = csv_table(client, world, "satisfaction_composite")
    w_s, w_o, w_c, ceiling = (WEIGHTS[k] for k in WEIGHTS)
    reviews_a = (80.0 + 90.0 + 60.0) / 3              # 4/5, 9/10, 3/5 in the wave

    s_a, n_a = index_point(db_url, world["city_id"], world["a"])
    assert n_a >= MIN_CELL
    r_a = responses(db_url, world["city_id"], WAVE, world["a"])
    c_a = 100 * (5 / 7) * max(0.0, 1 - (1000 * 3 / r_a) / ceiling)  # 5 of 7 deadlines met
    a = table[world["a_name"]]
    assert close(float(a[1]), s_a) and int(a[2]) == n_a
    assert close(float(a[3]), reviews_a) and int(a[4]) == 3
    assert close(float(a[5]), c_a) and int(a[6]) == 3
    assert close(float(a[7]), w_s * s_a + w_o * reviews_a + w_c * c_a) and a[8] == ""

    s_city, _n = index_point(db_url, world["city_id"])
    r_city = responses(db_url, world["city_id"], WAVE)
    c_city = 100 * (5 / 8) * max(0.0, 1 - (1000 * 4 / r_city) / ceiling)
    whole = table[f"{world['city_name']} (whole city)"]
    assert close(float(whole[1]), s_city) and close(float(whole[3]), reviews_a)
    assert close(float(whole[5]), c_city)
    assert close(float(whole[7]), w_s * s_city + w_o * reviews_a + w_c * c_city)

    b = table[world["b_name"]]                        # no online review of B in the wave
    assert b[3] == "" and int(b[4]) == 0 and b[7] == ""
    assert b[8] == "no online reviews in this wave"


def test_compose_never_reweights_and_complaint_index_transform():
    weights = composite.Weights(0.5, 0.3, 0.2, 50.0)
    parts = {composite.ONSITE: composite.Component(80.0, 100),
             composite.REVIEWS: composite.Component(None, 0, composite.NO_REVIEWS),
             composite.COMPLAINTS: composite.Component(90.0, 3)}
    result = composite.compose(parts, weights)
    assert result.value is None and result.missing == [composite.REVIEWS]
    parts[composite.REVIEWS] = composite.Component(70.0, 12)
    assert composite.compose(parts, weights).value == pytest.approx(0.5 * 80 + 0.3 * 70
                                                                    + 0.2 * 90, rel=1e-12)
    assert composite.onsite(None, 4, True).reason == composite.ONSITE_SUPPRESSED
    assert composite.onsite(None, 0, False).reason == composite.ONSITE_NO_RESPONSES
    assert composite.complaint_index(None, 50.0).reason == composite.NO_RESPONSES


def test_composite_weights_are_configured_and_checked():
    config = Config.from_env({"MANYI_SATISFACTION_WEIGHT_ONSITE": "0.7",
                              "MANYI_SATISFACTION_WEIGHT_REVIEWS": "0.1",
                              "MANYI_COMPLAINT_RATE_CEILING": "30"})
    assert (config.SATISFACTION_WEIGHT_ONSITE, config.SATISFACTION_WEIGHT_REVIEWS,
            config.SATISFACTION_WEIGHT_COMPLAINTS, config.COMPLAINT_RATE_CEILING) == \
        (0.7, 0.1, 0.2, 30.0)
    with pytest.raises(ConfigError, match="sum to 1"):
        Config.from_env({"MANYI_SATISFACTION_WEIGHT_ONSITE": "0.9"})
    with pytest.raises(ConfigError, match="MANYI_COMPLAINT_RATE_CEILING must be a number"):
        Config.from_env({"MANYI_COMPLAINT_RATE_CEILING": "many"})
    with pytest.raises(ConfigError, match="positive"):
        Config.from_env({"MANYI_COMPLAINT_RATE_CEILING": "0"})


# --------------------------------------------------------------------------- reviews import

def test_bad_rows_import_nothing_and_are_listed(app, world, tmp_path: Path):
    with app.app_context():
        s = get_session()
        code = s.get(Site, world["a"]).code  # type: ignore[union-attr]
        before = s.scalar(select(func.count()).select_from(OnlineReview))
        data = ("platform,site,rating,max_rating,reviewed_on\n"
                f"ctrip,{code},4,5,2026-07-01\n"
                "ctrip,nowhere,4,5,2026-07-01\n"
                f"ctrip,{code},6,5,2026-07-01\n"
                f"ctrip,{code},4,5,2026-13-01\n"
                f",{code},4,0,2099-01-01\n").encode()
        with pytest.raises(ReviewRowsError) as exc:
            import_reviews(s, filename="bad.csv", data=data, actor="test", today=TODAY)
        assert [(e["row"], e["column"]) for e in exc.value.errors] == [
            (2, "site"), (3, "rating"), (4, "reviewed_on"), (5, "platform"),
            (5, "max_rating"), (5, "reviewed_on")]
        assert "unknown site code 'nowhere'" in exc.value.errors[0]["reason"]
        s.rollback()
        assert s.scalar(select(func.count()).select_from(OnlineReview)) == before
        with pytest.raises(ReviewFileError, match="missing column.*max_rating"):
            import_reviews(s, filename="x.csv", data=b"platform,site,rating,reviewed_on\n"
                           b"a,b,1,2026-07-01\n", actor="test", today=TODAY)

        path = tmp_path / "bad.csv"
        path.write_bytes(data)
        result = app.test_cli_runner().invoke(reviews, ["import", str(path)])
        assert result.exit_code == 2
        assert "row 2, site: unknown site code 'nowhere'" in result.output
        assert "4 row(s) with errors; nothing was imported" in result.output
        assert s.scalar(select(func.count()).select_from(OnlineReview)) == before


def test_reimporting_the_same_file_is_refused(app, world, tmp_path: Path):
    with app.app_context():
        s = get_session()
        code = s.get(Site, world["a"]).code  # type: ignore[union-attr]
        path = tmp_path / "good.csv"
        path.write_bytes(("platform,site,rating,max_rating,reviewed_on,text\n"
                          f"ctrip,{code},4.5,5,2026-07-01,好\n"
                          f"meituan,{code},8,10,2026-07-02,\n").encode())
        before = s.scalar(select(func.count()).select_from(OnlineReview))
        runner = app.test_cli_runner()
        first = runner.invoke(reviews, ["import", str(path)])
        assert first.exit_code == 0, first.output
        assert "reviews: 2 imported from good.csv" in first.output
        second = runner.invoke(reviews, ["import", str(path)])
        assert second.exit_code == 2
        assert "already imported" in second.output and "nothing was imported again" in \
            second.output
        s.expire_all()
        assert s.scalar(select(func.count()).select_from(OnlineReview)) == before + 2
        with pytest.raises(AlreadyImported):
            import_reviews(s, filename="renamed.csv", data=path.read_bytes(), actor="t",
                           today=TODAY)


def test_review_text_is_never_shown_or_exported(app, client, world):
    assert login(client, "admin@test.cn").status_code == 302
    for table in ("satisfaction_composite", "complaints_sites"):
        body = client.get(f"/dashboard/{world['city']}?wave={WAVE}&format=csv&table={table}")
        assert "风景很好" not in body.get_data(as_text=True)
    assert "风景很好" not in client.get(f"/dashboard/{world['city']}?wave={WAVE}").get_data(
        as_text=True)
