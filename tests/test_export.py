"""The researcher export: privacy by construction, checked on real files, both backends."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

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
