"""An admin's review of flagged web responses, and the held-back counts of the dashboard.

A flagged web response is either restored (``valid`` again, ``status_reason`` =
``"restored: <written reason>"``, so the screening leaves it alone from then on) or kept
out of the indices (``excluded``, ``status_reason`` = ``"<the findings> | kept excluded:
<written reason>"``, so the check that caught it stays countable). Either way with a
written reason of at least :data:`survey.agency.acceptance.MIN_REASON_LENGTH` characters,
one response or every flagged web response of a site at once, audit-logged.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from survey.agency import screening
from survey.agency.acceptance import MIN_REASON_LENGTH
from survey.core import audit
from survey.core.models import Channel, City, Response, ResponseStatus, Site
from survey.integrity import checks

RESTORE = "restore"
EXCLUDE = "exclude"
DECISIONS = (RESTORE, EXCLUDE)
KEPT = " | kept excluded: "
MAX_LISTED = 500
PENDING = "pending"
BATCH_REJECTED = "batch_rejected"
OTHER = "other"

CHECK_TITLES = {
    checks.STRAIGHTLINING: _l("Straight-lining"),
    checks.SPEEDERS: _l("Speeders"),
    checks.DUPLICATES: _l("Duplicate answers"),
    checks.BURST: _l("Burst of completions"),
    "interviewer_effect": _l("Interviewer effect"),
    "timestamps": _l("Implausible timestamps"),
    "composition": _l("Sample composition"),
    "item_nonresponse": _l("Item non-response"),
    PENDING: _l("Agency data awaiting acceptance"),
    BATCH_REJECTED: _l("Agency batch rejected"),
    OTHER: _l("Other reason"),
}
"""What each reason of a held-back response is called on the pages."""

_AGENCY_ROW = re.compile(r"^batch \d+ row \d+: (.+)$")
_AGENCY_REJECTED = re.compile(r"^batch \d+ rejected$")
_KNOWN = set(checks.CHECKS) | set(screening.CHECK_NAMES)


class ReviewError(ValueError):
    """A decision that cannot be applied (the message names the field and why)."""


def reasons_of(status: str, status_reason: str | None) -> list[str]:
    """The checks (or other reasons) that hold a response back, from its status and
    ``status_reason``: web findings (``"burst: …; straightlining: …"``), an agency row's
    checks (``"batch 3 row 12: duplicates, speeders"``), a rejected batch, 采信 pending."""
    if status == ResponseStatus.pending:
        return [PENDING]
    head = (status_reason or "").split(KEPT)[0].strip()
    if _AGENCY_REJECTED.match(head):
        return [BATCH_REJECTED]
    agency = _AGENCY_ROW.match(head)
    parts = (agency.group(1).split(", ") if agency
             else [p.split(":")[0].strip() for p in head.split(checks.SEPARATOR)])
    found = [p for p in dict.fromkeys(parts) if p in _KNOWN]
    return found or [OTHER]


# --------------------------------------------------------------------------- the page


@dataclass
class Flagged:
    id: int
    questionnaire: str
    wave: str
    submitted_at: datetime
    reason: str
    checks: list[str]


@dataclass
class SiteGroup:
    site: Site
    city: City
    responses: list[Flagged] = field(default_factory=list)
    by_check: Counter[str] = field(default_factory=Counter)


def _web_flagged() -> list[ColumnElement[bool]]:
    return [Response.status == ResponseStatus.flagged.value,
            Response.channel == Channel.web.value, Response.batch_id.is_(None)]


def flagged_by_site(session: Session, limit: int = MAX_LISTED) -> tuple[list[SiteGroup], int]:
    """Flagged web responses awaiting a decision, grouped by site (most flagged first);
    and how many there are in all (the list holds the newest ``limit``)."""
    conditions = _web_flagged()
    total = session.scalar(select(func.count()).select_from(Response)
                           .where(*conditions)) or 0
    rows = session.execute(
        select(Response.id, Response.site_id, Response.questionnaire, Response.wave,
               Response.submitted_at, Response.status_reason)
        .where(*conditions)
        .order_by(Response.submitted_at.desc(), Response.id.desc()).limit(limit)).all()
    site_ids = {r.site_id for r in rows}
    sites = {s.id: s for s in session.scalars(select(Site).where(Site.id.in_(site_ids)))}
    cities = {c.id: c for c in session.scalars(select(City).where(
        City.id.in_({s.city_id for s in sites.values()})))}
    groups: dict[int, SiteGroup] = {}
    for r in rows:
        site = sites[r.site_id]
        group = groups.setdefault(site.id, SiteGroup(site, cities[site.city_id]))
        found = reasons_of(ResponseStatus.flagged, r.status_reason)
        moment = r.submitted_at if r.submitted_at.tzinfo else r.submitted_at.replace(tzinfo=UTC)
        group.responses.append(Flagged(r.id, r.questionnaire, r.wave, moment,
                                       r.status_reason or "", found))
        group.by_check.update(found)
    ordered = sorted(groups.values(), key=lambda g: (-len(g.responses), g.site.code))
    return ordered, total


def _reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if len(reason) < MIN_REASON_LENGTH:
        raise ReviewError(f"reason: a written reason of at least {MIN_REASON_LENGTH} "
                          "characters is required")
    return reason


def decide(session: Session, responses: Sequence[Response], decision: str, reason: str, *,
           actor: str, user_id: int | None) -> int:
    """Restore or keep excluded ``responses`` (flagged web responses); returns how many.
    One audit entry per city; commits."""
    if decision not in DECISIONS:
        raise ReviewError(f"decision: must be {' or '.join(DECISIONS)}")
    reason = _reason(reason)
    for r in responses:
        if (r.status != ResponseStatus.flagged or r.channel != Channel.web
                or r.batch_id is not None):
            raise ReviewError(f"response: {r.id} is not a flagged web response "
                              f"(status {r.status})")
    by_city: dict[int, list[dict[str, object]]] = {}
    for r in responses:
        by_city.setdefault(r.city_id, []).append(
            {"id": r.id, "site_id": r.site_id, "previous_reason": r.status_reason})
        if decision == RESTORE:
            r.status = ResponseStatus.valid.value
            r.status_reason = f"restored: {reason}"
        else:
            r.status = ResponseStatus.excluded.value
            r.status_reason = f"{r.status_reason or ''}{KEPT}{reason}"
    action = "web_response_restored" if decision == RESTORE else "web_response_excluded"
    for city_id, items in by_city.items():
        audit.record(session, action, actor=actor, user_id=user_id, city_id=city_id,
                     decision=decision, reason=reason, responses=items)
    session.commit()
    return len(responses)


def flagged_response(session: Session, response_id: int) -> Response | None:
    return session.scalar(select(Response).where(Response.id == response_id,
                                                 *_web_flagged()))


def flagged_of_site(session: Session, site_id: int) -> list[Response]:
    return list(session.scalars(select(Response).where(
        Response.site_id == site_id, *_web_flagged())
        .order_by(Response.id)))


# --------------------------------------------------------------------------- dashboard


@dataclass
class HeldBack:
    """Responses that are not in the indices, by status and by reason (a response held
    back by two checks counts under both)."""

    total: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[str] = field(default_factory=Counter)


def held_back(session: Session, city_id: int, questionnaires: Iterable[str],
              waves: Iterable[str]) -> dict[tuple[str, str], HeldBack]:
    """``{(questionnaire, wave): HeldBack}`` of the city's flagged, excluded and pending
    responses."""
    rows = session.execute(
        select(Response.questionnaire, Response.wave, Response.status,
               Response.status_reason, func.count())
        .where(Response.city_id == city_id,
               Response.questionnaire.in_(list(questionnaires)),
               Response.wave.in_(list(waves)),
               Response.status != ResponseStatus.valid.value)
        .group_by(Response.questionnaire, Response.wave, Response.status,
                  Response.status_reason)).all()
    out: dict[tuple[str, str], HeldBack] = {}
    for qid, wave, status, reason, n in rows:
        cell = out.setdefault((qid, wave), HeldBack())
        cell.total += n
        cell.by_status[status] += n
        for name in reasons_of(status, reason):
            cell.by_reason[name] += n
    return out
