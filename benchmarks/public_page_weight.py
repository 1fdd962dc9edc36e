"""Weight of the public pages (issue 16): HTML + stylesheet of every public page.

Builds a temporary SQLite instance with the demo (2 cities, 4,000 responses), releases
Hangzhou's 2026Q4 figures, and fetches every public page as a browser with JavaScript off
would. Prints raw and gzip bytes per page; exits non-zero when a page plus the stylesheet
weighs 30 KB (30 720 bytes) or more raw, has a ``<script>``, or references another origin.

Run: ``.venv/bin/python benchmarks/public_page_weight.py``
"""

from __future__ import annotations

import gzip
import logging
import re
import sys
import tempfile
from pathlib import Path

from survey import create_app
from survey.core.db import get_session
from survey.core.migrate import upgrade
from survey.dashboard.estimates import Settings
from survey.demo.data import load_demo
from survey.public import service

LIMIT = 30 * 1024
REF = re.compile(r'(?:href|src|action)="([^"]+)"')


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'public.sqlite3'}"
        upgrade(url)
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "INSTANCE_DIR": tmp,
                          "RATELIMIT_ENABLED": False})
        with app.app_context():
            session = get_session()
            qs = app.extensions["manyi.questionnaires"]
            load_demo(session, qs, cities=2, responses=4000, seed=1, end_wave="2026Q4")
            plan = service.preview(session, Settings.of(app.config), qs, "hangzhou", "2026Q4")
            service.release(session, plan, note="", actor="bench", user_id=None)
            session.commit()
        client = app.test_client()
        css = client.get("/static/manyi.css").get_data()
        css_gzip = len(gzip.compress(css, compresslevel=6))
        paths = ["/public", "/public/hangzhou", "/public/methodology", "/public/lists",
                 "/public/lists?history=1", "/public/data",
                 *(f"/public/hangzhou/{q}" for q in plan.snapshot["questionnaires"])]
        print(f"stylesheet /static/manyi.css: {len(css)} B raw, {css_gzip} B gzip")
        print(f"{'page':<36} {'HTML':>7} {'gzip':>6} {'HTML+CSS':>9} {'gzip':>6}")
        heaviest = 0
        for lang in ("zh-Hans", "en"):
            for path in paths:
                sep = "&" if "?" in path else "?"
                r = client.get(f"{path}{sep}lang={lang}")
                body = r.get_data()
                if r.status_code != 200:
                    problems.append(f"{path}: HTTP {r.status_code}")
                html = body.decode()
                if "<script" in html:
                    problems.append(f"{path}: has a <script>")
                for ref in REF.findall(html):
                    if re.match(r"^(?:[a-z]+:)?//", ref) and "creativecommons.org" not in ref:
                        problems.append(f"{path}: references {ref}")
                zipped = len(gzip.compress(body, compresslevel=6))
                total = len(body) + len(css)
                heaviest = max(heaviest, total)
                print(f"{(path + ' ' + lang):<36} {len(body):>7} {zipped:>6} {total:>9} "
                      f"{zipped + css_gzip:>6}")
                if total >= LIMIT:
                    problems.append(f"{path} ({lang}): {total} B HTML+CSS, not under {LIMIT} B")
        app.extensions["manyi.engine"].dispose()
    print(f"\nheaviest page + CSS: {heaviest} B raw; limit {LIMIT} B "
          "(the licence link to creativecommons.org is a link, not a resource)")
    if problems:
        print("\nPROBLEMS:\n" + "\n".join(problems))
        return 1
    print("every public page is under the limit, has no <script> and loads only its origin")
    return 0


if __name__ == "__main__":
    sys.exit(main())
