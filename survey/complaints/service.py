"""The complaint workflow (docs/complaints.md). Every step validates the transition,
writes a public :class:`~survey.core.models.ComplaintEvent` and an audit row (never the
phone number or the description), and commits.

::

    received ─┬─ accept ──→ accepted ── record_reply ──→ replied ─┬─ record_mediation → mediated ─┐
              ├─ reject ──→ rejected (closed, with its reason)    └─ close ──────────────────────┤
              └─ transfer → received (another city owns it;           closed ←── close ─────────┘
                            the acceptance clock restarts)

Steps are taken by a staff ``user`` (:class:`~survey.core.models.User`; ``None`` for a
command, audited as ``cli``). Which city a user may act for is the adapters' check
(``survey.core.security.require_city``), as everywhere.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.complaints import crypto
from survey.complaints.categories import CATEGORIES
from survey.complaints.deadlines import (
    Deadline,
    deadlines,
    is_overdue,
    local_date,
    local_today,
    overdue_deadlines,
    stage,
)
from survey.complaints.errors import ComplaintError, ComplaintKeyError
from survey.core import audit
from survey.core.i18n import N_
from survey.core.models import (
    City,
    Complaint,
    ComplaintEvent,
    ComplaintStatus,
    Site,
    User,
    as_utc,
    utcnow,
)

__all__ = [
    "CHANNELS", "TRACKING_ALPHABET", "TRACKING_LENGTH", "TRANSFERRED", "PHONE_RETENTION_DAYS",
    "ComplaintError", "ComplaintKeyError", "Deadline", "accept", "by_tracking_code", "close",
    "create", "deadlines", "erase_expired_phones", "escalate_overdue", "is_overdue",
    "masked_phone", "next_steps", "rate", "record_mediation", "record_reply", "reject",
    "reveal_phone", "stage", "transfer",
]

CHANNELS = ("web", "api", "hotline")
TRACKING_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""No 0/O, 1/I/L: read aloud or typed from a slip of paper without ambiguity."""
TRACKING_LENGTH = 12  # 31**12 ≈ 7.9e17 codes (59 bits)
TRANSFERRED = "transferred"
"""``ComplaintEvent.status`` of a transfer (an event, not a resting state)."""
PHONE_RETENTION_DAYS = 180
MAX_DESCRIPTION = 5000
MAX_NOTE = 2000
CLOCK_SKEW = timedelta(minutes=5)

S = ComplaintStatus
_NEXT: dict[ComplaintStatus, tuple[str, ...]] = {
    S.received: ("accept", "reject", "transfer"),
    S.accepted: ("record_reply",),
    S.replied: ("record_mediation", "close"),
    S.mediated: ("close",),
    S.rejected: (),
    S.closed: (),
}


def next_steps(complaint: Complaint) -> tuple[str, ...]:
    """The service functions that may be applied to ``complaint`` now."""
    return _NEXT[ComplaintStatus(complaint.status)]


def _check_step(complaint: Complaint, step: str) -> None:
    if step not in next_steps(complaint):
        raise ComplaintError("status", N_("A %(status)s complaint cannot take the step "
                                          "'%(step)s'."), status=complaint.status, step=step)


def _text(field: str, value: str | None, limit: int, *, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        raise ComplaintError(field, N_("This field is required."))
    if len(text) > limit:
        raise ComplaintError(field, N_("At most %(limit)s characters."), limit=limit)
    if "\x00" in text:
        raise ComplaintError(field, N_("Contains a NUL character."))
    return text


def _actor(user: User | None) -> tuple[str, int | None]:
    return (user.email, user.id) if user is not None else ("cli", None)


def _step(session: Session, complaint: Complaint, status: str, *, user: User | None,
          note: str, action: str, now: datetime, **detail: object) -> None:
    """Event + audit row + commit."""
    actor, user_id = _actor(user)
    session.add(ComplaintEvent(complaint=complaint, at=now, status=status, note=note,
                               city_id=complaint.city_id, user_id=user_id))
    audit.record(session, action, actor=actor, user_id=user_id, city_id=complaint.city_id,
                 complaint=complaint.id, **detail)
    session.commit()


def new_tracking_code(session: Session) -> str:
    """An unused tracking code: :data:`TRACKING_LENGTH` characters of
    :data:`TRACKING_ALPHABET` from :mod:`secrets`."""
    while True:
        code = "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(TRACKING_LENGTH))
        if session.scalar(select(Complaint.id).where(Complaint.tracking_code == code)) is None:
            return code


def build(session: Session, *, site: Site, category: str, description: str,
          occurred_on: date | None, phone: str | None, channel: str,
          source: str | None = None, external_id: str | None = None,
          received_at: datetime | None = None, actor: str,
          now: datetime | None = None) -> Complaint:
    """:func:`create` without the commit (the caller commits: a file import commits all
    its rows at once). Validates everything before adding anything to ``session``."""
    now = now or utcnow()
    if not isinstance(site, Site):
        raise ComplaintError("site", N_("Unknown site."))
    if category not in CATEGORIES:
        raise ComplaintError("category", N_("Unknown category '%(value)s'."), value=category)
    text = _text("description", description, MAX_DESCRIPTION, required=True)
    if channel not in CHANNELS:
        raise ComplaintError("channel", N_("Unknown channel '%(value)s'."), value=channel)
    if received_at is None:
        received_at = now
    elif received_at.tzinfo is None:
        raise ComplaintError("received_at", N_("A time needs its time zone."))
    elif received_at > now + CLOCK_SKEW:
        raise ComplaintError("received_at", N_("This time is in the future."))
    received_at = received_at.astimezone(UTC)  # stored in UTC (SQLite drops the zone)
    if occurred_on is not None and occurred_on > local_date(received_at):
        raise ComplaintError("occurred_on", N_("The date is after the complaint was "
                                               "received."))
    source = (source or "").strip() or None
    external_id = (external_id or "").strip() or None
    if (source is None) != (external_id is None):
        raise ComplaintError("external_id" if source else "source",
                             N_("Source and external id go together."))
    if source is not None and external_id is not None:
        _text("source", source, 32, required=True)
        _text("external_id", external_id, 64, required=True)
        if session.scalar(select(Complaint.id).where(Complaint.source == source,
                                                     Complaint.external_id == external_id)):
            raise ComplaintError("external_id", N_("This complaint was imported before."))
    ciphertext = None
    if phone is not None and phone.strip():
        ciphertext = crypto.encrypt(crypto.normalise_phone(phone))
    complaint = Complaint(
        tracking_code=new_tracking_code(session), city_id=site.city_id, site_id=site.id,
        category=category, description=text, occurred_on=occurred_on, channel=channel,
        source=source, external_id=external_id, status=S.received.value,
        received_at=received_at, stage_started_at=received_at, phone_ciphertext=ciphertext)
    session.add(complaint)
    session.flush()
    session.add(ComplaintEvent(complaint=complaint, at=received_at, status=S.received.value,
                               note="", city_id=complaint.city_id, user_id=None))
    audit.record(session, "complaint_created", actor=actor, city_id=complaint.city_id,
                 complaint=complaint.id, site=site.code, category=category, channel=channel,
                 source=source, with_phone=ciphertext is not None)
    return complaint


def create(session: Session, *, site: Site, category: str, description: str,
           occurred_on: date | None, phone: str | None, channel: str,
           source: str | None = None, external_id: str | None = None,
           received_at: datetime | None = None, actor: str) -> Complaint:
    """A new complaint about ``site``, owned by the site's city, status ``received``; the
    acceptance clock starts at ``received_at`` (default now; aware datetime). ``phone``
    (optional) is validated and stored encrypted only."""
    complaint = build(session, site=site, category=category, description=description,
                      occurred_on=occurred_on, phone=phone, channel=channel, source=source,
                      external_id=external_id, received_at=received_at, actor=actor)
    session.commit()
    return complaint


def accept(session: Session, complaint: Complaint, *, user: User | None,
           note: str = "") -> None:
    """Accept (受理) a received complaint: the reply and mediation clocks start."""
    _check_step(complaint, "accept")
    note = _text("note", note, MAX_NOTE, required=False)
    now = utcnow()
    complaint.status, complaint.accepted_at = S.accepted.value, now
    _step(session, complaint, S.accepted.value, user=user, note=note,
          action="complaint_accepted", now=now)


def reject(session: Session, complaint: Complaint, *, user: User | None, reason: str) -> None:
    """Reject (不予受理) a received complaint with its (public) reason: the case is closed."""
    _check_step(complaint, "reject")
    reason = _text("reason", reason, MAX_NOTE, required=True)
    now = utcnow()
    complaint.status, complaint.reject_reason, complaint.closed_at = S.rejected.value, reason, now
    _step(session, complaint, S.rejected.value, user=user, note=reason,
          action="complaint_rejected", now=now)


def transfer(session: Session, complaint: Complaint, *, user: User | None, to_city: City,
             note: str = "") -> None:
    """Hand a received complaint to ``to_city`` (another city), which owns it from now on:
    still ``received``, its acceptance clock restarted, not escalated."""
    _check_step(complaint, "transfer")
    if not isinstance(to_city, City) or to_city.id is None:
        raise ComplaintError("to_city", N_("Unknown city."))
    if to_city.id == complaint.city_id:
        raise ComplaintError("to_city", N_("A complaint is transferred to another city."))
    note = _text("note", note, MAX_NOTE, required=False)
    now = utcnow()
    from_city = complaint.city_id
    complaint.city_id, complaint.stage_started_at, complaint.escalated_at = to_city.id, now, None
    _step(session, complaint, TRANSFERRED, user=user, note=note,
          action="complaint_transferred", now=now, from_city=from_city, to_city=to_city.id)


def record_reply(session: Session, complaint: Complaint, *, user: User | None,
                 note: str) -> None:
    """Record the responsible unit's reply (public summary in ``note``)."""
    _check_step(complaint, "record_reply")
    note = _text("note", note, MAX_NOTE, required=True)
    now = utcnow()
    complaint.status, complaint.replied_at = S.replied.value, now
    _step(session, complaint, S.replied.value, user=user, note=note,
          action="complaint_replied", now=now)


def record_mediation(session: Session, complaint: Complaint, *, user: User | None,
                     note: str) -> None:
    """Record the mediation result (public summary in ``note``)."""
    _check_step(complaint, "record_mediation")
    note = _text("note", note, MAX_NOTE, required=True)
    now = utcnow()
    complaint.status, complaint.mediated_at = S.mediated.value, now
    _step(session, complaint, S.mediated.value, user=user, note=note,
          action="complaint_mediated", now=now)


def close(session: Session, complaint: Complaint, *, user: User | None, outcome: str) -> None:
    """Close a replied or mediated complaint with its (public) outcome."""
    _check_step(complaint, "close")
    outcome = _text("outcome", outcome, MAX_NOTE, required=True)
    now = utcnow()
    complaint.status, complaint.outcome, complaint.closed_at = S.closed.value, outcome, now
    _step(session, complaint, S.closed.value, user=user, note=outcome,
          action="complaint_closed", now=now)


def rate(session: Session, complaint: Complaint, rating: int) -> None:
    """The complainant's rating of the handling, 1–5, once, after closure (closed or
    rejected). Audited (actor ``complainant``); no history event."""
    if complaint.closed_at is None:
        raise ComplaintError("rating", N_("A complaint can be rated once it is closed."))
    if complaint.rating is not None:
        raise ComplaintError("rating", N_("This complaint has been rated already."))
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ComplaintError("rating", N_("The rating is a whole number from 1 to 5."))
    complaint.rating, complaint.rated_at = rating, utcnow()
    audit.record(session, "complaint_rated", actor="complainant", city_id=complaint.city_id,
                 complaint=complaint.id, rating=rating)
    session.commit()


def reveal_phone(session: Session, complaint: Complaint, *, user: User | None) -> str | None:
    """The phone number in clear, for the handler to call back; the reading is audited
    (who, which complaint — never the number). ``None`` when there is none (or erased)."""
    if complaint.phone_ciphertext is None:
        return None
    number = crypto.decrypt(complaint.phone_ciphertext)
    actor, user_id = _actor(user)
    audit.record(session, "complaint_phone_revealed", actor=actor, user_id=user_id,
                 city_id=complaint.city_id, complaint=complaint.id)
    session.commit()
    return number


def masked_phone(complaint: Complaint) -> str | None:
    """The phone number masked (``138****5678``), ``None`` when there is none."""
    if complaint.phone_ciphertext is None:
        return None
    return crypto.mask(crypto.decrypt(complaint.phone_ciphertext))


def by_tracking_code(session: Session, code: str) -> Complaint | None:
    """The complaint of a tracking code (case, spaces and ``-`` ignored), else ``None``."""
    wanted = "".join(str(code or "").split()).replace("-", "").upper()
    if len(wanted) != TRACKING_LENGTH or any(c not in TRACKING_ALPHABET for c in wanted):
        return None
    return session.scalar(select(Complaint).where(Complaint.tracking_code == wanted))


def open_complaints(session: Session, city_id: int | None = None) -> list[Complaint]:
    """Complaints not closed or rejected (of one city), oldest first."""
    query = select(Complaint).where(Complaint.status.not_in([S.closed.value,
                                                             S.rejected.value]))
    if city_id is not None:
        query = query.where(Complaint.city_id == city_id)
    return list(session.scalars(query.order_by(Complaint.received_at, Complaint.id)))


def escalate_overdue(session: Session, now: datetime | None = None) -> list[Complaint]:
    """Mark every open complaint with a deadline passed without its step as escalated
    (``escalated_at``), once per overdue deadline: a case escalated before that deadline
    was due is escalated again. Returns the cases escalated now (for admins); each is
    audited (no history event: escalation is internal)."""
    now = (now or utcnow()).astimezone(UTC)
    today = local_today(now)
    escalated = []
    for complaint in open_complaints(session):
        late = overdue_deadlines(complaint, today)
        if not late:
            continue
        if complaint.escalated_at is not None and all(
                local_date(complaint.escalated_at) > d.due for d in late):
            continue
        complaint.escalated_at = now
        audit.record(session, "complaint_escalated", actor="system", city_id=complaint.city_id,
                     complaint=complaint.id, deadlines=[d.name for d in late],
                     overdue_days=max(d.overdue_days for d in late))
        escalated.append(complaint)
    session.commit()
    return escalated


def erase_expired_phones(session: Session, now: datetime | None = None) -> int:
    """Erase the phone number of every complaint closed (or rejected) at least
    :data:`PHONE_RETENTION_DAYS` days before ``now``; returns how many. One audit row."""
    now = (now or utcnow()).astimezone(UTC)
    limit = now - timedelta(days=PHONE_RETENTION_DAYS)
    rows = list(session.scalars(select(Complaint).where(
        Complaint.phone_ciphertext.is_not(None), Complaint.closed_at.is_not(None))))
    expired = [c for c in rows if c.closed_at is not None and as_utc(c.closed_at) <= limit]
    for complaint in expired:
        complaint.phone_ciphertext, complaint.phone_erased_at = None, now
    if expired:
        audit.record(session, "complaint_phones_erased", actor="system", count=len(expired),
                     complaints=[c.id for c in expired])
    session.commit()
    return len(expired)

