"""The JSON API: public reads (questionnaires, sites) and POST /api/v1/responses
(201 new, 200 replay, 409 conflict, 422 listing every bad field), each submission with a
survey token from GET /api/v1/survey-token (tests/test_integrity_web.py tests the tokens)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy import func, select

from survey.core.db import get_session
from survey.core.models import Response
from tests.helpers import just_now, survey_token
from tests.test_respond import sites  # noqa: F401  (fixture)

HOSPITAL_ANSWERS: dict[str, Any] = {
    "visit_type": "outpatient", "registration_ease": 4, "wayfinding": 5, "process_smooth": 3,
    "wait_doctor": 3, "wait_tests": 2, "wait_too_long": 2, "doctor_listened": 5,
    "doctor_explained": 4, "nurse_attitude": "na", "privacy": 5, "cost_informed": 1,
    "bill_clear": 3, "cost_value": 2, "cleanliness": 5, "amenities": 4,
    "overall_satisfaction": 4, "expectation": 3, "recommend": 4, "complained": "no",
    "respondent": "patient", "age_band": "45_59", "gender": "female",
    "visit_frequency": "once",
}


STARTED, SUBMITTED = just_now()


def body(site: str, token: str | None = None, **changes: Any) -> dict[str, Any]:
    """A healthcare submission at ``site`` (with ``token`` as its ``survey_token``)."""
    out = {"client_uuid": "3f2b1c9e-8d4a-4e0f-9a51-0c6f2d7e8b13", "questionnaire": "healthcare",
           "version": 1, "site": site, "answers": dict(HOSPITAL_ANSWERS),
           "consent_version": "2026-01", "channel": "web",
           "started_at": STARTED, "submitted_at": SUBMITTED}
    if token is not None:
        out["survey_token"] = token
    out.update(changes)
    return out


def signed(client: Any, site: str, **changes: Any) -> dict[str, Any]:
    """:func:`body` with a fresh survey token for its site and questionnaire."""
    return body(site, survey_token(client, site, changes.get("questionnaire", "healthcare")),
                **changes)


def stored_count(app: Any) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(Response)) or 0


# --------------------------------------------------------------------------- submit


def test_a_new_response_is_201_with_its_id(app, client, sites):  # noqa: F811
    response = client.post("/api/v1/responses", json=signed(client, sites["hospital"]))
    assert response.status_code == 201
    data = response.get_json()
    assert isinstance(data["id"], int) and data["status"] == "valid"
    assert data["client_uuid"] == "3f2b1c9e-8d4a-4e0f-9a51-0c6f2d7e8b13"
    assert len(data["receipt"]) == 8
    assert stored_count(app) == 1


def test_the_same_body_again_is_200_with_the_same_id(app, client, sites):  # noqa: F811
    b = signed(client, sites["hospital"])
    first = client.post("/api/v1/responses", json=b)
    again = client.post("/api/v1/responses", json=b)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert stored_count(app) == 1


def test_a_replay_without_timestamps_is_also_recognised(app, client, sites):  # noqa: F811
    b = signed(client, sites["hospital"], submitted_at=None)
    assert client.post("/api/v1/responses", json=b).status_code == 201
    assert client.post("/api/v1/responses", json=b).status_code == 200
    assert stored_count(app) == 1


def test_the_same_client_uuid_with_other_content_is_409(app, client, sites):  # noqa: F811
    first = client.post("/api/v1/responses", json=signed(client, sites["hospital"]))
    other = signed(client, sites["hospital"])
    other["answers"]["wayfinding"] = 1
    conflict = client.post("/api/v1/responses", json=other)
    assert conflict.status_code == 409
    data = conflict.get_json()
    assert data["error"] == "conflict" and data["id"] == first.get_json()["id"]
    assert stored_count(app) == 1


def test_an_invalid_submission_is_422_listing_every_bad_field(app, client, sites):  # noqa: F811
    answers = dict(HOSPITAL_ANSWERS)
    answers["wayfinding"] = 7             # out of range
    answers["no_such_item"] = 3           # unknown item
    del answers["cost_value"]             # required, missing
    answers["gender"] = "robot"           # not an option
    answers["overall_satisfaction"] = "na"  # N/A not allowed on this scale
    answers["comment"] = "x" * 2001       # too long
    bad = body("nope", client_uuid="not-a-uuid", version=2, answers=answers,
               consent_version="2025-01", channel="carrier pigeon",
               started_at="yesterday", submitted_at="2026-11-20T10:04:00", extra=1)
    response = client.post("/api/v1/responses", json=bad)
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert set(errors) == {
        "client_uuid", "version", "site", "consent_version", "channel", "started_at",
        "submitted_at", "extra", "answers.wayfinding", "answers.no_such_item",
        "answers.cost_value", "answers.gender", "answers.overall_satisfaction",
        "answers.comment",
    }
    assert "UUID" in errors["client_uuid"] and "version 1" in errors["version"]
    assert "nope" in errors["site"] and "time zone" in errors["submitted_at"]
    assert "between 1 and 5" in errors["answers.wayfinding"]
    assert "Please answer" in errors["answers.cost_value"]
    assert stored_count(app) == 0


def test_a_site_of_the_wrong_kind_and_an_unknown_questionnaire_are_422(client, sites):  # noqa: F811
    # No token can exist for these (the token endpoint refuses them too); the submission's
    # own errors come first: 422, not 403.
    wrong_kind = client.post("/api/v1/responses", json=body(sites["dealer"]))
    assert wrong_kind.status_code == 422
    assert "dealer" in wrong_kind.get_json()["errors"]["site"]
    unknown = client.post("/api/v1/responses",
                          json=body(sites["hospital"], questionnaire="nope"))
    assert unknown.status_code == 422 and "questionnaire" in unknown.get_json()["errors"]


@pytest.mark.parametrize("raw, content_type", [
    (b"not json", "application/json"), (b"[1, 2]", "application/json"),
])
def test_a_body_that_is_not_a_json_object_is_422(client, raw, content_type):
    response = client.post("/api/v1/responses", data=raw, content_type=content_type)
    assert response.status_code == 422
    assert "body" in response.get_json()["errors"]


def test_a_body_not_sent_as_json_is_415(client):
    response = client.post("/api/v1/responses", data=b'{"a": 1}', content_type="text/plain")
    assert response.status_code == 415
    assert "Content-Type: application/json" in response.get_json()["error"]


def test_the_api_needs_no_csrf_token_and_no_cookie(app, sites):  # noqa: F811
    fresh = app.test_client(use_cookies=False)
    submission = signed(fresh, sites["hospital"])
    assert fresh.post("/api/v1/responses", json=submission).status_code == 201


# --------------------------------------------------------------------------- reads


def test_the_questionnaire_list(app, client):
    data = client.get("/api/v1/questionnaires").get_json()
    qs = app.extensions["manyi.questionnaires"]
    assert {d["id"] for d in data} == set(qs)
    for entry in data:
        assert set(entry) == {"id", "version", "domain", "title"}
        assert entry["version"] == qs[entry["id"]].version
        assert set(entry["title"]) == {"zh-Hans", "en"}


@pytest.mark.parametrize("qid", ["healthcare", "elderly_care", "community", "tourism",
                                 "auto_aftersales"])
def test_a_questionnaire_definition_describes_every_question_fully(client, qid):
    data = client.get(f"/api/v1/questionnaires/{qid}").get_json()
    assert data["id"] == qid and data["version"] >= 1 and data["consent_version"]
    questions = [i for s in data["sections"] for i in s["items"]] + data["demographics"]
    assert any(q["id"] == "age_band" for q in data["demographics"])
    for question in questions:
        assert {"id", "type", "required", "show_if", "dimension"} <= set(question)
        assert question["type"] in {"scale", "nps", "single", "multi", "text"}
        if question["type"] in ("scale", "nps"):
            assert isinstance(question["min"], int) and question["max"] > question["min"]
            assert isinstance(question["na"], bool)
        elif question["type"] in ("single", "multi"):
            assert question["options"]
            assert all(set(o) == {"value", "label"} for o in question["options"])


def test_an_unknown_questionnaire_is_a_json_404(client):
    response = client.get("/api/v1/questionnaires/nope")
    assert response.status_code == 404 and response.get_json() == {"error": "not found"}


def test_the_public_site_list(app, client, sites):  # noqa: F811
    data = client.get("/api/v1/sites").get_json()
    assert data and {d["code"] for d in data} >= set(sites.values())
    for site in data:
        assert set(site) == {"code", "name", "kind", "city", "district", "questionnaires"}
    hospital = next(s for s in data if s["code"] == sites["hospital"])
    assert hospital["questionnaires"] == ["healthcare"]
    community = next(s for s in data if s["code"] == sites["community_centre"])
    assert community["questionnaires"] == ["community", "elderly_care"]


# --------------------------------------------------------------------------- a client


def _condition_holds(cond: Mapping[str, Any] | None, answers: Mapping[str, Any]) -> bool:
    """Evaluate a ``show_if`` from the JSON definition, as an offline client would."""
    if cond is None:
        return True
    if "all" in cond:
        return all(_condition_holds(c, answers) for c in cond["all"])
    if "any" in cond:
        return any(_condition_holds(c, answers) for c in cond["any"])
    value = answers.get(cond["item"])
    given = {str(v) for v in value} if isinstance(value, list) else {str(value)}
    wanted = {cond["equals"]} if "equals" in cond else set(cond["in"])
    return value is not None and bool(given & wanted)


def answers_from_definition(definition: Mapping[str, Any]) -> dict[str, Any]:
    """Answer every applicable question using nothing but the public JSON definition:
    the second-highest scale point, the first option (the second for the age band)."""
    answers: dict[str, Any] = {}
    questions = [i for s in definition["sections"] for i in s["items"]]
    questions += definition["demographics"]
    for question in questions:
        if not _condition_holds(question["show_if"], answers):
            continue
        kind = question["type"]
        if kind in ("scale", "nps"):
            answers[question["id"]] = question["max"] - 1
        elif kind == "single":
            options = question["options"]
            answers[question["id"]] = options[1 if question["id"] == "age_band" else 0]["value"]
        elif kind == "multi":
            answers[question["id"]] = [o["value"] for o in question["options"]]
        elif question["required"]:
            answers[question["id"]] = "ok"
    return answers


@pytest.mark.parametrize("qid", ["healthcare", "elderly_care", "community", "tourism",
                                 "auto_aftersales"])
def test_a_client_builds_a_valid_submission_from_the_definition_alone(app, client, sites,  # noqa: F811
                                                                      qid):
    definition = client.get(f"/api/v1/questionnaires/{qid}").get_json()
    site_list = client.get("/api/v1/sites").get_json()
    site = next(s["code"] for s in site_list if qid in s["questionnaires"])
    submission = {"client_uuid": str(uuid.uuid4()), "questionnaire": definition["id"],
                  "version": definition["version"], "site": site,
                  "answers": answers_from_definition(definition),
                  "consent_version": definition["consent_version"], "channel": "web",
                  "started_at": just_now()[0], "submitted_at": just_now()[1]}
    token = client.get("/api/v1/survey-token",
                       query_string={"site": site, "questionnaire": qid}).get_json()
    submission["survey_token"] = token["token"]
    response = client.post("/api/v1/responses", json=submission)
    assert response.status_code == 201, response.get_json()


def test_the_openapi_file_describes_every_api_route(app):
    from pathlib import Path

    import yaml

    spec = yaml.safe_load((Path(__file__).parent.parent / "docs" / "openapi.yaml").read_text())
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    routes = {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}",
                      rule.rule.removeprefix("/api/v1").replace("<qid>", "{id}")),
               method.lower())
              for rule in app.url_map.iter_rules()
              if rule.endpoint.startswith(("api.", "agency_api.", "complaints_api.", "public_api."))
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert ("/agency/batches/{batch_id}", "get") in routes
    assert ("/complaints/{code}", "get") in routes
    assert ("/public/releases", "get") in routes
    assert documented == routes
