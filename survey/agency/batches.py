"""Agency batch files: reading CSV/XLSX, validating every row, importing, screening.

A batch is one file for one city. The header names the columns::

    client_uuid, questionnaire, version, site, interviewer, channel, started_at,
    submitted_at, [consent_version], <item id>, <item id>, …

Every data row becomes the payload of :func:`survey.core.responses.ingest.prepare` — the one
validation and scoring path — and the valid rows are stored with
:func:`survey.core.responses.ingest.bulk_store` as ``pending`` (outside every index until an admin
decides, :mod:`survey.agency.acceptance`). Rows are numbered from 1 = the first data row (the
header is not counted). Import semantics (docs/agencies.md):

* a problem with the file itself (not CSV/XLSX, undecodable, no header, a missing or
  unknown column, over one of the limits ``MAX_*`` below, a city the agency does not
  serve) refuses the whole file: :class:`BatchFileError` (:class:`LimitExceeded` for a
  limit), nothing stored;
* a bad row (also one with a NUL character in any cell) is not stored and is listed in
  ``Batch.row_errors`` as ``{row, column, reason}``; the batch's valid rows are stored
  (``pending``) in the same transaction;
* a row whose ``client_uuid`` is already stored with the same content is skipped
  (``n_skipped``: it was uploaded before); with other content it is a row error;
* the same file again (same sha256, same agency) returns the existing batch.

Cells: empty = not answered; ``na`` = not applicable; ``multi`` items as ``a;b``.
An item whose id is also a batch column (``channel`` in the community questionnaire) is
written ``item:<id>``; any item may be. CSV is UTF-8 (with or without BOM), else GB18030.
XLSX date cells carry no time zone and are read as China Standard Time (UTC+8).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import math
import re
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import IO, Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.agency import acceptance, screening
from survey.core import audit
from survey.core.models import (
    Agency,
    AgencyCity,
    Batch,
    City,
    Decision,
    District,
    Response,
    ResponseStatus,
)
from survey.core.places import site_refs
from survey.core.questionnaires import NA, Questionnaire
from survey.core.responses.ingest import (
    AGENCY,
    Prepared,
    SiteRef,
    SubmissionInvalid,
    bulk_store,
    prepare,
)
from survey.core.responses.scoring import OVERALL
from survey.core.waves import CHINA_TZ, is_wave, wave_bounds

# Limits of one batch file (docs/agencies.md, "Limits"). Each is checked while the file is
# read, before anything is sized from it; the first one met refuses the whole file
# (:class:`LimitExceeded`, nothing stored).
MAX_BYTES = 20 * 1024 * 1024     # the file as uploaded (the API answers 413)
MAX_ROWS = 100_000               # data rows after the header, empty rows included
MAX_COLUMNS = 500                # columns of any row, the header included
MAX_CELL_CHARS = 10_000          # characters of one cell (after stripping spaces)
# XLSX only — a small zip can unpack into an enormous workbook, so its entries are
# checked (streamed, constant memory) before openpyxl opens it:
MAX_XLSX_DIRECTORY_BYTES = 1024 * 1024         # the zip's central directory (its entries)
MAX_XLSX_UNPACKED_BYTES = 200 * 1024 * 1024    # all entries, as declared in the zip
MAX_XLSX_SHARED_STRINGS = 500_000              # strings of the shared-strings table
MAX_XLSX_PART_TAGS = 50_000      # XML tags of a part openpyxl reads whole (styles, workbook…)
MAX_XLSX_ROW_TAGS = 20 * MAX_COLUMNS           # XML tags of one worksheet row
FIELDS = ("client_uuid", "questionnaire", "version", "site", "interviewer", "channel",
          "started_at", "submitted_at")
OPTIONAL_FIELDS = ("consent_version",)
ITEM_PREFIX = "item:"
MAX_ROW_ERRORS_SHOWN = 1000


class BatchFileError(ValueError):
    """The file as a whole cannot be imported (nothing was stored)."""


class LimitExceeded(BatchFileError):
    """The file exceeds one of the limits above; the message names the limit and its value.

    ``limit`` is the constant's name (``"MAX_COLUMNS"``…); :attr:`too_large` is true for
    :data:`MAX_BYTES`, which the API answers with 413 (every other limit: 422).
    """

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit

    @property
    def too_large(self) -> bool:
        return self.limit == "MAX_BYTES"


class NotServed(LookupError):
    """The agency does not serve that city (shown as 404 on the web and the API)."""


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class ImportResult:
    batch: Batch
    created: bool


# --------------------------------------------------------------------------- reading
#
# The limits are checked while the file is read, never after it was materialised, and
# nothing is ever sized from what the file declares about itself: a CSV is read line by
# line and each line's fields are counted (:class:`_FieldCounter`) before ``csv.reader``
# splits it; an XLSX is checked entry by entry in its zip (:func:`check_xlsx`) before
# openpyxl opens it, then read row by row with its declared ``<dimension>`` dropped.

_CHUNK = 1 << 20  # bytes read at a time when checking a file


def bytes_limit_message() -> str:
    """The message for a file over :data:`MAX_BYTES` (the adapters read one byte more than
    the limit, so the file's own size may be unknown)."""
    return (f"file: more than {MAX_BYTES} bytes; the limit is {MAX_BYTES} bytes "
            f"({MAX_BYTES >> 20} MB)")


def _rows_limit(where: str = "") -> LimitExceeded:
    return LimitExceeded("MAX_ROWS", f"file: more than {MAX_ROWS} data rows{where}; the "
                                     f"limit is {MAX_ROWS} data rows (empty rows count)")


def _columns_limit(where: str, count: str, part: str = "") -> LimitExceeded:
    return LimitExceeded("MAX_COLUMNS", f"{where}: {count} columns; the limit is "
                                        f"{MAX_COLUMNS} columns{part}")


def _cell_text(value: object) -> str:
    if isinstance(value, str):
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=CHINA_TZ)
        return moment.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_table(filename: str, data: bytes,
               check_header: Callable[[list[str]], object] | None = None) -> Table:
    """The header and data rows of a CSV or XLSX file, every cell as stripped text, each
    row without its trailing empty cells and padded to the header's width.

    The header is checked first (its limits, then ``check_header``, e.g.
    :func:`columns_of`), then the rows one by one. Raises :class:`BatchFileError` —
    :class:`LimitExceeded` for a limit — naming the first problem met.
    """
    if len(data) > MAX_BYTES:
        raise LimitExceeded("MAX_BYTES", bytes_limit_message())
    if not data:
        raise BatchFileError("file: empty")
    name = filename.lower()
    rows: Generator[Sequence[object], None, None]
    if data[:4] == b"PK\x03\x04" or name.endswith(".xlsx"):
        rows = _xlsx_rows(data)
    elif name.endswith((".csv", ".txt")) or not name.rsplit(".", 1)[-1:] or "." not in name:
        rows = _csv_rows(data)
    else:
        raise BatchFileError(f"file: {filename!r} is neither .csv nor .xlsx")
    try:
        return _collect(rows, check_header)
    finally:
        rows.close()


def _collect(rows: Iterator[Sequence[object]],
             check_header: Callable[[list[str]], object] | None) -> Table:
    header = _cells(next(rows, ()), "header")
    if not any(header):
        raise BatchFileError("file: the first row must be the header")
    if check_header is not None:
        check_header(header)
    width = len(header)
    empty = [""] * width  # one list for every empty row: rows are read, never changed
    body: list[list[str]] = []
    pending = 0  # empty rows not yet added: trailing ones are dropped
    for number, raw in enumerate(rows, start=1):
        if number > MAX_ROWS:
            raise _rows_limit()
        cells = _cells(raw, f"row {number}", header)
        if not cells:
            pending += 1
            continue
        body.extend(repeat(empty, pending))
        pending = 0
        body.append(cells + [""] * (width - len(cells)))
    return Table(header, body)


def _cells(raw: Sequence[object], where: str, header: Sequence[str] = ()) -> list[str]:
    """One row as stripped text without its trailing empty cells; :class:`LimitExceeded`
    for more than :data:`MAX_COLUMNS` columns or a cell over :data:`MAX_CELL_CHARS`."""
    if len(raw) > MAX_COLUMNS:
        tail = raw[MAX_COLUMNS:]
        if list(tail).count(None) != len(tail):  # openpyxl pads with None: usually all None
            last = next((j for j in range(len(raw) - 1, MAX_COLUMNS - 1, -1)
                         if _cell_text(raw[j])), MAX_COLUMNS - 1)
            if last >= MAX_COLUMNS:
                raise _columns_limit(where, str(last + 1))
        raw = raw[:MAX_COLUMNS]
    cells = [_cell_text(v) for v in raw]
    if cells and max(map(len, cells)) > MAX_CELL_CHARS:
        j = next(j for j, c in enumerate(cells) if len(c) > MAX_CELL_CHARS)
        name = f" ({header[j]})" if j < len(header) and header[j] else ""
        raise LimitExceeded("MAX_CELL_CHARS", f"{where}, column {j + 1}{name}: "
                                              f"{len(cells[j])} characters; the limit is "
                                              f"{MAX_CELL_CHARS} characters per cell")
    while cells and not cells[-1]:
        cells.pop()
    return cells


# ---- CSV


class _FieldCounter:
    """Counts the fields of each CSV record as ``csv.reader`` (the default ``excel``
    dialect: ``,`` delimiter, ``"`` quotes doubled inside quoted fields, quotes literal
    inside an unquoted field) will split it, one physical line at a time — so that a
    record over :data:`MAX_COLUMNS` is refused before ``csv.reader`` builds its list.

    A line without quotes is counted with ``str.count``; quoted parts are skipped with
    ``str.find``. ``records`` is the number of records completed before the current one.
    """

    def __init__(self) -> None:
        self.records = 0
        self._reset()

    def _reset(self) -> None:
        self.fields = 0           # fields completed in the current record
        self.started = False      # the current record has a character
        self.at_field_start = True
        self.quoted = False       # inside a quoted field: the record goes on next line
        self.exact = True         # ``count`` is the whole record's (not stopped early)

    def feed(self, line: str, limit: int = MAX_COLUMNS) -> int:
        """Fields of the record ``line`` belongs to, counted up to the end of ``line``
        (counting stops early, ``exact`` false, once it is over ``limit``)."""
        i, n = 0, len(line)
        # where the line's end (\n, \r\n or \r: csv with newline="") begins; no copy
        body_end = n - (2 if line.endswith("\r\n") else 1 if line.endswith(("\n", "\r"))
                        else 0)
        while True:
            if self.quoted:
                j = line.find('"', i)
                if j < 0:
                    return self.fields + 1  # the record goes on in the next line
                if j + 1 < n and line[j + 1] == '"':
                    i = j + 2  # a doubled quote inside the quoted field
                    continue
                self.quoted = self.at_field_start = False
                i = j + 1
                continue
            q = line.find('"', i, body_end)
            stop = body_end if q < 0 else q
            if stop > i:
                self.started = True
                self.fields += line.count(",", i, stop)
                self.at_field_start = line[stop - 1] == ","
            if q < 0:  # the line ends the record
                count = self.fields + 1 if self.started else 0
                self.records += 1
                self._reset()
                return count
            self.started = True
            if self.at_field_start:
                self.quoted = True
            self.at_field_start = False
            i = q + 1
            if self.fields >= limit:
                self.exact = False
                return self.fields + 1


def _csv_encoding(data: bytes) -> str:
    """``utf-8-sig`` when the whole file is UTF-8 (checked a chunk at a time), else
    ``gb18030``."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for start in range(0, len(data), _CHUNK):
            decoder.decode(view[start:start + _CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8-sig"


def _csv_rows(data: bytes) -> Generator[list[str], None, None]:
    counter = _FieldCounter()
    stream = io.TextIOWrapper(io.BytesIO(data), encoding=_csv_encoding(data), newline="")

    def lines() -> Iterator[str]:
        for line in stream:
            record = counter.records
            fields = counter.feed(line)
            if fields > MAX_COLUMNS:
                raise _columns_limit("header" if record == 0 else f"row {record}",
                                     str(fields) if counter.exact
                                     else f"more than {MAX_COLUMNS}")
            yield line

    index = 0
    try:
        for row in csv.reader(lines()):
            yield row
            index += 1
    except UnicodeDecodeError:
        raise BatchFileError("file: neither UTF-8 nor GB18030 text") from None
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise LimitExceeded(
                "MAX_CELL_CHARS",
                f"{'header' if index == 0 else f'row {index}'}: a cell longer than "
                f"{csv.field_size_limit()} characters; the limit is {MAX_CELL_CHARS} "
                "characters per cell") from None
        raise BatchFileError(f"file: not a valid CSV ({exc})") from None


# ---- XLSX

# What openpyxl may raise on a damaged workbook (the zip, its XML, a cell's value).
_XLSX_ERRORS = (zipfile.BadZipFile, zlib.error, KeyError, OSError, EOFError, ValueError,
                IndexError, TypeError, SyntaxError, NotImplementedError)


def _unreadable(exc: BaseException) -> BatchFileError:
    return BatchFileError(f"file: not a readable XLSX workbook ({exc})")


def _xlsx_rows(data: bytes) -> Generator[Sequence[object], None, None]:
    from openpyxl import load_workbook
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    check_xlsx(data)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except _XLSX_ERRORS as exc:
        raise _unreadable(exc) from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if not isinstance(sheet, ReadOnlyWorksheet):
            raise BatchFileError("file: the workbook's first sheet is not a worksheet")
        # In read-only mode openpyxl pads every row to the declared <dimension> (and adds
        # rows up to it): the file's claim about itself, never to be trusted.
        sheet.reset_dimensions()
        rows = sheet.iter_rows(values_only=True)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except _XLSX_ERRORS as exc:
                raise _unreadable(exc) from None
            yield row
    finally:
        book.close()


def _zip_directory_size(data: bytes) -> int | None:
    """Bytes of the zip's central directory, from its end record (``None``: no end record;
    zipfile then refuses the file)."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    if end < 0 or end + 22 > len(data):
        return None
    (size,) = struct.unpack_from("<I", data, end + 12)
    if size == 0xFFFFFFFF:  # zip64: the size is in the zip64 end record
        locator = end - 20
        if locator < 0 or data[locator:locator + 4] != b"PK\x06\x07":
            return None
        (offset,) = struct.unpack_from("<Q", data, locator + 8)
        if data[offset:offset + 4] != b"PK\x06\x06" or offset + 56 > len(data):
            return None
        (size,) = struct.unpack_from("<Q", data, offset + 40)
    return int(size)


def check_xlsx(data: bytes) -> None:
    """Refuse (:class:`LimitExceeded`, :class:`BatchFileError`) a workbook that would make
    openpyxl allocate beyond the limits, before openpyxl opens it: a zip directory over
    :data:`MAX_XLSX_DIRECTORY_BYTES`, entries declaring more than
    :data:`MAX_XLSX_UNPACKED_BYTES` unpacked, and, streaming each XML entry
    (:func:`_scan_part`), a worksheet with more than :data:`MAX_ROWS` data rows, a row with
    more than :data:`MAX_COLUMNS` cells or :data:`MAX_XLSX_ROW_TAGS` tags, more than
    :data:`MAX_XLSX_SHARED_STRINGS` shared strings, or another part (read whole by
    openpyxl) with more than :data:`MAX_XLSX_PART_TAGS` tags.

    Declared sizes can be trusted as bounds: zipfile stops reading an entry at its
    declared size (and refuses it when the CRC then differs).
    """
    directory = _zip_directory_size(data)
    if directory is not None and directory > MAX_XLSX_DIRECTORY_BYTES:
        raise LimitExceeded("MAX_XLSX_DIRECTORY_BYTES",
                            f"file: the XLSX zip directory has {directory} bytes; the limit "
                            f"is {MAX_XLSX_DIRECTORY_BYTES} bytes")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _XLSX_ERRORS as exc:
        raise _unreadable(exc) from None
    with archive:
        infos = archive.infolist()
        unpacked = sum(info.file_size for info in infos)
        if unpacked > MAX_XLSX_UNPACKED_BYTES:
            raise LimitExceeded("MAX_XLSX_UNPACKED_BYTES",
                                f"file: the XLSX unpacks to {unpacked} bytes; the limit is "
                                f"{MAX_XLSX_UNPACKED_BYTES} bytes "
                                f"({MAX_XLSX_UNPACKED_BYTES >> 20} MB)")
        for info in infos:
            if info.is_dir():
                continue
            try:
                with archive.open(info) as part:
                    _scan_part(part, info.filename)
            except BatchFileError:
                raise  # a ValueError too, but ours
            except _XLSX_ERRORS as exc:
                raise _unreadable(exc) from None


_XML_NAME = rb"[A-Za-z_][\w.\-]*"
_ROOT = re.compile(rb"<(" + _XML_NAME + rb":)?(" + _XML_NAME + rb")")
_ROW_NUMBER = re.compile(rb"\sr\s*=\s*[\"'](\d{1,10})[\"']")
_TAG_ENDS = (b" ", b">", b"/", b"\t", b"\n", b"\r")
# Parts openpyxl does not read in read-only mode that can legitimately be large (one tag
# per formula, comment, pivot-cache record…): not counted.
_UNREAD_ROOTS = frozenset({b"calcChain", b"comments", b"ThreadedComments", b"pivotCacheRecords",
                           b"pivotCacheDefinition", b"pivotTableDefinition", b"table",
                           b"queryTable", b"connections", b"xml"})


def _chunks(part: IO[bytes], first: bytes) -> Iterator[bytes]:
    """The part's bytes in pieces that split no tag name: a piece stops before a ``<`` in
    its last 256 bytes, which starts the next piece."""
    carry = b""
    chunk = first
    while chunk:
        buf = carry + chunk
        cut = buf.rfind(b"<", max(0, len(buf) - 256))
        if cut < 0:
            cut = len(buf)
        yield buf[:cut]
        carry = buf[cut:]
        chunk = part.read(_CHUNK)
    if carry:
        yield carry


def _count_tags(buf: bytes, token: bytes, start: int, end: int) -> int:
    """Start tags ``token`` (``<c``, ``<si``…) in ``buf[start:end]``."""
    return sum(buf.count(token + t, start, end) for t in _TAG_ENDS)


def _scan_part(part: IO[bytes], name: str) -> None:
    """Check one zip entry by streaming it (constant memory); see :func:`check_xlsx`."""
    first = part.read(_CHUNK)
    if not first.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return  # not XML (an image…): openpyxl does not read it in read-only mode
    root = _ROOT.search(first)
    prefix, local = (root.group(1) or b"", root.group(2)) if root else (b"", b"")
    if local == b"worksheet":
        _scan_sheet(_chunks(part, first), prefix, name)
        return
    if local == b"sst":
        token = b"<" + prefix + b"si"
        strings = sum(_count_tags(buf, token, 0, len(buf)) for buf in _chunks(part, first))
        if strings > MAX_XLSX_SHARED_STRINGS:
            raise LimitExceeded("MAX_XLSX_SHARED_STRINGS",
                                f"file: {strings} shared strings ({name}); the limit is "
                                f"{MAX_XLSX_SHARED_STRINGS}")
        return
    if local in _UNREAD_ROOTS:
        return
    tags = sum(buf.count(b"<") for buf in _chunks(part, first))
    if tags > MAX_XLSX_PART_TAGS:
        raise LimitExceeded("MAX_XLSX_PART_TAGS",
                            f"file: {tags} XML tags in {name}; the limit is "
                            f"{MAX_XLSX_PART_TAGS} per part")


def _scan_sheet(chunks: Iterator[bytes], prefix: bytes, name: str) -> None:
    """Rows, cells per row and tags per row of one worksheet's XML, counted on its bytes
    (openpyxl builds a whole ``<row>`` element before it yields the row, and sizes the
    sheet at load by parsing it when it has no ``<dimension>``)."""
    row_start = re.compile(rb"<" + re.escape(prefix) + rb"row[\s/>]")
    cell = b"<" + prefix + b"c"
    data_end = b"</" + prefix + b"sheetData"
    part = f" (worksheet {name})"
    rows = number = cells = tags = 0
    in_row = after_rows = False

    def close() -> None:
        if in_row:
            where = "header" if number == 1 else f"row {number - 1}"
            if cells > MAX_COLUMNS:
                raise _columns_limit(where, str(cells), part)
            if tags > MAX_XLSX_ROW_TAGS:
                raise LimitExceeded("MAX_XLSX_ROW_TAGS",
                                    f"{where}: {tags} XML tags in one row{part}; the limit "
                                    f"is {MAX_XLSX_ROW_TAGS}")
        elif tags > MAX_XLSX_PART_TAGS:
            raise LimitExceeded("MAX_XLSX_PART_TAGS",
                                f"file: {tags} XML tags outside the rows{part}; the limit "
                                f"is {MAX_XLSX_PART_TAGS}")

    for buf in chunks:
        pos = 0
        end = buf.find(data_end)
        while True:
            if after_rows:
                tags += buf.count(b"<", pos)
                break
            match = row_start.search(buf, pos)
            stop = min(p for p in (match.start() if match else -1, end, len(buf)) if p >= pos)
            cells += _count_tags(buf, cell, pos, stop)
            tags += buf.count(b"<", pos, stop)
            if stop == len(buf):
                break
            close()
            cells = tags = 0
            if stop == end:
                in_row, after_rows, pos = False, True, end
                continue
            assert match is not None  # stop is the next row's start
            rows += 1
            tag_end = buf.find(b">", stop)
            found = _ROW_NUMBER.search(buf, stop, tag_end if tag_end >= 0 else len(buf))
            number = int(found.group(1)) if found else number + 1
            if rows > MAX_ROWS + 1 or number > MAX_ROWS + 1:
                raise _rows_limit(part)
            in_row, tags, pos = True, 1, stop + 1
    close()


# --------------------------------------------------------------------------- rows → payloads


@dataclass(frozen=True)
class Columns:
    """Where each batch field and each item is in the header."""

    fields: dict[str, int]
    items: dict[str, int]


def columns_of(header: Sequence[str], questionnaires: Mapping[str, Questionnaire]) -> Columns:
    """Map the header; :class:`BatchFileError` for missing, repeated or unknown columns."""
    known_items = {item.id for q in questionnaires.values() for item in q.items}
    fields: dict[str, int] = {}
    items: dict[str, int] = {}
    problems: list[str] = []
    for i, raw in enumerate(header):
        name = raw.strip().lower() if raw.strip().lower() in FIELDS + OPTIONAL_FIELDS else raw
        if name in FIELDS or name in OPTIONAL_FIELDS:
            target, key = fields, name
        else:
            key = name[len(ITEM_PREFIX):] if name.startswith(ITEM_PREFIX) else name
            if key not in known_items:
                problems.append(f"column {i + 1} {raw!r} is neither a batch field nor an item "
                                "of any questionnaire")
                continue
            target = items
        if key in target:
            problems.append(f"column {i + 1} {raw!r} repeats column {target[key] + 1}")
            continue
        target[key] = i
    missing = [f for f in FIELDS if f not in fields]
    if missing:
        problems.insert(0, f"missing column(s): {', '.join(missing)}")
    if problems:
        raise BatchFileError("header: " + "; ".join(problems))
    return Columns(fields, items)


def row_payload(row: Sequence[str], cols: Columns,
                questionnaires: Mapping[str, Questionnaire]
                ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The ``prepare`` payload of one row, and the row's own errors (column, reason) that
    ``prepare`` cannot see (an answer in a column its questionnaire does not have)."""
    get = {f: row[i] for f, i in cols.fields.items()}
    q = questionnaires.get(get["questionnaire"])
    answers: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    for item_id, i in cols.items.items():
        cell = row[i]
        if cell == "":
            continue
        if q is not None and not q.has_item(item_id):
            errors.append((item_id, f"not an item of questionnaire {q.id}; leave it empty"))
            continue
        if cell.lower() == "na":
            answers[item_id] = "na"
        elif q is not None and q.item(item_id).type == "multi":
            answers[item_id] = [p.strip() for p in cell.replace("；", ";").split(";")
                                if p.strip()]
        else:
            answers[item_id] = cell
    payload: dict[str, Any] = {
        "client_uuid": get["client_uuid"], "questionnaire": get["questionnaire"],
        "version": get["version"], "site": get["site"], "answers": answers,
        "consent_version": get.get("consent_version") or (q.consent_version if q else ""),
        "channel": get["channel"], "started_at": get["started_at"],
        "submitted_at": get["submitted_at"],
    }
    return payload, errors


NUL_REASON = "contains a NUL character (\\x00); remove it"


def nul_cells(row: Sequence[str], header: Sequence[str]) -> list[str]:
    """The columns (header name, else ``column <n>``) of ``row``'s cells that hold a NUL
    character: such a row is a row error, never stored."""
    return [header[j] if j < len(header) and header[j] else f"column {j + 1}"
            for j, cell in enumerate(row) if "\x00" in cell]


def _column_of(key: str) -> str:
    """The column a ``prepare`` error key refers to (``answers.x`` → ``x``)."""
    return key.removeprefix("answers.")


# --------------------------------------------------------------------------- import


def served_city_ids(session: Session, agency_id: int) -> set[int]:
    return set(session.scalars(select(AgencyCity.city_id)
                               .where(AgencyCity.agency_id == agency_id)))


@dataclass
class _Parsed:
    prepared: list[Prepared]
    rows: list[int]
    interviewers: list[str]
    errors: list[dict[str, Any]]
    skipped: int


def _parse_rows(session: Session, table: Table, cols: Columns,
                questionnaires: Mapping[str, Questionnaire], sites: Mapping[str, SiteRef],
                city_id: int, now: datetime) -> _Parsed:
    out = _Parsed([], [], [], [], 0)
    seen: dict[str, int] = {}
    for number, row in enumerate(table.rows, start=1):
        if not any(row):
            continue
        nul = nul_cells(row, table.header)
        if nul:  # nothing of the row reaches a query: PostgreSQL text cannot hold NUL
            out.errors.extend({"row": number, "column": c, "reason": NUL_REASON} for c in nul)
            continue
        payload, errors = row_payload(row, cols, questionnaires)
        if len(row) > len(table.header):  # rows keep no trailing empty cell beyond it
            errors.append((f"column {len(row)}", "a value in a column with no name in the "
                                                 "header; name the column or empty the cell"))
        interviewer = row[cols.fields["interviewer"]]
        if not interviewer:
            errors.append(("interviewer", "required: the interviewer's code"))
        elif len(interviewer) > 64:
            errors.append(("interviewer", "longer than 64 characters"))
        site = sites.get(payload["site"])
        if site is not None and site.city_id != city_id:
            errors.append(("site", f"site {site.code} is not in this batch's city"))
        prepared = None
        try:
            prepared = prepare(questionnaires, payload, sites, now=now,
                               intake=AGENCY)
        except SubmissionInvalid as exc:
            errors.extend((_column_of(k), v) for k, v in exc.errors.items())
        if prepared is not None and prepared.client_uuid in seen:
            errors.append(("client_uuid", f"repeats row {seen[prepared.client_uuid]}"))
        if errors or prepared is None:
            out.errors.extend({"row": number, "column": c, "reason": r} for c, r in errors)
            continue
        seen[prepared.client_uuid] = number
        out.prepared.append(prepared)
        out.rows.append(number)
        out.interviewers.append(interviewer)
    # Rows already stored (an earlier upload): same content → skipped, else a conflict.
    stored: dict[str, str] = {}
    uuids = [p.client_uuid for p in out.prepared]
    for start in range(0, len(uuids), 1000):
        stored.update(session.execute(
            select(Response.client_uuid, Response.payload_hash)
            .where(Response.client_uuid.in_(uuids[start:start + 1000]))).all())
    if stored:
        keep = _Parsed([], [], [], out.errors, 0)
        for p, number, who in zip(out.prepared, out.rows, out.interviewers, strict=True):
            digest = stored.get(p.client_uuid)
            if digest is None:
                keep.prepared.append(p)
                keep.rows.append(number)
                keep.interviewers.append(who)
            elif digest == p.payload_hash:
                keep.skipped += 1
            else:
                keep.errors.append({"row": number, "column": "client_uuid",
                                    "reason": "already stored with different content "
                                              "(conflict)"})
        out = keep
    out.errors.sort(key=lambda e: (e["row"], e["column"]))
    return out


def _infer_city(table: Table, cols: Columns, sites: Mapping[str, SiteRef]) -> int:
    cities = Counter(sites[r[cols.fields["site"]]].city_id for r in table.rows
                     if r[cols.fields["site"]] in sites)
    if not cities:
        raise BatchFileError("city: no row names a known site, so the batch's city is "
                             "unknown (give the city)")
    if len(cities) > 1:
        raise BatchFileError("city: the rows' sites are in more than one city; upload one "
                             "batch per city (or give the city)")
    return next(iter(cities))


def import_batch(session: Session, questionnaires: Mapping[str, Questionnaire], *,
                 agency: Agency, filename: str, data: bytes, city_code: str | None = None,
                 actor: str, wave: str | None = None, uploaded_by: int | None = None,
                 now: datetime | None = None,
                 settings: screening.Settings = screening.DEFAULT_SETTINGS) -> ImportResult:
    """Validate, store (``pending``) and screen one file; commits.

    Raises :class:`BatchFileError` (nothing stored) or :class:`NotServed`.
    """
    now = now or datetime.now(UTC)
    digest = hashlib.sha256(data).hexdigest()
    existing = session.scalar(select(Batch).where(Batch.agency_id == agency.id,
                                                  Batch.sha256 == digest))
    if existing is not None:
        return ImportResult(existing, False)
    if wave is not None and not is_wave(wave):
        raise BatchFileError(f"wave: expected YYYYQn, e.g. 2026Q4, got {wave!r}")
    header: list[Columns] = []  # columns_of runs on the header before any row is read
    table = read_table(filename, data,
                       lambda names: header.append(columns_of(names, questionnaires)))
    cols = header[0]
    if not any(any(r) for r in table.rows):
        raise BatchFileError("file: a header but no data rows")
    sites = site_refs(session, {code for r in table.rows
                                if "\x00" not in (code := r[cols.fields["site"]])})
    served = served_city_ids(session, agency.id)
    if city_code:
        city = session.scalar(select(City).where(City.code == city_code))
        if city is None or city.id not in served:
            raise NotServed(f"city: agency {agency.code} does not serve {city_code!r}")
        city_id = city.id
    else:
        city_id = _infer_city(table, cols, sites)
        if city_id not in served:
            raise NotServed(f"city: agency {agency.code} does not serve the city of these "
                            "sites")
    parsed = _parse_rows(session, table, cols, questionnaires, sites, city_id, now)
    if wave is None and parsed.prepared:
        wave = Counter(p.wave for p in parsed.prepared).most_common(1)[0][0]
    batch = Batch(agency_id=agency.id, city_id=city_id, wave=wave, filename=filename[:255],
                  sha256=digest, uploaded_by=uploaded_by, uploaded_at=now,
                  n_rows=sum(1 for r in table.rows if any(r)), n_valid=len(parsed.prepared),
                  n_invalid=len({e["row"] for e in parsed.errors}), n_skipped=parsed.skipped,
                  row_errors=parsed.errors, response_rows=[], report={},
                  auto_decision=Decision.rejected, decision_reasons=[])
    session.add(batch)
    session.flush()
    ids = bulk_store(session, parsed.prepared, status=ResponseStatus.pending.value,
                     agency_id=agency.id, batch_id=batch.id, interviewers=parsed.interviewers)
    batch.response_rows = [[r, i] for r, i in zip(parsed.rows, ids, strict=True)]
    population = dict(session.execute(select(District.id, District.population)
                                      .where(District.city_id == city_id)).all())
    data_arrays = batch_data(parsed.prepared, parsed.rows, parsed.interviewers, wave,
                             population)
    checks = screening.screen(data_arrays, settings)
    decision = acceptance.auto_decide(checks, n_rows=batch.n_rows, n_valid=batch.n_valid,
                                      n_invalid=batch.n_invalid)
    batch.report = {"checks": [c.as_dict() for c in checks],
                    "row_numbering": "1-based data rows; the header row is not counted",
                    "flagged_rows": decision.flagged_rows}
    batch.auto_decision = decision.decision
    batch.decision_reasons = decision.reasons
    audit.record(session, "agency_batch_uploaded", city_id=city_id, actor=actor,
                 user_id=uploaded_by, batch_id=batch.id, agency=agency.code,
                 rows=batch.n_rows, stored=batch.n_valid, invalid=batch.n_invalid,
                 skipped=batch.n_skipped, auto_decision=decision.decision, sha256=digest)
    session.commit()
    return ImportResult(batch, True)


def _epoch(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else math.nan


def batch_data(prepared: Sequence[Prepared], rows: Sequence[int],
               interviewers: Sequence[str], wave: str | None,
               district_population: Mapping[int, int | None]) -> screening.BatchData:
    """The arrays :func:`survey.agency.screening.screen` needs, from the prepared rows."""
    scale_items: list[str] = []
    other_items: list[str] = []
    for q in {p.questionnaire.id: p.questionnaire for p in prepared}.values():
        for item in q.items:
            target = scale_items if item.type in ("scale", "nps") else other_items
            if item.type != "text" and item.id not in target:
                target.append(item.id)
    all_items = scale_items + [i for i in other_items if i not in scale_items]
    n = len(prepared)
    answers = np.full((n, len(scale_items)), np.nan)
    vectors = np.full((n, len(all_items)), np.nan)
    asked = np.zeros((n, len(all_items)), dtype=bool)
    missing = np.zeros((n, len(all_items)), dtype=bool)
    position = {item: j for j, item in enumerate(all_items)}
    codes = {item.id: {o.value: k for k, o in enumerate(item.options or [])}
             for p in {p.questionnaire.id: p.questionnaire for p in prepared}.values()
             for item in p.items if item.type == "single"}
    for r, p in enumerate(prepared):
        q = p.questionnaire
        for item in q.items:
            j = position.get(item.id)
            if j is None or not q.is_visible(item, p.answers):
                continue
            asked[r, j] = True
            value = p.answers.get(item.id)
            if value is None or value is NA:
                missing[r, j] = True
            elif j < len(scale_items):
                answers[r, j] = vectors[r, j] = float(value)
            elif item.type == "single":
                vectors[r, j] = float(codes[item.id].get(str(value), -1))
    start, end = wave_bounds(wave) if wave else (None, None)
    started = np.array([_epoch(p.started_at) for p in prepared], dtype=float)
    submitted = np.array([_epoch(p.submitted_at) for p in prepared], dtype=float)
    return screening.BatchData(
        rows=np.asarray(rows, dtype=np.int64), answers=answers, vectors=vectors,
        groups=np.array([p.questionnaire.id for p in prepared], dtype=str),
        overall=np.array([p.scores.get(OVERALL) if p.scores.get(OVERALL) is not None
                          else math.nan for p in prepared], dtype=float),
        durations=submitted - started,
        interviewers=np.array(list(interviewers), dtype=str),
        started=started, submitted=submitted,
        wave_start=start.timestamp() if start else None,
        wave_end=end.timestamp() if end else None,
        asked=asked, missing=missing, item_names=all_items,
        age_band=np.array([p.demographics.get("age_band") or "" for p in prepared], dtype=str),
        gender=np.array([p.demographics.get("gender") or "" for p in prepared], dtype=str),
        districts=np.array([p.site.district_id for p in prepared], dtype=np.int64),
        district_population={k: v for k, v in district_population.items() if v},
    )
