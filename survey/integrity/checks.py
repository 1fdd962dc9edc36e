"""Screening of web responses: the agency checks of :mod:`survey.agency.screening`
(straight-lining, speeders, exact duplicate answer vectors) applied per site, plus burst
detection. Run at submit on the new response (:func:`screen_submission`) and daily per site
(:func:`screen_period`, ``manyi integrity screen``).

Rules (docs/decisions.md, "Web-response integrity"):

``straightlining``
    every scale answer identical across ≥ ``straightline_min_items`` (8) answered scale
    items (:func:`survey.agency.screening.straightline_mask`).
``speeders``
    duration (``submitted_at − started_at``) under ``speeder_factor`` (⅓) × the median
    duration of the site's valid web responses to the same questionnaire over the previous
    28 days (:func:`survey.agency.screening.speeders`); judged only when that median rests on
    ≥ :attr:`Settings.min_baseline` (20) durations.
``duplicates``
    the answer vector (every scale, choice and multi-choice answer, as stored in
    ``item_codes``; free text excluded) identical to another response to the same
    questionnaire at the same site in the previous 24 hours
    (:func:`survey.agency.screening.duplicate_mask`, exact copies only: independent
    respondents who are all very satisfied nearly coincide too often for the near-copy
    rule). Straight-lined rows are left to ``straightlining``, as in the agency screening,
    and rows with fewer than 8 answers are not compared.
``burst``
    a site's web completions (any status) in one hour ``> max(burst_floor, burst_factor ×
    usual)`` — defaults ``max(20, 5 × usual)`` — where *usual* is the median number of
    valid web completions per hour over the hours of the previous 28 days that had at
    least one (a site's quiet nights would make a median over every hour 0). Every
    unreviewed web response inside such an hour is flagged.

A flagged response keeps its data: ``status = flagged`` and ``status_reason`` lists
``"<check>: <figure>"`` parts joined by ``"; "``. Only unreviewed responses are changed:
``valid`` ones whose ``status_reason`` is empty (an admin's restore writes a reason, so a
restored response is not flagged again).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import null, or_, select, update
from sqlalchemy.orm import Session

from survey.agency import screening
from survey.core.models import Answer, Channel, Response, ResponseStatus, Site, as_utc
from survey.core.questionnaires import Questionnaire
from survey.core.responses.codes import NA_EXPORT, encode_items, layout
from survey.core.responses.ingest import Prepared

STRAIGHTLINING = "straightlining"
SPEEDERS = "speeders"
DUPLICATES = "duplicates"
BURST = "burst"
CHECKS = (STRAIGHTLINING, SPEEDERS, DUPLICATES, BURST)
HOUR = 3600.0
SEPARATOR = "; "


@dataclass(frozen=True)
class Settings:
    """Thresholds of the web screening (the agency thresholds in ``screening``)."""

    screening: screening.Settings = screening.DEFAULT_SETTINGS
    burst_floor: int = 20
    burst_factor: float = 5.0
    baseline: timedelta = timedelta(days=28)
    min_baseline: int = 20
    duplicate_window: timedelta = timedelta(hours=24)


DEFAULT_SETTINGS = Settings()


@dataclass(frozen=True)
class Finding:
    """One check that flags a response: ``text`` is ``"<check>: <figure>"``."""

    check: str
    text: str


def reason_of(findings: Iterable[Finding]) -> str:
    return SEPARATOR.join(f.text for f in findings)


# --------------------------------------------------------------------------- answer vectors


@dataclass(frozen=True)
class _Cells:
    """Where the scale answers are among a questionnaire's ``item_codes`` cells."""

    width: int
    scale: tuple[int, ...]


def _cells_of(q: Questionnaire) -> _Cells:
    lay = layout(q)
    position = len(lay.extras)
    scale: list[int] = []
    for col in lay.items:
        if col.kind == "multi":
            position += len(col.options)
            continue
        if q.item(col.item).type in ("scale", "nps"):
            scale.append(position)
        position += 1
    return _Cells(position, tuple(scale))


def cells_of(q: Questionnaire) -> _Cells:
    return q.memo("integrity.cells", _cells_of)


def split_codes(q: Questionnaire, codes: str | None) -> list[str] | None:
    """The cells of an ``item_codes`` fragment of ``q``'s layout, or None (other layout)."""
    if codes is None:
        return None
    cells = codes.split(",") if cells_of(q).width else []
    return cells if len(cells) == cells_of(q).width else None


def scale_answers(q: Questionnaire, rows: Sequence[Sequence[str]]) -> NDArray[np.float64]:
    """(n, k) scale points, NaN for unanswered, hidden or N/A."""
    positions = cells_of(q).scale
    out = np.full((len(rows), len(positions)), np.nan)
    for r, cells in enumerate(rows):
        for j, p in enumerate(positions):
            cell = cells[p]
            if cell and cell != str(NA_EXPORT):
                out[r, j] = float(cell)
    return out


def answer_vectors(rows: Sequence[Sequence[str]]) -> NDArray[np.float64]:
    """(n, m) every non-text cell as a number (codes numbered per column; NaN = empty):
    equal answers give equal numbers, which is all the duplicate check compares."""
    width = len(rows[0]) if rows else 0
    out = np.full((len(rows), width), np.nan)
    for j in range(width):
        codes: dict[str, int] = {}
        for r, cells in enumerate(rows):
            cell = cells[j]
            if cell:
                out[r, j] = codes.setdefault(cell, len(codes))
    return out


def _identical_share(scale: NDArray[np.float64]) -> tuple[float, int]:
    answered = scale[np.isfinite(scale)]
    if answered.size == 0:
        return 0.0, 0
    _values, counts = np.unique(answered, return_counts=True)
    return float(counts.max() / answered.size), int(answered.size)


def _straightlining(q: Questionnaire, cells: Sequence[str],
                    settings: Settings) -> Finding | None:
    scale = scale_answers(q, [cells])
    if not screening.straightline_mask(scale, settings.screening.straightline_min_items)[0]:
        return None
    share, n = _identical_share(scale[0])
    return Finding(STRAIGHTLINING,
                   f"straightlining: {share:.2f} of answers identical ({n} scale answers)")


# --------------------------------------------------------------------------- stored rows


def _epoch(moment: datetime | None) -> float:
    return as_utc(moment).timestamp() if moment is not None else math.nan


@dataclass
class Row:
    """A stored response of a site, as the screening needs it."""

    id: int
    questionnaire: str
    version: int
    status: str
    reason: str | None
    web: bool
    submitted: float
    started: float
    codes: str | None
    at: datetime | None = None
    """``submitted_at`` in UTC (rows of :func:`submit_rows`)."""
    same_codes: bool = False
    """Its ``item_codes`` equal the new response's (rows of :func:`submit_rows`)."""
    mine: bool = False
    """Submitted by the new response's client hash (rows of :func:`submit_rows`)."""
    has_codes: bool = True
    """Stored with ``item_codes`` (rows of :func:`submit_rows` leave ``codes`` None)."""

    @property
    def duration(self) -> float:
        return self.submitted - self.started

    @property
    def unreviewed(self) -> bool:
        return self.web and self.status == ResponseStatus.valid and not self.reason


def site_rows(session: Session, site_id: int, since: datetime, until: datetime, *,
              with_codes: bool = False) -> list[Row]:
    """Responses of ``site_id`` submitted in ``[since, until)``, oldest first."""
    codes = Response.item_codes if with_codes else null().label("item_codes")
    stmt = select(Response.id, Response.questionnaire, Response.version, Response.status,
                  Response.status_reason, Response.channel, Response.batch_id,
                  Response.submitted_at, Response.started_at, codes).where(
        Response.site_id == site_id, Response.submitted_at >= since.astimezone(UTC),
        Response.submitted_at < until.astimezone(UTC)).order_by(Response.submitted_at,
                                                                Response.id)
    return [Row(r.id, r.questionnaire, r.version, r.status, r.status_reason,
                r.channel == Channel.web and r.batch_id is None, _epoch(r.submitted_at),
                _epoch(r.started_at), r.item_codes)
            for r in session.execute(stmt)]


def _fill_codes(session: Session, q: Questionnaire, rows: Sequence[Row]) -> None:
    """Encode, from their ``answer`` rows, the responses stored without ``item_codes``."""
    missing = {r.id: r for r in rows if r.codes is None}
    ids = list(missing)
    for start in range(0, len(ids), 1000):
        answers: dict[int, dict[str, Any]] = {}
        for a in session.scalars(select(Answer).where(
                Answer.response_id.in_(ids[start:start + 1000]))):
            value: Any = ("na" if a.is_na else a.value_num if a.value_num is not None
                          else a.value_text)
            answers.setdefault(a.response_id, {})[a.item] = value
        for rid, given in answers.items():
            missing[rid].codes = encode_items(q, given)


# --------------------------------------------------------------------------- the checks


def usual_hourly(times: Iterable[float]) -> float:
    """The median count per hour over the hours with at least one of ``times`` (0.0 when
    there are none)."""
    hours = np.floor(np.asarray(list(times), dtype=float) / HOUR)
    if hours.size == 0:
        return 0.0
    _h, counts = np.unique(hours, return_counts=True)
    return float(np.median(counts))


def burst_limit(usual: float, settings: Settings) -> float:
    return max(float(settings.burst_floor), settings.burst_factor * usual)


def _burst_text(count: int, usual: float) -> str:
    return f"burst: {count} completions in the hour, usual {usual:.1f}"


def _speed_finding(history: Sequence[float], duration: float,
                   settings: Settings) -> Finding | None:
    """Speeding against the site's usual durations ``history`` (the agency rule and its
    factor, with the median of the history, not of the history and this response)."""
    known = [d for d in history if math.isfinite(d)]
    if not math.isfinite(duration) or len(known) < settings.min_baseline:
        return None
    result = screening.speeders(np.array(known), np.arange(len(known), dtype=np.int64),
                                settings.screening)
    median, cut = result.detail["median_seconds"], result.detail["min_seconds"]
    if duration >= cut:
        return None
    return Finding(SPEEDERS, f"speeders: {duration:.0f} s, the site's median is "
                             f"{median:.0f} s (limit {cut:.0f} s)")


def _duplicate_of(q: Questionnaire, rows: Sequence[Row], cells: Sequence[Sequence[str]],
                  settings: Settings) -> dict[int, int]:
    """``{index: index of the earlier copy}`` for rows (oldest first) that repeat an earlier
    row's answer vector exactly within ``duplicate_window``."""
    if len(rows) < 2:
        return {}
    vectors = answer_vectors(cells)
    scale = scale_answers(q, cells)
    exclude = (screening.straightline_mask(scale, settings.screening.straightline_min_items)
               | (np.isfinite(vectors).sum(axis=1) < settings.screening.near_duplicate_min_items))
    groups = np.array([q.id] * len(rows), dtype=str)
    exact, _near = screening.duplicate_mask(vectors, groups, settings.screening, exclude)
    window = settings.duplicate_window.total_seconds()
    first: dict[tuple[str, ...], list[int]] = {}
    out: dict[int, int] = {}
    for i, key in enumerate(tuple(c) for c in cells):
        earlier = first.setdefault(key, [])
        if exact[i]:
            match = next((j for j in earlier if rows[i].submitted - rows[j].submitted
                          <= window), None)
            if match is not None:
                out[i] = match
        if not exclude[i]:
            earlier.append(i)
    return out


def _duplicate_text(other_id: int, hours: float) -> str:
    return (f"duplicates: same answers as response {other_id} at this site "
            f"{hours:.1f} h earlier")


@dataclass(frozen=True)
class SubmitScreen:
    """The findings on a new response, and the burst hour to flag with it."""

    findings: list[Finding]
    burst_since: datetime | None = None
    burst_text: str = ""


def submit_rows(session: Session, p: Prepared, since: datetime, *, codes: str,
                client_hash: str | None) -> list[Row]:
    """The responses of ``p``'s site submitted at or after ``since``, oldest first, in one
    query on ``ix_response_site_time``: what the screening of a new response and the daily
    cap need, without the answer codes (only whether they equal ``codes``) and with whether
    ``client_hash`` submitted them."""
    mine = (Response.client_hash == client_hash) if client_hash is not None else null()
    stmt = select(Response.id, Response.questionnaire, Response.version, Response.status,
                  Response.status_reason, Response.channel, Response.batch_id,
                  Response.submitted_at, Response.started_at,
                  (Response.item_codes == codes).label("same_codes"),
                  Response.item_codes.is_(None).label("no_codes"),
                  mine.label("mine")).where(
        Response.site_id == p.site.id,
        Response.submitted_at >= since.astimezone(UTC)).order_by(Response.submitted_at,
                                                                 Response.id)
    rows = []
    for r in session.execute(stmt):
        at = as_utc(r.submitted_at)
        rows.append(Row(r.id, r.questionnaire, r.version, r.status, r.status_reason,
                        r.channel == Channel.web and r.batch_id is None, at.timestamp(),
                        _epoch(r.started_at), None, at, bool(r.same_codes), bool(r.mine),
                        not r.no_codes))
    return rows


def history_since(p: Prepared, settings: Settings = DEFAULT_SETTINGS) -> datetime:
    """The earliest ``submitted_at`` :func:`screen_submission` looks at."""
    return p.submitted_at.astimezone(UTC) - max(settings.baseline + timedelta(hours=1),
                                                settings.duplicate_window)


def screen_submission(session: Session, p: Prepared, settings: Settings = DEFAULT_SETTINGS,
                      *, rows: Sequence[Row] | None = None) -> SubmitScreen:
    """Straight-lining, speeding against the site's median duration, an exact copy of
    another response at the site in the last 24 h, and whether the site is in a burst.

    ``rows``: the site's responses from :func:`submit_rows` (since :func:`history_since`
    or earlier, with ``p``'s answer codes); read here when not given. One query in all.
    """
    q = p.questionnaire
    t = p.submitted_at.astimezone(UTC)
    encoded = encode_items(q, p.answers)
    cells = split_codes(q, encoded)
    assert cells is not None  # encoded with q's own layout
    findings: list[Finding] = []
    flat = _straightlining(q, cells, settings)
    if flat is not None:
        findings.append(flat)

    until = t + timedelta(microseconds=1)  # responses submitted up to t, this one's time
    if rows is None:
        rows = submit_rows(session, p, history_since(p, settings), codes=encoded,
                           client_hash=None)
    before = [r for r in rows if r.at is not None and r.at < until]
    since = t - settings.baseline - timedelta(hours=1)
    history = [r for r in before if r.at is not None and r.at >= since]
    same_q = [r for r in history if r.web and r.questionnaire == q.id
              and r.status == ResponseStatus.valid and r.submitted >= (
                  t - settings.baseline).timestamp()]
    started = p.started_at.timestamp() if p.started_at else math.nan
    speed = _speed_finding([r.duration for r in same_q], t.timestamp() - started, settings)
    if speed is not None:
        findings.append(speed)

    copy = _earlier_copy(session, q, before, cells, t, settings)
    if copy is not None:
        findings.append(Finding(DUPLICATES, _duplicate_text(
            copy.id, (t.timestamp() - copy.submitted) / HOUR)))

    hour_start = t.timestamp() - HOUR
    in_hour = sum(1 for r in history if r.web and r.submitted > hour_start) + 1
    usual = usual_hourly(r.submitted for r in history
                         if r.web and r.status == ResponseStatus.valid
                         and r.submitted <= hour_start)
    if in_hour > burst_limit(usual, settings):
        text = _burst_text(in_hour, usual)
        findings.append(Finding(BURST, text))
        return SubmitScreen(findings, t - timedelta(hours=1), text)
    return SubmitScreen(findings)


def _earlier_copy(session: Session, q: Questionnaire, before: Sequence[Row],
                  cells: Sequence[str], t: datetime, settings: Settings) -> Row | None:
    """The oldest response to ``q`` (same version) at the site in the duplicate window
    whose answer vector is ``cells`` exactly, unless the new response is left out of the
    duplicate check (straight-lined, or fewer than ``near_duplicate_min_items`` answers).

    The rule of :func:`_duplicate_of` for the newest row: an exact copy is flagged when an
    earlier, not excluded row has the same vector; a row with the same cells is excluded
    exactly when the new one is, so only rows with equal ``item_codes`` need reading
    (``Row.same_codes``), and those stored without codes are encoded from their answers.
    """
    scale = scale_answers(q, [cells])
    if (screening.straightline_mask(scale, settings.screening.straightline_min_items)[0]
            or sum(1 for c in cells if c) < settings.screening.near_duplicate_min_items):
        return None
    window = settings.duplicate_window.total_seconds()
    start = t - settings.duplicate_window
    recent = [r for r in before if r.at is not None and r.at >= start
              and r.questionnaire == q.id and r.version == q.version]
    _fill_codes(session, q, [r for r in recent if not r.has_codes])
    key = list(cells)
    for r in recent:
        same = r.same_codes or (not r.has_codes and split_codes(q, r.codes) == key)
        if same and t.timestamp() - r.submitted <= window:
            return r
    return None


def flag_burst_hour(session: Session, site_id: int, since: datetime, until: datetime,
                    text: str) -> int:
    """Flag the unreviewed web responses of ``site_id`` submitted in ``(since, until]``
    with the burst ``text``; returns how many. One UPDATE; does not commit."""
    result = session.execute(
        update(Response).where(
            Response.site_id == site_id, Response.submitted_at > since.astimezone(UTC),
            Response.submitted_at < (until + timedelta(microseconds=1)).astimezone(UTC),
            Response.channel == Channel.web.value, Response.batch_id.is_(None),
            Response.status == ResponseStatus.valid.value,
            or_(Response.status_reason.is_(None), Response.status_reason == ""))
        .values(status=ResponseStatus.flagged.value, status_reason=text)
        .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def _flag(session: Session, reasons: Mapping[int, str]) -> None:
    by_text: dict[str, list[int]] = {}
    for rid, text in reasons.items():
        by_text.setdefault(text, []).append(rid)
    for text, ids in by_text.items():
        for start in range(0, len(ids), 1000):
            session.execute(
                update(Response).where(Response.id.in_(ids[start:start + 1000]),
                                       Response.status == ResponseStatus.valid.value)
                .values(status=ResponseStatus.flagged.value, status_reason=text)
                .execution_options(synchronize_session=False))


# --------------------------------------------------------------------------- daily


@dataclass
class SiteScreen:
    """What the screen of one site found: responses screened, flagged per check."""

    site: str
    screened: int
    flagged: int = 0
    by_check: dict[str, int] = field(default_factory=dict)


def _bursts(rows: Sequence[Row], start: float, settings: Settings
            ) -> tuple[dict[int, int], float]:
    """``{index in rows: largest hourly count}`` of the web rows inside an hour whose count
    exceeds the burst limit; and the usual hourly count (from before ``start``)."""
    web = [i for i, r in enumerate(rows) if r.web]
    times = np.array([rows[i].submitted for i in web], dtype=float)
    usual = usual_hourly(rows[i].submitted for i in web
                         if rows[i].status == ResponseStatus.valid
                         and start - settings.baseline.total_seconds() <= rows[i].submitted
                         < start)
    limit = burst_limit(usual, settings)
    # trailing[j]: completions in (t_j − 1 h, t_j]; row i lies in an hour over the limit
    # when some j with t_i <= t_j < t_i + 1 h has trailing[j] > limit.
    trailing = (np.searchsorted(times, times, side="right")
                - np.searchsorted(times, times - HOUR, side="right"))
    out: dict[int, int] = {}
    for k, i in enumerate(web):
        stop = int(np.searchsorted(times, times[k] + HOUR, side="left"))
        peak = int(trailing[k:stop].max()) if stop > k else int(trailing[k])
        if peak > limit:
            out[i] = peak
    return out, usual


def screen_site(session: Session, questionnaires: Mapping[str, Questionnaire], site: Site,
                start: datetime, end: datetime,
                settings: Settings = DEFAULT_SETTINGS) -> SiteScreen:
    """Re-check the unreviewed web responses of ``site`` submitted in ``[start, end)`` and
    flag them (does not commit)."""
    rows = site_rows(session, site.id, start - settings.baseline - timedelta(hours=1),
                     end + timedelta(hours=1), with_codes=True)
    t0, t1 = start.timestamp(), end.timestamp()
    candidate = [t0 <= r.submitted < t1 and r.unreviewed for r in rows]
    report = SiteScreen(site.code, sum(candidate))
    if not report.screened:
        return report
    found: dict[int, list[Finding]] = {}

    bursts, usual = _bursts(rows, t0, settings)
    for i, peak in bursts.items():
        if candidate[i]:
            found.setdefault(i, []).append(Finding(BURST, _burst_text(peak, usual)))

    for q in questionnaires.values():
        mine = [i for i, r in enumerate(rows) if r.questionnaire == q.id
                and r.version == q.version]
        if not any(candidate[i] for i in mine):
            continue
        _fill_codes(session, q, [rows[i] for i in mine])
        cells = {i: c for i in mine if (c := split_codes(q, rows[i].codes)) is not None}
        for i in mine:
            if candidate[i] and i in cells:
                flat = _straightlining(q, cells[i], settings)
                if flat is not None:
                    found.setdefault(i, []).append(flat)
        baseline = [i for i in mine if rows[i].web and rows[i].status == ResponseStatus.valid
                    and t1 - settings.baseline.total_seconds() <= rows[i].submitted < t1]
        for i in mine:
            if candidate[i]:
                history = [rows[j].duration for j in baseline if j != i]
                speed = _speed_finding(history, rows[i].duration, settings)
                if speed is not None:
                    found.setdefault(i, []).append(speed)
        window = [i for i in mine if i in cells and t0 - settings.duplicate_window
                  .total_seconds() <= rows[i].submitted < t1]
        copies = _duplicate_of(q, [rows[i] for i in window], [cells[i] for i in window],
                               settings)
        for k, j in copies.items():
            i, other = window[k], rows[window[j]]
            if candidate[i]:
                found.setdefault(i, []).append(Finding(DUPLICATES, _duplicate_text(
                    other.id, (rows[i].submitted - other.submitted) / HOUR)))

    order = {c: n for n, c in enumerate(CHECKS)}
    reasons: dict[int, str] = {}
    for i, findings in found.items():
        findings.sort(key=lambda f: order[f.check])
        reasons[rows[i].id] = reason_of(findings)
        for f in findings:
            report.by_check[f.check] = report.by_check.get(f.check, 0) + 1
    _flag(session, reasons)
    report.flagged = len(reasons)
    return report


def screen_period(session: Session, questionnaires: Mapping[str, Questionnaire],
                  start: datetime, end: datetime,
                  settings: Settings = DEFAULT_SETTINGS) -> list[SiteScreen]:
    """:func:`screen_site` for every site with web responses submitted in ``[start, end)``
    (does not commit)."""
    site_ids = session.scalars(select(Response.site_id).where(
        Response.channel == Channel.web.value, Response.batch_id.is_(None),
        Response.submitted_at >= start.astimezone(UTC),
        Response.submitted_at < end.astimezone(UTC)).distinct())
    sites = session.scalars(select(Site).where(Site.id.in_(list(site_ids)))
                            .order_by(Site.code))
    return [screen_site(session, questionnaires, s, start, end, settings) for s in sites]
