"""Every questionnaire completed end to end, through the HTML flow and through the JSON API,
with the stored scores checked against values computed by hand.

Item score on a 1–5 scale: (x − 1)/4·100, so 1 → 0, 2 → 25, 3 → 50, 4 → 75, 5 → 100;
a reverse item scores 100 minus that. N/A and hidden items are skipped. A dimension is the
weighted mean of its answered items; overall is the weighted mean of the dimensions that
have a score, weights renormalised.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from survey.core.db import get_session
from survey.core.models import Answer, Response, Score
from tests.helpers import just_now, survey_token
from tests.test_respond import site_for, sites, walk  # noqa: F401  (sites is a fixture)


def _healthcare_ahp_weights() -> dict[str, float]:
    """Principal eigenvector of the healthcare AHP matrix by power iteration (independent
    of the app's np.linalg.eig), order communication, waiting, access, cost, environment."""
    a = np.array([[1, 2, 3, 2, 5], [1 / 2, 1, 2, 1, 3], [1 / 3, 1 / 2, 1, 1 / 2, 2],
                  [1 / 2, 1, 2, 1, 3], [1 / 5, 1 / 3, 1 / 2, 1 / 3, 1]])
    w = np.ones(5) / 5
    for _ in range(500):
        w = a @ w
        w /= w.sum()
    return dict(zip(["communication", "waiting", "access", "cost", "environment"],
                    w.tolist(), strict=True))


AHP = _healthcare_ahp_weights()

CASES: dict[str, dict[str, Any]] = {
    "healthcare": {
        # inpatient: wait_admission and ward_response shown, wait_doctor hidden.
        "answers": {
            "visit_type": "inpatient", "registration_ease": 4, "wayfinding": 5,
            "process_smooth": 3, "wait_tests": 2, "wait_admission": 4, "wait_too_long": 2,
            "doctor_listened": 5, "doctor_explained": 4, "nurse_attitude": "na",
            "ward_response": 3, "privacy": 5, "cost_informed": 1, "bill_clear": 3,
            "cost_value": 2, "cleanliness": 5, "amenities": 4, "overall_satisfaction": 4,
            "expectation": 3, "recommend": 4, "complained": "yes", "complaint_handling": 2,
            "comment": "挂号排队时间太长。", "respondent": "patient", "age_band": "45_59",
            "gender": "female", "visit_frequency": "once",
        },
        "dimensions": {
            "access": (75 + 100 + 50) / 3,                       # 75.0
            "waiting": (25 + 75 + (100 - 25)) / 3,               # reverse 2 → 75; 58.33
            # nurse_attitude N/A skipped; doctor_explained weight 1.5:
            "communication": (100 + 1.5 * 75 + 50 + 100) / 4.5,  # 362.5/4.5 = 80.56
            "cost": (0 + 50 + 25) / 3,                           # 25.0
            "environment": (100 + 75) / 2,                       # 87.5
        },
        "weights": AHP,  # ≈ 0.387, 0.212, 0.119, 0.212, 0.069 (sum 1)
        "satisfied": 1,  # overall_satisfaction 4 > 5 − 2
        "nps_group": None,
    },
    "community": {
        # online: queue_wait and hall_environment hidden, so "environment" has no score
        # and overall renormalises over the other four dimensions.
        "answers": {
            "visit_type": "social_security", "channel": "online", "time_taken": 4,
            "materials_reasonable": 3, "repeated_trips": 4, "opening_hours": 5,
            "location": "na", "online_ease": 2, "told_requirements": 4, "progress_updates": 4,
            "staff_attitude": 5, "staff_competence": 3, "overall_satisfaction": 3,
            "expectation": 3, "complained": "no", "age_band": "30_44", "gender": "male",
            "residence": "local", "visit_frequency": "two_to_three",
        },
        "dimensions": {
            "process": (75 + 50 + (100 - 75)) / 3,  # 50.0
            "convenience": (100 + 25) / 2,          # location N/A: 62.5
            "information": (75 + 75) / 2,           # 75.0
            "staff": (100 + 50) / 2,                # 75.0
        },
        # (0.3·50 + 0.2·62.5 + 0.15·75 + 0.25·75)/0.9 = 57.5/0.9 = 63.89
        "weights": {"process": 0.3, "convenience": 0.2, "information": 0.15, "staff": 0.25,
                    "environment": 0.1},
        "satisfied": 0,  # 3 is not in the top two boxes
        "nps_group": None,
    },
    "elderly_care": {
        # meals and home visits used: the day care items are hidden.
        "answers": {
            "services_used": ["meals", "home_visit"], "meal_quality": 4,
            "meal_convenience": 5, "home_punctual": 3, "home_quality": 4,
            "staff_respect": 5, "staff_skill": 4, "staff_rushed": 1,
            "safety_facilities": 3, "safety_emergency": "na", "fee_transparent": 2,
            "fee_affordable": 1, "overall_satisfaction": 5, "expectation": 4,
            "continue_use": 5, "complained": "no", "respondent": "older_person",
            "age_band": "70_79", "gender": "female", "living_arrangement": "alone",
            "visit_frequency": "weekly",
        },
        "dimensions": {
            "meals": (75 + 100) / 2,                   # 87.5
            "home_service": (50 + 75) / 2,             # 62.5
            "staff": (100 + 75 + (100 - 0)) / 3,       # reverse 1 → 100; 91.67
            "safety": 50.0,                            # emergency N/A
            "affordability": (25 + 0) / 2,             # 12.5
        },
        # (0.18·87.5 + 0.14·62.5 + 0.2·91.67 + 0.2·50 + 0.14·12.5)/0.86 = 54.583/0.86 = 63.47
        "weights": {"meals": 0.18, "day_care": 0.14, "home_service": 0.14, "staff": 0.2,
                    "safety": 0.2, "affordability": 0.14},
        "satisfied": 1,
        "nps_group": None,
    },
    "tourism": {
        # day trip: accommodation hidden; complained: both complaint items shown.
        "answers": {
            "visit_type": "day_trip", "transport_access": 4, "parking_transfer": 2,
            "scenery": 5, "crowd_management": 3, "toilets": 2, "ticket_price": 2,
            "fair_pricing": 3, "ripped_off": 2, "safety_order": 5, "signage_guides": 4,
            "online_services": "na", "complained": "yes", "complaint_speed": 1,
            "complaint_outcome": 2, "overall_satisfaction": 4, "expectation": 4,
            "recommend": 9, "revisit": 4, "comment": "Beautiful, but crowded.",
            "age_band": "18_29", "gender": "male", "origin": "other_province",
            "visit_frequency": "first",
        },
        "dimensions": {
            "transport": (75 + 25) / 2,                    # 50.0
            "attraction": (1.5 * 100 + 50 + 25) / 3.5,     # 225/3.5 = 64.29
            "prices": (25 + 50 + (100 - 25)) / 3,          # 50.0
            "safety": 100.0,
            "information": 75.0,                           # online_services N/A
            "complaint_handling": (0 + 25) / 2,            # 12.5
        },
        # (0.15·50 + 0.25·64.29 + 0.15·50 + 0.13·100 + 0.1·75 + 0.1·12.5)/0.88 = 60.02
        "weights": {"transport": 0.15, "accommodation": 0.12, "attraction": 0.25,
                    "prices": 0.15, "safety": 0.13, "information": 0.1,
                    "complaint_handling": 0.1},
        "satisfied": 1,
        "nps_group": "promoter",  # 9
    },
    "auto_aftersales": {
        # maintenance without booking: booking_ease and fixed_right hidden.
        "answers": {
            "visit_type": "maintenance", "booked": "no", "reception_prompt": 4,
            "advisor_courtesy": 5, "advisor_explained": 4, "advisor_updates": "na",
            "lounge_comfort": 3, "facility_clean": 4, "on_time": 5, "charges_explained": 4,
            "price_fair": 2, "surprise_charges": 1, "work_quality": 4, "car_condition": 5,
            "overall_satisfaction": 2, "recommend": 6, "return_intent": 3,
            "complained": "no", "age_band": "60_69", "gender": "male",
            "vehicle_age": "one_to_three", "visit_frequency": "once",
        },
        "dimensions": {
            "initiation": 75.0,
            "advisor": (100 + 75) / 2,                     # updates N/A: 87.5
            "facility": (50 + 75) / 2,                     # 62.5
            "pickup": (100 + 75 + 25 + (100 - 0)) / 4,     # reverse 1 → 100; 75.0
            "quality": (75 + 100) / 2,                     # 87.5
        },
        # weights 17, 18, 21, 21, 24 (sum 101):
        # (17·75 + 18·87.5 + 21·62.5 + 21·75 + 24·87.5)/101 = 7837.5/101 = 77.60
        "weights": {"initiation": 17 / 101, "advisor": 18 / 101, "facility": 21 / 101,
                    "pickup": 21 / 101, "quality": 24 / 101},
        "satisfied": 0,
        "nps_group": "detractor",  # 6
    },
}


def expected_overall(case: dict[str, Any]) -> float:
    dims, weights = case["dimensions"], case["weights"]
    return sum(weights[d] * s for d, s in dims.items()) / sum(weights[d] for d in dims)


def test_the_hand_computed_overall_values_are_what_the_comments_say():
    assert expected_overall(CASES["community"]) == pytest.approx(57.5 / 0.9)
    assert expected_overall(CASES["elderly_care"]) == pytest.approx(54.583333 / 0.86)
    assert expected_overall(CASES["auto_aftersales"]) == pytest.approx(7837.5 / 101)
    assert expected_overall(CASES["tourism"]) == pytest.approx(52.8214286 / 0.88)
    # The AHP weights match the ones documented in healthcare.yaml.
    for dim, documented in {"communication": 0.39, "waiting": 0.21, "access": 0.12,
                            "cost": 0.21, "environment": 0.07}.items():
        assert AHP[dim] == pytest.approx(documented, abs=0.006)


def test_every_questionnaire_has_a_hand_computed_case(app):
    assert set(app.extensions["manyi.questionnaires"]) == set(CASES)


def _check_stored(app: Any, client_uuid: str | None, receipt: str | None,
                  case: dict[str, Any], channel: str) -> None:
    with app.app_context():
        session = get_session()
        stmt = select(Response)
        stmt = (stmt.where(Response.client_uuid == client_uuid) if client_uuid
                else stmt.where(Response.receipt_code == receipt))
        response = session.scalars(stmt).one()
        assert response.channel == channel and response.consent_version == "2026-01"
        scores = {s.dimension: s.value for s in session.scalars(
            select(Score).where(Score.response_id == response.id))}
        expected = {**case["dimensions"], "overall": expected_overall(case)}
        assert scores.keys() == expected.keys()
        for dim, value in expected.items():
            assert scores[dim] == pytest.approx(value, abs=1e-9), dim
        assert response.overall_score == pytest.approx(expected["overall"], abs=1e-9)
        assert response.satisfied == case["satisfied"]
        assert response.nps_group == case["nps_group"]
        answers = {a.item: a for a in session.scalars(
            select(Answer).where(Answer.response_id == response.id))}
        assert answers.keys() == case["answers"].keys()
        for item, value in case["answers"].items():
            stored = answers[item]
            if value == "na":
                assert stored.is_na and stored.value_num is None
            elif isinstance(value, int):
                assert stored.value_num == value and not stored.is_na
            elif isinstance(value, list):
                assert stored.value_text is not None and all(v in stored.value_text
                                                             for v in value)
            else:
                assert stored.value_text == value


@pytest.mark.parametrize("qid", sorted(CASES))
def test_a_full_response_through_the_html_flow_stores_the_hand_computed_scores(
        app, client, sites, qid):  # noqa: F811
    case = CASES[qid]
    receipt = walk(client, qid, site_for(app, sites, qid), case["answers"])
    _check_stored(app, None, receipt, case, "web")


@pytest.mark.parametrize("qid", sorted(CASES))
def test_a_full_response_through_the_api_stores_the_hand_computed_scores(
        app, client, sites, qid):  # noqa: F811
    case = CASES[qid]
    q = app.extensions["manyi.questionnaires"][qid]
    client_uuid = str(uuid.uuid4())
    site = site_for(app, sites, qid)
    body = {"client_uuid": client_uuid, "questionnaire": qid, "version": q.version,
            "site": site, "answers": case["answers"],
            "consent_version": q.consent_version, "channel": "web",
            "started_at": just_now()[0], "submitted_at": just_now()[1],
            "survey_token": survey_token(client, site, qid)}
    response = client.post("/api/v1/responses", json=body)
    assert response.status_code == 201, response.get_json()
    _check_stored(app, client_uuid, None, case, "web")
