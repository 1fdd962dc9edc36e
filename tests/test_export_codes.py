"""The export codes stored at submit (``response.item_codes`` / ``dimension_scores``): the
encoding, every submit path writing it, the migration back-filling it, and the export
writing the same rows from it as from the ``answer`` rows."""

from __future__ import annotations

import csv
import io
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from sqlalchemy import select, text

from survey import create_app
from survey.core.db import get_session
from survey.core.migrate import downgrade, upgrade
from survey.core.models import Answer, Response, Score
from survey.core.questionnaires import NA, parse_questionnaire
from survey.core.responses.codes import encode_items, encode_scores, layout, qi_names
from survey.core.responses.ingest import SiteRef, bulk_store, store
from survey.core.responses.scoring import score_response, validate_answers
from survey.core.waves import recent_waves, wave_bounds
from survey.demo.data import create_places, generate_responses, load_demo
from survey.export.columns import variables
from survey.export.service import csv_cell
from tests.conftest import fresh_database
from tests.helpers import setup_demo
from tests.test_export import plant, read, run_export

MINI = Path(__file__).parent / "questionnaire_fixtures" / "mini.yaml"


@pytest.fixture(scope="module")
def mini():  # type: ignore[no-untyped-def]
    """mini.yaml plus a single-choice item and an "other demographic" (residence)."""
    data = yaml.safe_load(MINI.read_text(encoding="utf-8"))
    data["sections"][0]["items"].insert(5, {
        "id": "counter", "type": "single", "text": {"zh-Hans": "窗口", "en": "Counter"},
        "options": [{"value": "east", "label": {"zh-Hans": "东", "en": "East"}},
                    {"value": "west", "label": {"zh-Hans": "西", "en": "West"}},
                    {"value": "north", "label": {"zh-Hans": "北", "en": "North"}}]})
    data["demographics"].append({
        "id": "residence", "type": "single", "text": {"zh-Hans": "户籍", "en": "Residence"},
        "options": [{"value": "local", "label": {"zh-Hans": "本地", "en": "Local"}},
                    {"value": "migrant", "label": {"zh-Hans": "外地", "en": "Migrant"}}]})
    return parse_questionnaire(data, MINI)


def test_the_layout_is_the_export_header(mini):  # type: ignore[no-untyped-def]
    lay = layout(mini)
    assert lay.extras == ("residence",)
    assert qi_names(mini) == ["wave", "city", "district", "site_kind", "age_band", "gender",
                              "visit_type", "residence"]
    names = [v.name for v in variables(mini)]
    # item_codes = the columns from the first other demographic to the last item.
    coded = names[names.index("residence"):names.index("score_speed")]
    assert coded == ["residence", "wait", "slow", "polite", "helpful", "counter",
                     "services__a", "services__b", "services__c", "service_c",
                     "overall_satisfaction", "recommend"]
    assert len(coded) == len(lay.extras) + lay.n_item_cells
    assert names[-4:] == ["score_staff", "overall", "satisfied", "comment"]
    assert layout(mini) is lay  # memoised on the questionnaire


def test_encoding_na_multi_single_unanswered_and_hidden(mini):  # type: ignore[no-untyped-def]
    result = validate_answers(mini, {
        "visit_type": "online", "wait": 3,  # hidden: wait is only asked in person
        "slow": "na", "polite": 4, "helpful": 5, "counter": "west",
        "services": ["c", "a"], "service_c": 2,  # hidden: in person only
        "overall_satisfaction": 4, "comment": "ok", "age_band": "adult", "gender": "female",
        "residence": "migrant"})
    assert not result.errors
    answers = result.answers
    assert "wait" not in answers and "service_c" not in answers and answers["slow"] is NA
    #                       residence wait slow polite helpful counter a b c svc_c sat rec
    assert encode_items(mini, answers) == "migrant,,-9,4,5,2,1,0,1,,4,"
    # The same answers as the database holds them give the same codes.
    stored = {"residence": "migrant", "visit_type": "online", "slow": "na", "polite": "4",
              "helpful": "5", "counter": "west", "services": '["a", "c"]',
              "overall_satisfaction": "4"}
    assert encode_items(mini, stored) == "migrant,,-9,4,5,2,1,0,1,,4,"
    # Nothing answered: every cell empty, multi options included.
    assert encode_items(mini, {}) == "," * 11
    full = validate_answers(mini, {"visit_type": "in_person", "wait": 1, "slow": 2,
                                   "polite": 3, "helpful": 1, "counter": "east",
                                   "services": ["b"], "overall_satisfaction": 5,
                                   "recommend": 0, "age_band": "adult", "gender": "male"})
    assert encode_items(mini, full.answers) == ",1,2,3,1,1,0,1,0,,5,0"


def test_unknown_codes_are_counted_and_left_empty(mini):  # type: ignore[no-untyped-def]
    unknown: Counter[str] = Counter()
    assert encode_items(mini, {"polite": "9", "counter": "south", "services": '["z"]',
                               "helpful": "2"}, unknown) == ",,,,2,,0,0,0,,,"
    assert unknown == {"polite": 1, "counter": 1, "services": 1}


def test_dimension_scores_in_dimension_order(mini):  # type: ignore[no-untyped-def]
    answers = validate_answers(mini, {"visit_type": "online", "slow": "na", "polite": 4,
                                      "helpful": 5, "overall_satisfaction": 4}).answers
    scores = score_response(mini, answers)
    # speed: wait hidden, slow N/A → no score; staff: (2·75 + 1·100) / 3.
    assert scores["speed"] is None and scores["staff"] == pytest.approx(250 / 3)
    assert encode_scores(mini, scores) == "," + repr(scores["staff"])
    assert encode_scores(mini, {"speed": "12.5", "staff": 100}) == "12.5,100.0"
    assert encode_scores(mini, {}) == ","


@pytest.mark.parametrize("value", ["plain", "a,b", 'say "hi"', "line\nbreak", "cr\rx", "",
                                   " lead", "'=1", "中文，逗号"])
def test_text_cells_are_quoted_as_csv_writer_does(value):  # type: ignore[no-untyped-def]
    buffer = io.StringIO()
    csv.writer(buffer).writerow(["x", value])
    assert buffer.getvalue() == "x," + csv_cell(value) + "\r\n"


def _expected_from_rows(session, q, response_id):  # type: ignore[no-untyped-def]
    """Codes rebuilt from the stored answer and score rows (the export's old path)."""
    answers = {}
    for item, num, txt, na in session.execute(
            select(Answer.item, Answer.value_num, Answer.value_text, Answer.is_na)
            .where(Answer.response_id == response_id)):
        answers[item] = "na" if na else str(int(num)) if num is not None else txt
    scores = dict(session.execute(select(Score.dimension, Score.value)
                                  .where(Score.response_id == response_id)).all())
    return encode_items(q, answers), encode_scores(q, scores)


def test_store_and_bulk_store_write_the_codes(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        session = get_session()
        qs = app.extensions["manyi.questionnaires"]
        rng = np.random.default_rng(7)
        sites = [SiteRef.of(s) for s in create_places(session, 1, rng)]
        prepared = generate_responses(qs, sites, 120, rng,
                                      recent_waves(wave_bounds("2026Q4")[0], 2))
        one, created = store(session, prepared[0])
        assert created
        ids = [one.id, *bulk_store(session, prepared[1:])]
        session.commit()
        na_seen = multi_seen = 0
        for response_id, p in zip(ids, prepared, strict=True):
            row = session.get_one(Response, response_id)
            q = qs[row.questionnaire]
            assert (row.item_codes, row.dimension_scores) == _expected_from_rows(
                session, q, response_id)
            cells = row.item_codes.split(",")
            assert len(cells) == len(layout(q).extras) + layout(q).n_item_cells
            assert len(row.dimension_scores.split(",")) == len(q.dimensions)
            for d, cell in zip(layout(q).dimensions, row.dimension_scores.split(","),
                               strict=True):
                assert cell == ("" if p.scores[d] is None else repr(p.scores[d]))
            na_seen += "-9" in cells
            multi_seen += any(c.kind == "multi" for c in layout(q).items)
        assert na_seen and multi_seen


def test_the_migration_backfills_the_codes(backend, tmp_path):  # type: ignore[no-untyped-def]
    url = fresh_database(backend, tmp_path, "codes")
    upgrade(url)
    app = create_app({"DATABASE_URL": url, "INSTANCE_DIR": tempfile.mkdtemp()})
    with app.app_context():
        session = get_session()
        load_demo(session, app.extensions["manyi.questionnaires"], cities=1, responses=300,
                  seed=2, end_wave="2026Q4")
        first, second = session.scalars(select(Response.id).order_by(Response.id).limit(2))
        # An old version and an answer code the questionnaire does not know: not encoded.
        session.execute(text("UPDATE response SET version = 99 WHERE id = :i"), {"i": first})
        session.execute(text("UPDATE answer SET value_num = 42 WHERE id = (SELECT min(id) "
                             "FROM answer WHERE response_id = :i AND value_num IS NOT NULL)"),
                        {"i": second})
        session.commit()
        before = dict(session.execute(select(
            Response.id, Response.item_codes + "|" + Response.dimension_scores)).all())
    app.extensions["manyi.engine"].dispose()
    assert len(before) == 300
    downgrade(url, "0004")
    app = create_app({"DATABASE_URL": url, "INSTANCE_DIR": tempfile.mkdtemp()})
    with app.app_context():
        # Back at 0004: the columns are gone, the answers are all still there.
        session = get_session()
        columns = set(session.execute(text("SELECT * FROM response LIMIT 1")).keys())
        assert "item_codes" not in columns
        assert session.scalar(text("SELECT count(DISTINCT response_id) FROM answer")) == 300
    app.extensions["manyi.engine"].dispose()
    upgrade(url)
    app = create_app({"DATABASE_URL": url, "INSTANCE_DIR": tempfile.mkdtemp()})
    with app.app_context():
        session = get_session()
        after = {i: (None if c is None else f"{c}|{s}") for i, c, s in session.execute(
            select(Response.id, Response.item_codes, Response.dimension_scores))}
    app.extensions["manyi.engine"].dispose()
    assert after[first] is None and after[second] is None
    del before[first], before[second], after[first], after[second]
    assert after == before


def _content(rows: list[dict[str, str]]) -> Counter:
    return Counter(tuple(v for k, v in r.items() if k not in ("rid", "stratum", "psu"))
                   for r in rows)


def test_stored_codes_and_answer_rows_export_the_same(app, tmp_path):  # type: ignore[no-untyped-def]
    setup_demo(app, cities=2, responses=1500)
    plant(app)
    fast = run_export(app, tmp_path, "fast")
    with app.app_context():
        session = get_session()
        session.execute(text("UPDATE response SET item_codes = NULL, dimension_scores = NULL "
                             "WHERE id % 2 = 0"))
        session.commit()
    mixed = run_export(app, tmp_path, "mixed")
    with app.app_context():
        session = get_session()
        session.execute(text("UPDATE response SET item_codes = NULL, dimension_scores = NULL"))
        session.commit()
    slow = run_export(app, tmp_path, "slow")
    rows = read(fast.csv_path)
    assert len(rows) == fast.rows > 300
    assert _content(rows) == _content(read(mixed.csv_path)) == _content(read(slow.csv_path))
    assert any("[phone]" in r["comment"] for r in rows)
    for result in (mixed, slow):
        assert result.plan.mapping == fast.plan.mapping
        assert result.codebook["anonymization"] == fast.codebook["anonymization"]
        assert result.scrub == fast.scrub
    header = fast.csv_path.read_text(encoding="utf-8").splitlines()[0]
    assert header == slow.csv_path.read_text(encoding="utf-8").splitlines()[0]


def test_copy_text_format_is_decoded_exactly():
    """PostgreSQL's COPY text format, as the export reads it: \\N is NULL, backslash
    sequences are unescaped, a line may arrive split across blocks."""
    from survey.export.service import copy_lines

    data = b"1\tplain\t\\N\n2\ta\\tb\\nc\\\\d\\re\t\xe6\xbb\xa1\xe6\x84\x8f\n3\tpart"
    tail, rows = copy_lines(data, 3)
    assert rows == [("1", "plain", None), ("2", "a\tb\nc\\d\re", "满意")]
    assert tail == b"3\tpart"
    tail, rows = copy_lines(tail + b"ial\t\\N\n", 3)
    assert rows == [("3", "partial", None)] and tail == b""


def test_copy_round_trips_awkward_text_through_postgresql():
    import os

    import psycopg
    import pytest

    url = os.environ.get("MANYI_TEST_DATABASE_URL")
    if not url:
        pytest.skip("needs MANYI_TEST_DATABASE_URL (CI sets it)")
    from survey.export.service import copy_lines

    texts = ["tab\there", "line\nbreak", "back\\slash", "cr\rlf", "\\N", "", "满意\b\f\v"]
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        with conn.cursor() as cur, cur.copy(
                "COPY (SELECT t FROM unnest(%s::text[]) WITH ORDINALITY AS u(t, i) "
                "ORDER BY i) TO STDOUT".replace("%s", "ARRAY[" + ",".join(
                    "'" + t.replace("'", "''") + "'" for t in texts) + "]")) as copy:
            data = b"".join(bytes(block) for block in copy)
    tail, rows = copy_lines(data, 1)
    assert tail == b"" and [r[0] for r in rows] == texts
