"""Questionnaire YAML schema and loader: the real files, the public definition, and the
one-line errors a broken file produces (file, path inside it, reason)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from survey.config import QUESTIONNAIRE_DIR
from survey.core.questionnaires import (
    NA,
    Questionnaire,
    QuestionnaireError,
    load_questionnaire,
    load_questionnaires,
)

FIXTURES = Path(__file__).parent / "questionnaire_fixtures"
MINI = FIXTURES / "mini.yaml"
REAL_IDS = ["auto_aftersales", "community", "elderly_care", "healthcare", "tourism"]
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def real() -> dict[str, Questionnaire]:
    return load_questionnaires()


def mini_data() -> dict[str, Any]:
    """The mini fixture as plain data, to break in one place per test."""
    return yaml.safe_load(MINI.read_text(encoding="utf-8"))


def write(tmp_path: Path, content: dict[str, Any] | str, name: str = "broken.yaml") -> Path:
    path = tmp_path / name
    text = content if isinstance(content, str) else yaml.safe_dump(content, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def expect_error(path: Path, where: str, reason: str) -> QuestionnaireError:
    """Loading ``path`` fails with exactly ``where`` as the path and ``reason`` in the reason."""
    with pytest.raises(QuestionnaireError) as info:
        load_questionnaire(path)
    error = info.value
    message = str(error)
    assert "\n" not in message
    assert error.file == str(path)
    assert error.path == where, message
    assert reason in error.reason, message
    assert message == f"{path}: {where}: {error.reason}"
    return error


def localized_texts(value: object) -> Iterator[dict[str, str]]:
    """Every {"zh-Hans": .., "en": ..} object nested in a dumped model."""
    if isinstance(value, dict):
        if "zh-Hans" in value or "en" in value:
            yield value
        else:
            for member in value.values():
                yield from localized_texts(member)
    elif isinstance(value, list):
        for member in value:
            yield from localized_texts(member)


# --------------------------------------------------------------------------- real files


def test_the_five_real_questionnaires_load(real: dict[str, Questionnaire]) -> None:
    assert sorted(real) == REAL_IDS
    assert {q.domain for q in real.values()} == set(REAL_IDS)
    assert QUESTIONNAIRE_DIR.name == "questionnaires"


@pytest.mark.parametrize("qid", REAL_IDS)
def test_real_questionnaire_has_12_to_25_items_besides_demographics(
    real: dict[str, Questionnaire], qid: str
) -> None:
    q = real[qid]
    assert 12 <= len(q.items) - len(q.demographics) <= 25


@pytest.mark.parametrize("qid", REAL_IDS)
def test_every_text_is_in_chinese_and_english(real: dict[str, Questionnaire], qid: str) -> None:
    texts = list(localized_texts(real[qid].model_dump(mode="json", by_alias=True)))
    assert len(texts) > 50
    for text in texts:
        assert set(text) == {"zh-Hans", "en"}
        assert text["zh-Hans"].strip() and text["en"].strip()
        if not text["en"].strip().isdigit():  # the 1..9 labels of a 0–10 scale are numbers
            assert CJK.search(text["zh-Hans"]), text


@pytest.mark.parametrize("qid", REAL_IDS)
def test_real_questionnaire_has_the_required_building_blocks(
    real: dict[str, Questionnaire], qid: str
) -> None:
    q = real[qid]
    demographics = {item.id: item for item in q.demographics}
    assert "under_14" in {o.value for o in demographics["age_band"].options or []}
    assert {"gender", "visit_frequency"} <= set(demographics)
    assert "district" not in demographics
    assert any(item.reverse for item in q.items)
    assert any(item.show_if is not None for item in q.items)
    assert any(q.scales[name].na for name in {i.scale for i in q.items if i.scale})
    comments = [item for item in q.items if item.type == "text"]
    assert len(comments) == 1 and comments[0].dimension is None
    overall = q.item(q.index.satisfaction_rate.item)
    assert overall.id == "overall_satisfaction" and overall.dimension is None
    assert not q.scales[overall.scale or ""].na
    assert set(q.dimension_weights) == {d.id for d in q.dimensions}
    assert sum(q.dimension_weights.values()) == pytest.approx(1.0)


def test_tourism_has_a_0_to_10_recommend_item_for_nps(real: dict[str, Questionnaire]) -> None:
    q = real["tourism"]
    item = q.item(q.index.nps_item or "")
    scale = q.scale_for(item)
    assert item.type == "nps" and scale is not None and (scale.min, scale.max) == (0, 10)


def test_healthcare_weights_come_from_a_consistent_ahp_matrix(
    real: dict[str, Questionnaire],
) -> None:
    q = real["healthcare"]
    assert q.ahp is not None and q.ahp_result is not None
    assert q.ahp_result.consistency_ratio <= 0.10
    # Independent check: power iteration on the pairwise matrix gives the same weights.
    matrix = q.ahp.matrix
    w = [1.0] * len(matrix)
    for _ in range(200):
        w = [sum(a * x for a, x in zip(row, w, strict=True)) for row in matrix]
        w = [x / sum(w) for x in w]
    expected = dict(zip(q.ahp.order, w, strict=True))
    for dim, weight in q.dimension_weights.items():
        assert weight == pytest.approx(expected[dim], abs=1e-9)


def test_auto_aftersales_weights_are_jd_power_csi_renormalised(
    real: dict[str, Questionnaire],
) -> None:
    # J.D. Power China CSI 2014: 24 + 21 + 21 + 18 + 17 = 101, renormalised to sum 1.
    assert real["auto_aftersales"].dimension_weights == pytest.approx(
        {
            "quality": 24 / 101,
            "facility": 21 / 101,
            "pickup": 21 / 101,
            "advisor": 18 / 101,
            "initiation": 17 / 101,
        }
    )


# --------------------------------------------------------------------------- model API


def test_items_are_sections_then_demographics_and_item_lookup_works() -> None:
    q = load_questionnaire(MINI)
    ids = [item.id for item in q.items]
    assert ids[0] == "visit_type" and ids[-2:] == ["age_band", "gender"]
    assert q.item("slow").reverse
    with pytest.raises(KeyError, match="no item 'nope'"):
        q.item("nope")


def test_required_defaults_by_type() -> None:
    q = load_questionnaire(MINI)
    assert q.item("wait").required and q.item("visit_type").required
    assert not q.item("services").required and not q.item("comment").required
    assert not q.item("recommend").required  # explicitly false in the file


def test_dimension_weights_are_normalised() -> None:
    assert load_questionnaire(MINI).dimension_weights == {"speed": 0.75, "staff": 0.25}


def test_scale_for() -> None:
    q = load_questionnaire(MINI)
    scale = q.scale_for("wait")
    assert scale is not None and (scale.min, scale.max, scale.na) == (1, 5, True)
    assert q.scale_for("visit_type") is None


def test_is_visible_follows_show_if() -> None:
    q = load_questionnaire(MINI)
    assert q.is_visible("slow", {})
    assert not q.is_visible("wait", {})
    assert q.is_visible("wait", {"visit_type": "in_person"})
    assert not q.is_visible("wait", {"visit_type": "online"})
    # all: [services has c, visit_type in [in_person]]; multi answers are lists.
    assert q.is_visible("service_c", {"services": ["a", "c"], "visit_type": "in_person"})
    assert not q.is_visible("service_c", {"services": ["a"], "visit_type": "in_person"})
    assert not q.is_visible("service_c", {"services": ["c"], "visit_type": "online"})


def test_is_visible_compares_codes_and_hides_follow_ups_of_hidden_items(tmp_path: Path) -> None:
    data = mini_data()
    items = data["sections"][0]["items"]
    # helpful is shown when wait == 5: wait itself is shown only for in-person visits.
    items[4]["show_if"] = {"item": "wait", "equals": 5}
    q = load_questionnaire(write(tmp_path, data, "chain.yaml"))
    assert q.is_visible("helpful", {"visit_type": "in_person", "wait": 5})
    assert q.is_visible("helpful", {"visit_type": "in_person", "wait": "5"})
    assert not q.is_visible("helpful", {"visit_type": "in_person", "wait": NA})
    assert not q.is_visible("helpful", {"visit_type": "online", "wait": 5})


def test_content_hash_is_stable_and_tracks_content(tmp_path: Path) -> None:
    q = load_questionnaire(MINI)
    assert re.fullmatch(r"[0-9a-f]{64}", q.content_hash)
    # Same content written differently (key order, flow style): same hash.
    data = mini_data()
    reordered = dict(reversed(list(data.items())))
    assert load_questionnaire(write(tmp_path, reordered, "a.yaml")).content_hash == q.content_hash
    data["sections"][0]["items"][1]["text"]["en"] = "Queue time"
    assert load_questionnaire(write(tmp_path, data, "b.yaml")).content_hash != q.content_hash


def test_public_definition_is_self_contained(real: dict[str, Questionnaire]) -> None:
    for q in real.values():
        definition = q.public_definition()
        json.dumps(definition)
        assert {
            "id",
            "version",
            "consent_version",
            "domain",
            "title",
            "sections",
            "demographics",
            "dimensions",
        } <= set(definition)
        assert definition["title"] == q.title.as_dict()
        questions = [i for s in definition["sections"] for i in s["items"]]
        questions += definition["demographics"]
        assert [x["id"] for x in questions] == [item.id for item in q.items]
        for question in questions:
            assert {"id", "type", "text", "required", "show_if", "dimension"} <= set(question)
            assert set(question["text"]) == {"zh-Hans", "en"}
            if question["type"] in ("scale", "nps"):
                assert isinstance(question["min"], int) and isinstance(question["max"], int)
                assert isinstance(question["na"], bool)
                assert len(question["labels"]) == question["max"] - question["min"] + 1
            elif question["type"] in ("single", "multi"):
                assert all({"value", "label"} == set(o) for o in question["options"])
        weights = [d["weight"] for d in definition["dimensions"]]
        assert sum(weights) == pytest.approx(1.0)


def test_public_definition_in_one_language() -> None:
    q = load_questionnaire(MINI)
    definition = q.public_definition("en")
    assert definition["title"] == "Mini survey"
    wait = definition["sections"][0]["items"][1]
    assert wait == {
        "id": "wait",
        "type": "scale",
        "text": "Waiting time",
        "required": True,
        "show_if": {"item": "visit_type", "equals": "in_person"},
        "dimension": "speed",
        "min": 1,
        "max": 5,
        "na": True,
        "labels": [
            {"value": 1, "label": "Very poor"},
            {"value": 2, "label": "Poor"},
            {"value": 3, "label": "Fair"},
            {"value": 4, "label": "Good"},
            {"value": 5, "label": "Very good"},
        ],
        "na_label": "Not applicable / did not use",
    }
    age = definition["demographics"][0]
    assert age["options"][0] == {"value": "under_14", "label": "Under 14"}
    assert q.public_definition("zh-Hans")["dimensions"][0] == {
        "id": "speed",
        "title": "效率",
        "weight": 0.75,
    }
    with pytest.raises(ValueError, match="lang"):
        q.public_definition("fr")


def test_yaml_1_1_surprises_are_disabled(tmp_path: Path) -> None:
    # Unquoted yes/no stay strings, 14_17 is not the integer 1417.
    text = MINI.read_text(encoding="utf-8").replace('"14_17"', "14_17")
    text = text.replace("value: in_person", "value: yes").replace("in_person", "yes")
    q = load_questionnaire(write(tmp_path, text, "yaml11.yaml"))
    assert [o.value for o in q.item("visit_type").options or []] == ["yes", "online"]
    assert "14_17" in [o.value for o in q.item("age_band").options or []]


def test_duplicate_questionnaire_id_across_files(tmp_path: Path) -> None:
    write(tmp_path, MINI.read_text(encoding="utf-8"), "one.yaml")
    second = write(tmp_path, MINI.read_text(encoding="utf-8"), "two.yaml")
    with pytest.raises(QuestionnaireError) as info:
        load_questionnaires(tmp_path)
    assert str(info.value) == (
        f"{second}: id: duplicate questionnaire id 'mini' (also in {tmp_path / 'one.yaml'})"
    )


def test_error_names_repo_files_relative_to_the_repo_root() -> None:
    error = QuestionnaireError(QUESTIONNAIRE_DIR / "tourism.yaml", "id", "x")
    assert str(error) == "questionnaires/tourism.yaml: id: x"


# --------------------------------------------------------------------------- broken files

Breaker = Callable[[dict[str, Any]], None]


def _items(data: dict[str, Any]) -> list[dict[str, Any]]:
    return data["sections"][0]["items"]


BROKEN: list[tuple[str, Breaker, str, str]] = [
    (
        "unknown dimension",
        lambda d: _items(d)[2].update(dimension="prices"),
        "sections[0].items[2].dimension",
        "unknown dimension 'prices' (known: speed, staff)",
    ),
    (
        "duplicate item id across sections and demographics",
        lambda d: d["demographics"][1].update(id="wait"),
        "demographics[1].id",
        "duplicate id 'wait' (already used at sections[0].items[1])",
    ),
    (
        "duplicate item id across sections",
        lambda d: d["sections"].append(
            {"id": "more", "title": d["sections"][0]["title"], "items": [_items(d)[3]]}
        ),
        "sections[1].items[0].id",
        "duplicate id 'polite'",
    ),
    (
        "zero item weight",
        lambda d: _items(d)[3].update(weight=0),
        "sections[0].items[3].weight",
        "weight must be positive, got 0",
    ),
    (
        "negative dimension weight",
        lambda d: d["dimensions"][1].update(weight=-1),
        "dimensions[1].weight",
        "weight must be positive, got -1",
    ),
    (
        "AHP consistency ratio above 0.10",
        lambda d: (
            [dim.pop("weight") for dim in d["dimensions"]],
            d["dimensions"].append({"id": "place", "title": {"zh-Hans": "环境", "en": "Place"}}),
            _items(d)[4].update(dimension="place"),
            d.update(
                ahp={
                    "order": ["speed", "staff", "place"],
                    # speed > staff (9), staff > place (9), but place > speed (9): circular.
                    "matrix": [[1, 9, "1/9"], ["1/9", 1, 9], [9, "1/9", 1]],
                }
            ),
        ),
        "ahp.matrix",
        "inconsistent pairwise judgements: consistency ratio",
    ),
    (
        "missing English translation",
        lambda d: _items(d)[3]["text"].pop("en"),
        "sections[0].items[3].text",
        "missing translation 'en'",
    ),
    (
        "empty Chinese translation",
        lambda d: d["dimensions"][0]["title"].update({"zh-Hans": "  "}),
        "dimensions[0].title",
        "empty translation 'zh-Hans'",
    ),
    (
        "missing translation of a scale label",
        lambda d: d["scales"]["five"]["labels"][2].pop("zh-Hans"),
        "scales.five.labels[2]",
        "missing translation 'zh-Hans'",
    ),
    (
        "scale min not below max",
        lambda d: d["scales"]["five"].update(min=5),
        "scales.five",
        "bad scale: min (5) must be below max (5)",
    ),
    (
        "scale label count not matching points",
        lambda d: d["scales"]["five"]["labels"].pop(),
        "scales.five.labels",
        "bad scale: 4 labels for 5 points (1..5)",
    ),
    (
        "unknown scale name",
        lambda d: _items(d)[2].update(scale="seven"),
        "sections[0].items[2].scale",
        "unknown scale 'seven' (known: five, five_required, ten)",
    ),
    (
        "scale item without a scale",
        lambda d: _items(d)[2].pop("scale"),
        "sections[0].items[2].scale",
        "a scale item needs a scale",
    ),
    (
        "nps item on a 1-5 scale",
        lambda d: _items(d)[8].update(scale="five"),
        "sections[0].items[8].scale",
        "an nps item needs a 0..10 scale",
    ),
    (
        "cyclic show_if",
        lambda d: (
            _items(d)[0].update(show_if={"item": "slow", "equals": 1}),
            _items(d)[2].update(show_if={"item": "visit_type", "equals": "online"}),
        ),
        "sections[0].items[0].show_if",
        "show_if cycle: visit_type -> slow -> visit_type",
    ),
    (
        "show_if on itself",
        lambda d: _items(d)[2].update(show_if={"item": "slow", "equals": 1}),
        "sections[0].items[2].show_if",
        "show_if cycle: slow -> slow",
    ),
    (
        "unknown show_if item",
        lambda d: _items(d)[1].update(show_if={"item": "channel", "equals": "in_person"}),
        "sections[0].items[1].show_if",
        "unknown item 'channel' in show_if",
    ),
    (
        "show_if on a later item",
        lambda d: _items(d)[1].update(show_if={"item": "polite", "equals": 5}),
        "sections[0].items[1].show_if.item",
        "show_if may only use earlier items; 'polite' comes later",
    ),
    (
        "show_if value that is not an option",
        lambda d: _items(d)[1].update(show_if={"item": "visit_type", "in": ["phone"]}),
        "sections[0].items[1].show_if.in",
        "'phone' is not a possible answer to 'visit_type' (possible: in_person, online)",
    ),
    (
        "show_if with two forms",
        lambda d: _items(d)[1]["show_if"].update({"in": ["online"]}),
        "sections[0].items[1].show_if",
        "show_if must be exactly one of",
    ),
    (
        "unknown key in an item",
        lambda d: _items(d)[2].update(colour="red"),
        "sections[0].items[2].colour",
        "unknown key 'colour'",
    ),
    (
        "unknown top-level key",
        lambda d: d.update(author="me"),
        "author",
        "unknown key 'author'",
    ),
    (
        "wrong domain",
        lambda d: d.update(domain="education"),
        "domain",
        "unknown domain 'education' (known: healthcare, elderly_care, community, tourism, "
        "auto_aftersales)",
    ),
    (
        "unknown site kind",
        lambda d: d.update(site_kinds=["school"]),
        "site_kinds[0]",
        "unknown site_kinds value 'school' (known: hospital, clinic,",
    ),
    (
        "dimension with no items",
        lambda d: [i.update(dimension="speed") for i in _items(d) if i.get("dimension")],
        "dimensions[1]",
        "dimension 'staff' has no items",
    ),
    (
        "missing required key",
        lambda d: d.pop("consent_version"),
        "consent_version",
        "missing required key 'consent_version'",
    ),
    (
        "age band without under_14",
        lambda d: d["demographics"][0]["options"].pop(0),
        "demographics",
        "age_band needs an option 'under_14'",
    ),
    (
        "options on a scale item",
        lambda d: _items(d)[2].update(options=_items(d)[0]["options"]),
        "sections[0].items[2].options",
        "a scale item has no options",
    ),
    (
        "reverse-coded choice item",
        lambda d: _items(d)[0].update(reverse=True),
        "sections[0].items[0].reverse",
        "only scale items can be reverse-coded",
    ),
    (
        "satisfaction rate on a text item",
        lambda d: d["index"]["satisfaction_rate"].update(item="comment"),
        "index.satisfaction_rate.item",
        "'comment' must be a scale item",
    ),
    (
        "weights and ahp together",
        lambda d: d.update(ahp={"order": ["speed", "staff"], "matrix": [[1, 2], ["1/2", 1]]}),
        "dimensions[0].weight",
        "give either dimension weights or an ahp block, not both",
    ),
]


@pytest.mark.parametrize(
    ("breaker", "where", "reason"),
    [pytest.param(b, w, r, id=name) for name, b, w, r in BROKEN],
)
def test_broken_file_is_reported_with_file_path_and_reason(
    tmp_path: Path, breaker: Breaker, where: str, reason: str
) -> None:
    data = copy.deepcopy(mini_data())
    breaker(data)
    expect_error(write(tmp_path, data), where, reason)


def test_consistent_ahp_block_replaces_weights(tmp_path: Path) -> None:
    data = mini_data()
    for dim in data["dimensions"]:
        dim.pop("weight")
    data["ahp"] = {"order": ["staff", "speed"], "matrix": [[1, "1/3"], [3, 1]]}
    q = load_questionnaire(write(tmp_path, data, "ahp.yaml"))
    assert q.dimension_weights == pytest.approx({"speed": 0.75, "staff": 0.25})


def test_bad_yaml_syntax_names_the_line(tmp_path: Path) -> None:
    text = "id: mini\nversion: 1\ntitle: {zh-Hans: 问卷, en: Survey\ndomain: community\n"
    expect_error(write(tmp_path, text), "line 4, column 7", "invalid YAML")


def test_bad_yaml_indentation_names_the_line(tmp_path: Path) -> None:
    text = "id: mini\nversion: 1\n  domain: community\n"
    expect_error(write(tmp_path, text), "line 3, column 9", "invalid YAML")


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    text = "id: mini\nversion: 1\nversion: 2\n"
    expect_error(write(tmp_path, text), "line 3, column 1", "invalid YAML: duplicate key 'version'")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(QuestionnaireError, match="expected a mapping at the top level"):
        load_questionnaire(write(tmp_path, "- a\n- b\n"))
