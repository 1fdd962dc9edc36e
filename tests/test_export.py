"""The researcher export: privacy by construction, checked on real files, both backends."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pycanon.anonymity import k_anonymity
from sqlalchemy import select, text, update

from survey.core.db import engine_of, get_session
from survey.core.models import Answer, City, Response
from survey.export.service import ExportRequest, export_files
from tests.helpers import setup_demo

ROOT = Path(__file__).resolve().parent.parent
PLANTED = {
    "mobile": "13812345678", "mobile_spaced": "139 8765 4321",
    "id18": "110105199003078676", "id18x": "44030419851201123X"[:17] + "0",
    "id15": "110105900307867", "landline": "0571-87654321", "plate": "浙A12345",
    "plate_ev": "粤BD12345", "email": "li.ming@example.com", "qq": "QQ 123456789",
    "wechat": "wxid_abcdef123", "name": "我叫李明",
    "address": "家住文三路123号5幢2单元301室", "address_lane": "幸福里88弄6号201室",
    "title_name": "医生李建国", "staff_id": "工号B67890", "bank_card": "6222 0212 3456 7890 128",
}
SECRETS = ["13812345678", "139 8765 4321", "110105199003078676", "44030419851201123",
           "110105900307867", "87654321", "浙A12345", "BD12345", "li.ming@example.com",
           "123456789", "wxid_abcdef123", "李明", "123号", "5幢2单元301室", "88弄", "6号201室",
           "李建国", "B67890", "6222 0212 3456 7890 128"]
FORMULA = "=HYPERLINK(\"http://evil\")"


@pytest.fixture
def demo(app):  # type: ignore[no-untyped-def]
    return setup_demo(app, cities=2, responses=2000)


def plant(app, questionnaire: str = "healthcare") -> int:  # type: ignore[no-untyped-def]
    """Put every kind of personal data (and a formula) into comment answers."""
    texts = [f"投诉：{v}，请处理" for v in PLANTED.values()] + [FORMULA, "＋1 很好"]
    with app.app_context():
        session = get_session()
        ids = list(session.scalars(
            select(Answer.id).join(Response, Response.id == Answer.response_id)
            .where(Response.questionnaire == questionnaire, Response.status == "valid",
                   Answer.item == "comment").order_by(Answer.id).limit(len(texts))))
        assert len(ids) == len(texts)
        for answer_id, value in zip(ids, texts, strict=True):
            session.execute(update(Answer).where(Answer.id == answer_id)
                            .values(value_text=value))
        session.commit()
    return len(texts)


def run_export(app, tmp_path: Path, name: str = "out", **kw):  # type: ignore[no-untyped-def]
    request = ExportRequest(kw.pop("questionnaire", "healthcare"), **kw)
    with app.app_context():
        return export_files(engine_of(app), get_session(), app.extensions["manyi.questionnaires"],
                            request, tmp_path / f"{name}.csv", actor="test")


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_planted_personal_data_never_survives(app, demo, tmp_path):
    plant(app)
    result = run_export(app, tmp_path)
    body = result.csv_path.read_text(encoding="utf-8")
    for secret in SECRETS:
        assert secret not in body, secret
    comments = [r["comment"] for r in read(result.csv_path) if r["comment"]]
    for tag in ("[phone]", "[id]", "[plate]", "[email]", "[qq]", "[wechat]", "[name]",
                "[address]", "[staff_id]", "[bank_card]"):
        assert any(tag in c for c in comments), tag
    for kept in ("投诉：家住文三路[address]，请处理", "投诉：幸福里[address]，请处理",
                 "投诉：医生[name]，请处理", "投诉：工号[staff_id]，请处理",
                 "投诉：[bank_card]，请处理"):
        assert kept in comments, kept
    assert "'" + FORMULA in comments and "'＋1 很好" in comments
    replaced = result.codebook["anonymization"]["free_text_replacements"]
    assert replaced["phone"] >= 3
    assert replaced["address"] >= 2 and replaced["staff_id"] >= 1 and replaced["bank_card"] >= 1


def test_the_codebook_says_free_text_is_scrubbed_not_anonymised(app, demo, tmp_path):
    from survey.export.anonymize import TAGS

    plant(app)
    result = run_export(app, tmp_path)
    book = json.loads(result.codebook_json.read_text(encoding="utf-8"))
    method = book["anonymization"]["free_text_scrubbing"]
    assert "scrubbed, not anonymised" in method["en"] and "can be missed" in method["en"]
    assert "并未匿名化" in method["zh-Hans"] and "漏检" in method["zh-Hans"]
    assert [k["tag"] for k in method["kinds"]] == [f"[{t}]" for t in TAGS]
    assert {"[address]", "[staff_id]", "[bank_card]", "[name]"} <= {k["tag"] for k in
                                                                     method["kinds"]}
    assert set(book["anonymization"]["free_text_replacements"]) == {"texts", "texts_changed",
                                                                    *TAGS}
    md = result.codebook_md.read_text(encoding="utf-8")
    assert method["en"] in md and method["zh-Hans"] in md
    for kind in method["kinds"]:
        assert f"`{kind['tag']}`: {kind['zh-Hans']} / {kind['en']}" in md


def test_no_direct_identifiers_or_timestamps_are_exported(app, demo, tmp_path):
    result = run_export(app, tmp_path)
    header = next(csv.reader(result.csv_path.open(encoding="utf-8")))
    for forbidden in ("id", "client_uuid", "receipt_code", "submitted_at", "started_at",
                      "site", "site_code", "interviewer", "payload_hash", "agency"):
        assert forbidden not in header
    with app.app_context():
        db_ids = {str(i) for i in get_session().scalars(select(Response.id))}
    rows = read(result.csv_path)
    assert not db_ids & {r["rid"] for r in rows}
    assert all(len(r["rid"]) == 16 for r in rows) and len({r["rid"] for r in rows}) == len(rows)


def test_free_text_can_be_left_out(app, demo, tmp_path):
    plant(app)
    result = run_export(app, tmp_path, include_text=False)
    header = next(csv.reader(result.csv_path.open(encoding="utf-8")))
    assert "comment" not in header
    assert result.codebook["free_text"] == "omitted"
    assert "free_text_scrubbing" not in result.codebook["anonymization"]
    assert "- Free text: omitted." in result.codebook_md.read_text(encoding="utf-8")


def test_k_anonymity_holds_by_pycanon(app, demo, tmp_path):
    result = run_export(app, tmp_path)
    book = json.loads(result.codebook_json.read_text(encoding="utf-8"))
    qi = book["quasi_identifiers"]
    assert {"age_band", "gender", "district", "site_kind", "visit_type", "wave"} <= set(qi)
    frame = pd.read_csv(result.csv_path, dtype=str, keep_default_na=False)
    assert len(frame) == book["rows"] > 0
    assert k_anonymity(frame, qi) >= 5
    a = book["anonymization"]
    assert a["k_achieved"] == frame.groupby(qi).size().min()
    assert a["rows_exported"] == len(frame)


def test_k_anonymity_holds_for_one_city_and_wave(app, demo, tmp_path):
    result = run_export(app, tmp_path, city="hangzhou", wave="2026Q4")
    frame = pd.read_csv(result.csv_path, dtype=str, keep_default_na=False)
    qi = result.codebook["quasi_identifiers"]
    assert len(frame) > 0 and k_anonymity(frame, qi) >= 5
    assert set(frame["city"]) == {"hangzhou"} and set(frame["wave"]) == {"2026Q4"}


def test_two_exports_have_the_same_rows_in_other_order_with_other_ids(app, demo, tmp_path):
    first = read(run_export(app, tmp_path, "a").csv_path)
    second = read(run_export(app, tmp_path, "b").csv_path)

    def content(rows: list[dict[str, str]]) -> Counter:
        return Counter(tuple(v for k, v in r.items() if k not in ("rid", "stratum", "psu"))
                       for r in rows)

    assert content(first) == content(second)
    assert not {r["rid"] for r in first} & {r["rid"] for r in second}
    assert [r["overall"] for r in first] != [r["overall"] for r in second]
    # The design is the same partition under new labels.
    def partition(rows: list[dict[str, str]], col: str) -> Counter:
        return Counter(Counter(r[col] for r in rows).values())

    assert partition(first, "psu") == partition(second, "psu")
    assert partition(first, "stratum") == partition(second, "stratum")


def test_only_valid_responses_are_exported(app, demo, tmp_path):
    with app.app_context():
        session = get_session()
        valid = session.scalar(text("SELECT count(*) FROM response WHERE questionnaire = "
                                    "'healthcare' AND status = 'valid'"))
        session.execute(text("UPDATE response SET status = 'excluded' WHERE id IN (SELECT id "
                             "FROM response WHERE questionnaire = 'healthcare' LIMIT 7)"))
        session.commit()
    result = run_export(app, tmp_path)
    assert result.plan.rows == valid - 7


def test_weighted_mean_from_the_csv_equals_the_dashboard_figure(app, demo, tmp_path):
    from survey.dashboard import estimates

    result = run_export(app, tmp_path, city="hangzhou", wave="2026Q4")
    single_psu = app.config["SINGLE_PSU"]
    done = subprocess.run(
        [sys.executable, "-m", "analysis", "mean", str(result.csv_path), "--value", "overall",
         "--weight", "final_weight", "--strata", "stratum", "--cluster", "psu",
         "--single-psu", single_psu, "--format", "json"],
        capture_output=True, text=True, check=True, cwd=ROOT)
    exported = json.loads(done.stdout)
    exported = exported[0] if isinstance(exported, list) else exported
    with app.app_context():
        session = get_session()
        city_id = session.scalar(select(City.id).where(City.code == "hangzhou"))
        settings = estimates.Settings(single_psu, app.config["MIN_CELL_SIZE"])
        kpi = estimates.kpis_by_split(session, settings,
                                  estimates.Scope(("healthcare",), ("2026Q4",), city_id),
                                  estimates.Filters(), [])[()]
    dashboard = kpi.index.estimate
    assert dashboard is not None
    assert exported["estimate"] == pytest.approx(dashboard.estimate, rel=1e-9)
    assert exported["standard_error"] == pytest.approx(dashboard.standard_error, rel=1e-9)
    assert exported["n"] == dashboard.n


def test_the_codebook_describes_every_column(app, demo, tmp_path):
    result = run_export(app, tmp_path, questionnaire="elderly_care")
    header = next(csv.reader(result.csv_path.open(encoding="utf-8")))
    book = json.loads(result.codebook_json.read_text(encoding="utf-8"))
    assert [v["name"] for v in book["variables"]] == header
    by_name = {v["name"]: v for v in book["variables"]}
    assert by_name["age_band"]["role"] == "quasi_identifier"
    multi = [n for n in header if n.startswith("services_used__")]
    assert len(multi) >= 2
    rows = read(result.csv_path)
    assert {r[multi[0]] for r in rows} <= {"0", "1", ""}
    scored = [v for v in book["variables"] if v["dimension"]]
    assert scored and all(v["label"]["zh-Hans"] and v["label"]["en"] for v in scored)
    assert "svydesign(ids = ~psu, strata = ~stratum, weights = ~final_weight" in book["design"]["r"]
    assert "svyset psu [pweight = final_weight], strata(stratum)" in book["design"]["stata"]
    md = result.codebook_md.read_text(encoding="utf-8")
    assert "svydesign" in md and "svyset" in md and "`services_used__meals`" in md
    na_items = [v for v in book["variables"] if "-9" in v["value_labels"]]
    assert na_items and any(r[v["name"]] == "-9" for v in na_items for r in rows)


def test_a_city_and_wave_too_small_to_publish_is_dropped_not_an_error(app, tmp_path):
    """Fewer than k responses in a wave of a city: those rows are dropped (reported), the
    rest is exported, and the written-equals-planned check still holds."""
    from survey.demo.data import load_demo

    with app.app_context():
        session = get_session()
        load_demo(session, app.extensions["manyi.questionnaires"], cities=1, responses=40,
                  seed=5, end_wave="2026Q4")
        per_wave = dict(session.execute(text(
            "SELECT wave, count(*) FROM response WHERE questionnaire = 'healthcare' "
            "AND status = 'valid' GROUP BY wave")).all())
    assert min(per_wave.values()) < 5 <= sum(per_wave.values())
    result = run_export(app, tmp_path)
    kept = sum(n for n in per_wave.values() if n >= 5)
    assert result.rows <= kept < sum(per_wave.values())
    assert result.plan.rows_dropped >= sum(n for n in per_wave.values() if n < 5)


# --------------------------------------------------------------------------- public-use file


def vary_weights(app) -> None:  # type: ignore[no-untyped-def]
    """Unequal weights, so replicate weights are not just the factors."""
    with app.app_context():
        session = get_session()
        session.execute(text("UPDATE response SET final_weight = 0.5 + (id % 7) * 0.375"))
        session.commit()


def db_rows(app, city: str) -> dict[str, list]:  # type: ignore[no-untyped-def]
    with app.app_context():
        rows = get_session().execute(text(
            "SELECT c.code, d.code, r.site_id, r.wave, r.final_weight, r.overall_score "
            "FROM response r JOIN city c ON c.id = r.city_id "
            "JOIN district d ON d.id = r.district_id WHERE r.questionnaire = 'healthcare' "
            "AND r.status = 'valid' AND c.code = :city"), {"city": city}).all()
    return {"city": [r[0] for r in rows], "district": [r[1] for r in rows],
            "site": [r[2] for r in rows], "wave": [r[3] for r in rows],
            "weight": [float(r[4]) for r in rows],
            "overall": [np.nan if r[5] is None else float(r[5]) for r in rows]}


def units_by_the_documented_rule(rows: dict[str, list], minimum: int) -> dict[int, tuple]:
    """docs/export.md "Public-use file", re-implemented here: site → (pseudo-stratum,
    unit key). A unit's size is its smallest count in a wave it has respondents in."""
    waves: dict[int, Counter] = {}
    district: dict[int, tuple[str, str]] = {}
    for c, d, s, w in zip(rows["city"], rows["district"], rows["site"], rows["wave"],
                          strict=True):
        waves.setdefault(s, Counter())[w] += 1
        district[s] = (c, d)
    strata: dict[tuple[str, str], list[list[int]]] = {}
    for s in sorted(waves):
        strata.setdefault(district[s], []).append([s])

    def size(unit: list[int]) -> tuple[int, int, int]:
        total = sum((waves[s] for s in unit), Counter())
        return (min(total.values()), sum(total.values()), min(unit))

    def settle(units: list[list[int]]) -> None:
        while len(units) > 1:
            units.sort(key=size)
            if size(units[0])[0] >= minimum:
                return
            first = units.pop(0)
            units[0] = units[0] + first

    def short(units: list[list[int]]) -> None:
        while len(small := sorted((u for u in units if size(u)[0] < minimum), key=size)) > 1:
            units.remove(small[0])
            units[units.index(small[1])] = small[1] + small[0]

    closed: list[tuple[str, list[list[int]]]] = []
    pending: list[list[int]] = []
    pending_city = ""

    def flush(city: str) -> None:
        target = next((u for c, u in reversed(closed) if c == city), closed[-1][1])
        target += pending
        settle(target)
        pending.clear()

    for city, name in sorted(strata):
        units = strata[(city, name)]
        settle(units)
        if pending and city != pending_city and any(c == pending_city for c, _ in closed):
            flush(pending_city)
        if len(units) >= 2:
            closed.append((city, units))
            continue
        pending += units
        pending_city = city
        short(pending)
        if len(pending) >= 2 and all(size(u)[0] >= minimum for u in pending):
            closed.append((city, list(pending)))
            pending.clear()
    if pending:
        flush(pending_city)
    return {s: (h, min(unit)) for h, (_, units) in enumerate(closed) for unit in units
            for s in unit}


def csv_units(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each row's variance unit recovered from its replicate pattern rw / final_weight,
    and the factor matrix (units × R)."""
    rw = frame.filter(regex=r"^rw_[0-9]+$").to_numpy(dtype=float)
    factors = np.round(rw / frame["final_weight"].to_numpy(dtype=float)[:, None], 9)
    patterns, unit = np.unique(factors, axis=0, return_inverse=True)
    return unit.ravel(), patterns


def test_public_use_jkn_mean_and_se_from_the_csv_equal_the_design_from_the_database(
        app, demo, tmp_path):
    from analysis.replicates import ReplicateDesign, replicate_mean, replicate_weights

    vary_weights(app)
    result = run_export(app, tmp_path, city="hangzhou", design="replicates")
    frame = pd.read_csv(result.csv_path)
    d = result.codebook["design"]
    header = list(frame.columns)
    assert "stratum" not in header and "psu" not in header
    rw_cols = [c for c in header if c.startswith("rw_")]
    assert rw_cols == [f"rw_{r}" for r in range(1, d["replicates"] + 1)]
    assert header.index("rw_1") == header.index("final_weight") + 1
    assert d["method"] == "JKn" and d["scale"] == 1.0 and d["mse"] is False
    assert len(d["rscales"]) == d["replicates"] == d["variance_units"]["units"]
    assert 'type = "JKn"' in d["r"] and 'repweights = "rw_[0-9]+"' in d["r"]
    assert "combined.weights = TRUE" in d["r"]
    assert result.plan.rows_dropped == 0
    # From the CSV, as the codebook says (R: svrepdesign(data = d, weights = ~final_weight,
    # repweights = "rw_[0-9]+", type = "JKn", scale = 1, rscales = rscales,
    # combined.weights = TRUE, mse = FALSE); svymean(~overall, des, na.rm = TRUE)).
    ok = frame["overall"].notna().to_numpy()
    from_csv = ReplicateDesign.from_matrix(
        frame[rw_cols].to_numpy(dtype=float), "jkn", weights=frame["final_weight"],
        scale=d["scale"], rscales=d["rscales"], mse=d["mse"])
    exported = replicate_mean(frame["overall"].fillna(0).to_numpy(), from_csv, where=ok)
    # From the database rows, with the units built here by the documented rule.
    rows = db_rows(app, "hangzhou")
    assert len(rows["site"]) == len(frame)
    unit_of = units_by_the_documented_rule(rows, d["variance_units"]["min_respondents_per_wave"])
    strata = [str(unit_of[s][0]) for s in rows["site"]]
    clusters = [str(unit_of[s]) for s in rows["site"]]
    direct = replicate_weights("jkn", weights=rows["weight"], strata=strata, clusters=clusters)
    overall = np.array(rows["overall"])
    expected = replicate_mean(np.nan_to_num(overall), direct, where=~np.isnan(overall))
    assert exported.estimate == pytest.approx(expected.estimate, rel=1e-12)
    assert exported.standard_error == pytest.approx(expected.standard_error, rel=1e-9)
    assert exported.df == expected.df == d["df"] > 0
    assert exported.n == expected.n
    # The units seen in the CSV are the documented ones (sizes), and every unit's rows
    # share one pattern.
    unit, patterns = csv_units(frame)
    assert len(patterns) == d["variance_units"]["units"] == len(set(unit_of.values()))
    db_sizes = Counter(Counter(clusters).values())
    assert Counter(Counter(unit.tolist()).values()) == db_sizes


def test_public_use_bootstrap_factors_are_rao_wu_and_give_the_database_se(app, demo, tmp_path):
    from analysis.replicates import ReplicateDesign, replicate_mean

    vary_weights(app)
    result = run_export(app, tmp_path, city="hangzhou", design="replicates",
                        replicate_method="bootstrap", replicates=30)
    frame = pd.read_csv(result.csv_path)
    d = result.codebook["design"]
    assert d["method"] == "bootstrap" and d["replicates"] == 30
    assert d["scale"] == pytest.approx(1 / 29, rel=1e-15) and d["rscales"] == [1.0] * 30
    assert 'type = "bootstrap"' in d["r"]
    unit, patterns = csv_units(frame)
    weights = frame["final_weight"].to_numpy(dtype=float)
    # Match the CSV's units to the database's by (respondents, weight sum).
    rows = db_rows(app, "hangzhou")
    unit_of = units_by_the_documented_rule(rows, d["variance_units"]["min_respondents_per_wave"])
    keys = [unit_of[s] for s in rows["site"]]
    db_sig: dict[tuple, tuple] = {}
    for key in set(keys):
        members = [i for i, k in enumerate(keys) if k == key]
        db_sig[key] = (len(members), round(sum(rows["weight"][i] for i in members), 6))
    csv_sig = {u: (int((unit == u).sum()), round(float(weights[unit == u].sum()), 6))
               for u in range(len(patterns))}
    assert sorted(db_sig.values()) == sorted(csv_sig.values())
    assert len(set(csv_sig.values())) == len(csv_sig)  # the match is unambiguous
    factor_of = {db: patterns[next(u for u, s in csv_sig.items() if s == sig)]
                 for db, sig in db_sig.items()}
    # Rao–Wu with m_h = n_h − 1: per pseudo-stratum and replicate the factors are
    # n_h/(n_h − 1) × draws, whole draws summing to n_h − 1.
    strata: dict[object, list] = {}
    for key in db_sig:
        strata.setdefault(key[0], []).append(factor_of[key])
    for members in strata.values():
        n_h = len(members)
        assert n_h >= 2
        draws = np.array(members) * (n_h - 1) / n_h
        assert np.allclose(draws, np.round(draws), atol=1e-9)
        assert np.allclose(draws.sum(axis=0), n_h - 1)
    # The SE from the CSV equals the one from the database rows with those factors.
    ok = frame["overall"].notna().to_numpy()
    from_csv = ReplicateDesign.from_matrix(
        frame.filter(regex=r"^rw_[0-9]+$").to_numpy(dtype=float), "bootstrap",
        weights=weights, scale=d["scale"], rscales=d["rscales"])
    exported = replicate_mean(frame["overall"].fillna(0).to_numpy(), from_csv, where=ok)
    index = {key: i for i, key in enumerate(db_sig)}
    direct = ReplicateDesign(
        weights=np.array(rows["weight"]), factors=np.array([factor_of[k] for k in db_sig]),
        psu=np.array([index[k] for k in keys]), scale=d["scale"],
        rscales=np.ones(30), mse=False, kind="bootstrap", df=d["df"])
    overall = np.array(rows["overall"])
    expected = replicate_mean(np.nan_to_num(overall), direct, where=~np.isnan(overall))
    assert exported.estimate == pytest.approx(expected.estimate, rel=1e-12)
    assert exported.standard_error == pytest.approx(expected.standard_error, rel=1e-8)


def test_public_use_k_anonymity_counts_the_variance_unit(app, demo, tmp_path):
    result = run_export(app, tmp_path, design="replicates")
    frame = pd.read_csv(result.csv_path, dtype=str, keep_default_na=False)
    numeric = pd.read_csv(result.csv_path)
    frame["unit"], _ = csv_units(numeric)
    qi = result.codebook["quasi_identifiers"]
    assert result.codebook["implicit_quasi_identifiers"]
    assert len(frame) == result.rows > 0
    assert k_anonymity(frame, qi + ["unit"]) >= 5
    units = result.codebook["design"]["variance_units"]
    assert units["smallest_unit_per_wave"] >= units["min_respondents_per_wave"] == 10
    assert frame.groupby(["wave", "unit"]).size().min() >= 10
    assert "variance_unit" not in result.plan.generalised
    md = result.codebook_md.read_text(encoding="utf-8")
    assert result.codebook["design"]["statement"]["en"] in md
    assert result.codebook["design"]["statement"]["zh-Hans"] in md
    assert "svrepdesign(" in md


def test_labels_codebook_says_they_are_quasi_identifiers_with_the_small_group_count(
        app, demo, tmp_path):
    result = run_export(app, tmp_path)
    frame = pd.read_csv(result.csv_path, dtype=str, keep_default_na=False)
    qi = result.codebook["quasi_identifiers"]
    sizes = frame.groupby(qi + ["stratum", "psu"]).size()
    small = int(sizes[sizes < 5].sum())
    assert small > 0
    note = result.codebook["design"]["labels_are_quasi_identifiers"]
    assert note["rows_in_small_classes"] == small and note["k"] == 5
    assert f"{small} of the {len(frame)} exported rows" in note["en"]
    assert f"有 {small} 行" in note["zh-Hans"] and "准标识符" in note["zh-Hans"]
    md = result.codebook_md.read_text(encoding="utf-8")
    assert note["en"] in md and note["zh-Hans"] in md


@pytest.mark.parametrize(("options", "field"), [
    ({"design": "public"}, "design"),
    ({"design": "replicates", "replicate_method": "brr"}, "replicate_method"),
    ({"design": "replicates", "replicate_method": "bootstrap", "replicates": 1}, "replicates"),
    ({"design": "replicates", "replicates": 50}, "replicates"),
    ({"design": "replicates", "min_variance_unit": 3}, "min_variance_unit"),
    ({"design": "replicates", "min_variance_unit": 100000}, "min_variance_unit"),
])
def test_bad_public_use_options_name_the_field(app, demo, tmp_path, options, field):
    from survey.export.service import ExportError

    with pytest.raises(ExportError, match=rf"^(design: .*)?{field}"):
        run_export(app, tmp_path, city="hangzhou", **options)
    assert not (tmp_path / "out.csv").exists()


def test_replicate_units_and_columns_come_in_a_random_order():
    from survey.export.replicates import replicate_factors, variance_units

    rows = [("x", f"d{s // 4}", s, "W", 10, 10.0 + s) for s in range(24)]
    units = variance_units(rows, 10)
    assert units.n_units == 24 and units.n_strata == 6
    first, second = (replicate_factors(units, "jkn") for _ in range(2))
    # The same design (per unit: one zero column, factor 4/3 in its stratum's others) ...
    for f in (first, second):
        assert sorted(map(tuple, np.sort(f.factors, axis=1).round(12))) == \
            sorted(map(tuple, np.sort(first.factors, axis=1).round(12)))
        assert ((f.factors == 0).sum(axis=1) == 1).all()
    # ... but column positions cannot be matched to units from one export to the next.
    assert not np.array_equal(first.factors, second.factors)


def test_variance_units_merge_across_cities_only_when_a_city_cannot_form_two():
    from survey.export.replicates import VarianceUnitError, variance_units

    rows = [("a", "a1", 1, "W", 12, 12.0), ("a", "a1", 2, "W", 11, 11.0),
            ("a", "a2", 3, "W", 30, 30.0), ("b", "b1", 4, "W", 12, 12.0)]
    units = variance_units(rows, 10)
    # a2 (one site) joins a1 in city a; b1 (one site, no other district in b) joins a.
    assert units.n_strata == 1 and units.n_units == 4 and units.districts_merged == 2
    two_waves = [("a", "a1", 1, "W1", 12, 1.0), ("a", "a1", 1, "W2", 3, 1.0),
                 ("a", "a1", 2, "W1", 11, 1.0), ("a", "a1", 2, "W2", 8, 1.0),
                 ("a", "a1", 3, "W1", 20, 1.0), ("a", "a1", 3, "W2", 20, 1.0)]
    u = variance_units(two_waves, 10)  # site 1 has 3 in W2: merged (into site 2: 11 in W2)
    assert u.n_units == 2 and u.unit_of_site[1] == u.unit_of_site[2] != u.unit_of_site[3]
    with pytest.raises(VarianceUnitError, match="min_variance_unit"):
        variance_units(rows, 40)
