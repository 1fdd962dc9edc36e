"""Releases (发布) and the red/black lists (红黑榜, item 六) — docs/public.md.

- :func:`preview` computes what a release would publish; :func:`release` freezes it as the
  next numbered release of (city, wave) and proposes list entries from its site cells.
- A list entry is proposed by the significance rule, confirmed (with a written reason and a
  display period) or declined by an admin, may be objected to (异议) once through a
  one-time link, decided (upheld / withdrawn, with a public reason), removed early after
  rectification (整改, black list only, with a public notice), and expires by itself.
Every step is audited (``audit_log``) and kept as a :class:`ListEvent`.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.core.audit import record
from survey.core.i18n import N_, translate
from survey.core.models import City, ListEntry, ListEvent, Release, Response, ResponseStatus, Site
from survey.core.questionnaires import Questionnaire
from survey.core.security import token_digest
from survey.core.waves import is_wave
from survey.dashboard import estimates
from survey.public import snapshot as snap

DISPLAY_MONTHS = (3, 6, 12)  # default of LIST_DISPLAY_MONTHS


def display_periods(setting: str) -> tuple[int, ...]:
    """The display periods of ``LIST_DISPLAY_MONTHS`` ("3,6,12"); ConfigError-like
    ``PublicError`` naming the setting when it is not a list of whole months 1–60."""
    try:
        months = tuple(sorted({int(x) for x in setting.split(",") if x.strip()}))
    except ValueError:
        months = ()
    if not months or not all(1 <= m <= 60 for m in months):
        raise PublicError(N_("MANYI_LIST_DISPLAY_MONTHS: expected whole months 1–60 separated "
                             "by commas, e.g. 3,6,12; not %(value)r"), value=setting)
    return months
RED, BLACK = "red", "black"
PROPOSED, DECLINED, LISTED, WITHDRAWN, REMOVED = ("proposed", "declined", "listed",
                                                  "withdrawn", "removed")
PENDING, UPHELD = "pending", "upheld"
RULE = ("site index significantly {dir} than the all-cities index of the same questionnaire "
        "and wave (contrast site − all sites in one design, two-sided t test, p < 0.05); "
        "cells with fewer than 10 respondents, an effective sample under 30, or no "
        "confidence interval are never listed")


class PublicError(ValueError):
    """A release or list action that cannot be done; the message says what and why: an
    English msgid (``N_``) with ``%(name)s`` placeholders, ``str(exc)`` in English (the
    command line), :meth:`text` in the page's language."""

    def __init__(self, message: str, **params: object) -> None:
        self.msgid, self.params = message, params
        super().__init__(message % params if params else message)

    def text(self, lang: str) -> str:
        return translate(self.msgid, lang, **self.params)


class NotFound(PublicError):
    """No such city, wave, release, entry or token."""


def digest(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).hexdigest()


def city_by_code(session: Session, code: str) -> City:
    city = session.scalar(select(City).where(City.code == code))
    if city is None:
        raise NotFound(N_("city %(code)r: no such city"), code=code)
    return city


def latest(session: Session, city_id: int, wave: str) -> Release | None:
    return session.scalar(select(Release).where(Release.city_id == city_id,
                                                Release.wave == wave)
                          .order_by(Release.number.desc()).limit(1))


def releases(session: Session, city_id: int | None = None) -> list[Release]:
    """Every release, newest wave first, then newest number first."""
    stmt = select(Release).order_by(Release.wave.desc(), Release.city_id, Release.number.desc())
    if city_id is not None:
        stmt = stmt.where(Release.city_id == city_id)
    return list(session.scalars(stmt))


def released_waves(session: Session, city_id: int) -> list[str]:
    return sorted(session.scalars(select(Release.wave).where(Release.city_id == city_id)
                                  .group_by(Release.wave)))


def newest(rows: Sequence[Release]) -> dict[tuple[int, str], Release]:
    """The latest release of each (city, wave) among ``rows`` (no query)."""
    out: dict[tuple[int, str], Release] = {}
    for r in rows:
        key = (r.city_id, r.wave)
        if key not in out or r.number > out[key].number:
            out[key] = r
    return out


def _previous_wave_release(session: Session, city_id: int, wave: str) -> Release | None:
    earlier = [w for w in released_waves(session, city_id) if w < wave]
    return latest(session, city_id, earlier[-1]) if earlier else None


@dataclass(frozen=True)
class Plan:
    """What a release would publish: the snapshot, and whether it corrects one."""

    city: City
    wave: str
    number: int
    questionnaires: tuple[str, ...]
    snapshot: dict[str, Any]
    corrects: tuple[str, ...]  # questionnaires already published in this wave, recomputed


def preview(session: Session, settings: estimates.Settings, qs: Mapping[str, Questionnaire],
            city_code: str, wave: str, questionnaire: str | None = None) -> Plan:
    """The snapshot the next release of (city, wave) would freeze; nothing is stored."""
    city = city_by_code(session, city_code)
    if not is_wave(wave):
        raise PublicError(N_("wave %(wave)r: expected YYYYQn, e.g. 2026Q4"), wave=wave)
    if questionnaire is not None and questionnaire not in qs:
        raise PublicError(N_("questionnaire %(q)r: no such questionnaire (known: %(known)s)"),
                          q=questionnaire, known=", ".join(sorted(qs)))
    chosen = [qs[questionnaire]] if questionnaire else list(qs.values())
    have = set(session.scalars(
        select(Response.questionnaire).where(Response.city_id == city.id,
                                             Response.wave == wave,
                                             Response.status == ResponseStatus.valid.value)
        .group_by(Response.questionnaire)))
    chosen = [q for q in chosen if q.id in have]
    if not chosen:
        if questionnaire:
            raise PublicError(N_("%(city)s %(wave)s: no valid responses to questionnaire %(q)r: "
                                 "nothing to release"), city=city.code, wave=wave,
                              q=questionnaire)
        raise PublicError(N_("%(city)s %(wave)s: no valid responses to any questionnaire: "
                             "nothing to release"), city=city.code, wave=wave)
    current = latest(session, city.id, wave)
    number = (current.number + 1) if current else 1
    before = _previous_wave_release(session, city.id, wave)
    data = snap.build(session, settings, city, wave, chosen, number=number,
                      carried=current.snapshot if current else None,
                      previous=before.snapshot if before else None)
    published = set((current.snapshot if current else {}).get("questionnaires", {}))
    return Plan(city, wave, number, tuple(q.id for q in chosen), data,
                tuple(sorted(published & {q.id for q in chosen})))


def release(session: Session, plan: Plan, *, note: str, actor: str,
            user_id: int | None) -> Release:
    """Freeze ``plan`` as a release (the caller commits). A correction (release 2 or
    later) needs a public ``note`` of what changed and why."""
    note = note.strip()
    if plan.number > 1 and not note:
        raise PublicError(N_("%(city)s %(wave)s release %(n)s changes release %(m)s: a public "
                             "note of what changed and why is required"),
                          city=plan.city.code, wave=plan.wave, n=plan.number, m=plan.number - 1)
    if len(note) > 2000:
        raise PublicError(N_("note: at most 2,000 characters"))
    current = latest(session, plan.city.id, plan.wave)
    if (current.number if current else 0) != plan.number - 1:
        raise PublicError(N_("%(city)s %(wave)s: another release was made meanwhile; preview "
                             "again"), city=plan.city.code, wave=plan.wave)
    row = Release(city_id=plan.city.id, wave=plan.wave, number=plan.number,
                  questionnaires=list(plan.questionnaires), released_by=user_id, note=note,
                  snapshot=plan.snapshot, digest=digest(plan.snapshot))
    session.add(row)
    session.flush()
    record(session, "public_release", actor=actor, user_id=user_id, city_id=plan.city.id,
           wave=plan.wave, number=plan.number, questionnaires=list(plan.questionnaires),
           digest=row.digest, note=note)
    _propose(session, row, actor=actor, user_id=user_id)
    return row


# --------------------------------------------------------------------------- lists

def _propose(session: Session, rel: Release, *, actor: str, user_id: int | None) -> None:
    """Entries proposed by the significance rule from the site cells just released (only
    the questionnaires this release computed; a shown cell — no mark — only)."""
    sites = {s.code: s for s in session.scalars(select(Site).where(Site.city_id == rel.city_id))}
    for qid in rel.questionnaires:
        figures = rel.snapshot["questionnaires"].get(qid)
        if figures is None:
            continue
        for cell in figures["sites"]:
            if cell["status"] != "shown" or cell["versus"] not in ("better", "worse"):
                continue
            kind = RED if cell["versus"] == "better" else BLACK
            entry = ListEntry(
                release_id=rel.id, city_id=rel.city_id, site_id=sites[cell["key"]].id,
                questionnaire=qid, wave=rel.wave, kind=kind, status=PROPOSED,
                rule=RULE.format(dir="higher" if kind == RED else "lower"),
                figures={"site": {k: cell[k] for k in ("n", "estimate", "ci_low", "ci_high",
                                                       "versus_p")},
                         "benchmark": {k: figures["benchmark"][k] for k in (
                             "n", "estimate", "ci_low", "ci_high")},
                         "release": rel.number})
            session.add(entry)
            session.flush()
            _event(session, entry, "proposed", "", public=False, user_id=user_id)
    record(session, "list_proposed", actor=actor, user_id=user_id, city_id=rel.city_id,
           release=rel.id)


def _event(session: Session, entry: ListEntry, kind: str, text: str, *, public: bool,
           user_id: int | None) -> None:
    session.add(ListEvent(entry_id=entry.id, kind=kind, text=text, public=public,
                          user_id=user_id))


def entry(session: Session, entry_id: int) -> ListEntry:
    row = session.get(ListEntry, entry_id)
    if row is None:
        raise NotFound(N_("list entry %(id)s: no such entry"), id=entry_id)
    return row


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


_REASON = (N_("reason: write the reason (at least 10 characters)"),
           N_("reason: at most 2,000 characters"))
_NOTICE = (N_("removal notice: write the notice (at least 10 characters)"),
           N_("removal notice: at most 2,000 characters"))


def _reason(text: str, messages: tuple[str, str] = _REASON) -> str:
    text = (text or "").strip()
    if len(text) < 10:
        raise PublicError(messages[0])
    if len(text) > 2000:
        raise PublicError(messages[1])
    return text


def confirm(session: Session, row: ListEntry, *, reason: str, months: int, today: date,
            actor: str, user_id: int | None,
            allowed: tuple[int, ...] = DISPLAY_MONTHS) -> str:
    """Publish a proposed entry; returns the one-time objection token (shown once, to be
    handed to the listed unit; only its sha256 is stored)."""
    if row.status != PROPOSED:
        raise PublicError(N_("list entry %(id)s is %(status)s, not proposed"), id=row.id,
                          status=row.status)
    if months not in allowed:
        raise PublicError(N_("display period: one of %(allowed)s months, not %(months)s"),
                          allowed=", ".join(map(str, allowed)), months=months)
    row.reason = _reason(reason)
    row.status, row.display_months = LISTED, months
    row.confirmed_at, row.confirmed_by = datetime.now(UTC), user_id
    row.listed_until = add_months(today, months)
    token = secrets.token_urlsafe(32)
    row.objection_token_hash = token_digest(token)
    _event(session, row, "confirmed", row.reason, public=True, user_id=user_id)
    record(session, "list_confirmed", actor=actor, user_id=user_id, city_id=row.city_id,
           entry=row.id, kind=row.kind, months=months)
    return token


def decline(session: Session, row: ListEntry, *, reason: str, actor: str,
            user_id: int | None) -> None:
    if row.status != PROPOSED:
        raise PublicError(N_("list entry %(id)s is %(status)s, not proposed"), id=row.id,
                          status=row.status)
    row.status = DECLINED
    _event(session, row, "declined", _reason(reason), public=False, user_id=user_id)
    record(session, "list_declined", actor=actor, user_id=user_id, city_id=row.city_id,
           entry=row.id)


def by_token(session: Session, token: str) -> ListEntry:
    row = session.scalar(select(ListEntry).where(
        ListEntry.objection_token_hash == token_digest(token)))
    if row is None:
        raise NotFound(N_("this objection link is not valid"))
    return row


def object_to(session: Session, token: str, *, text: str, today: date) -> ListEntry:
    """The listed unit's objection (异议), once per link, while the entry is listed."""
    row = by_token(session, token)
    if row.objection_state is not None:
        raise PublicError(N_("an objection was already made through this link"))
    if state(row, today) != LISTED:
        raise PublicError(N_("this entry is no longer listed"))
    body = (text or "").strip()
    if len(body) < 20:
        raise PublicError(N_("objection: explain it (at least 20 characters)"))
    if len(body) > 5000:
        raise PublicError(N_("objection: at most 5,000 characters"))
    row.objection_state = PENDING
    _event(session, row, "objection", body, public=False, user_id=None)
    record(session, "list_objection", actor="listed unit", city_id=row.city_id, entry=row.id)
    return row


def decide(session: Session, row: ListEntry, *, decision: str, reason: str, actor: str,
           user_id: int | None) -> None:
    """Review an objection: ``upheld`` (the entry stands) or ``withdrawn`` (it leaves the
    current list); the reason is public."""
    if row.objection_state != PENDING:
        raise PublicError(N_("list entry %(id)s has no objection awaiting a decision"),
                          id=row.id)
    if decision not in (UPHELD, WITHDRAWN):
        raise PublicError(N_("decision: 'upheld' or 'withdrawn', not %(value)r"), value=decision)
    text = _reason(reason)
    row.objection_state = decision
    if decision == WITHDRAWN:
        row.status, row.ended_at = WITHDRAWN, datetime.now(UTC)
    _event(session, row, "decision", text, public=True, user_id=user_id)
    record(session, "list_decision", actor=actor, user_id=user_id, city_id=row.city_id,
           entry=row.id, decision=decision)


def remove_after_rectification(session: Session, row: ListEntry, *, notice: str, today: date,
                               actor: str, user_id: int | None) -> None:
    """End a black-list entry early after its rectification (整改) was reviewed; the
    removal notice is public."""
    if row.kind != BLACK:
        raise PublicError(N_("only a black-list entry is removed after rectification"))
    if state(row, today) != LISTED:
        raise PublicError(N_("list entry %(id)s is not listed"), id=row.id)
    text = _reason(notice, _NOTICE)
    row.status, row.ended_at = REMOVED, datetime.now(UTC)
    _event(session, row, "removed", text, public=True, user_id=user_id)
    record(session, "list_removed", actor=actor, user_id=user_id, city_id=row.city_id,
           entry=row.id)


def state(row: ListEntry, today: date) -> str:
    """proposed, declined, listed, expired, withdrawn or removed (expiry needs no job: an
    entry past its display period is expired from that day on)."""
    if row.status == LISTED and row.listed_until is not None and today >= row.listed_until:
        return "expired"
    return row.status


PUBLIC_STATES = (LISTED, "expired", WITHDRAWN, REMOVED)


def public_entries(session: Session, today: date, *, current: bool) -> list[ListEntry]:
    """Confirmed entries: the current list (listed now) or the whole history."""
    rows = session.scalars(select(ListEntry).where(
        ListEntry.status.in_((LISTED, WITHDRAWN, REMOVED)))
        .order_by(ListEntry.confirmed_at.desc(), ListEntry.id.desc()))
    return [r for r in rows if (state(r, today) == LISTED) == current or not current]


def proposals(session: Session, city_ids: Sequence[int] | None = None) -> list[ListEntry]:
    stmt = select(ListEntry).order_by(ListEntry.id.desc())
    if city_ids is not None:
        stmt = stmt.where(ListEntry.city_id.in_(city_ids))
    return list(session.scalars(stmt))


def count_releases(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Release)) or 0)
