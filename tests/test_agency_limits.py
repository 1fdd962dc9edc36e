"""Limits of an agency batch file (``survey.agency.batches``: ``MAX_BYTES``, ``MAX_ROWS``,
``MAX_COLUMNS``, ``MAX_CELL_CHARS`` and the XLSX zip/XML limits), checked while the file is
read: each one refuses the whole file naming the limit and its value (API 413/422, the
web page, the CLI's exit code 2) and nothing is stored; a real gunicorn worker's memory
stays flat on the files that used to take it past 1 GB. And a batch without a storable
row is stored with its row report and rejected (``no_valid_rows``) instead of a 500.
"""

from __future__ import annotations

import csv
import http.cookiejar
import io
import os
import queue
import random
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from survey.agency.batches import (
    FIELDS,
    MAX_BYTES,
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    MAX_ROWS,
    MAX_XLSX_DIRECTORY_BYTES,
    MAX_XLSX_PART_TAGS,
    MAX_XLSX_SHARED_STRINGS,
    MAX_XLSX_UNPACKED_BYTES,
    LimitExceeded,
    read_table,
)
from survey.agency.screening import CHECK_NAMES
from survey.core.db import get_session
from survey.core.models import Batch, Response
from tests.helpers import Ran, manyi
from tests.test_agency import (  # noqa: F401  (world: fixture)
    REPO,
    WAVE,
    World,
    bearer,
    clean_rows,
    csrf,
    login,
    to_table,
    world,
)

PASSWORD = "correct horse battery"
SHEET = "xl/worksheets/sheet1.xml"
MAIN_NS = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
MB = 1024 * 1024

# --------------------------------------------------------------------------- files


def csv_bytes(table: list[list[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(table)
    return out.getvalue().encode()


def xlsx_bytes(table: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in table:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def rewrite(data: bytes, name: str, change: Callable[[bytes], bytes]) -> bytes:
    """The zip ``data`` with entry ``name`` replaced by ``change(its bytes)`` (added, from
    ``b""``, when absent)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for entry in src.namelist():
            body = src.read(entry)
            dst.writestr(entry, change(body) if entry == name else body)
        if name not in src.namelist():
            dst.writestr(name, change(b""))
    return out.getvalue()


def replace_sheet(data: bytes, rows_xml: bytes) -> bytes:
    """The workbook with its sheet's XML replaced by ``<sheetData>rows_xml</sheetData>``
    (no ``<dimension>``)."""
    return rewrite(data, SHEET, lambda _: b"<worksheet " + MAIN_NS + b"><sheetData>"
                   + rows_xml + b"</sheetData></worksheet>")


def dimension_bomb(header: list[str], rows: list[list[Any]] | None = None) -> bytes:
    """The attack: a small workbook (its header, ``rows``, one cell in row 4000) whose
    sheet declares ``<dimension ref="A1:XFD4000"/>`` — 16,384 columns × 4,000 rows."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for row in rows or []:
        sheet.append(row)
    sheet.cell(row=4000, column=1, value="x")
    out = io.BytesIO()
    book.save(out)

    def declare(xml: bytes) -> bytes:
        patched, n = re.subn(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1:XFD4000"/>',
                             xml)
        assert n == 1, xml[:300]
        return patched

    return rewrite(out.getvalue(), SHEET, declare)


def wide_csv_header() -> bytes:
    """The attack: a 35 KB CSV whose header has 25,001 columns, then 5,000 short rows."""
    return ("a" + "," * 25_000 + "\n" + "x\n" * 5_000).encode()


def cells_bomb(base: bytes) -> bytes:
    """3,000,000 empty cells in one row and no ``<dimension>``: 12 MB of XML, 16 KB zipped."""
    return replace_sheet(base, b'<row r="1">' + b"<c/>" * 3_000_000 + b"</row>")


def styles_bomb(base: bytes, n: int = 60_000) -> bytes:
    return rewrite(base, "xl/styles.xml", lambda xml: xml.replace(
        b'<cellXfs count="1">', b'<cellXfs count="1">' + b"<xf/>" * n))


def unpacking_bomb(base: bytes) -> bytes:
    """An entry of zeros declaring one byte more than the XLSX unpacking limit allows."""
    out = io.BytesIO(base)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as z, z.open("xl/zeros.bin", "w") as f:
        for _ in range(MAX_XLSX_UNPACKED_BYTES // MB):
            f.write(bytes(MB))
        f.write(b"\0")
    return out.getvalue()


def many_entries(base: bytes, n: int = 30_000) -> bytes:
    out = io.BytesIO(base)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_STORED) as z:
        for i in range(n):
            z.writestr(f"customXml/item{i:08d}.bin", b"")
    return out.getvalue()


def shared_strings(base: bytes, n: int) -> bytes:
    return rewrite(base, "xl/sharedStrings.xml", lambda _: b"<sst " + MAIN_NS + b">"
                   + b"<si><t>a</t></si>" * n + b"</sst>")


# --------------------------------------------------------------------------- helpers


def stored(w: World) -> tuple[int, int]:
    """Rows in ``batch`` and in ``response``."""
    with w.app.app_context():
        session = get_session()
        return (int(session.scalar(select(func.count()).select_from(Batch)) or 0),
                int(session.scalar(select(func.count()).select_from(Response)) or 0))


def post(client, token: str, data: bytes, filename: str, **form: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/agency/batches", headers=bearer(token),
                       data={"file": (io.BytesIO(data), filename), **form},
                       content_type="multipart/form-data")


def valid_table(w: World, n: int = 5, seed: int = 31) -> list[list[str]]:
    return to_table(w.q, clean_rows(w.q, w.sites, n, seed=seed))


@dataclass
class Case:
    name: str
    filename: str
    data: bytes
    status: int
    error: str  # a regular expression the whole message must match


def assert_refused(w: World, client, cases: list[Case]) -> None:  # type: ignore[no-untyped-def]
    for case in cases:
        before = stored(w)
        r = post(client, w.token, case.data, case.filename)
        assert r.status_code == case.status, (case.name, r.status_code, r.text[:500])
        assert re.fullmatch(case.error, r.json["error"]), (case.name, r.json["error"][:500])
        assert stored(w) == before, case.name   # no batch, no response stored


# --------------------------------------------------------------------------- API


def test_csv_over_a_limit_is_refused_whole_naming_the_limit(world, client):  # noqa: F811
    table = valid_table(world)
    header = table[0]
    wide_row = [r[:] for r in table]
    wide_row[2] = wide_row[2] + ["x"] * (MAX_COLUMNS + 1 - len(wide_row[2]))
    long_cell = [r[:] for r in table]
    long_cell[3][8] = "4" * (MAX_CELL_CHARS + 1)
    huge_cell = [r[:] for r in table]
    huge_cell[3][8] = "," * 200_000     # quoted by csv.writer: one cell over csv's own limit
    short_row = "00000000-0000-4000-8000-000000000000,community,1,s,I01,interview,t,t\n"
    cases = [
        Case("the attack: 25,001 columns", "wide.csv", wide_csv_header(), 422,
             r"header: 25001 columns; the limit is 500 columns"),
        Case("a header of 501 columns", "h.csv",
             csv_bytes([header + [f"x{i}" for i in range(MAX_COLUMNS + 1 - len(header))]]
                       + table[1:]), 422,
             r"header: 501 columns; the limit is 500 columns"),
        Case("a data row of 501 columns", "r.csv", csv_bytes(wide_row), 422,
             r"row 2: 501 columns; the limit is 500 columns"),
        Case("100,001 data rows", "rows.csv",
             (",".join(FIELDS) + "\n" + short_row * (MAX_ROWS + 1)).encode(), 422,
             r"file: more than 100000 data rows; the limit is 100000 data rows "
             r"\(empty rows count\)"),
        Case("a cell of 10,001 characters", "c.csv", csv_bytes(long_cell), 422,
             rf"row 3, column 9 \({re.escape(header[8])}\): 10001 characters; the limit is "
             r"10000 characters per cell"),
        Case("a cell of 200,002 characters", "c2.csv", csv_bytes(huge_cell), 422,
             r"row 3: a cell longer than 131072 characters; the limit is 10000 characters "
             r"per cell"),
    ]
    assert_refused(world, client, cases)


def test_xlsx_over_a_limit_is_refused_whole_naming_the_limit(world, client):  # noqa: F811
    table = valid_table(world)
    header = table[0]
    base = xlsx_bytes(table)
    base_unpacked = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(base)).infolist())
    part = r" \(worksheet xl/worksheets/sheet1\.xml\)"
    long_cell = [r[:] for r in table]
    long_cell[1][8] = "4" * (MAX_CELL_CHARS + 1)
    far_cell = xlsx_bytes(table[:2])
    far_cell = rewrite(far_cell, SHEET, lambda xml: xml.replace(
        b"</row></sheetData>", b'<c r="XFD2" t="inlineStr"><is><t>x</t></is></c></row>'
        b"</sheetData>"))
    cases = [
        # The declared dimension is ignored: the file is read as what it holds (its header
        # here lacks the batch fields) instead of 16,384 × 4,000 cells.
        Case("the attack: <dimension ref=A1:XFD4000/>", "dim.xlsx",
             dimension_bomb(["a", "b"]), 422, r"header: missing column\(s\): .*"),
        Case("a header of 600 cells more", "h.xlsx", xlsx_bytes([header + ["x"] * 600]), 422,
             rf"header: {len(header) + 600} columns; the limit is 500 columns" + part),
        Case("a data row of 16,384 cells", "r.xlsx",
             xlsx_bytes([header, ["5"] * 16_384]), 422,
             r"row 1: 16384 columns; the limit is 500 columns" + part),
        Case("one cell in column XFD", "far.xlsx", far_cell, 422,
             r"row 1: 16384 columns; the limit is 500 columns"),
        Case("3,000,000 cells in one row, no dimension", "cells.xlsx", cells_bomb(base), 422,
             r"header: 3000000 columns; the limit is 500 columns" + part),
        Case("a row numbered 100,002", "n.xlsx", rewrite(base, SHEET, lambda xml: xml.replace(
            b'<row r="6">', b'<row r="100002">')), 422,
             r"file: more than 100000 data rows" + part + r"; the limit is 100000 data rows "
             r"\(empty rows count\)"),
        Case("a cell of 10,001 characters", "c.xlsx", xlsx_bytes(long_cell), 422,
             rf"row 1, column 9 \({re.escape(header[8])}\): 10001 characters; the limit is "
             r"10000 characters per cell"),
        Case("a zip entry unpacking past 200 MB", "zeros.xlsx", unpacking_bomb(base), 422,
             rf"file: the XLSX unpacks to {MAX_XLSX_UNPACKED_BYTES + 1 + base_unpacked} "
             r"bytes; the limit is 209715200 bytes \(200 MB\)"),
        Case("60,000 cell formats", "styles.xlsx", styles_bomb(base), 422,
             rf"file: \d+ XML tags in xl/styles\.xml; the limit is {MAX_XLSX_PART_TAGS} "
             r"per part"),
        Case("500,001 shared strings", "sst.xlsx",
             shared_strings(base, MAX_XLSX_SHARED_STRINGS + 1), 422,
             r"file: 500001 shared strings \(xl/sharedStrings\.xml\); the limit is 500000"),
        Case("30,000 zip entries", "entries.xlsx", many_entries(base), 422,
             rf"file: the XLSX zip directory has \d+ bytes; the limit is "
             rf"{MAX_XLSX_DIRECTORY_BYTES} bytes"),
    ]
    assert_refused(world, client, cases)
    # and the declared dimension of a good batch is ignored too: its real rows are read
    rows = [r for r in valid_table(world, 3, seed=32)[1:]]
    r = post(client, world.token, dimension_bomb(header, rows), "dim-ok.xlsx", wave=WAVE)
    assert r.status_code == 201, r.text[:500]
    batch = r.json["batch"]
    # the 3 rows, and row 3999 (the stray cell in sheet row 4000) reported as invalid
    assert (batch["n_rows"], batch["n_valid"], batch["n_invalid"]) == (4, 3, 1)
    assert {e["row"] for e in r.json["row_errors"]} == {3999}


def test_a_file_over_max_bytes_is_413_on_the_api_and_the_web_and_exit_2_on_the_cli(
        world, client, app_config, tmp_path):  # noqa: F811
    data = b"x" * (MAX_BYTES + 1)
    message = (f"file: more than {MAX_BYTES} bytes; the limit is {MAX_BYTES} bytes "
               f"({MAX_BYTES >> 20} MB)")
    before = stored(world)
    r = post(client, world.token, data, "big.csv")
    assert (r.status_code, r.json) == (413, {"error": message})
    # a request far over the limit is refused from its Content-Length, before parsing
    r = post(client, world.token, data + bytes(70_000), "bigger.csv")
    assert r.status_code == 413, r.text[:300]
    assert re.fullmatch(r"file: the request has \d+ bytes; the limit is 20971520 bytes "
                        r"\(20 MB\) per file", r.json["error"])
    login(client, "agent@acme.test")
    page = client.get("/agency/batches")
    r = client.post("/agency/batches", data={
        "csrf_token": csrf(page.text), "city": world.city, "wave": WAVE,
        "file": (io.BytesIO(data), "big.csv")}, content_type="multipart/form-data")
    assert r.status_code == 413 and message in r.text
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    cli = run_cli(app_config, tmp_path, "agency", "upload", "--agency", "ACME", str(path))
    assert cli.returncode == 2
    assert cli.stderr.strip().splitlines() == [f"manyi: big.csv: {message}"]
    assert stored(world) == before


def test_the_web_page_and_the_cli_show_the_limit(world, client, app_config, tmp_path):  # noqa: F811
    login(client, "agent@acme.test")
    page = client.get("/agency/batches")
    r = client.post("/agency/batches", data={
        "csrf_token": csrf(page.text), "city": world.city,
        "file": (io.BytesIO(wide_csv_header()), "wide.csv")},
        content_type="multipart/form-data")
    assert r.status_code == 422
    assert "header: 25001 columns; the limit is 500 columns" in r.text
    path = tmp_path / "wide.csv"
    path.write_bytes(wide_csv_header())
    cli = run_cli(app_config, tmp_path, "agency", "upload", "--agency", "ACME", str(path))
    assert cli.returncode == 2
    assert cli.stderr.strip().splitlines() == [
        "manyi: wide.csv: header: 25001 columns; the limit is 500 columns"]
    assert stored(world)[0] == 0


# --------------------------------------------------------------------------- boundaries


def test_each_limit_admits_its_value_and_refuses_one_more():
    header = list(FIELDS)

    def limit_of(filename: str, data: bytes) -> str | None:
        try:
            read_table(filename, data)
        except LimitExceeded as exc:
            return exc.limit
        return None

    cols = [[f"c{i}" for i in range(n)] for n in (MAX_COLUMNS, MAX_COLUMNS + 1)]
    assert limit_of("a.csv", csv_bytes(cols[:1])) is None
    assert limit_of("a.csv", csv_bytes(cols[1:])) == "MAX_COLUMNS"
    assert limit_of("a.xlsx", xlsx_bytes(cols[:1])) is None
    assert limit_of("a.xlsx", xlsx_bytes(cols[1:])) == "MAX_COLUMNS"
    for n, want in ((MAX_CELL_CHARS, None), (MAX_CELL_CHARS + 1, "MAX_CELL_CHARS")):
        rows = [header, ["  " + "x" * n + "  "] + ["y"] * 7]   # spaces are stripped first
        assert limit_of("c.csv", csv_bytes(rows)) == want
        assert limit_of("c.xlsx", xlsx_bytes(rows)) == want
    row = "u,community,1,s,I01,interview,t,t\n"
    for n, want in ((MAX_ROWS, None), (MAX_ROWS + 1, "MAX_ROWS")):
        assert limit_of("r.csv", (",".join(header) + "\n" + row * n).encode()) == want
        sheet = replace_sheet(xlsx_bytes([["x"]]), b"".join(
            b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>x</t></is></c></row>' % (i, i)
            for i in range(1, n + 2)))
        assert limit_of("r.xlsx", sheet) == want
    # empty rows count, trailing ones included; a table within the limits is read whole
    assert limit_of("e.csv", (",".join(header) + "\n" + row + "\n" * MAX_ROWS).encode()) \
        == "MAX_ROWS"
    table = read_table("t.csv", (",".join(header) + "\n" + row + "\n" + row + "\n\n").encode())
    assert [r[0] for r in table.rows] == ["u", "", "u"]


def test_csv_fields_are_counted_as_csv_reader_splits_them():
    """Random records with quoted commas, doubled quotes and line breaks inside cells (and
    quotes inside unquoted cells) read exactly as csv.reader reads them; a record of 501
    such fields is refused."""
    rng = random.Random(5)
    pieces = ["a", "b", ",", '"', '""', "\n", "\r\n", " ", "中", "x,y"]
    for _ in range(200):
        width = rng.randint(1, 60)
        records = [[f"h{j}" for j in range(width)]] + [
            ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
             for _ in range(rng.randint(1, width))] for _ in range(rng.randint(1, 8))]
        text = csv_bytes(records).decode()
        # hand-made quirks csv.reader accepts: a quote inside an unquoted cell, text after
        # a closing quote
        text += 'ab"c,"q"tail,x\n'
        got = read_table("f.csv", text.encode())
        want = [_trimmed([c.strip() for c in r])
                for r in csv.reader(io.StringIO(text, newline=""))]
        assert got.header == want[0], text
        assert got.rows == [r + [""] * (width - len(r)) for r in want[1:]], text
    quoted = ",".join(['"a,b\n""c"""'] * (MAX_COLUMNS + 1))
    with pytest.raises(LimitExceeded, match=r"^header: (501|more than 500) columns; the limit"):
        read_table("q.csv", quoted.encode())
    assert len(read_table("q.csv", ",".join(['"a,b\n""c"""'] * MAX_COLUMNS).encode())
               .header) == MAX_COLUMNS


def _trimmed(cells: list[str]) -> list[str]:
    while cells and not cells[-1]:
        cells = cells[:-1]
    return cells


# --------------------------------------------------------------------------- no valid row


def run_cli(app_config: dict[str, object], tmp_path: Path, *args: str) -> Ran:
    env = {**os.environ, "MANYI_DATABASE_URL": str(app_config["DATABASE_URL"]),
           "MANYI_INSTANCE_DIR": str(tmp_path)}
    return manyi(*args, env=env)


def no_valid_row_file(w: World, seed: int) -> tuple[bytes, str]:
    table = valid_table(w, 1, seed=seed)
    table[1][0] = "not-a-uuid"
    return csv_bytes(table), "must be a UUID, e.g. 3f2b1c9e-8d4a-4e0f-9a51-0c6f2d7e8b13"


def test_a_batch_without_a_storable_row_is_stored_with_its_report_and_rejected(
        world, client, app_config, tmp_path):  # noqa: F811
    data, reason = no_valid_row_file(world, seed=33)
    _, responses = stored(world)
    r = post(client, world.token, data, "none.csv")
    assert r.status_code == 201, r.text[:1000]
    body = r.json
    assert body["row_errors"] == [{"row": 1, "column": "client_uuid", "reason": reason}]
    b = body["batch"]
    assert (b["n_rows"], b["n_valid"], b["n_invalid"], b["n_skipped"]) == (1, 0, 1, 0)
    assert b["wave"] is None and b["statuses"] == {}       # no row: no wave to infer
    assert body["decision"]["auto"] == "rejected" and body["decision"]["final"] is None
    rules = [x["rule"] for x in body["decision"]["reasons"]]
    assert rules == ["no_valid_rows", "invalid_over_limit"]
    # every check ran on the empty batch: passed, figure 0, nothing flagged
    assert [(c["name"], c["figure"], c["passed"], c["flagged_rows"]) for c in body["checks"]] \
        == [(name, 0.0, True, []) for name in CHECK_NAMES]
    assert stored(world) == (1, responses)
    with world.app.app_context():
        batch = get_session().get_one(Batch, b["id"])
        assert (batch.n_valid, batch.auto_decision, batch.response_rows) == (0, "rejected", [])
    again = post(client, world.token, data, "none.csv")
    assert again.status_code == 200 and again.json["batch"]["id"] == b["id"]
    # the web form: the batch's page, with the row error and the reason
    login(client, "agent@acme.test")
    web_data, _ = no_valid_row_file(world, seed=34)
    page = client.get("/agency/batches")
    r = client.post("/agency/batches", data={
        "csrf_token": csrf(page.text), "city": world.city, "wave": WAVE,
        "file": (io.BytesIO(web_data), "none-web.csv")}, content_type="multipart/form-data")
    assert r.status_code == 302, r.text[:500]
    report = client.get(r.headers["Location"])
    assert report.status_code == 200 and "not-a-uuid" not in report.text
    assert reason in report.text
    # the CLI: stored (exit 0, the batch id), the summary and the row error on stderr
    cli_data, _ = no_valid_row_file(world, seed=35)
    path = tmp_path / "none-cli.csv"
    path.write_bytes(cli_data)
    cli = run_cli(app_config, tmp_path, "agency", "upload", "--agency", "ACME", "--wave", WAVE,
                  str(path))
    assert cli.returncode == 0, cli.stderr
    batch_id = int(cli.stdout.strip())
    assert cli.stderr.strip().splitlines() == [
        f"batch {batch_id}: 1 rows, 0 stored, 1 invalid, 0 already stored; automatic "
        "decision: rejected",
        f"  row 1, client_uuid: {reason}"]
    assert stored(world) == (3, responses)


# --------------------------------------------------------------------------- memory


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def _reset_peak(pid: int) -> None:
    """Reset the process's peak RSS (VmHWM) to its current RSS (Linux ≥ 4.0)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


@dataclass
class Server:
    url: str
    worker: int        # the gunicorn worker's pid (the process that parses uploads)
    opener: urllib.request.OpenerDirector


@pytest.fixture
def gunicorn_server(world: World,  # noqa: F811
                    app_config: dict[str, object], tmp_path: Path) -> Iterator[Server]:
    """``make run``'s server (gunicorn, gthread), one worker, on the test database."""
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux /proc (VmHWM, clear_refs) to measure a process's memory")
    env = {**os.environ, "MANYI_DATABASE_URL": str(app_config["DATABASE_URL"]),
           "MANYI_SECRET_KEY": "test-secret", "MANYI_INSTANCE_DIR": str(tmp_path),
           "MANYI_RATELIMIT_ENABLED": "false"}
    proc = subprocess.Popen([GUNICORN, "--workers", "1", "--threads", "4", "--bind",
                             "127.0.0.1:0", "--timeout", "300", "survey:create_app()"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None
    stderr = proc.stderr
    def drain() -> None:  # keeps the pipe from filling; the lines are searched below
        for line in stderr:
            lines.put(line)

    threading.Thread(target=drain, daemon=True).start()
    url = worker = None
    deadline = time.monotonic() + 60
    try:
        while (url is None or worker is None) and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            if m := re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", line):
                url = m.group(1)
            if m := re.search(r"Booting worker with pid: (\d+)", line):
                worker = int(m.group(1))
        assert url is not None and worker is not None, "gunicorn did not start"
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        while time.monotonic() < deadline:
            try:
                opener.open(url + "/auth/login", timeout=30).read()
                break
            except OSError:  # URLError, refused, or a read that timed out on a busy machine
                time.sleep(0.2)
        yield Server(url, worker, opener)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
           for k, v in fields.items()]
    out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
               f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
               .encode() + data + b"\r\n--" + boundary.encode() + b"--\r\n")
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def _send(server: Server, path: str, body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(server.url + path, data=body, headers=headers or {})
    try:
        with server.opener.open(request, timeout=300) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_real_server_keeps_its_memory_on_the_attack_files(world, gunicorn_server, capsys):  # noqa: F811
    """The gunicorn worker's peak RSS grows by less than 50 MB while it refuses each file
    (before the limits, on the same server: +954 MB for the dimension, +899 MB for the
    25,001 columns, +856 MB for the 3,000,000 cells, each from a fresh worker)."""
    server = gunicorn_server
    base = xlsx_bytes(valid_table(world))
    bombs = [("xlsx <dimension ref=A1:XFD4000/>", "dim.xlsx", dimension_bomb(["a", "b"])),
             ("csv header of 25,001 columns", "wide.csv", wide_csv_header()),
             ("xlsx row of 3,000,000 cells", "cells.xlsx", cells_bomb(base)),
             ("xlsx 60,000 cell formats", "styles.xlsx", styles_bomb(base))]
    warm = [("warm.csv", b"a,b\n1,2\n"), ("warm.xlsx", xlsx_bytes([["a", "b"], [1, 2]]))]

    def web_upload(filename: str, data: bytes) -> tuple[int, str]:
        _, page = _send(server, "/agency/batches")
        body, kind = _multipart({"csrf_token": csrf(page), "city": world.city}, filename, data)
        return _send(server, "/agency/batches", body, {"Content-Type": kind})

    def api_upload(filename: str, data: bytes) -> tuple[int, str]:
        body, kind = _multipart({}, filename, data)
        return _send(server, "/api/v1/agency/batches", body,
                     {"Content-Type": kind, **bearer(world.token)})

    _, page = _send(server, "/auth/login")   # the web form's session
    status, _ = _send(server, "/auth/login", urllib.parse.urlencode({
        "csrf_token": csrf(page), "email": "agent@acme.test", "password": PASSWORD}).encode())
    assert status == 200
    for filename, data in warm:                 # imports openpyxl, csv … once
        assert web_upload(filename, data)[0] == 422
        assert api_upload(filename, data)[0] == 422
    figures = []
    for via, upload in (("api", api_upload), ("web", web_upload)):
        for name, filename, data in bombs:
            _reset_peak(server.worker)   # the peak is now the resting size
            before = _status_kb(server.worker, "VmHWM")
            status, text = upload(filename, data)
            growth = _status_kb(server.worker, "VmHWM") - before
            assert status == 422 and ("the limit" in text or "missing column" in text), \
                (via, name, text[:300])
            figures.append((via, name, len(data), before, growth))
    with capsys.disabled():
        for via, name, size, before, growth in figures:
            print(f"\n{via}: {name} ({size} bytes): peak RSS {before / 1024:.0f} MB "
                  f"+{growth / 1024:.1f} MB", end="")
        print()
    assert all(growth < 50 * 1024 for *_, growth in figures), figures
    assert stored(world)[0] == 0
