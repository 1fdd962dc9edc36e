"""Admitting a web response: survey token, per-client daily cap, screening, store.

Both web channels — the citizen's HTML flow (:mod:`survey.respond`) and the public JSON API
(:mod:`survey.api`) — call :func:`submit` after :func:`survey.core.responses.ingest.prepare`:

1. the token's shape and signature (:func:`survey.integrity.tokens.read`);
2. a replay — the ``client_uuid`` stored with the same content under the same token — is
   the stored response (200), even after the token expired;
3. the token's lifetime, site and questionnaire (:func:`survey.integrity.tokens.check`);
   ``submitted_at`` may not lie more than one token lifetime before the token was issued
   (else a client could back-date responses over the whole wave, out of every
   time-window check); a token already stored with another response is "already used";
4. at most ``MAX_RESPONSES_PER_CLIENT_SITE_DAY`` responses per client hash and site in the
   last 24 hours (:class:`DailyCapReached`, nothing stored);
5. the screening of :func:`survey.integrity.checks.screen_submission`: a response with a
   finding is stored ``flagged`` with the findings as ``status_reason``; a burst also
   flags the site's other unreviewed web responses of that hour.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.core import audit
from survey.core.models import Response, ResponseStatus
from survey.core.questionnaires import Questionnaire
from survey.core.responses.codes import encode_items
from survey.core.responses.ingest import Conflict, Prepared, TokenUsed, store
from survey.integrity import checks, tokens
from survey.integrity.tokens import TokenRefused

CAP_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Policy:
    """The integrity settings of an app (from its config: ``SECRET_KEY``,
    ``SURVEY_TOKEN_MINUTES``, ``MAX_RESPONSES_PER_CLIENT_SITE_DAY``)."""

    secret: str
    token_lifetime: timedelta
    daily_cap: int
    screening: checks.Settings = field(default=checks.DEFAULT_SETTINGS)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Policy:
        return cls(secret=str(config["SECRET_KEY"]),
                   token_lifetime=timedelta(minutes=int(config["SURVEY_TOKEN_MINUTES"])),
                   daily_cap=int(config["MAX_RESPONSES_PER_CLIENT_SITE_DAY"]))


class DailyCapReached(Exception):
    """The client already completed ``limit`` responses at this site in 24 hours."""

    def __init__(self, limit: int, site: str) -> None:
        self.limit = limit
        self.site = site
        super().__init__(f"at most {limit} responses per client and site in 24 hours; "
                         f"this client has reached the limit at site {site}")


def issue_token(policy: Policy, site_code: str, questionnaire: str) -> tuple[str, datetime]:
    """A new survey token and when it expires."""
    text, token = tokens.issue(policy.secret, site_code, questionnaire)
    return text, token.expires_at(policy.token_lifetime)


def responses_today(session: Session, site_id: int, client_hash: str, now: datetime) -> int:
    """Responses of ``client_hash`` at ``site_id`` submitted in the 24 hours up to ``now``."""
    return session.scalar(select(func.count()).select_from(Response).where(
        Response.site_id == site_id, Response.client_hash == client_hash,
        Response.submitted_at > (now - CAP_WINDOW).astimezone(UTC))) or 0


def _holder(session: Session, token_id: str) -> Response | None:
    return session.scalar(select(Response).where(Response.survey_token == token_id))


def _is_replay(holder: Response | None, p: Prepared) -> bool:
    return (holder is not None and holder.client_uuid == p.client_uuid
            and holder.payload_hash == p.payload_hash)


def _already_used() -> TokenRefused:
    return TokenRefused(tokens.ALREADY_USED, "the token was already used for another "
                                             "response; get a new one")


def submit(session: Session, p: Prepared, token_text: object, *, client_hash: str,
           policy: Policy, now: datetime | None = None) -> tuple[Response, bool]:
    """Admit and store one web response: ``(response, created)``.

    Raises :class:`survey.integrity.tokens.TokenRefused`, :class:`DailyCapReached` or
    :class:`survey.core.responses.ingest.Conflict` (nothing stored). Commits.

    The checks are those of the module docstring, in that order of precedence. The
    token's holder is read only when the fast path fails or finds a stored response (a
    new token has none: the unique index on ``survey_token`` and on ``client_uuid``
    catch a used token and a replay at the INSERT); the cap and the screening share one
    query (:func:`survey.integrity.checks.submit_rows`).
    """
    now = now or tokens.current_time()
    token = tokens.read(policy.secret, token_text)
    try:
        tokens.check(token, site=p.site.code, questionnaire=p.questionnaire.id,
                     lifetime=policy.token_lifetime, now=now)
        if p.submitted_at < token.issued_at - policy.token_lifetime:
            raise TokenRefused(tokens.PREDATES,
                               f"submitted_at {p.submitted_at.isoformat()} lies more than "
                               f"{policy.token_lifetime.total_seconds() / 60:.0f} minutes "
                               "before the token was issued")
    except TokenRefused:
        holder = _holder(session, token.id)
        if _is_replay(holder, p):
            assert holder is not None
            return holder, False  # a replay, even after the token expired
        raise
    try:
        since = min(checks.history_since(p, policy.screening), now - CAP_WINDOW)
        codes = encode_items(p.questionnaire, p.answers)
        rows = checks.submit_rows(session, p, since, codes=codes, client_hash=client_hash)
        cap_since = (now - CAP_WINDOW).astimezone(UTC)
        if sum(1 for r in rows if r.mine and r.at is not None and r.at > cap_since
               ) >= policy.daily_cap:
            raise DailyCapReached(policy.daily_cap, p.site.code)
        screen = checks.screen_submission(session, p, policy.screening, rows=rows)
        status = ResponseStatus.flagged if screen.findings else ResponseStatus.valid
        response, created = store(session, p, status=status.value,
                                  status_reason=checks.reason_of(screen.findings) or None,
                                  survey_token=token.id, client_hash=client_hash)
    except TokenUsed:
        holder = _holder(session, token.id)
        if _is_replay(holder, p):  # raced the first submission
            assert holder is not None
            return holder, False
        raise _already_used() from None
    except (DailyCapReached, Conflict):
        holder = _holder(session, token.id)
        if _is_replay(holder, p):
            assert holder is not None
            return holder, False
        if holder is not None:
            raise _already_used() from None
        raise
    if not created:
        # The client_uuid is stored with this content: a replay when under this token
        # (or a token never used); another response holding the token comes first.
        holder = _holder(session, token.id)
        if holder is not None and holder.id != response.id:
            raise _already_used()
        return response, False
    if screen.burst_since is not None:
        checks.flag_burst_hour(session, p.site.id, screen.burst_since,
                               p.submitted_at, screen.burst_text)
        session.commit()
    return response, created


def screen(session: Session, questionnaires: Mapping[str, Questionnaire], start: datetime,
           end: datetime, *, actor: str,
           settings: checks.Settings = checks.DEFAULT_SETTINGS) -> list[checks.SiteScreen]:
    """Re-check the unreviewed web responses submitted in ``[start, end)``, site by site,
    and flag what the checks find (:func:`survey.integrity.checks.screen_period`).
    Audit-logged; commits."""
    reports = checks.screen_period(session, questionnaires, start, end, settings)
    by_check: dict[str, int] = {}
    for r in reports:
        for name, n in r.by_check.items():
            by_check[name] = by_check.get(name, 0) + n
    audit.record(session, "web_responses_screened", actor=actor, start=start.isoformat(),
                 end=end.isoformat(), sites=len(reports),
                 screened=sum(r.screened for r in reports),
                 flagged=sum(r.flagged for r in reports), by_check=by_check)
    session.commit()
    return reports
