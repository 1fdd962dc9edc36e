"""The public pages (issue 16) in Debian's Chromium at 375 px and 1280 px: no horizontal
scrolling, no JavaScript needed (run with JavaScript off), nothing from another origin, and
no WCAG 2.1 A/AA violation found by axe-core (the axe.min.js bundled with
axe-playwright-python, evaluated in the page through the DevTools protocol, which the
page's CSP does not govern)."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from tests.helpers import csrf_token, login, setup_demo
from tests.test_layout_browser import ARGS, CHROMIUM, WIDTHS, _chromium_or_skip, _fits
from tests.test_layout_browser import app as app  # noqa: F401  (fixture: SQLite app)
from tests.test_public import _plant_extremes

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def _axe_source() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).with_name("axe.min.js")).read_text()


@pytest.fixture
def public_server(app):  # type: ignore[no-untyped-def]  # noqa: F811
    _chromium_or_skip()
    setup_demo(app, cities=2, responses=4000)
    black, _red = _plant_extremes(app)
    with app.app_context():
        from survey.core.db import get_session
        from survey.dashboard.estimates import Settings
        from survey.public import service

        session = get_session()
        plan = service.preview(session, Settings.of(app.config),
                               app.extensions["manyi.questionnaires"], "hangzhou", "2026Q4")
        service.release(session, plan, note="", actor="test", user_id=None)
        session.commit()
    admin = app.test_client()
    login(admin, "admin@test.cn")
    with app.app_context():
        from sqlalchemy import select

        from survey.core.models import ListEntry

        entry_id = get_session().scalar(select(ListEntry.id).where(ListEntry.kind == "black"))
    done = admin.post(f"/public/admin/lists/{entry_id}/confirm", data={
        "csrf_token": csrf_token(admin, "/public/admin/lists"),
        "reason": "显著低于全部城市平均水平，列入黑榜", "months": "6"})
    link = re.search(r"/public/objection/[^<\s]+", done.get_data(as_text=True))
    assert link is not None, black
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}", entry_id, link.group(0)
    http.shutdown()


def test_public_pages_fit_work_without_javascript_and_pass_axe(public_server):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    base, entry_id, objection = public_server
    host = urlsplit(base).netloc
    paths = ["/public", "/public/hangzhou", "/public/hangzhou/healthcare",
             "/public/methodology", "/public/lists", "/public/lists?history=1",
             f"/public/lists/{entry_id}", "/public/data", objection]
    axe = _axe_source()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            for width in WIDTHS:
                for lang in ("zh-Hans", "en"):
                    context = browser.new_context(viewport={"width": width, "height": 800},
                                                  java_script_enabled=False)
                    page = context.new_page()
                    foreign: list[str] = []
                    page.on("request", lambda r, f=foreign: urlsplit(r.url).netloc not in (
                        host, "") and f.append(r.url))
                    for path in paths:
                        sep = "&" if "?" in path else "?"
                        response = page.goto(f"{base}{path}{sep}lang={lang}")
                        assert response is not None and response.status == 200, path
                        _fits(page, f"{path} ({lang})", width)
                        assert not foreign, f"{path}: requests to other origins {foreign}"
                    context.close()
                # axe needs script in the page: a separate context with JavaScript on
                context = browser.new_context(viewport={"width": width, "height": 800})
                page = context.new_page()
                for path in paths:
                    page.goto(base + path)
                    page.evaluate(axe)
                    result = page.evaluate(
                        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})",
                        AXE_TAGS)
                    problems = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
                                for v in result["violations"]]
                    assert not problems, f"{path} at {width}px: {problems}"
                context.close()
        finally:
            browser.close()
