"""Accepting a response: the one path every channel takes (web form, JSON API, agency
batches, demo data).

``prepare`` validates and scores a submission without touching the database (pure, so
batches can be prepared fast); ``store`` writes one prepared response idempotently, and
``bulk_store`` writes many at once. A ``client_uuid`` is stored once: the same payload
again returns the stored response, a different payload under the same ``client_uuid`` is
a :class:`Conflict`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import uuid
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from survey.core.models import (
    RESPONSE_DEMOGRAPHICS,
    Answer,
    Channel,
    QuestionnaireVersion,
    Response,
    ResponseStatus,
    Score,
    Site,
)
from survey.core.questionnaires import NA, Questionnaire
from survey.core.responses.codes import encode_items, encode_scores
from survey.core.responses.scoring import (
    OVERALL,
    satisfaction_flags,
    score_response,
    validate_answers,
)
from survey.core.waves import wave_bounds, wave_of

RECEIPT_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a ``submitted_at`` may lie (clients' clocks drift)."""
ALL_CHANNELS: tuple[str, ...] = tuple(c.value for c in Channel)


@dataclass(frozen=True)
class Intake:
    """What a kind of submitter may send: its channels, and whether ``submitted_at`` must
    fall in the wave that is open now (closed waves take no anonymous data)."""

    channels: tuple[str, ...]
    current_wave_only: bool


PUBLIC = Intake((Channel.web.value,), current_wave_only=True)
"""Anonymous clients (the JSON API, the web form): web only, the current wave only."""
AGENCY = Intake((Channel.interview.value, Channel.phone.value), current_wave_only=False)
"""Authenticated measurement agencies: interviews of any wave, stored ``pending`` until
采信 (an admin's audited decision)."""
DEMO = Intake(ALL_CHANNELS, current_wave_only=False)
"""The demo generator (``manyi demo``), which writes past waves."""


class SubmissionInvalid(ValueError):
    """The submission has errors: ``errors`` maps each bad field to a message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


class Conflict(ValueError):
    """The ``client_uuid`` is already stored with different content."""

    def __init__(self, client_uuid: str, response_id: int) -> None:
        self.client_uuid = client_uuid
        self.response_id = response_id
        super().__init__(f"client_uuid {client_uuid} was already used for different content")


class TokenUsed(ValueError):
    """The survey token was already used by another stored response (one per token)."""

    def __init__(self, survey_token: str) -> None:
        self.survey_token = survey_token
        super().__init__("the survey token was already used for another response")


@dataclass(frozen=True)
class SiteRef:
    """What a response needs to know about its site (no ORM object, so batches stay light)."""

    id: int
    code: str
    kind: str
    city_id: int
    district_id: int

    @classmethod
    def of(cls, site: Site) -> SiteRef:
        return cls(site.id, site.code, site.kind, site.city_id, site.district_id)


@dataclass(frozen=True)
class Prepared:
    """A validated, scored submission ready to store."""

    client_uuid: str
    payload_hash: str
    questionnaire: Questionnaire
    site: SiteRef
    answers: Mapping[str, Any]
    scores: Mapping[str, float | None]
    satisfied: int | None
    nps_group: str | None
    channel: str
    consent_version: str
    started_at: datetime | None
    submitted_at: datetime
    wave: str
    demographics: Mapping[str, str | None] = field(default_factory=dict)


def parse_timestamp(value: object, name: str, errors: dict[str, str]) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            if moment.tzinfo is not None:
                moment.astimezone(UTC)  # 0001-01-01T00:00+06:00 has no UTC time
        except (ValueError, OverflowError):
            errors[name] = f"not an ISO 8601 timestamp: {str(value)[:40]!r}"
            return None
    if moment.tzinfo is None:
        errors[name] = "timestamp needs a time zone offset, e.g. 2026-11-25T10:00:00+08:00"
        return None
    return moment.astimezone(UTC)


def _canonical(answers: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ("na" if v is NA else v) for k, v in sorted(answers.items())}


def payload_hash(*, questionnaire: str, version: int, site: str, answers: Mapping[str, Any],
                 consent_version: str, channel: str, started_at: datetime | None,
                 submitted_at: datetime | None) -> str:
    """sha256 of the normalised submission, to tell a replay from a different submission."""
    body = {
        "questionnaire": questionnaire, "version": version, "site": site,
        "answers": _canonical(answers), "consent_version": consent_version,
        "channel": channel,
        "started_at": started_at.isoformat() if started_at else None,
        "submitted_at": submitted_at.isoformat() if submitted_at else None,
    }
    raw = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def prepare(questionnaires: Mapping[str, Questionnaire], payload: Mapping[str, Any],
            sites: Mapping[str, SiteRef], *, now: datetime | None = None,
            intake: Intake = PUBLIC) -> Prepared:
    """Validate and score one submission; raise :class:`SubmissionInvalid` listing every
    bad field.

    ``payload`` has the keys of the JSON API: ``client_uuid, questionnaire, version, site,
    answers, consent_version, channel, started_at, submitted_at``. ``submitted_at`` may be
    missing (web form): then it is ``now``. ``intake`` says which channels and waves the
    submitter may use (default :data:`PUBLIC`: ``web`` in the current wave).
    """
    now = now or datetime.now(UTC)
    errors: dict[str, str] = {}
    known = {"client_uuid", "questionnaire", "version", "site", "answers", "consent_version",
             "channel", "started_at", "submitted_at"}
    for key in payload:
        if key not in known:
            errors[key] = "unknown field"

    client_uuid = str(payload.get("client_uuid") or "")
    try:
        client_uuid = str(uuid.UUID(client_uuid))
    except ValueError:
        errors["client_uuid"] = "must be a UUID, e.g. 3f2b1c9e-8d4a-4e0f-9a51-0c6f2d7e8b13"

    qid = payload.get("questionnaire")
    q = questionnaires.get(qid) if isinstance(qid, str) else None
    if q is None:
        errors["questionnaire"] = (
            f"unknown questionnaire {qid!r} (known: {', '.join(sorted(questionnaires))})")
    version = payload.get("version")
    if q is not None:
        if isinstance(version, str) and version.isdigit():
            version = int(version)
        if version != q.version:
            errors["version"] = f"questionnaire {q.id} is at version {q.version}, not {version!r}"
        if payload.get("consent_version") != q.consent_version:
            errors["consent_version"] = (
                f"must be the consent text version shown, {q.consent_version!r}")

    site_code = payload.get("site")
    site = sites.get(site_code) if isinstance(site_code, str) else None
    if site is None:
        errors["site"] = f"unknown site {site_code!r}"
    elif q is not None and site.kind not in q.site_kinds:
        errors["site"] = (f"site {site.code} is a {site.kind}; "
                          f"{q.id} is asked at {', '.join(q.site_kinds)}")

    channel = payload.get("channel") or Channel.web.value
    if channel not in intake.channels:
        errors["channel"] = (f"must be {' or '.join(intake.channels)}"
                             + ("; interview and phone data come through an agency batch"
                                if intake is PUBLIC else ""))

    started_at = parse_timestamp(payload.get("started_at"), "started_at", errors)
    submitted_at = parse_timestamp(payload.get("submitted_at"), "submitted_at", errors)
    if submitted_at is None and "submitted_at" not in errors:
        submitted_at = now
    if submitted_at is not None and submitted_at > now + CLOCK_SKEW:
        errors["submitted_at"] = (f"is in the future (more than {CLOCK_SKEW.seconds // 60} "
                                  "minutes ahead of the server clock)")
    elif (submitted_at is not None and intake.current_wave_only
          and wave_of(submitted_at) != wave_of(now)):
        start, end = wave_bounds(wave_of(now))
        errors["submitted_at"] = (
            f"must fall in the open wave {wave_of(now)} ({start.date()} to "
            f"{(end - timedelta(days=1)).date()}, China time); closed waves take no new "
            "responses")
    if started_at and submitted_at and started_at > submitted_at:
        errors["started_at"] = "is after submitted_at"

    raw_answers = payload.get("answers")
    answers: Mapping[str, Any] = {}
    if not isinstance(raw_answers, Mapping):
        errors["answers"] = "must be an object {item id: value}"
    elif q is not None:
        result = validate_answers(q, raw_answers)
        for item, error in result.errors.items():
            errors[f"answers.{item}"] = error.message("en")
        answers = result.answers

    if errors:
        raise SubmissionInvalid(errors)
    assert q is not None and site is not None and submitted_at is not None
    scores = score_response(q, answers)
    flags = satisfaction_flags(q, answers)
    digest = payload_hash(questionnaire=q.id, version=q.version, site=site.code,
                          answers=answers, consent_version=q.consent_version, channel=channel,
                          started_at=started_at,
                          submitted_at=submitted_at if payload.get("submitted_at") else None)
    return Prepared(
        client_uuid=client_uuid, payload_hash=digest, questionnaire=q, site=site,
        answers=answers, scores=scores,
        satisfied=None if flags.satisfied is None else int(flags.satisfied),
        nps_group=flags.nps_category, channel=channel, consent_version=q.consent_version,
        started_at=started_at, submitted_at=submitted_at, wave=wave_of(submitted_at),
        demographics={c: _str_or_none(answers.get(c)) for c in RESPONSE_DEMOGRAPHICS},
    )


def _str_or_none(value: Any) -> str | None:
    if value is None or value is NA:
        return None
    return str(value)


def new_receipt_code() -> str:
    return "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(8))


_VERSION_IDS: weakref.WeakKeyDictionary[Any, dict[tuple[str, int, str], int]] = (
    weakref.WeakKeyDictionary())
"""Per engine: ``{(questionnaire, version, content hash): questionnaire_version.id}`` of the
versions this process has stored or checked (rows are never changed once written)."""
_VERSION_IDS_LOCK = threading.Lock()


def _version_cache(session: Session) -> dict[tuple[str, int, str], int] | None:
    try:
        bind = session.get_bind()
    except Exception:  # pragma: no cover - a session without a bind
        return None
    engine = getattr(bind, "engine", bind)
    with _VERSION_IDS_LOCK:
        try:
            return _VERSION_IDS.setdefault(engine, {})
        except TypeError:  # pragma: no cover - not weak-referenceable
            return None


def forget_questionnaire_versions(session: Session) -> None:
    """Drop this process's cache of stored questionnaire versions for the session's
    database (after they were deleted, e.g. a test emptying its tables)."""
    cache = _version_cache(session)
    if cache is not None:
        cache.clear()


def questionnaire_version_id(session: Session, q: Questionnaire,
                             cache: dict[tuple[str, int], int] | None = None) -> int:
    """The id of the stored version of ``q``, recording it on first use.

    A version read back from the table is remembered per process and database (a stored
    version is never changed), so only the first submissions of a version in a process
    read the table; ``cache`` is the caller's own memo on top (batches)."""
    key = (q.id, q.version)
    if cache is not None and key in cache:
        return cache[key]
    shared = _version_cache(session)
    shared_key = (q.id, q.version, q.content_hash)
    found = shared.get(shared_key) if shared is not None else None
    if found is not None:
        if cache is not None:
            cache[key] = found
        return found
    row = session.scalar(select(QuestionnaireVersion).where(
        QuestionnaireVersion.questionnaire == q.id, QuestionnaireVersion.version == q.version))
    if row is None:
        row = QuestionnaireVersion(questionnaire=q.id, version=q.version,
                                   content_hash=q.content_hash,
                                   definition=q.public_definition())
        session.add(row)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            return questionnaire_version_id(session, q, cache)
    elif row.content_hash != q.content_hash:
        raise RuntimeError(
            f"questionnaires/{q.id}.yaml changed but its version is still {q.version}: "
            "raise the version so stored responses keep the text they answered")
    elif shared is not None:
        # Read back, not written by this transaction (which might still roll back): a
        # row that another transaction committed (or, rarely, this session's own earlier
        # flush: store forgets the memo when an INSERT fails).
        shared[shared_key] = row.id
    if cache is not None:
        cache[key] = row.id
    return row.id


def _response_row(p: Prepared, qv_id: int, *, status: str, agency_id: int | None,
                  batch_id: int | None, interviewer: str | None,
                  weight: float) -> dict[str, Any]:
    return {
        "client_uuid": p.client_uuid, "payload_hash": p.payload_hash,
        "receipt_code": new_receipt_code(), "questionnaire": p.questionnaire.id,
        "version": p.questionnaire.version, "questionnaire_version_id": qv_id,
        "site_id": p.site.id, "city_id": p.site.city_id, "district_id": p.site.district_id,
        "wave": p.wave, "channel": p.channel, "agency_id": agency_id, "batch_id": batch_id,
        "interviewer": interviewer, "started_at": p.started_at, "submitted_at": p.submitted_at,
        "consent_version": p.consent_version, "design_weight": weight, "final_weight": weight,
        "overall_score": p.scores.get(OVERALL), "satisfied": p.satisfied,
        "nps_group": p.nps_group, "status": status, "status_reason": None,
        "item_codes": encode_items(p.questionnaire, p.answers),
        "dimension_scores": encode_scores(p.questionnaire, p.scores),
        **p.demographics,
    }


def _answer_rows(response_id: int, answers: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per answer, every row with the same keys (one executemany per response)."""
    rows = []
    for item, value in answers.items():
        row: dict[str, Any] = {"response_id": response_id, "item": item, "value_num": None,
                               "value_text": None, "is_na": False}
        if value is NA:
            row["is_na"] = True
        elif isinstance(value, bool):
            row["value_num"] = float(value)
        elif isinstance(value, int | float):
            row["value_num"] = float(value)
        elif isinstance(value, list | tuple):
            row["value_text"] = json.dumps(list(value), ensure_ascii=False)
        else:
            row["value_text"] = str(value)
        rows.append(row)
    return rows


def _score_rows(response_id: int, scores: Mapping[str, float | None]) -> list[dict[str, Any]]:
    return [{"response_id": response_id, "dimension": d, "value": v}
            for d, v in scores.items() if v is not None]


# Core INSERTs for the answer and score rows: every row carries the same keys, so one
# executemany per table (the ORM's bulk INSERT leaves out None values and splits the rows
# by the columns they set).
_ANSWER_TABLE = cast(Table, Answer.__table__)
_SCORE_TABLE = cast(Table, Score.__table__)


_NEW_RESPONSE: dict[str, Any] = {}
"""Per dialect: the INSERT of a new response (built once; SQLAlchemy caches its SQL)."""


def _insert_new(session: Session, row: Mapping[str, Any]) -> Response | None:
    """INSERT the response row unless its ``client_uuid`` is stored already (``ON CONFLICT
    (client_uuid) DO NOTHING``: no failed statement, so nothing of the caller's
    transaction is rolled back); the new :class:`Response` as the INSERT returned it, or
    None. Any other constraint (the survey token's unique index) still raises."""
    dialect = session.get_bind().dialect.name
    stmt = _NEW_RESPONSE.get(dialect)
    if stmt is None:
        base = pg_insert(Response) if dialect == "postgresql" else sqlite_insert(Response)
        stmt = _NEW_RESPONSE[dialect] = (
            base.on_conflict_do_nothing(index_elements=["client_uuid"]).returning(Response))
    return session.scalars(stmt, [dict(row)]).one_or_none()


def store(session: Session, p: Prepared, *, status: str = ResponseStatus.valid.value,
          agency_id: int | None = None, batch_id: int | None = None,
          interviewer: str | None = None, weight: float = 1.0,
          status_reason: str | None = None, survey_token: str | None = None,
          client_hash: str | None = None) -> tuple[Response, bool]:
    """Store ``p`` with its answers and scores in one transaction.

    Returns ``(response, created)``; ``created`` is False for a replay of the same
    submission. Raises :class:`Conflict` when the ``client_uuid`` holds other content and
    :class:`TokenUsed` when another response holds ``survey_token`` (web responses: the
    id of their survey token and the client hash, :mod:`survey.integrity`). Commits.

    A replay is found by the INSERT itself (the ``client_uuid`` unique index), not by a
    SELECT before it: three statements and the commit for a new response.
    """
    qv_id = questionnaire_version_id(session, p.questionnaire)
    row = _response_row(p, qv_id, status=status, agency_id=agency_id, batch_id=batch_id,
                        interviewer=interviewer, weight=weight)
    row.update(status_reason=status_reason, survey_token=survey_token,
               client_hash=client_hash)
    try:
        response = _insert_new(session, row)
        if response is None:
            existing = _existing(session, p.client_uuid, p.payload_hash)
            if existing is not None:
                return existing, False
            # Deleted since the INSERT found it: store it now.
            return store(session, p, status=status, agency_id=agency_id,
                         batch_id=batch_id, interviewer=interviewer, weight=weight,
                         status_reason=status_reason, survey_token=survey_token,
                         client_hash=client_hash)
        if p.answers:
            session.execute(_ANSWER_TABLE.insert(), _answer_rows(response.id, p.answers))
        score_rows = _score_rows(response.id, p.scores)
        if score_rows:
            session.execute(_SCORE_TABLE.insert(), score_rows)
        session.commit()
    except IntegrityError:
        session.rollback()
        forget_questionnaire_versions(session)  # in case the version row was deleted
        existing = _existing(session, p.client_uuid, p.payload_hash)
        if existing is None:
            if survey_token is not None and session.scalar(select(Response.id).where(
                    Response.survey_token == survey_token)) is not None:
                raise TokenUsed(survey_token) from None
            raise
        return existing, False
    return response, True


def _existing(session: Session, client_uuid: str, digest: str) -> Response | None:
    found = session.scalar(select(Response).where(Response.client_uuid == client_uuid))
    if found is None:
        return None
    if found.payload_hash != digest:
        raise Conflict(client_uuid, found.id)
    return found


def _insert_many(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT many rows; on PostgreSQL through COPY (an order of magnitude faster)."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), rows)
        return
    columns = list(rows[0])
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(
            f'COPY "{table.name}" ({", ".join(columns)}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def bulk_store(session: Session, prepared: Iterable[Prepared], *,
               status: str = ResponseStatus.valid.value, agency_id: int | None = None,
               batch_id: int | None = None, interviewers: Sequence[str | None] | None = None,
               weights: Sequence[float] | None = None, chunk: int = 5000) -> list[int]:
    """Insert many new prepared responses (no replay check: the caller knows they are new;
    a duplicate ``client_uuid`` still fails on the database's UNIQUE constraint).

    Returns the new ids in input order. Does not commit.
    """
    items = list(prepared)
    ids: list[int] = []
    cache: dict[tuple[str, int], int] = {}
    for start in range(0, len(items), chunk):
        part = items[start:start + chunk]
        rows = []
        for i, p in enumerate(part, start):
            rows.append(_response_row(
                p, questionnaire_version_id(session, p.questionnaire, cache), status=status,
                agency_id=agency_id, batch_id=batch_id,
                interviewer=interviewers[i] if interviewers else None,
                weight=weights[i] if weights else 1.0))
        conn = session.connection()
        _insert_many(conn, Response.__table__, rows)
        uuids = [p.client_uuid for p in part]
        id_of = dict(conn.execute(select(Response.client_uuid, Response.id)
                                  .where(Response.client_uuid.in_(uuids))).all())
        new_ids = [id_of[u] for u in uuids]
        answer_rows: list[dict[str, Any]] = []
        score_rows: list[dict[str, Any]] = []
        for rid, p in zip(new_ids, part, strict=True):
            answer_rows.extend(_answer_rows(rid, p.answers))
            score_rows.extend(_score_rows(rid, p.scores))
        _insert_many(conn, Answer.__table__, answer_rows)
        _insert_many(conn, Score.__table__, score_rows)
        ids.extend(new_ids)
    return ids
