"""20 simultaneous submissions of the same ``client_uuid`` (the same body, with the same
survey token) against a running server store exactly one response (one 201, nineteen 200,
the same id everywhere).

Runs on PostgreSQL (the production database; skipped, with the reason, only when
``MANYI_TEST_DATABASE_URL`` is unset) and on SQLite.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import make_server

from survey import create_app
from survey.core.db import get_session
from survey.core.models import Answer, Response, Score, Site
from survey.demo.data import load_demo
from tests.conftest import PG_URL, empty_all_tables
from tests.test_api import body

THREADS = 20


@pytest.fixture(params=["sqlite", "postgresql"])
def server_app(request: pytest.FixtureRequest, migrated_urls: dict[str, str],
               tmp_path: Path) -> Iterator[Flask]:
    """The app on a migrated, emptied database of the backend, with demo places."""
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("MANYI_TEST_DATABASE_URL is not set: no PostgreSQL to test against "
                    "(CI sets it, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    url = migrated_urls[request.param]
    empty_all_tables(url)
    app = create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "test-secret",
                      "RATELIMIT_ENABLED": False, "INSTANCE_DIR": str(tmp_path)})
    with app.app_context():
        load_demo(get_session(), app.extensions["manyi.questionnaires"], cities=1,
                  responses=0, seed=1)
    yield app
    app.extensions["manyi.engine"].dispose()


@pytest.fixture
def server_url(server_app: Flask) -> Iterator[str]:
    """A real threaded HTTP server on 127.0.0.1 (a free port)."""
    server = make_server("127.0.0.1", 0, server_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def post_json(url: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_twenty_simultaneous_submissions_of_one_client_uuid_store_one_row(server_app,
                                                                          server_url):
    with server_app.app_context():
        site = get_session().scalar(select(Site.code).where(Site.kind == "hospital"))
    assert site is not None
    with urllib.request.urlopen(f"{server_url}/api/v1/survey-token?site={site}"
                                "&questionnaire=healthcare", timeout=60) as response:
        token = json.loads(response.read())["token"]
    payload = body(site, token)
    barrier = threading.Barrier(THREADS)
    results: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()

    def submit() -> None:
        barrier.wait()
        outcome = post_json(f"{server_url}/api/v1/responses", payload)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=submit) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * (THREADS - 1) + [201], results
    assert len({data["id"] for _, data in results}) == 1
    with server_app.app_context():
        session = get_session()
        assert session.scalar(select(func.count()).select_from(Response)) == 1
        [response_id] = session.scalars(select(Response.id))
        assert response_id == results[0][1]["id"]
        # Answers and scores were written once, with the response.
        n_answers = session.scalar(select(func.count()).select_from(Answer))
        assert n_answers == len(payload["answers"])
        assert session.scalar(select(func.count()).select_from(Score)) == 6
