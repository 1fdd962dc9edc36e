"""Anonymous clients cannot move an index through the public API: only ``channel: web``,
only the open wave, at most 5 minutes ahead of the server clock; every refusal is a 422
naming the field, with nothing stored and the closed wave's index unchanged (issue 12)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from survey.core.db import get_session
from survey.core.models import City, Response, Site
from survey.core.waves import previous_wave, wave_bounds, wave_of
from survey.dashboard import estimates
from tests.helpers import setup_demo, survey_token
from tests.test_api import HOSPITAL_ANSWERS, body
from tests.test_respond import sites  # noqa: F401  (fixture)

ALL_ONES = {k: (1 if isinstance(v, int) else v) for k, v in HOSPITAL_ANSWERS.items()}


def _count(app: Any) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(Response)) or 0


def _hospital(app: Any) -> str:
    with app.app_context():
        session = get_session()
        city = session.scalars(select(City).order_by(City.code)).first()
        assert city is not None
        return session.scalars(select(Site.code).where(
            Site.city_id == city.id, Site.kind == "hospital").order_by(Site.code)).first() or ""


def _index(app: Any, wave: str) -> tuple[float, int]:
    with app.app_context():
        session = get_session()
        city = session.scalars(select(City).order_by(City.code)).first()
        assert city is not None
        settings = estimates.Settings(app.config["SINGLE_PSU"], app.config["MIN_CELL_SIZE"])
        kpis = estimates.kpis_by_split(session, settings,
                                       estimates.Scope(("healthcare",), (wave,), city.id),
                                       estimates.Filters(), [])
        cell = kpis[()].index
        assert cell.value is not None
        return cell.value.estimate, cell.value.n


def _post(client: Any, site: str, **changes: Any) -> Any:
    return client.post("/api/v1/responses",
                       json=body(site, survey_token(client, site), client_uuid=str(uuid.uuid4()),
                                 **changes))


@pytest.fixture
def demo_app(app: Any) -> Any:
    setup_demo(app, cities=1, responses=1500)
    return app


def test_sixty_interview_submissions_into_the_closed_wave_are_refused(demo_app, client):
    closed = previous_wave(wave_of(datetime.now(UTC)))
    start, _end = wave_bounds(closed)
    before_index, before_count = _index(demo_app, closed), _count(demo_app)
    site = _hospital(demo_app)
    when = (start + timedelta(days=20)).isoformat()
    for _ in range(60):
        response = _post(client, site, channel="interview", answers=dict(ALL_ONES),
                         started_at=when, submitted_at=when)
        assert response.status_code == 422
        errors = response.get_json()["errors"]
        assert set(errors) == {"channel", "submitted_at"}
        assert "agency" in errors["channel"] and closed not in errors["submitted_at"]
        assert "open wave" in errors["submitted_at"]
    assert _count(demo_app) == before_count
    assert _index(demo_app, closed) == before_index


def test_a_web_submission_dated_in_a_closed_wave_is_refused(demo_app, client):
    closed_moment = wave_bounds(wave_of(datetime.now(UTC)))[0] - timedelta(hours=1)
    before = _count(demo_app)
    response = _post(client, _hospital(demo_app), submitted_at=closed_moment.isoformat(),
                     started_at=(closed_moment - timedelta(minutes=5)).isoformat())
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["submitted_at"]
    assert _count(demo_app) == before


@pytest.mark.parametrize("stamp", ["0001-01-01T10:00:00+08:00", "0001-01-01T04:04:48+06:03",
                                   "9999-12-31T23:59:59-12:00"])
def test_timestamps_at_the_ends_of_the_calendar_are_422_not_500(app, client, sites, stamp):  # noqa: F811
    site = sites["hospital"]
    response = _post(client, site, submitted_at=stamp, started_at=None)
    assert response.status_code == 422
    assert "submitted_at" in response.get_json()["errors"]
    assert _count(app) == 0


def test_submitted_at_may_run_at_most_five_minutes_ahead(app, client, sites):  # noqa: F811
    site = sites["hospital"]
    now = datetime.now(UTC)
    ahead = _post(client, site, started_at=now.isoformat(),
                  submitted_at=(now + timedelta(minutes=6)).isoformat())
    assert ahead.status_code == 422
    assert "5 minutes" in ahead.get_json()["errors"]["submitted_at"]
    slightly = _post(client, site, started_at=now.isoformat(),
                     submitted_at=(now + timedelta(minutes=4)).isoformat())
    assert slightly.status_code == 201
    assert _count(app) == 1


@pytest.mark.parametrize("channel", ["interview", "phone"])
def test_interview_and_phone_channels_are_for_agencies_only(app, client, sites, channel):  # noqa: F811
    site = sites["hospital"]
    response = _post(client, site, channel=channel)
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["channel"]
    assert _count(app) == 0
