"""Web questionnaires in progress (drafts), kept server-side.

The signed session cookie carries only a draft token per questionnaire
(``session["drafts"] = {questionnaire id: token}``); the answers are stored in the
``draft`` table (:class:`survey.core.models.Draft`). Answers are kept as the browser sent them
(strings, lists of strings, ``"na"``): they are validated and converted by
:func:`survey.core.responses.scoring.validate_answers` page by page and once more, on the
whole draft, at submit by :func:`survey.core.responses.ingest.prepare`.

The draft also keeps the survey token issued when the respondent agreed
(:mod:`survey.integrity.tokens`), server-side, under the reserved key :data:`TOKEN_KEY` of
the answers JSON (no item id can start with ``_``); :func:`answers_of` returns the answers
without it and :func:`save_answers` keeps it.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from survey.core.models import Draft
from survey.core.questionnaires import Questionnaire

STALE_AFTER = timedelta(days=7)
"""A draft untouched this long is deleted (the respondent has left)."""

SESSION_KEY = "drafts"
TOKEN_KEY = "_survey_token"


def create(session: Session, q: Questionnaire, site_id: int, *,
           now: datetime | None = None, survey_token: str | None = None) -> Draft:
    """Start a draft of ``q`` at ``site_id`` with a fresh token and ``client_uuid`` (and
    the respondent's ``survey_token``). Commits.

    Stale drafts (older than :data:`STALE_AFTER`) are purged on the way, so the table stays
    small without a scheduled job.
    """
    now = now or datetime.now(UTC)
    purge_stale(session, now=now)
    answers = {TOKEN_KEY: survey_token} if survey_token else {}
    draft = Draft(id=secrets.token_urlsafe(32), questionnaire=q.id, version=q.version,
                  site_id=site_id, client_uuid=str(uuid.uuid4()), answers=answers,
                  consent_version=q.consent_version, started_at=now, updated_at=now)
    session.add(draft)
    session.commit()
    return draft


def load(session: Session, token: object, q: Questionnaire) -> Draft | None:
    """The draft with ``token`` if it belongs to the current version of ``q``."""
    if not isinstance(token, str) or not token:
        return None
    draft = session.get(Draft, token)
    if draft is None or draft.questionnaire != q.id or draft.version != q.version:
        return None
    return draft


def save_answers(session: Session, draft: Draft, answers: Mapping[str, Any], *,
                 now: datetime | None = None) -> None:
    """Replace the draft's answers (a new dict, so the JSON column is seen as changed),
    keeping its survey token. Commits."""
    token = survey_token(draft)
    draft.answers = {**{k: v for k, v in answers.items() if k != TOKEN_KEY},
                     **({TOKEN_KEY: token} if token else {})}
    draft.updated_at = now or datetime.now(UTC)
    session.commit()


def answers_of(draft: Draft) -> dict[str, Any]:
    """The draft's answers (a copy, without the survey token)."""
    return {k: v for k, v in (draft.answers or {}).items() if k != TOKEN_KEY}


def survey_token(draft: Draft) -> str | None:
    """The survey token issued when the draft was started, if any."""
    token = (draft.answers or {}).get(TOKEN_KEY)
    return token if isinstance(token, str) else None


def discard(session: Session, draft: Draft) -> None:
    """Delete the draft (after submit, or when the respondent is stopped). Commits.

    Deleting a draft that a concurrent request (a double tap) already deleted is fine.
    """
    session.execute(delete(Draft).where(Draft.id == draft.id))
    session.commit()


def purge_stale(session: Session, *, now: datetime | None = None,
                older_than: timedelta = STALE_AFTER) -> int:
    """Delete drafts not updated for ``older_than``; returns how many. Does not commit."""
    cutoff = (now or datetime.now(UTC)) - older_than
    # A DELETE executes to a CursorResult (SQLAlchemy's ORM DML docs); Session.execute is
    # typed as returning the base Result, which has no rowcount.
    result = cast(CursorResult[Any],
                  session.execute(delete(Draft).where(Draft.updated_at < cutoff)))
    return int(result.rowcount or 0)


def by_client_uuid(session: Session, client_uuid: str) -> Draft | None:
    """The draft holding ``client_uuid``, if any."""
    return session.scalar(select(Draft).where(Draft.client_uuid == client_uuid))
