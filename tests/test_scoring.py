"""Validation and scoring of one response.

Item score on a 1–5 scale: (x − 1)/4·100, i.e. 1→0, 2→25, 3→50, 4→75, 5→100; a reverse
item gives 100 minus that (5→0, 4→25, 3→50, 2→75, 1→100).  Expected numbers below are worked
out by hand in the comments, not by calling the code.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from survey.core.questionnaires import Questionnaire, load_questionnaire, load_questionnaires
from survey.core.responses.scoring import (
    NA,
    AnswerError,
    SatisfactionFlags,
    satisfaction_flags,
    score_response,
    score_responses,
    validate_answers,
)

MINI = Path(__file__).parent / "questionnaire_fixtures" / "mini.yaml"


@pytest.fixture(scope="module")
def mini() -> Questionnaire:
    return load_questionnaire(MINI)


@pytest.fixture(scope="module")
def real() -> dict[str, Questionnaire]:
    return load_questionnaires()


def clean(q: Questionnaire, raw: dict[str, object]) -> dict[str, object]:
    result = validate_answers(q, raw)
    assert result.ok, result.errors
    return dict(result.answers)


# --------------------------------------------------------------------------- real files

DEMOGRAPHICS = {"age_band": "30_44", "gender": "female", "visit_frequency": "once"}


def test_healthcare_full_response(real: dict[str, Questionnaire]) -> None:
    q = real["healthcare"]
    raw = {
        "visit_type": "outpatient",  # wait_admission, ward_response hidden
        "registration_ease": "4",
        "wayfinding": "5",
        "process_smooth": "3",
        "wait_doctor": "2",
        "wait_tests": "na",
        "wait_too_long": "4",
        "doctor_listened": "5",
        "doctor_explained": "4",
        "nurse_attitude": "4",
        "privacy": "3",
        "cost_informed": "2",
        "bill_clear": "3",
        "cost_value": "3",
        "cleanliness": "5",
        "amenities": "4",
        "overall_satisfaction": "4",
        "expectation": "3",
        "recommend": "4",
        "complained": "no",
        "comment": "  挂号很方便  ",
        "respondent": "patient",
        **DEMOGRAPHICS,
    }
    answers = clean(q, raw)
    assert answers["wait_tests"] is NA and answers["comment"] == "挂号很方便"
    scores = score_response(q, answers)
    # access: (75 + 100 + 50)/3 = 75
    # waiting: wait_doctor 25, wait_tests N/A (skipped), wait_too_long 4 reversed = 25 → 25
    # communication: 100, 75×1.5 (doctor_explained weight 1.5), 75, 50
    #   = (100 + 112.5 + 75 + 50)/4.5 = 337.5/4.5 = 75
    # cost: (25 + 50 + 50)/3 = 41.666…
    # environment: (100 + 75)/2 = 87.5
    assert scores["access"] == pytest.approx(75.0)
    assert scores["waiting"] == pytest.approx(25.0)
    assert scores["communication"] == pytest.approx(75.0)
    assert scores["cost"] == pytest.approx(125 / 3)
    assert scores["environment"] == pytest.approx(87.5)
    # AHP weights (principal eigenvector, 4 d.p.): communication .3868, waiting .2122,
    # access .1194, cost .2122, environment .0693.
    # overall ≈ 75×.3868 + 25×.2122 + 75×.1194 + 41.667×.2122 + 87.5×.0693
    #         = 29.010 + 5.305 + 8.955 + 8.842 + 6.064 = 58.18
    assert scores["overall"] == pytest.approx(58.18, abs=0.01)
    assert satisfaction_flags(q, answers) == SatisfactionFlags(True, None)


def test_elderly_care_full_response(real: dict[str, Questionnaire]) -> None:
    q = real["elderly_care"]
    raw = {
        "services_used": ["home_visit", "meals"],  # no day care: its items are hidden
        "meal_quality": 4,
        "meal_convenience": 5,
        "home_punctual": 3,
        "home_quality": 4,
        "staff_respect": 5,
        "staff_skill": 4,
        "staff_rushed": 2,
        "safety_facilities": "na",
        "safety_emergency": 4,
        "fee_transparent": 3,
        "fee_affordable": 2,
        "overall_satisfaction": 5,
        "expectation": 4,
        "continue_use": 5,
        "complained": "no",
        "respondent": "family",
        "living_arrangement": "alone",
        **DEMOGRAPHICS,
        "visit_frequency": "weekly",
    }
    answers = clean(q, raw)
    assert answers["services_used"] == ["meals", "home_visit"]  # option order
    scores = score_response(q, answers)
    # meals (75 + 100)/2 = 87.5; day_care: nothing shown → None
    # home_service (50 + 75)/2 = 62.5
    # staff: 100, 75, staff_rushed 2 reversed = 75 → 250/3 = 83.333…
    # safety: N/A skipped, 75 → 75; affordability (50 + 25)/2 = 37.5
    # overall over the dimensions with a score, weights .18 .14 .20 .20 .14 (sum .86):
    #   (87.5×.18 + 62.5×.14 + 83.333×.20 + 75×.20 + 37.5×.14)/.86
    #   = (15.75 + 8.75 + 16.6667 + 15 + 5.25)/.86 = 61.4167/.86 = 71.4147
    assert scores["meals"] == pytest.approx(87.5)
    assert scores["day_care"] is None
    assert scores["home_service"] == pytest.approx(62.5)
    assert scores["staff"] == pytest.approx(250 / 3)
    assert scores["safety"] == pytest.approx(75.0)
    assert scores["affordability"] == pytest.approx(37.5)
    assert scores["overall"] == pytest.approx(71.4147, abs=1e-4)
    assert satisfaction_flags(q, answers).satisfied is True


def test_community_full_response(real: dict[str, Questionnaire]) -> None:
    q = real["community"]
    raw = {
        "visit_type": "certificates",
        "channel": "online",  # queue_wait and hall_environment hidden, online_ease shown
        "time_taken": "5",
        "materials_reasonable": "4",
        "repeated_trips": "1",
        "opening_hours": "3",
        "location": "4",
        "online_ease": "2",
        "told_requirements": "4",
        "progress_updates": "NA",
        "staff_attitude": "5",
        "staff_competence": "5",
        "overall_satisfaction": "5",
        "expectation": "5",
        "complained": "no",
        "residence": "local",
        **DEMOGRAPHICS,
    }
    answers = clean(q, raw)
    scores = score_response(q, answers)
    # process: 100, 75, repeated_trips 1 reversed = 100 → 275/3 = 91.667
    # convenience: (50 + 75 + 25)/3 = 50; information: 75 (N/A skipped); staff: 100
    # environment: its only item is hidden for online users → None
    # overall = (91.667×.30 + 50×.20 + 75×.15 + 100×.25)/(.30 + .20 + .15 + .25)
    #         = (27.5 + 10 + 11.25 + 25)/.90 = 73.75/.90 = 81.944…
    assert scores == pytest.approx(
        {
            "process": 275 / 3,
            "convenience": 50.0,
            "information": 75.0,
            "staff": 100.0,
            "environment": None,
            "overall": 73.75 / 0.9,
        }
    )


def test_tourism_full_response(real: dict[str, Questionnaire]) -> None:
    q = real["tourism"]
    raw = {
        "visit_type": "overnight",
        "transport_access": 4,
        "parking_transfer": 2,
        "lodging_comfort": 5,
        "lodging_service": 4,
        "scenery": 5,
        "crowd_management": 2,
        "toilets": 3,
        "ticket_price": 2,
        "fair_pricing": 3,
        "ripped_off": 4,
        "safety_order": 4,
        "signage_guides": "na",
        "online_services": 5,
        "complained": "yes",
        "complaint_speed": 1,
        "complaint_outcome": 2,
        "overall_satisfaction": 4,
        "expectation": 3,
        "recommend": 8,
        "revisit": 4,
        "origin": "other_province",
        "age_band": "18_29",
        "gender": "male",
        "visit_frequency": "first",
    }
    answers = clean(q, raw)
    scores = score_response(q, answers)
    # transport (75 + 25)/2 = 50; accommodation (100 + 75)/2 = 87.5
    # attraction: scenery 100 (weight 1.5), 25, 50 → (150 + 25 + 50)/3.5 = 64.2857
    # prices: 25, 50, ripped_off 4 reversed = 25 → 100/3 = 33.333
    # safety 75; information: N/A skipped, 100; complaint_handling (0 + 25)/2 = 12.5
    # overall (weights sum to 1):
    #   50×.15 + 87.5×.12 + 64.2857×.25 + 33.333×.15 + 75×.13 + 100×.10 + 12.5×.10
    #   = 7.5 + 10.5 + 16.0714 + 5 + 9.75 + 10 + 1.25 = 60.0714
    assert scores == pytest.approx(
        {
            "transport": 50.0,
            "accommodation": 87.5,
            "attraction": 225 / 3.5,
            "prices": 100 / 3,
            "safety": 75.0,
            "information": 100.0,
            "complaint_handling": 12.5,
            "overall": 60.0714,
        },
        abs=1e-4,
    )
    # overall satisfaction 4 is in the top two boxes; recommend 8 is passive.
    assert satisfaction_flags(q, answers) == SatisfactionFlags(True, "passive")


def test_auto_aftersales_full_response(real: dict[str, Questionnaire]) -> None:
    q = real["auto_aftersales"]
    raw = {
        "visit_type": "maintenance",  # fixed_right hidden
        "booked": "no",  # booking_ease hidden
        "reception_prompt": "4",
        "advisor_courtesy": "5",
        "advisor_explained": "4",
        "advisor_updates": "3",
        "lounge_comfort": "4",
        "facility_clean": "5",
        "on_time": "5",
        "charges_explained": "4",
        "price_fair": "3",
        "surprise_charges": "1",
        "work_quality": "4",
        "car_condition": "5",
        "overall_satisfaction": "3",
        "recommend": "10",
        "return_intent": "4",
        "complained": "no",
        "vehicle_age": "one_to_three",
        **DEMOGRAPHICS,
    }
    answers = clean(q, raw)
    scores = score_response(q, answers)
    # initiation 75; advisor (100 + 75 + 50)/3 = 75; facility (75 + 100)/2 = 87.5
    # pickup: 100, 75, 50, surprise_charges 1 reversed = 100 → 325/4 = 81.25
    # quality (75 + 100)/2 = 87.5
    # overall with J.D. Power weights 17, 18, 21, 21, 24 (sum 101):
    #   (75×17 + 75×18 + 87.5×21 + 81.25×21 + 87.5×24)/101
    #   = (1275 + 1350 + 1837.5 + 1706.25 + 2100)/101 = 8268.75/101 = 81.8688
    assert scores == pytest.approx(
        {
            "initiation": 75.0,
            "advisor": 75.0,
            "facility": 87.5,
            "pickup": 81.25,
            "quality": 87.5,
            "overall": 8268.75 / 101,
        }
    )
    # overall satisfaction 3 is not top-two-box; recommend 10 is a promoter.
    assert satisfaction_flags(q, answers) == SatisfactionFlags(False, "promoter")


# --------------------------------------------------------------------------- scoring rules

FULL = {
    "visit_type": "in_person",
    "wait": 4,
    "slow": 2,
    "polite": 5,
    "helpful": 3,
    "overall_satisfaction": 4,
    "age_band": "adult",
    "gender": "male",
}


def test_mini_full_response(mini: Questionnaire) -> None:
    # speed: wait 75, slow 2 reversed = 75 → 75
    # staff: polite 100 (weight 2), helpful 50 → (200 + 50)/3 = 83.333
    # overall: dimension weights 3 : 1 → (3×75 + 83.333)/4 = 77.0833
    assert score_response(mini, clean(mini, FULL)) == pytest.approx(
        {"speed": 75.0, "staff": 250 / 3, "overall": (225 + 250 / 3) / 4}
    )


@pytest.mark.parametrize(("answer", "expected"), [(1, 100.0), (2, 75.0), (4, 25.0), (5, 0.0)])
def test_reverse_item_is_flipped(mini: Questionnaire, answer: int, expected: float) -> None:
    scores = score_response(mini, {"slow": answer})
    assert scores["speed"] == expected and scores["overall"] == expected


def test_na_is_skipped_and_weights_renormalised(mini: Questionnaire) -> None:
    answers = clean(mini, {**FULL, "wait": "na", "polite": "na"})
    assert answers["wait"] is NA and answers["polite"] is NA
    scores = score_response(mini, answers)
    # speed: only slow (75) → 75, not (0 + 75)/2; staff: only helpful → 50
    # overall (3×75 + 1×50)/4 = 68.75
    assert scores == {"speed": 75.0, "staff": 50.0, "overall": 68.75}


def test_dimension_without_score_drops_out_of_overall(mini: Questionnaire) -> None:
    answers = clean(mini, {**FULL, "polite": "na", "helpful": "na"})
    # staff has no score, so overall = speed alone = 75
    assert score_response(mini, answers) == {"speed": 75.0, "staff": None, "overall": 75.0}


def test_nothing_answered_scores_none(mini: Questionnaire) -> None:
    assert score_response(mini, {}) == {"speed": None, "staff": None, "overall": None}
    all_na = {"wait": NA, "slow": NA, "polite": NA, "helpful": NA}
    assert score_response(mini, all_na) == {"speed": None, "staff": None, "overall": None}


def test_hidden_item_is_dropped_and_not_scored(mini: Questionnaire) -> None:
    result = validate_answers(mini, {**FULL, "visit_type": "online", "wait": 1})
    assert result.ok
    assert "wait" not in result.answers and result.dropped == ("wait",)
    # speed is slow alone (75), not (0 + 75)/2
    assert score_response(mini, result.answers)["speed"] == 75.0


def test_hidden_required_item_is_not_required(mini: Questionnaire) -> None:
    result = validate_answers(mini, {**FULL, "visit_type": "online", "wait": None})
    assert result.ok and result.dropped == ()


def test_invalid_answer_does_not_open_a_follow_up(mini: Questionnaire) -> None:
    result = validate_answers(mini, {**FULL, "visit_type": "phone"})
    # visit_type is invalid, so wait (shown only for in_person) is hidden: no 'required'.
    assert set(result.errors) == {"visit_type"}
    assert result.dropped == ("wait",)


def test_show_if_on_multi_and_all(mini: Questionnaire) -> None:
    shown = validate_answers(mini, {**FULL, "services": ["c"], "service_c": "5"})
    assert shown.answers["service_c"] == 5
    missing = validate_answers(mini, {**FULL, "services": ["c"]})
    assert missing.errors["service_c"].code == "required"
    hidden = validate_answers(mini, {**FULL, "services": ["a"], "service_c": "5"})
    assert hidden.ok and "service_c" not in hidden.answers


def test_score_responses_matches_score_response(real: dict[str, Questionnaire]) -> None:
    rng = random.Random(7)
    for q in real.values():
        responses = []
        for _ in range(200):
            raw: dict[str, object] = {}
            for item in q.items:
                scale = q.scale_for(item)
                if scale is not None and rng.random() < 0.9:
                    na = scale.na and rng.random() < 0.15
                    raw[item.id] = "na" if na else rng.randint(scale.min, scale.max)
                elif item.type == "single":
                    raw[item.id] = rng.choice(item.options or []).value
                elif item.type == "multi":
                    raw[item.id] = [o.value for o in item.options or [] if rng.random() < 0.5]
            responses.append(validate_answers(q, raw).answers)
        batch = score_responses(q, responses)
        for i, answers in enumerate(responses):
            for key, value in score_response(q, answers).items():
                if value is None:
                    assert math.isnan(batch[key][i])
                else:
                    assert batch[key][i] == pytest.approx(value)


def test_score_responses_of_nothing(mini: Questionnaire) -> None:
    scores = score_responses(mini, [])
    assert set(scores) == {"speed", "staff", "overall"}
    assert all(len(v) == 0 for v in scores.values())


# --------------------------------------------------------------------------- accepted values


@pytest.mark.parametrize("value", [4, "4", " 4 ", 4.0, "4.0"])
def test_scale_accepts_form_strings_and_json_numbers(mini: Questionnaire, value: object) -> None:
    assert clean(mini, {**FULL, "wait": value})["wait"] == 4


@pytest.mark.parametrize("value", ["na", "NA", " Na ", NA])
def test_na_code(mini: Questionnaire, value: object) -> None:
    assert clean(mini, {**FULL, "wait": value})["wait"] is NA


def test_multi_answers_are_deduplicated_in_option_order(mini: Questionnaire) -> None:
    raw = {**FULL, "services": ["c", "a", "c"], "service_c": 4}
    assert clean(mini, raw)["services"] == ["a", "c"]


@pytest.mark.parametrize("value", [None, "", "   ", []])
def test_blank_means_unanswered(mini: Questionnaire, value: object) -> None:
    result = validate_answers(mini, {**FULL, "services": value, "comment": value})
    assert result.ok and "services" not in result.answers and "comment" not in result.answers


def test_answers_keep_questionnaire_order(mini: Questionnaire) -> None:
    raw = dict(reversed(list(FULL.items())))
    assert list(clean(mini, raw)) == [item.id for item in mini.items if item.id in FULL]


# --------------------------------------------------------------------------- errors


def error_of(q: Questionnaire, item_id: str, value: object) -> AnswerError:
    result = validate_answers(q, {**FULL, item_id: value})
    assert item_id not in result.answers
    assert list(result.errors) == [item_id], result.errors
    return result.errors[item_id]


def test_unknown_item(mini: Questionnaire) -> None:
    error = error_of(mini, "colour", "red")
    assert error.code == "unknown_item"


@pytest.mark.parametrize("value", [None, "", [], " "])
def test_required_visible_item_missing(mini: Questionnaire, value: object) -> None:
    error = error_of(mini, "slow", value)
    assert error == AnswerError("required", "Please answer this question.")
    assert error.message("en") == "Please answer this question."
    assert error.message("zh-Hans") == "请回答此题。"


def test_required_item_absent(mini: Questionnaire) -> None:
    raw = {k: v for k, v in FULL.items() if k != "overall_satisfaction"}
    assert validate_answers(mini, raw).errors["overall_satisfaction"].code == "required"


@pytest.mark.parametrize("value", [0, 6, "7", -1])
def test_out_of_scale_range(mini: Questionnaire, value: object) -> None:
    error = error_of(mini, "wait", value)
    assert error.code == "out_of_range"
    assert error.message("en") == "The answer must be between 1 and 5."
    assert error.message("zh-Hans") == "答案须在1到5之间。"


def test_out_of_nps_range(mini: Questionnaire) -> None:
    assert error_of(mini, "recommend", 11).code == "out_of_range"


def test_na_where_not_allowed(mini: Questionnaire) -> None:
    error = error_of(mini, "overall_satisfaction", "na")
    assert error.code == "na_not_allowed" and "不适用" in error.message("zh-Hans")
    assert error_of(mini, "recommend", NA).code == "na_not_allowed"


@pytest.mark.parametrize(("item_id", "value"), [("visit_type", "phone"), ("services", ["a", "z"])])
def test_option_not_in_options(mini: Questionnaire, item_id: str, value: object) -> None:
    error = error_of(mini, item_id, value)
    assert error.code == "invalid_option"
    assert "'" in error.message("en") and "不是此题的选项" in error.message("zh-Hans")


@pytest.mark.parametrize(
    ("item_id", "value"),
    [
        ("wait", "four"),
        ("wait", "4.5"),
        ("wait", 4.5),
        ("wait", True),
        ("wait", [4]),
        ("visit_type", ["in_person"]),
        ("services", "a"),
        ("services", [{"a": 1}]),
        ("comment", 42),
    ],
)
def test_wrong_type(mini: Questionnaire, item_id: str, value: object) -> None:
    error = error_of(mini, item_id, value)
    assert error.code == "wrong_type" and error.message("en") and error.message("zh-Hans")


def test_text_too_long(mini: Questionnaire) -> None:
    assert clean(mini, {**FULL, "comment": "好" * 2000})["comment"] == "好" * 2000
    error = error_of(mini, "comment", "好" * 2001)
    assert error.code == "too_long"
    assert "2001" in error.message("en") and "2000" in error.message("zh-Hans")


def test_error_message_in_each_language(mini: Questionnaire) -> None:
    error = error_of(mini, "wait", "four")
    assert error.message("en") == "Please choose a whole number from 1 to 5 or 'not applicable'."
    assert error.message("zh-Hans") == "请选择1到5之间的整数或“不适用”。"


def test_several_errors_at_once(mini: Questionnaire) -> None:
    result = validate_answers(mini, {"visit_type": "in_person", "wait": 9, "x": 1})
    assert not result.ok
    assert {k: e.code for k, e in result.errors.items()} == {
        "x": "unknown_item",
        "wait": "out_of_range",
        "slow": "required",
        "polite": "required",
        "helpful": "required",
        "overall_satisfaction": "required",
        "age_band": "required",
        "gender": "required",
    }


# --------------------------------------------------------------------------- flags


@pytest.mark.parametrize(
    ("answer", "expected"), [(5, True), (4, True), (3, False), (1, False), (None, None)]
)
def test_top_two_box_satisfaction(
    mini: Questionnaire, answer: int | None, expected: bool | None
) -> None:
    answers = {} if answer is None else {"overall_satisfaction": answer}
    assert satisfaction_flags(mini, answers).satisfied is expected


@pytest.mark.parametrize(
    ("answer", "category"),
    [
        (10, "promoter"),
        (9, "promoter"),
        (8, "passive"),
        (7, "passive"),
        (6, "detractor"),
        (0, "detractor"),
        (None, None),
    ],
)
def test_nps_category(mini: Questionnaire, answer: int | None, category: str | None) -> None:
    answers = {} if answer is None else {"recommend": answer}
    assert satisfaction_flags(mini, answers).nps_category == category


def test_no_nps_category_without_an_nps_item(real: dict[str, Questionnaire]) -> None:
    q = real["community"]
    assert q.index.nps_item is None
    assert satisfaction_flags(q, {"overall_satisfaction": 5}) == SatisfactionFlags(True, None)
