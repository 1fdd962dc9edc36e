"""Shared helpers of the dashboard tests (no tests here): log in through the real
CSRF-protected form, demo data, rows fetched independently of survey.dashboard.estimates."""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import create_engine, text

from survey.accounts.users import create_user
from survey.core.db import get_session
from survey.demo.data import load_demo

PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                     r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, path: str = "/auth/login") -> str:  # type: ignore[no-untyped-def]
    html = client.get(path).get_data(as_text=True)
    m = CSRF_RE.search(html) or re.search(r'id="csrf_token"[^>]*value="([^"]+)"', html)
    assert m, "no CSRF token on the login page"
    return next(g for g in m.groups() if g)


def login(client, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    """Log in through the form (with its CSRF token unless the app disabled CSRF)."""
    data = {"email": email, "password": password}
    if client.application.config.get("WTF_CSRF_ENABLED", True):
        data["csrf_token"] = csrf_token(client)
    return client.post("/auth/login", data=data)


def setup_demo(app, *, cities: int = 2, responses: int = 2000,  # type: ignore[no-untyped-def]
               tourism: bool = False) -> dict[str, object]:
    """Demo data and accounts: an admin, a researcher, an official per city; with
    ``tourism``, also the demo's complaints, online reviews and visitor counts."""
    with app.app_context():
        session = get_session()
        load_demo(session, app.extensions["manyi.questionnaires"], cities=cities,
                  responses=responses, seed=1, end_wave="2026Q4", tourism=tourism)
        create_user(session, email="admin@test.cn", password=PASSWORD, role="admin")
        create_user(session, email="researcher@test.cn", password=PASSWORD, role="researcher")
        codes = [c for (c,) in session.execute(text("SELECT code FROM city ORDER BY id"))]
        for code in codes:
            create_user(session, email=f"official.{code}@test.cn", password=PASSWORD,
                        role="official", city_code=code)
        session.commit()
    return {"cities": codes}


def fetch(url: str, sql: str, **params: object) -> dict[str, np.ndarray]:
    """Rows of ``sql`` as numpy columns, straight from the database."""
    engine = create_engine(url)
    with engine.connect() as conn:
        result = conn.execute(text(sql), params)
        names = list(result.keys())
        rows = result.all()
    engine.dispose()
    return {n: np.array([r[i] for r in rows], dtype=object) for i, n in enumerate(names)}


def floats(column: np.ndarray) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in column])


def read_csv(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    body = response.get_data(as_text=True).lstrip("\ufeff")
    return list(csv.reader(io.StringIO(body)))


def just_now(minutes_taken: float = 4) -> tuple[str, str]:
    """``(started_at, submitted_at)`` ISO timestamps of a response finished just now (the
    public channel takes only the open wave)."""
    end = datetime.now(UTC).replace(microsecond=0)
    return (end - timedelta(minutes=minutes_taken)).isoformat(), end.isoformat()


def survey_token(client, site: str, questionnaire: str = "healthcare") -> str:  # type: ignore[no-untyped-def]
    """A survey token for one response at ``site`` (GET /api/v1/survey-token), as a QR
    scan or an API client gets it."""
    response = client.get("/api/v1/survey-token",
                          query_string={"site": site, "questionnaire": questionnaire})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]


@dataclass
class Ran:
    """What a ``manyi`` command printed and returned (the fields of a CompletedProcess)."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def manyi(*args: str, env: Mapping[str, str], stdin: str | None = None) -> Ran:
    """Run the ``manyi`` command in this process: the entry point ``survey.cli:main`` with
    this argv, environment and standard input, its output and exit code captured.

    The same code path as the installed script (argument parsing, the app built from the
    environment, the one-line errors with exit code 2) without a new interpreter's two
    seconds of imports; tests/test_packaging.py and tests/test_foundation.py still run the
    real script in a subprocess."""
    from click.testing import CliRunner

    from survey.cli import main

    runner = CliRunner()
    argv = sys.argv
    code = 0
    with runner.isolation(input=stdin, env=dict(env)) as (out, err, _):
        sys.argv = ["manyi", *args]
        try:
            main()
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        finally:
            sys.argv = argv
            sys.stdout.flush()
            sys.stderr.flush()
        stdout, stderr = out.getvalue(), err.getvalue()
    return Ran(["manyi", *args], code, stdout.decode("utf-8", "replace"),
               stderr.decode("utf-8", "replace"))
