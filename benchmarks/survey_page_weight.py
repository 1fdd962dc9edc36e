"""Weight of the respondent pages: every page of every questionnaire, HTML + CSS.

Starts the app on a temporary SQLite database with demo places, serves it with a real
threaded HTTP server on 127.0.0.1, and answers each questionnaire through the HTML flow
as a browser with JavaScript off would (cookies, CSRF tokens, ``Accept-Encoding: gzip``),
choosing answers that open as many follow-up questions as possible. For each page it
records the bytes received (the app itself does not compress; a gzip-ing reverse proxy
would send the "gzip" column: gzip level 6 of the same bytes) and checks that every
resource the page references (``link``/``script``/``img`` ``src``/``href``, form
``action``, CSS ``url()``) is on the same origin, and that no page has a ``<script>``.

Run: ``.venv/bin/python benchmarks/survey_page_weight.py`` — exits non-zero when a page
plus the stylesheet weighs 30 KB (30 720 bytes) or more, or references another origin.
"""

from __future__ import annotations

import gzip
import http.cookiejar
import json
import logging
import re
import sys
import tempfile
import threading
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from sqlalchemy import select
from werkzeug.serving import make_server

from survey import create_app
from survey.core.db import get_session
from survey.core.migrate import upgrade
from survey.core.models import Site
from survey.demo.data import load_demo

LIMIT = 30 * 1024
COMMENT = "服务态度很好，但是排队时间有点长，希望增加窗口。The staff were kind, the queue was long."


@dataclass
class Fetched:
    url: str
    status: int
    body: bytes
    content_type: str


class Browser:
    """urllib with a cookie jar, sending ``Accept-Encoding: gzip`` like a phone does."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def fetch(self, path: str, data: Mapping[str, Any] | None = None) -> Fetched:
        encoded = urllib.parse.urlencode(data, doseq=True).encode() if data else None
        request = urllib.request.Request(urllib.parse.urljoin(self.base, path), data=encoded,
                                         headers={"Accept-Encoding": "gzip",
                                                  "Accept-Language": "zh-CN,zh;q=0.9"})
        with self.opener.open(request, timeout=30) as response:
            raw = response.read()
            if response.headers.get("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
            return Fetched(response.url, response.status, raw,
                           response.headers.get("Content-Type", ""))


class References(HTMLParser):
    """Every URL a page makes the browser load or send to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        for name, value in attrs:
            if value is not None and name in ("href", "src", "action", "srcset", "formaction"):
                self.urls.append((f"{tag}[{name}]", value))


def same_origin(base: str, url: str) -> bool:
    target = urllib.parse.urlsplit(urllib.parse.urljoin(base, url))
    origin = urllib.parse.urlsplit(base)
    return (target.scheme, target.netloc) == (origin.scheme, origin.netloc)


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" type="hidden" value="([^"]*)"', html)
    return match.group(1) if match else ""


def trigger_values(definition: Mapping[str, Any]) -> dict[str, list[str]]:
    """Item → the answers that some ``show_if`` waits for (to open follow-ups)."""
    out: dict[str, list[str]] = {}

    def walk(cond: Mapping[str, Any] | None) -> None:
        if not cond:
            return
        for sub in cond.get("all", []) + cond.get("any", []):
            walk(sub)
        if "item" in cond:
            values = [cond["equals"]] if "equals" in cond else list(cond["in"])
            out.setdefault(cond["item"], []).extend(values)

    for question in _questions(definition):
        walk(question["show_if"])
    return out


def _questions(definition: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [i for s in definition["sections"] for i in s["items"]] + definition["demographics"]


def answer_for(question: Mapping[str, Any], triggers: Mapping[str, list[str]]) -> Any:
    kind, qid = question["type"], question["id"]
    if kind in ("scale", "nps"):
        wanted = triggers.get(qid)
        return wanted[0] if wanted else str(question["max"] - 1)
    if kind == "single":
        wanted = triggers.get(qid)
        if wanted:
            return wanted[0]
        return question["options"][1 if qid == "age_band" else 0]["value"]
    if kind == "multi":
        return [o["value"] for o in question["options"]]
    return COMMENT


@dataclass
class PageWeight:
    questionnaire: str
    page: str
    html: int
    html_gzip: int


def measure(browser: Browser, client_base: str, qid: str, site: str,
            definition: Mapping[str, Any], record: list[PageWeight],
            problems: list[str]) -> None:
    triggers = trigger_values(definition)
    by_id = {q["id"]: q for q in _questions(definition)}

    def keep(name: str, fetched: Fetched) -> str:
        html = fetched.body.decode()
        record.append(PageWeight(qid, name, len(fetched.body),
                                 len(gzip.compress(fetched.body, compresslevel=6))))
        parser = References()
        parser.feed(html)
        if parser.scripts:
            problems.append(f"{qid} {name}: has {parser.scripts} <script> element(s)")
        for where, url in parser.urls:
            if not same_origin(client_base, url):
                problems.append(f"{qid} {name}: {where} points to another origin: {url}")
        return html

    start = browser.fetch(f"/s/{qid}?site={site}")
    html = keep("consent", start)
    page = browser.fetch(f"/s/{qid}?site={site}", {"csrf_token": hidden(html, "csrf_token"),
                                                   "consent": "yes"})
    for _ in range(40):
        path = urllib.parse.urlsplit(page.url).path
        if path.endswith("/review"):
            break
        html = keep(path.rsplit("/", 2)[-2] + "/" + path.rsplit("/", 1)[-1], page)
        for _ in range(3):  # a page re-renders when an answer opens a follow-up on it
            shown = hidden(html, "shown").split()
            data: dict[str, Any] = {"csrf_token": hidden(html, "csrf_token"),
                                    "shown": " ".join(shown), "action": "next"}
            for item in shown:
                data[item] = answer_for(by_id[item], triggers)
            nxt = browser.fetch(path, data)
            if urllib.parse.urlsplit(nxt.url).path != path:
                break
            html = nxt.body.decode()
        page = nxt
    html = keep("review", page)
    done = browser.fetch(f"/s/{qid}/submit", {"csrf_token": hidden(html, "csrf_token"),
                                              "client_uuid": hidden(html, "client_uuid")})
    keep("receipt", done)


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'weight.sqlite3'}"
        upgrade(url)
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "INSTANCE_DIR": tmp,
                          "RATELIMIT_ENABLED": False})
        with app.app_context():
            session = get_session()
            qs = app.extensions["manyi.questionnaires"]
            load_demo(session, qs, cities=1, responses=0, seed=1)
            sites = {kind: code for kind, code in session.execute(
                select(Site.kind, Site.code).order_by(Site.code.desc()))}
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_port}"
        try:
            record: list[PageWeight] = []
            problems: list[str] = []
            css = Browser(base).fetch("/static/manyi.css")
            css_raw = len(css.body)
            css_gzip = len(gzip.compress(css.body, compresslevel=6))
            for qid, q in sorted(qs.items()):
                definition = Browser(base).fetch(f"/api/v1/questionnaires/{qid}")
                measure(Browser(base), base, qid, sites[q.site_kinds[0]],
                        json.loads(definition.body), record, problems)
        finally:
            server.shutdown()
            app.extensions["manyi.engine"].dispose()

    print(f"stylesheet /static/manyi.css: {css_raw} B raw, {css_gzip} B gzip")
    print(f"{'questionnaire':<16} {'page':<10} {'HTML':>7} {'gzip':>6} "
          f"{'HTML+CSS':>9} {'gzip':>6}")
    for r in record:
        print(f"{r.questionnaire:<16} {r.page:<10} {r.html:>7} {r.html_gzip:>6} "
              f"{r.html + css_raw:>9} {r.html_gzip + css_gzip:>6}")
    heaviest = max(record, key=lambda r: r.html)
    total = heaviest.html + css_raw
    print(f"\n{len(record)} pages; heaviest: {heaviest.questionnaire} {heaviest.page}: "
          f"{total} B raw HTML+CSS ({heaviest.html_gzip + css_gzip} B gzip); "
          f"limit {LIMIT} B")
    if total >= LIMIT:
        problems.append(f"heaviest page + CSS is {total} B, not under {LIMIT} B")
    if problems:
        print("\nPROBLEMS:\n" + "\n".join(problems))
        return 1
    print("every page is under the limit and references only its own origin; no <script>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
