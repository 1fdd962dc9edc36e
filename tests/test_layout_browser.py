"""Screenshot-level check in headless Chromium (Debian's /usr/bin/chromium, never a
downloaded browser): dashboard and citizen pages at 375 px and 1280 px have no horizontal
scrolling, charts really render under our CSP, and nothing is fetched from another origin.

Skipped when Chromium is missing, unless ``CI`` is set (then it fails: the CI script
installs Chromium with apt)."""

from __future__ import annotations

import os
import shutil
import threading
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from tests.helpers import PASSWORD, setup_demo

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
WIDTHS = (375, 1280)
CSP_PROBE = ("window.__csp = [];"
             "document.addEventListener('securitypolicyviolation',"
             " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")


def _chromium_or_skip() -> None:
    if os.path.exists(CHROMIUM) or shutil.which("chromium"):
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing on CI (install it with apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")


@pytest.fixture
def app(migrated_urls, tmp_path):  # type: ignore[no-untyped-def]
    """The app on SQLite only: layout does not depend on the database."""
    from survey import create_app
    from tests.conftest import empty_all_tables

    url = migrated_urls["sqlite"]
    empty_all_tables(url)
    from cryptography.fernet import Fernet

    application = create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "test",
                              "RATELIMIT_ENABLED": False, "INSTANCE_DIR": str(tmp_path),
                              "COMPLAINT_KEY": Fernet.generate_key().decode()})
    yield application
    application.extensions["manyi.engine"].dispose()


@pytest.fixture
def server(app):  # type: ignore[no-untyped-def]
    _chromium_or_skip()
    setup_demo(app, cities=2, responses=1500, tourism=True)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()


def _login(page, base: str, email: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/auth/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/auth/login" not in page.url, "login failed"


def _check(page, base: str, path: str, width: int, foreign: list[str]) -> None:  # type: ignore[no-untyped-def]
    response = page.goto(base + path, wait_until="networkidle")
    assert response is not None and response.status == 200, (path, response and response.status)
    charts = page.locator("div.chart[data-figure]")
    count = charts.count()
    if count:
        page.wait_for_function(
            "n => document.querySelectorAll('div.chart[data-figure] .main-svg').length >= n",
            arg=count, timeout=15000)
    sizes = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert sizes[0] <= sizes[1], f"{path} at {width}px scrolls horizontally: {sizes}"
    violations = page.evaluate("window.__csp")
    assert not violations, f"{path}: CSP violations {violations}"
    assert not foreign, f"{path}: requests to other origins {foreign}"


def _fits(page, what: str, width: int) -> None:  # type: ignore[no-untyped-def]
    sizes = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert sizes[0] <= sizes[1], f"{what} at {width}px scrolls horizontally: {sizes}"


def _walk_survey(page, base: str, site: str, width: int, foreign: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Consent, the age page and the first questions as a respondent meets them."""
    page.goto(f"{base}/s/healthcare?site={site}")
    with page.expect_navigation():
        page.click("button[name=consent]")
    _fits(page, "age page", width)
    page.locator("input[type=radio]").nth(2).check()
    with page.expect_navigation():
        page.click("button[value=next]")
    assert "/p/2" in page.url, page.url
    _fits(page, "first section", width)
    with page.expect_navigation():  # nothing answered: the errors are shown next to fields
        page.click("button[value=next]")
    assert page.locator(".error").count() > 0
    _fits(page, "first section with errors", width)
    assert not foreign, f"survey: requests to other origins {foreign}"


def test_pages_fit_375_and_1280_without_horizontal_scroll(server, app):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with app.app_context():
        from sqlalchemy import select

        from survey.core.db import get_session
        from survey.core.models import City, Complaint, Site

        site = get_session().scalar(select(Site).where(Site.kind == "hospital")
                                    .order_by(Site.code))
        spot = get_session().scalar(select(Site.code).where(Site.kind == "scenic_spot")
                                    .order_by(Site.code))
        case = get_session().execute(select(Complaint.id, Complaint.tracking_code).join(
            City, City.id == Complaint.city_id).where(City.code == "hangzhou")
            .order_by(Complaint.id).limit(1)).one()
    host = urlsplit(server).netloc
    citizen = ["/", "/auth/login", f"/s/healthcare?site={site.code}",
               f"/complaints/new?site={spot}", f"/complaints/track/{case.tracking_code}"]
    # the dashboard pages last: the charts of the last page are counted below
    official = ["/complaints", f"/complaints/case/{case.id}", "/dashboard/hangzhou",
                "/dashboard/hangzhou/healthcare"]
    admin = ["/complaints/escalations", "/dashboard/all-cities", "/dashboard/chengdu/tourism"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            for width in WIDTHS:
                for who, paths in ((None, citizen), ("official.hangzhou@test.cn", official),
                                   ("admin@test.cn", admin)):
                    context = browser.new_context(viewport={"width": width, "height": 800})
                    context.add_init_script(CSP_PROBE)
                    page = context.new_page()
                    foreign: list[str] = []
                    page.on("request", lambda r, f=foreign: urlsplit(r.url).netloc not in (
                        host, "") and f.append(r.url))
                    if who:
                        _login(page, server, who)
                    for path in paths:
                        _check(page, server, path, width, foreign)
                    if who is None:
                        _walk_survey(page, server, site.code, width, foreign)
                    if who == "official.hangzhou@test.cn":
                        rendered = page.locator("div.chart .main-svg").count()
                        assert rendered >= 5, rendered  # trend, dims, IPA, districts, sites
                    context.close()
        finally:
            browser.close()
