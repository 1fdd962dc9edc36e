"""Evaluation of the cities' quality work (issue 17, survey/evaluation, docs/evaluation.md):
rule files (valid, and broken ones naming file, path and reason), the scoring arithmetic
against a hand computation from the rule file, rank permutations and their simulated
intervals, tied groups, provinces, and the figures of a period read from the database
(checked against SQL written here) and through ``manyi evaluation score``."""

from __future__ import annotations

import copy
import json
import math
import os
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select, update

from survey.core.db import get_session
from survey.core.models import Agency, Batch, City, Release, Response
from survey.core.questionnaires.loader import safe_load_yaml
from survey.core.waves import wave_bounds
from survey.dashboard.estimates import Settings
from survey.demo.data import load_demo
from survey.evaluation import scoring, service
from survey.evaluation.rules import RuleError, load_rules, parse_rules
from survey.evaluation.scoring import Change, CityInputs, Sampled, score_cities
from tests.helpers import fetch, manyi, setup_demo

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "evaluation" / "quality_work.yaml"
QUESTIONNAIRES = ["healthcare", "community", "elderly_care", "tourism", "auto_aftersales"]
AS_OF = date(2027, 3, 1)  # every deadline of 2026 has passed


def shipped() -> dict[str, Any]:
    return safe_load_yaml(SHIPPED.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- an independent scorer
# Written from docs/evaluation.md and the YAML mapping, without survey.evaluation.scoring.

def hand_score(fn: dict[str, Any], x: float) -> float:
    if fn["type"] == "linear":
        return min(max((x - fn["low"]) / (fn["high"] - fn["low"]), 0.0), 1.0)
    result = fn.get("below", 0.0)
    for step in fn["steps"]:
        if x >= step["at"]:
            result = step["score"]
    return result


FRACTION = {"type": "linear", "low": 0, "high": 1}


def hand_points(c: dict[str, Any], raw: float | None, parts: dict[str, Any],
                gain_significant: bool | None = None) -> float:
    kind, w = c["kind"], c["weight"]
    if kind == "satisfaction_level":
        return 0.0 if raw is None else w * hand_score(c["scoring"], raw)
    if kind == "improvement":
        if raw is None or not gain_significant:
            return 0.0
        return w * hand_score(c["scoring"], raw)
    if kind in ("complaint_handling", "data_quality"):
        names = ("on_time", "rating") if kind == "complaint_handling" else ("batches", "flagged")
        total = 0.0
        for n in names:
            part = c[n]
            value = parts[n]
            s = (part.get("missing_score", 0.0) if value is None
                 else hand_score(part.get("scoring", FRACTION), value))
            total += part["share"] * s
        return w * total
    if raw is None:
        return w * c.get("missing_score", 0.0)
    return w * hand_score(c.get("scoring", FRACTION), raw)


# --------------------------------------------------------------------------- rule files

def test_the_shipped_rule_file_is_valid_and_cites_its_sources():
    rules = load_rules(SHIPPED, QUESTIONNAIRES)
    assert sum(c.weight for c in rules.components) == rules.total_points == 100
    assert {c.kind for c in rules.components} == {
        "satisfaction_level", "improvement", "complaint_handling", "survey_coverage",
        "data_quality", "publication"}
    assert rules.simulation.draws >= 1000
    text = SHIPPED.read_text(encoding="utf-8")
    assert "国办发〔2013〕47号" in text and "考核评分细则" in text


def _mutate(path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(shipped())
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize(("path", "value", "where", "reason"), [
    (["components", 0, "weight"], 30, "components", "weights add up to 90, not total_points 100"),
    (["components", 0, "kind"], "quality_level", "components[0]", "unknown kind 'quality_level'"),
    (["components", 0, "kind"], KeyError, "components[0]", "missing required key 'kind'"),
    (["components", 1, "scoring", "high"], 0, "components[1].scoring",
     "high must differ from low"),
    (["components", 0, "scoring", "steps", 0, "at"], 99, "components[0].scoring",
     "increasing order"),
    (["components", 0, "scoring", "type"], "cubic", "components[0].scoring",
     "unknown type 'cubic'"),
    (["components", 2, "on_time", "share"], 0.5, "components[2]",
     "on_time.share + rating.share must add up to 1"),
    (["components", 0, "wieght"], 40, "components[0].wieght", "unknown key 'wieght'"),
    (["simulation", "draws"], 500, "simulation.draws", "greater than or equal to 1000"),
    (["components", 1, "name"], "satisfaction", "components[1].name",
     "duplicate component name 'satisfaction'"),
    (["questionnaires", 0], "parking", "questionnaires[0]", "unknown questionnaire 'parking'"),
    (["components", 3, "quotas", "parking"], {"default": 3}, "components[3].quotas.parking",
     "unknown questionnaire 'parking'"),
    (["components", 3, "quotas", "healthcare", "districts"], {"nowhere-09": 5},
     "components[3].quotas.healthcare.districts.nowhere-09", "unknown district code"),
    (["components", 3, "quotas", "healthcare", "default"], -1,
     "components[3].quotas.healthcare.default", "greater than or equal to 0"),
])
def test_a_broken_rule_file_fails_with_file_path_and_reason(tmp_path, path, value, where,
                                                            reason):
    import yaml

    file = tmp_path / "broken.yaml"
    file.write_text(yaml.safe_dump(_mutate(path, value), allow_unicode=True), encoding="utf-8")
    with pytest.raises(RuleError) as caught:
        load_rules(file, QUESTIONNAIRES, ["hangzhou-01"])
    error = caught.value
    assert error.file == str(file) and error.path == where
    assert reason in error.reason
    assert str(error).startswith(f"{file}: {where}: ")


def test_yaml_syntax_and_unreadable_files_name_the_line(tmp_path):
    file = tmp_path / "bad.yaml"
    file.write_text("id: x\ntitle: [unclosed\n", encoding="utf-8")
    with pytest.raises(RuleError, match=r"bad\.yaml: line \d+, column \d+: invalid YAML"):
        load_rules(file)
    with pytest.raises(RuleError, match="cannot read file"):
        load_rules(tmp_path / "missing.yaml")
    file.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(RuleError, match="expected a mapping at the top level"):
        load_rules(file)


# --------------------------------------------------------------------------- scoring arithmetic

def small_rules(**simulation: Any) -> tuple[Any, dict[str, Any]]:
    data: dict[str, Any] = {
        "id": "t", "title": {"zh-Hans": "测试", "en": "test"}, "questionnaires": ["healthcare"],
        "total_points": 100,
        "simulation": {"draws": 2000, "seed": 7, **simulation},
        "components": [
            {"name": "sat", "kind": "satisfaction_level", "weight": 50,
             "scoring": {"type": "linear", "low": 60, "high": 90}},
            {"name": "gain", "kind": "improvement", "weight": 10,
             "scoring": {"type": "linear", "low": 0, "high": 5}},
            {"name": "comp", "kind": "complaint_handling", "weight": 10,
             "on_time": {"share": 0.6, "scoring": {"type": "linear", "low": 0.8, "high": 1}},
             "rating": {"share": 0.4, "scoring": {"type": "linear", "low": 3, "high": 4.5},
                        "missing_score": 0.5}},
            {"name": "cov", "kind": "survey_coverage", "weight": 10,
             "quotas": {"healthcare": {"default": 10}}},
            {"name": "dq", "kind": "data_quality", "weight": 10,
             "batches": {"share": 0.5, "missing_score": 1},
             "flagged": {"share": 0.5, "scoring": {"type": "linear", "low": 0.1, "high": 0}}},
            {"name": "pub", "kind": "publication", "weight": 10, "within_days": 30},
        ]}
    return parse_rules(data), data


def city(code: str, sat: Sampled | None, *, province: str = "33", gain: Change | None = None,
         comp: dict[str, float | None] | None = None, cov: float | None = 0.8,
         dq: dict[str, float | None] | None = None, pub: float | None = 1.0) -> CityInputs:
    values: dict[str, object] = {"sat": sat, "gain": gain,
                                 "comp": comp or {"on_time": 0.9, "rating": 4.0},
                                 "cov": cov, "dq": dq or {"batches": 0.75, "flagged": 0.02},
                                 "pub": pub}
    return CityInputs(code, province, values)


def test_totals_equal_the_sum_of_component_points_recomputed_from_the_rule_file():
    rules, data = small_rules()
    up = Change(Sampled(84.0, 0.8, 40), Sampled(80.0, 0.9, 40), math.hypot(0.8, 0.9), 79.0)
    inputs = [city("a", Sampled(84.0, 0.8, 40), gain=up),
              city("b", Sampled(71.5, 1.2, 30), comp={"on_time": None, "rating": None},
                   cov=None, dq={"batches": None, "flagged": 0.2}, pub=0.5),
              city("c", None, province="51", cov=1.0)]
    scored = score_cities(rules, inputs)
    for got, given in zip(scored.cities, inputs, strict=True):
        expected = []
        for c, s in zip(data["components"], got.components, strict=True):
            value = given.values[c["name"]]
            parts = value if isinstance(value, dict) else {}
            raw = (value.estimate if isinstance(value, Sampled) else
                   value.current.estimate - value.previous.estimate
                   if isinstance(value, Change) else
                   None if isinstance(value, dict) else value)
            significant = (isinstance(value, Change) and raw is not None and
                           raw / value.standard_error > 1.990)  # qt(0.975, 79) = 1.9905
            points = hand_points(c, raw, parts, significant)
            assert s.points == pytest.approx(points, abs=1e-12), (given.code, c["name"])
            assert s.max_points == c["weight"]
            expected.append(points)
        assert got.total == pytest.approx(sum(expected), abs=1e-12)
    a, b, c_ = scored.cities
    # a: sat 50·24/30 = 40; gain 10·4/5 = 8 (t = 3.33); comp 10·(0.6·0.5 + 0.4·2/3) = 5.667
    assert a.components[0].points == pytest.approx(40.0)
    assert a.components[1].points == pytest.approx(8.0)
    assert a.components[2].points == pytest.approx(10 * (0.3 + 0.4 * (1 / 1.5)))
    # b: complaints missing → on_time scores its missing_score 0, rating 0.5 → 2 points
    assert b.components[2].points == pytest.approx(10 * 0.4 * 0.5)
    assert "score 0.5" in (b.components[2].note or "")
    # c: no estimate → 0 points and a note, never a guess
    assert c_.components[0].points == 0 and c_.components[0].note == "no estimate"


@pytest.mark.parametrize(("name", "before", "after", "moved"), [
    ("cov", 0.5, 1.0, 5.0),       # linear 0–1: score 0.5 → 1, weight 10
    ("pub", 0.0, 1.0, 10.0),      # score 0 → 1
    ("pub", None, 1.0, 10.0),     # not computable (missing_score 0) → full
])
def test_a_component_change_moves_the_total_by_its_weight(name, before, after, moved):
    rules, _ = small_rules()
    base = city("a", Sampled(80.0, 1.0, 30))
    low = CityInputs("a", "33", {**base.values, name: before})
    high = CityInputs("a", "33", {**base.values, name: after})
    other = city("b", Sampled(70.0, 1.0, 30))
    t0 = score_cities(rules, [low, other]).cities[0].total
    t1 = score_cities(rules, [high, other]).cities[0].total
    assert t1 - t0 == pytest.approx(moved, abs=1e-12)
    assert moved == pytest.approx(rules.component(name).weight * (
        float(scoring.score(rules.component(name).scoring, after))
        - (0.0 if before is None else float(scoring.score(rules.component(name).scoring,
                                                          before)))))


def test_satisfaction_points_move_by_weight_times_the_score_change():
    rules, _ = small_rules()
    t = [score_cities(rules, [city("a", Sampled(x, 1.0, 30))]).cities[0].total
         for x in (60.0, 75.0, 90.0, 95.0)]
    assert t[1] - t[0] == pytest.approx(25.0)   # half the range: weight 50 × 0.5
    assert t[2] - t[0] == pytest.approx(50.0)   # the whole weight
    assert t[3] == pytest.approx(t[2])          # capped


def _random_inputs(n: int, seed: int) -> list[CityInputs]:
    rng = np.random.default_rng(seed)
    return [city(f"c{j:02d}", Sampled(float(rng.uniform(60, 90)), float(rng.uniform(0.3, 3)),
                                      int(rng.integers(2, 60))),
                 province=["33", "51", "37"][j % 3], cov=float(rng.uniform(0.4, 1)),
                 pub=float(rng.choice([0.0, 0.5, 1.0])))
            for j in range(n)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ranks_are_a_permutation_and_each_rank_lies_in_its_interval(seed):
    rules, _ = small_rules()
    scored = score_cities(rules, _random_inputs(9, seed))
    ranks = sorted(c.ranked.rank for c in scored.cities)
    assert ranks == list(range(1, 10))
    for c in scored.cities:
        assert 1 <= c.ranked.rank_low <= c.ranked.rank <= c.ranked.rank_high <= 9
    by_total = sorted(scored.cities, key=lambda c: -c.total)
    assert [c.ranked.rank for c in by_total] == list(range(1, 10))
    assert sorted(p.rank for p in scored.provinces) == [1, 2, 3]
    for p in scored.provinces:
        assert p.rank_low <= p.rank <= p.rank_high
        members = [c.total for c in scored.cities if c.province == p.code]
        assert p.total == pytest.approx(float(np.mean(members)))  # province = mean of cities
    # groups: in rank order, never decreasing, starting at 1
    groups = [c.ranked.group for c in sorted(scored.cities, key=lambda c: c.ranked.rank)]
    assert groups[0] == 1 and all(b - a in (0, 1) for a, b in zip(groups, groups[1:], strict=False))


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_equal_true_satisfaction_gives_widely_overlapping_intervals_and_one_tied_group(seed):
    rules, _ = small_rules()
    rng = np.random.default_rng(seed)
    se = 2.0  # every city's true index is 80; the estimates differ by sampling error only
    inputs = [city(f"c{j}", Sampled(80.0 + se * float(rng.standard_t(40)), se, 40), cov=0.8)
              for j in range(6)]
    scored = score_cities(rules, inputs)
    ranked = [c.ranked for c in scored.cities]
    assert max(r.rank_low for r in ranked) <= min(r.rank_high for r in ranked)  # all overlap
    assert all(r.rank_high - r.rank_low >= 2 for r in ranked)
    assert np.mean([r.rank_high - r.rank_low + 1 for r in ranked]) >= 4  # of 6 ranks
    assert {r.group for r in ranked} == {1}


def test_very_different_satisfaction_gives_separate_ranks():
    rules, _ = small_rules()
    inputs = [city(f"c{j}", Sampled(62.0 + 5 * j, 0.5, 40)) for j in range(6)]
    scored = score_cities(rules, inputs)
    for c in scored.cities:
        assert c.ranked.rank_low == c.ranked.rank == c.ranked.rank_high
    assert sorted(c.ranked.group for c in scored.cities) == [1, 2, 3, 4, 5, 6]
    assert [c.ranked.rank for c in scored.cities] == [6, 5, 4, 3, 2, 1]


def test_the_simulation_is_seeded_and_draws_from_the_t_distribution():
    rules, _ = small_rules()
    inputs = _random_inputs(7, 11)
    first = score_cities(rules, inputs)
    assert score_cities(rules, inputs) == first
    # the draws of one estimate: estimate + SE · t_df (mean and spread of the simulated
    # satisfaction points of a city inside the linear range)
    one = [city("x", Sampled(75.0, 2.0, 5))]
    fixed = [[scoring.component_score(c, one[0].values.get(c.name))
              for c in rules.components]]
    totals = scoring.simulate_totals(rules, one, fixed, 20000, 3)
    sat = (totals[:, 0] - sum(s.points for s in fixed[0][1:])) / 50 * 30 + 60
    assert float(np.mean(sat)) == pytest.approx(75.0, abs=0.05)
    assert float(np.std(sat)) == pytest.approx(2.0 * math.sqrt(5 / 3), rel=0.05)  # t_5 sd


def test_an_estimate_without_interval_has_fixed_points_and_says_so():
    rules, _ = small_rules()
    inputs = [city("a", Sampled(80.0, 0.0, 0)), city("b", Sampled(79.0, 3.0, 20)),
              city("c", Sampled(81.0, 3.0, 20))]
    scored = score_cities(rules, inputs)
    a = scored.cities[0]
    assert not a.components[0].varies
    assert a.components[0].note and "points fixed" in a.components[0].note
    assert a.ranked.rank_low < a.ranked.rank_high  # the others' uncertainty still counts


def test_improvement_counts_only_when_positive_and_significant():
    rules, _ = small_rules()

    def gain_points(now: float, before: float, se: float) -> float:
        ch = Change(Sampled(now, se, 30), Sampled(before, se, 30), math.hypot(se, se), 58.0)
        return score_cities(rules, [city("a", Sampled(now, se, 30), gain=ch)]
                            ).cities[0].components[1].points

    assert gain_points(85.0, 80.0, 0.5) == pytest.approx(10.0)     # +5, t = 7.1: full
    assert gain_points(82.0, 80.0, 0.5) == pytest.approx(4.0)      # +2, t = 2.8: 10·2/5
    assert gain_points(81.0, 80.0, 2.0) == 0.0                      # +1, t = 0.35
    assert gain_points(75.0, 80.0, 0.5) == 0.0                      # a significant fall


def test_equal_totals_share_the_tied_ranks_in_the_simulation():
    """Identical cities (step scoring makes equal totals common): the observed order is by
    code, but in the draws ties are broken at random, so none of them always wins."""
    rules, data = small_rules()
    data["components"][0]["scoring"] = {"type": "breakpoints",
                                        "steps": [{"at": 70, "score": 0.5},
                                                  {"at": 90, "score": 1}]}
    rules = parse_rules(data)
    inputs = [city(code, Sampled(80.0, 0.5, 30)) for code in ("a", "b", "c")]
    scored = score_cities(rules, inputs)
    assert [c.ranked.rank for c in scored.cities] == [1, 2, 3]
    assert all((c.ranked.rank_low, c.ranked.rank_high) == (1, 3) for c in scored.cities)
    assert {c.ranked.group for c in scored.cities} == {1}


def test_tied_groups_chain_overlapping_intervals():
    assert scoring.tied_groups([1, 2, 3, 4], [1, 1, 3, 3], [2, 3, 4, 4]) == [1, 1, 1, 1]
    assert scoring.tied_groups([1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 4, 4]) == [1, 2, 3, 3]
    assert scoring.tied_groups([2, 1], [1, 1], [2, 2]) == [1, 1]


def test_period_syntax():
    assert service.period_waves("2026") == ["2026Q1", "2026Q2", "2026Q3", "2026Q4"]
    assert service.previous_period("2026") == "2025"
    for bad in ("26", "2026Q1", "year", ""):
        with pytest.raises(service.PeriodError, match="expected a year YYYY"):
            service.period_waves(bad)


# --------------------------------------------------------------------------- from the database

def _settings(app: Any) -> Settings:
    return Settings(app.config["SINGLE_PSU"], app.config["MIN_CELL_SIZE"])


@pytest.fixture
def world(app):  # type: ignore[no-untyped-def]
    """Three demo cities; Qingdao moved into Zhejiang (two cities in one province); a
    release on time and one late for Hangzhou; two decided agency batches; flagged web
    responses in Chengdu."""
    setup_demo(app, cities=3, responses=500)
    with app.app_context():
        session = get_session()
        session.execute(update(City).where(City.code == "qingdao")
                        .values(province_code="33", province_zh="浙江省",
                                province_en="Zhejiang"))
        cities = {c.code: c for c in session.scalars(select(City))}
        hz = cities["hangzhou"].id
        for wave, days, number in (("2026Q1", 10, 1), ("2026Q1", 60, 2), ("2026Q2", 45, 1)):
            session.add(Release(city_id=hz, wave=wave, number=number,
                                questionnaires=["healthcare"],
                                released_at=wave_bounds(wave)[1].astimezone(UTC)
                                + timedelta(days=days), snapshot={}, digest="0" * 64))
        agency = Agency(code="ag", name="Agency")
        session.add(agency)
        session.flush()
        for k, decision in enumerate(("accepted", "conditional", "rejected", None)):
            session.add(Batch(agency_id=agency.id, city_id=hz, wave="2026Q3", filename="b.csv",
                              sha256=str(k) * 64, auto_decision="accepted",
                              final_decision=decision))
        cd = cities["chengdu"].id
        ids = list(session.scalars(select(Response.id).where(
            Response.city_id == cd, Response.channel == "web").order_by(Response.id).limit(9)))
        session.execute(update(Response).where(Response.id.in_(ids))
                        .values(status="flagged"))
        session.commit()
    return {"ids": {k: v.id for k, v in cities.items()}}


def test_a_period_is_scored_from_the_database(app, world, db_url):
    rules_data = shipped()
    with app.app_context():
        session = get_session()
        rules = service.load(SHIPPED, session, QUESTIONNAIRES)
        result = service.evaluate(session, rules, "2026", settings=_settings(app), today=AS_OF)
    assert [c.city.code for c in result.cities] != []
    assert sorted(c.ranked.rank for c in result.cities) == [1, 2, 3]
    comps = {c["name"]: c for c in rules_data["components"]}
    waves = ("2026Q1", "2026Q2", "2026Q3", "2026Q4")
    for c in result.cities:
        r = c.ranked
        assert r.rank_low <= r.rank <= r.rank_high
        got = {s.name: s for s in c.score.components}
        cid = world["ids"][c.city.code]
        # satisfaction: the weighted mean Σwy/Σw of the period's valid responses (SQL here)
        rows = fetch(db_url, "SELECT final_weight w, overall_score y FROM response WHERE "
                     "city_id = :c AND status = 'valid' AND overall_score IS NOT NULL AND "
                     "wave LIKE '2026Q%'", c=cid)
        w = rows["w"].astype(float)
        y = rows["y"].astype(float)
        assert got["satisfaction"].raw == pytest.approx(float((w * y).sum() / w.sum()), rel=1e-9)
        # coverage: mean over questionnaire × district × wave of min(n / quota, 1)
        counts = fetch(db_url, "SELECT r.questionnaire q, d.code d, r.wave w, COUNT(*) n "
                       "FROM response r JOIN district d ON d.id = r.district_id WHERE "
                       "r.city_id = :c AND r.status = 'valid' AND r.wave LIKE '2026Q%' "
                       "GROUP BY r.questionnaire, d.code, r.wave", c=cid)
        n = {(q, d, wv): int(k) for q, d, wv, k in zip(counts["q"], counts["d"], counts["w"],
                                                      counts["n"], strict=True)}
        districts = fetch(db_url, "SELECT code FROM district WHERE city_id = :c", c=cid)["code"]
        quotas = comps["coverage"]["quotas"]
        ratios = [min(n.get((q, d, wv), 0) / quota["default"], 1.0)
                  for q, quota in quotas.items() for d in districts for wv in waves]
        assert got["coverage"].raw == pytest.approx(sum(ratios) / len(ratios), rel=1e-12)
        # totals: the sum of the points recomputed from the rule file
        total = 0.0
        for name, s in got.items():
            points = hand_points(comps[name], s.raw, dict(s.parts))
            assert s.points == pytest.approx(points, abs=1e-9), (c.city.code, name)
            total += points
        assert r.total == pytest.approx(total, abs=1e-9)
        assert got["improvement"].raw is None  # the demo has no 2025 responses
        assert "2025" in (got["improvement"].note or "")
    hz = {s.name: s for s in result.city("hangzhou").score.components}
    # Q1: release 1 ten days after the quarter (on time; release 2 does not count),
    # Q2: 45 days (late), Q3 and Q4 never released and due by 2027-03-01 → 1 / 4
    assert hz["publication"].raw == pytest.approx(0.25)
    # decided batches: accepted 1, conditional ½, rejected 0 (the undecided one left out)
    assert hz["data_quality"].parts["batches"] == pytest.approx(1.5 / 3)
    cd = {s.name: s for s in result.city("chengdu").score.components}
    web = fetch(db_url, "SELECT status FROM response WHERE city_id = :c AND channel = 'web' "
                "AND wave LIKE '2026Q%'", c=world["ids"]["chengdu"])["status"]
    assert cd["data_quality"].parts["flagged"] == pytest.approx(
        float(np.mean(web == "flagged")), rel=1e-12)
    assert cd["data_quality"].parts["batches"] is None  # no agency batch: missing_score 1
    # provinces: Zhejiang = mean of Hangzhou and Qingdao
    zj = next(p for p in result.provinces if p.code == "33")
    assert {c.code for c in zj.cities} == {"hangzhou", "qingdao"}
    assert zj.ranked.total == pytest.approx(
        (result.city("hangzhou").ranked.total + result.city("qingdao").ranked.total) / 2)
    assert sorted(p.ranked.rank for p in result.provinces) == [1, 2]


def test_improvement_since_the_previous_year(app, db_url):
    with app.app_context():
        session = get_session()
        load_demo(session, app.extensions["manyi.questionnaires"], cities=2, responses=800,
                  seed=3, end_wave="2026Q4", waves=8)
        rules = service.load(SHIPPED, session, QUESTIONNAIRES)
        result = service.evaluate(session, rules, "2026", settings=_settings(app), today=AS_OF)
        assert service.periods_with_data(session) == ["2025", "2026"]
    for c in result.cities:
        got = {s.name: s for s in c.score.components}
        means = []
        for year in ("2026", "2025"):
            rows = fetch(db_url, "SELECT final_weight w, overall_score y FROM response WHERE "
                         "city_id = :c AND status = 'valid' AND overall_score IS NOT NULL "
                         "AND wave LIKE :p", c=c.city.id, p=f"{year}Q%")
            w, y = rows["w"].astype(float), rows["y"].astype(float)
            means.append(float((w * y).sum() / w.sum()))
        assert got["improvement"].raw == pytest.approx(means[0] - means[1], rel=1e-9)
        assert got["improvement"].varies
        if got["improvement"].points == 0:
            assert "not significant" in (got["improvement"].note or "")


def _env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "MANYI_DATABASE_URL": db_url, "MANYI_INSTANCE_DIR": str(tmp_path)}


def test_the_command_prints_every_city_with_its_interval(app, world, db_url, tmp_path):
    env = _env(db_url, tmp_path)
    ran = manyi("evaluation", "score", "--rules", str(SHIPPED), "--period", "2026",
                "--as-of", AS_OF.isoformat(), "--format", "json", env=env)
    assert ran.returncode == 0, ran.stderr
    rows = json.loads(ran.stdout)
    with app.app_context():
        session = get_session()
        rules = service.load(SHIPPED, session, QUESTIONNAIRES)
        expected = service.evaluate(session, rules, "2026", settings=_settings(app),
                                    today=AS_OF).rows()
    assert rows == expected
    assert {r["city"] for r in rows} == {"hangzhou", "chengdu", "qingdao"}
    for r in rows:
        assert set(r) >= {"city", "province", "total", "rank", "rank_low", "rank_high",
                          "components"}
        assert r["total"] == pytest.approx(sum(c["points"] for c in r["components"]), abs=1e-5)
        assert [c["name"] for c in r["components"]] == [
            "satisfaction", "improvement", "complaints", "coverage", "data_quality",
            "publication"]
        assert all(set(c) >= {"name", "raw", "points", "max_points"} for c in r["components"])
    table = manyi("evaluation", "score", "--rules", str(SHIPPED), "--period", "2026",
                  "--as-of", AS_OF.isoformat(), env=env)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:6] == ["rank", "rank_interval", "group", "city", "province",
                                    "total"]
    assert len(lines) == 4 and "2000 draws" in table.stderr


def test_the_command_refuses_bad_input_in_one_line(app, world, db_url, tmp_path):
    env = _env(db_url, tmp_path)
    bad = tmp_path / "bad.yaml"
    data = shipped()
    data["components"][0]["weight"] = 45
    import yaml

    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    ran = manyi("evaluation", "score", "--rules", str(bad), "--period", "2026", env=env)
    assert ran.returncode == 2
    assert ran.stderr.strip() == (f"manyi: {bad}: components: the component weights add up "
                                  "to 105, not total_points 100")
    ran = manyi("evaluation", "score", "--rules", str(SHIPPED), "--period", "2026Q1", env=env)
    assert ran.returncode == 2 and ran.stderr.startswith("manyi: --period: expected a year")
    ran = manyi("evaluation", "score", "--rules", str(SHIPPED), "--period", "2026",
                "--as-of", "tomorrow", env=env)
    assert ran.returncode == 2 and "--as-of: expected a date YYYY-MM-DD" in ran.stderr
    ran = manyi("evaluation", "score", "--rules", str(tmp_path / "none.yaml"), "--period",
                "2026", env=env)
    assert ran.returncode == 2 and "none.yaml: cannot read file" in ran.stderr


def test_releases_not_yet_due_are_left_out(app, world):
    with app.app_context():
        session = get_session()
        rules = service.load(SHIPPED, session, QUESTIONNAIRES)
        early = service.evaluate(session, rules, "2026", settings=_settings(app),
                                 today=date(2026, 7, 15))
    hz = {s.name: s for s in early.city("hangzhou").score.components}
    # by 2026-07-15 only Q1 is due (Q2's deadline is 31 July, and its release of
    # 14 August is not made yet): Q1 on time → 1/1
    assert hz["publication"].raw == pytest.approx(1.0)
