"""Hostile input through the real test client, on SQLite and (with
``MANYI_TEST_DATABASE_URL``) PostgreSQL: deep JSON, lone surrogates, NUL characters,
invalid UTF-8, other content types, oversized bodies, NUL in paths, query strings, forms
and batch cells, unknown API paths and methods — a 4xx answer (JSON under ``/api/``) and
nothing stored, never a 500; and no planted personal data in any log line."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from sqlalchemy import func, select, text

from survey import create_app
from survey.agency import batches
from survey.agency.batches import MAX_BYTES, NUL_REASON
from survey.config import Config
from survey.core.db import get_session
from survey.core.jsonbody import MAX_DEPTH
from survey.core.models import Answer, AuditLog, Batch, Response, Site
from tests.helpers import csrf_token, login
from tests.test_agency import WAVE, bearer, clean_rows, to_table, world  # noqa: F401
from tests.test_api import signed
from tests.test_respond import sites  # noqa: F401  (fixture)

LIMIT = Config.MAX_JSON_BYTES
REPO = Path(__file__).resolve().parent.parent


def counts(app: Flask) -> tuple[int, int]:
    """Stored responses and batches."""
    with app.app_context():
        session = get_session()
        return (session.scalar(select(func.count()).select_from(Response)) or 0,
                session.scalar(select(func.count()).select_from(Batch)) or 0)


def post_raw(client: Any, data: bytes | str, content_type: str = "application/json",
             **kw: Any) -> Any:
    return client.post("/api/v1/responses", data=data, content_type=content_type, **kw)


def invalid(r: Any) -> dict[str, str]:
    """The ``errors`` of a 422 ``{"error": "invalid", "errors": …}`` answer."""
    assert r.status_code == 422, (r.status_code, r.get_data()[:300])
    assert r.is_json and r.json["error"] == "invalid"
    return r.json["errors"]


# --------------------------------------------------------------------------- JSON bodies


def test_deeply_nested_json_is_422_not_a_recursion_error(app, client):
    for deep in ("[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000,
                 '{"answers": ' + "[" * (MAX_DEPTH) + "]" * MAX_DEPTH + "}"):
        assert invalid(post_raw(client, deep)) == {
            "body": f"nested deeper than {MAX_DEPTH} levels"}
    # brackets inside strings are not nesting: this one reaches the field checks
    errors = invalid(post_raw(client, json.dumps({"site": "[" * 10_000})))
    assert "body" not in errors and "questionnaire" in errors
    assert counts(app) == (0, 0)


def test_lone_surrogates_in_a_value_or_a_key_are_422_naming_the_field(app, client, sites):  # noqa: F811
    body = signed(client, sites["hospital"])
    raw = json.dumps(body)  # ensure_ascii: \ud800 stays an escape, as a client sends it
    value = raw.replace('"wayfinding": 5', '"wayfinding": 5, "comment": "ok \\ud800"')
    assert invalid(post_raw(client, value)) == {
        "answers.comment": "contains a lone surrogate (\\ud800); send valid Unicode text"}
    key = raw.replace('"wayfinding": 5', '"wayfinding": 5, "x\\udfff": "1"')
    assert invalid(post_raw(client, key)) == {
        "answers.x\\udfff": "the key contains a lone surrogate (\\udfff); send valid "
                            "Unicode text"}
    in_list = raw.replace('"site": ', '"extra": ["a", "\\ud800"], "site": ')
    assert invalid(post_raw(client, in_list)) == {
        "extra[1]": "contains a lone surrogate (\\ud800); send valid Unicode text"}
    # a valid surrogate pair is one character (U+1F600) and is fine
    ok = raw.replace('"wayfinding": 5', '"wayfinding": 5, "comment": "\\ud83d\\ude00"')
    stored = post_raw(client, ok)
    assert stored.status_code == 201, stored.json
    with app.app_context():
        assert get_session().scalars(select(Answer.value_text).where(
            Answer.item == "comment")).one() == "😀"


def test_a_nul_character_in_a_value_or_key_is_422_and_nothing_is_stored(app, client, sites):  # noqa: F811
    body = signed(client, sites["hospital"])
    body["answers"]["comment"] = "before\x00after"
    assert invalid(client.post("/api/v1/responses", json=body)) == {
        "answers.comment": "contains a NUL character (\\u0000)"}
    body["answers"].pop("comment")
    body["site"] = sites["hospital"] + "\x00"
    assert invalid(client.post("/api/v1/responses", json=body)) == {
        "site": "contains a NUL character (\\u0000)"}
    body["site"] = sites["hospital"]
    body["answers"]["\x00"] = "x"
    assert invalid(client.post("/api/v1/responses", json=body)) == {
        "answers.\\u0000": "the key contains a NUL character (\\u0000)"}
    assert counts(app) == (0, 0)
    body["answers"].pop("\x00")
    assert client.post("/api/v1/responses", json=body).status_code == 201  # token unused


def test_invalid_utf8_and_invalid_json_are_422(app, client):
    assert invalid(post_raw(client, b'{"site": "\xff\xfe"}')) == {
        "body": "not UTF-8 text (byte 10)"}
    assert invalid(post_raw(client, b'{"site": ')) == {
        "body": "not valid JSON: Expecting value at line 1 column 10"}
    assert invalid(post_raw(client, b"[1, 2]")) == {
        "body": "must be a JSON object (Content-Type: application/json)"}
    assert counts(app) == (0, 0)


def test_a_body_that_is_not_json_is_415(app, client):
    for content_type in ("text/plain", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x", ""):
        r = post_raw(client, b'{"site": "x"}', content_type=content_type)
        assert r.status_code == 415 and r.is_json, (content_type, r.get_data()[:200])
        assert "Content-Type: application/json" in r.json["error"]
    assert post_raw(client, b"{}", content_type="application/merge-patch+json"
                    ).status_code == 422  # a +json type is JSON: checked, then invalid
    assert counts(app) == (0, 0)


CHUNKED = {"wsgi.input_terminated": True}
"""What gunicorn sets for every request (a chunked body has no Content-Length; the
server ends the stream): werkzeug then reads the body up to ``MAX_CONTENT_LENGTH``."""


class CountingStream(io.BytesIO):
    """A request body that remembers how many bytes were read from it."""

    consumed = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.consumed += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        n = super().readinto(buffer)
        self.consumed += n
        return n


def test_an_oversized_json_body_is_413_with_or_without_content_length(app, client):
    big = json.dumps({"site": "x" * LIMIT}).encode()
    expected = {"error": f"request body too large: the limit is {LIMIT} bytes"}
    r = post_raw(client, big)
    assert (r.status_code, r.json) == (413, expected)
    stream = CountingStream(big * 8)
    r = client.post("/api/v1/responses", input_stream=stream,
                    headers={"Content-Type": "application/json",
                             "Transfer-Encoding": "chunked"},
                    environ_overrides=CHUNKED)
    assert (r.status_code, r.json) == (413, expected)
    assert stream.consumed <= LIMIT + 1 + 65536  # not the 8 MB sent
    # a body just under the limit is read (and is then invalid as a submission)
    fits = json.dumps({"site": "x" * (LIMIT - 100)}).encode()
    assert "site" in invalid(post_raw(client, fits))
    chunked_ok = client.post("/api/v1/responses", input_stream=io.BytesIO(fits),
                             headers={"Content-Type": "application/json",
                                      "Transfer-Encoding": "chunked"}, environ_overrides=CHUNKED)
    assert "site" in invalid(chunked_ok)
    assert counts(app) == (0, 0)


def test_no_request_body_is_unbounded(app, client):
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit == 21 * 1024 * 1024 and limit > MAX_BYTES + 65536  # agency files fit
    r = client.post("/auth/login", data=b"email=" + b"x" * limit,
                    content_type="application/x-www-form-urlencoded")
    assert r.status_code == 413 and r.mimetype == "text/html"
    # a chunked form under /api/ is read up to the limit only: 413 JSON naming it
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.csv\"\r\n\r\n").encode()
    r = client.post("/api/v1/agency/batches", input_stream=io.BytesIO(head + b"x" * limit),
                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                             "Transfer-Encoding": "chunked"}, environ_overrides=CHUNKED)
    assert (r.status_code, r.json) == (413, {
        "error": f"request body too large: the limit is {limit} bytes"})


# --------------------------------------------------------------------------- NUL in URLs


def test_nul_in_a_path_query_string_or_form_is_400_never_a_500(app, client, sites):  # noqa: F811
    site = sites["hospital"]
    for url in (f"/sites/{site}%00y/qr", f"/s/healthcare?site={site}%00",
                f"/s/healthcare?x%00=1&site={site}", "/?lang=en%00"):
        r = client.get(url)
        assert r.status_code == 400 and r.mimetype == "text/html", (url, r.status_code)
    api = {"/api/v1/questionnaires/healthcare%00": {"path": "contains a NUL character "
                                                            "(\\u0000)"},
           f"/api/v1/survey-token?site={site}%00&questionnaire=healthcare": {
               "query.site": "contains a NUL character (\\u0000)"}}
    for url, errors in api.items():
        r = client.get(url)
        assert (r.status_code, r.json) == (400, {"error": "bad request", "errors": errors})
    r = client.post("/auth/login", data={"email": "a\x00@x.test", "password": "p",
                                         "csrf_token": csrf_token(client)})
    assert r.status_code == 400 and r.mimetype == "text/html"
    r = client.post("/api/v1/agency/batches", data={"city": "x\x00"},
                    content_type="multipart/form-data")
    assert (r.status_code, r.json["errors"]) == (400, {
        "form.city": "contains a NUL character (\\u0000)"})
    assert counts(app) == (0, 0)
    with app.app_context():  # refused before the view: not even a failed-login audit row
        assert get_session().scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "login_failed")) == 0


# --------------------------------------------------------------------------- API errors


def test_every_api_error_is_json_and_405_says_what_is_allowed(app, client):
    r = client.get("/api/v1/nope")
    assert (r.status_code, r.json) == (404, {"error": "not found"})
    assert client.get("/api/v1/agency/nope").json == {"error": "not found"}
    r = client.put("/api/v1/responses", json={})
    assert r.status_code == 405 and r.is_json
    assert set(r.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}
    assert r.json == {"error": f"method not allowed; allowed: {r.headers['Allow']}"}
    r = client.open("/api/v1/sites", method="TRACE")
    assert r.status_code == 405 and r.is_json
    assert set(r.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    r = client.delete("/api/v1/agency/scorecard")
    assert r.status_code == 405 and r.is_json and "GET" in r.headers["Allow"]
    # elsewhere the HTML pages stay, with Allow on 405
    r = client.get("/nope")
    assert r.status_code == 404 and r.mimetype == "text/html"
    r = client.put("/auth/login")
    assert r.status_code == 405 and r.mimetype == "text/html" and "POST" in r.headers["Allow"]


def test_an_unexpected_api_error_is_a_json_500(app_config, monkeypatch):
    app = create_app({**app_config, "TESTING": False})
    from survey.api import views

    def broken() -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "questionnaires", broken)
    r = app.test_client().get("/api/v1/questionnaires")
    assert (r.status_code, r.json) == (500, {"error": "internal server error"})
    app.extensions["manyi.engine"].dispose()


# --------------------------------------------------------------------------- batch cells


def test_a_nul_in_one_batch_cell_rejects_that_row_only(world, client):  # noqa: F811
    rows = clean_rows(world.q, world.sites, 40, seed=5)
    table = to_table(world.q, rows)
    table[0].append("comment")
    for line in table[1:]:
        line.append("fine")
    table[4][-1] = "bad\x00comment"
    table[9][table[0].index("site")] += "\x00"
    out = io.StringIO()
    csv.writer(out).writerows(table)
    r = client.post("/api/v1/agency/batches", headers=bearer(world.token),
                    data={"file": (io.BytesIO(out.getvalue().encode()), "nul.csv"),
                          "wave": WAVE}, content_type="multipart/form-data")
    assert r.status_code == 201, r.get_data()[:500]
    body = r.json
    assert body["row_errors"] == [
        {"row": 4, "column": "comment", "reason": NUL_REASON},
        {"row": 9, "column": "site", "reason": NUL_REASON}]
    assert body["batch"]["n_valid"] == 38 and body["batch"]["n_invalid"] == 2
    with world.app.app_context():
        session = get_session()
        stored = session.scalars(select(Response.client_uuid)).all()
        uuids = {r.client_uuid for r in rows}
        assert len(uuids & set(stored)) == 38
        assert rows[3].client_uuid not in stored and rows[8].client_uuid not in stored


# --------------------------------------------------------------------------- logs


PHONE, NAME, EMAIL, CELL = "13812345678", "Zhang Weiguo", "li.na.private@example.cn", \
    "Wang Fang 13987654321"


def test_no_planted_personal_data_reaches_any_log_line(world, app_config, caplog,  # noqa: F811
                                                       capfd, monkeypatch):
    app = create_app({**app_config, "TESTING": False})
    client = app.test_client()
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy")  # = echo=True: every statement
    # 1. a free-text comment with a phone number and a name, stored
    with app.app_context():
        hospital = get_session().scalar(select(Site.code).where(Site.kind == "hospital")
                                        .order_by(Site.code).limit(1))
    body = signed(client, str(hospital))
    body["answers"]["comment"] = f"Dr {NAME} was rude, call me on {PHONE}"
    assert client.post("/api/v1/responses", json=body).status_code == 201
    # the same refused (NUL, then a conflict with other content)
    body["answers"]["comment"] += "\x00"
    assert client.post("/api/v1/responses", json=body).status_code == 422
    # 2. a failed login with an e-mail address
    assert login(client, EMAIL, "guess " + PHONE).status_code == 401
    # 3. a batch whose cell holds personal data, and whose storing fails in SQL
    rows = clean_rows(world.q, world.sites, 12, seed=9)
    table = to_table(world.q, rows)
    table[0].append("comment")
    for line in table[1:]:
        line.append(CELL)
    out = io.StringIO()
    csv.writer(out).writerows(table)
    real = batches.bulk_store

    def failing(session: Any, prepared: Any, **kw: Any) -> Any:
        comment = prepared[0].answers["comment"]
        session.execute(text("INSERT INTO city (code, name_zh, name_en) "
                             "VALUES (:code, NULL, NULL)"), {"code": comment[:32]})
        return real(session, prepared, **kw)

    monkeypatch.setattr(batches, "bulk_store", failing)
    r = client.post("/api/v1/agency/batches", headers=bearer(world.token),
                    data={"file": (io.BytesIO(out.getvalue().encode()), "pii.csv"),
                          "wave": WAVE}, content_type="multipart/form-data")
    assert (r.status_code, r.json) == (500, {"error": "internal server error"})
    captured = capfd.readouterr()
    logged = "\n".join([caplog.text, captured.err, captured.out])
    # the failure and the statements were logged, without their values
    assert "IntegrityError" in logged and "INSERT INTO city" in logged
    assert "hide_parameters=True" in logged
    for planted in (PHONE, NAME, EMAIL, CELL, "13987654321", "Wang Fang", "li.na.private"):
        assert planted not in logged, planted
    app.extensions["manyi.engine"].dispose()


# --------------------------------------------------------------------------- OpenAPI


def test_the_openapi_file_documents_the_error_answers():
    spec = yaml.safe_load((REPO / "docs" / "openapi.yaml").read_text())
    assert set(spec["components"]["responses"]) >= {
        "BadRequest", "Unauthorized", "Forbidden", "NotFound", "MethodNotAllowed",
        "TooLarge", "UnsupportedMediaType", "Invalid", "TooManyRequests", "ServerError",
        "Unavailable"}
    assert spec["components"]["schemas"]["Error"]["properties"].keys() == {"error", "errors"}
    assert "bearer" in json.dumps(spec["components"]["securitySchemes"]).lower()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            assert codes >= {"400", "500", "503"}, (path, method, codes)
            if "{" in path:
                assert "404" in codes, (path, method)
            if method == "post":
                assert codes >= {"413", "422", "429"}, (path, method, codes)
            if path.startswith("/agency/"):
                assert codes >= {"401", "429"} and op.get("security"), (path, method)
    assert spec["paths"]["/responses"]["post"]["responses"].keys() >= {"403", "415"}


@pytest.mark.parametrize("mimetype", ["application/json", "application/x+json"])
def test_json_mimetypes(mimetype):
    from survey.core.jsonbody import is_json_mimetype

    assert is_json_mimetype(mimetype)
    assert not is_json_mimetype("text/json+plain")


def test_a_moment_before_year_1_in_utc_is_422_not_a_500(app, client, sites):  # noqa: F811
    # 0001-01-01T04:04:48+06:03 is 0000-12-31 in UTC: out of datetime's range
    for moment in ("0001-01-01T04:04:48+06:03", "9999-12-31T23:59:59-01:00"):
        body = signed(client, sites["hospital"], submitted_at=moment, started_at=moment)
        errors = invalid(client.post("/api/v1/responses", json=body))
        assert set(errors) == {"submitted_at", "started_at"}, errors
    assert counts(app) == (0, 0)


# --------------------------------------------------------------------------- found by fuzzing
# (python -m tests.fuzz: schemathesis against docs/openapi.yaml; docs/decisions.md)


def _operation(path: str, method: str) -> Any:
    """The operation of docs/openapi.yaml as schemathesis reads it (for validate_response:
    the status is documented, the body matches its schema, the headers too)."""
    import schemathesis

    return schemathesis.openapi.from_path(REPO / "docs" / "openapi.yaml")[path][method]


def test_a_multipart_part_whose_name_cannot_be_parsed_is_not_a_500(world, client):  # noqa: F811
    # name="Q\" : werkzeug cannot parse the part's name and files it under None, which the
    # NUL scan of the form used to test with `in` (TypeError, 500).
    for part in (b'form-data; name="Q\\"', b'form-data; name="Q\\"; filename="a.csv"'):
        body = (b"--b\r\nContent-Disposition: " + part + b"\r\n\r\n{}\r\n"
                b"--b\r\nContent-Disposition: form-data; name=\"wave\"\r\n\r\n2026Q4\r\n--b--\r\n")
        r = client.post("/api/v1/agency/batches", data=body, headers=bearer(world.token),
                        content_type="multipart/form-data; boundary=b")
        assert (r.status_code, r.json) == (
            422, {"error": "file: missing (multipart field 'file')"}), r.get_data()[:300]
        _operation("/agency/batches", "POST").validate_response(r)
    assert counts(world.app)[1] == 0


def test_agency_batch_timestamps_are_rfc3339_with_an_offset_and_match_the_document(
        world, client, tmp_path):  # noqa: F811
    # SQLite hands timestamps back naive: "2026-12-31T00:00:00" is no RFC 3339 date-time.
    rows = clean_rows(world.q, world.sites, 40, seed=21)
    data = to_table(world.q, rows)
    buf = io.StringIO()
    csv.writer(buf).writerows(data)
    r = client.post("/api/v1/agency/batches", headers=bearer(world.token),
                    data={"file": (io.BytesIO(buf.getvalue().encode()), "t.csv"),
                          "wave": WAVE}, content_type="multipart/form-data")
    assert r.status_code == 201, r.get_data()[:500]
    _operation("/agency/batches", "POST").validate_response(r)
    batch_id = r.json["batch"]["id"]
    with world.app.app_context():
        session = get_session()
        from survey.agency import acceptance

        batch = session.get_one(Batch, batch_id)
        acceptance.decide(session, batch, batch.auto_decision, "", user_id=None,
                          actor="test")
    one = client.get(f"/api/v1/agency/batches/{batch_id}", headers=bearer(world.token))
    listed = client.get("/api/v1/agency/batches", headers=bearer(world.token))
    scorecard = client.get("/api/v1/agency/scorecard", headers=bearer(world.token))
    _operation("/agency/batches/{batch_id}", "GET").validate_response(one)
    _operation("/agency/batches", "GET").validate_response(listed)
    _operation("/agency/scorecard", "GET").validate_response(scorecard)
    moments = [one.json["batch"]["uploaded_at"], one.json["decision"]["decided_at"],
               listed.json[0]["uploaded_at"], scorecard.json["history"][0]["uploaded_at"]]
    for moment in moments:
        assert datetime.fromisoformat(moment).utcoffset() == timedelta(0), moment
    # the reasons are objects (rule, message, figures), as documented now
    reasons = one.json["decision"]["reasons"]
    assert reasons and all({"rule", "message"} <= set(x) for x in reasons), reasons


def test_an_empty_survey_token_parameter_is_documented_as_missing(app, client, sites):  # noqa: F811
    spec = yaml.safe_load((REPO / "docs" / "openapi.yaml").read_text())
    params = spec["paths"]["/survey-token"]["get"]["parameters"]
    assert {p["name"]: p["schema"].get("minLength") for p in params} == {
        "site": 1, "questionnaire": 1}
    r = client.get("/api/v1/survey-token?site=&questionnaire=")
    assert (r.status_code, r.json) == (422, {"error": "invalid", "errors": {
        "site": "required", "questionnaire": "required"}})
    _operation("/survey-token", "GET").validate_response(r)
    r = client.get(f"/api/v1/survey-token?site={sites['hospital']}&questionnaire=healthcare")
    assert r.status_code == 200
    _operation("/survey-token", "GET").validate_response(r)
