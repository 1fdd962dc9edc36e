"""The deadlines of a complaint (docs/complaints.md; 旅游投诉处理办法):

* ``accept``: accepted, rejected or transferred within **5 working days** after the local
  date (China Standard Time) of ``stage_started_at`` — reception, or the transfer to the
  current city (the clock restarts there); working days from :mod:`.workdays`;
* ``reply``: the responsible unit's reply recorded within **10 calendar days** after the
  local date of ``accepted_at``;
* ``mediation``: the mediation result (or the closure) within **60 calendar days** after
  the local date of ``accepted_at``.

A deadline is met when its step happened on or before the due date (local time, the whole
due day counts). ``reply`` and ``mediation`` exist once the case is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from survey.complaints.workdays import add_working_days
from survey.core.i18n import N_
from survey.core.models import Complaint, ComplaintStatus, as_utc

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
"""China Standard Time (Asia/Shanghai has had no daylight saving time since 1991)."""

ACCEPT_WORKING_DAYS = 5
REPLY_DAYS = 10
MEDIATION_DAYS = 60

STAGES = {
    "accept": N_("Acceptance"),
    "reply": N_("Reply of the responsible unit"),
    "mediation": N_("Mediation"),
    "closing": N_("Closing"),
}
"""Stage names (:func:`stage`) → English msgids, for pages (``_()``) and commands."""


@dataclass(frozen=True)
class Deadline:
    """One deadline of a complaint.

    ``met``: ``True`` when the step was done on or before ``due``, ``False`` when done
    late or still not done after ``due``, ``None`` while it is still open and not due.
    ``overdue_days``: calendar days after ``due`` (until the step, or until today), else 0.
    ``provisional``: ``due`` counts working days in a year the holiday calendar does not
    cover yet (Monday–Friday assumed).
    """

    name: str
    due: date
    done_at: datetime | None
    met: bool | None
    overdue_days: int
    provisional: bool = False

    @property
    def overdue(self) -> bool:
        """Passed without its step."""
        return self.done_at is None and self.overdue_days > 0


def local_date(moment: datetime) -> date:
    """The date of ``moment`` in China (stored timestamps are UTC, naive from SQLite)."""
    return as_utc(moment).astimezone(CHINA_TZ).date()


def local_today(now: datetime | None = None) -> date:
    return local_date(now or datetime.now(UTC))


def _deadline(name: str, due: date, done_at: datetime | None, today: date,
              provisional: bool = False) -> Deadline:
    if done_at is not None:
        late = (local_date(done_at) - due).days
        return Deadline(name, due, done_at, late <= 0, max(late, 0), provisional)
    late = (today - due).days
    return Deadline(name, due, None, False if late > 0 else None, max(late, 0), provisional)


def deadlines(complaint: Complaint, today: date | None = None) -> list[Deadline]:
    """The deadlines of ``complaint`` as of ``today`` (default: today in China), in order."""
    today = today or local_today()
    accept_due, provisional = add_working_days(local_date(complaint.stage_started_at),
                                               ACCEPT_WORKING_DAYS)
    decided = complaint.accepted_at
    if complaint.status == ComplaintStatus.rejected:
        decided = complaint.closed_at
    out = [_deadline("accept", accept_due, decided, today, provisional)]
    if complaint.accepted_at is not None:
        start = local_date(complaint.accepted_at)
        out.append(_deadline("reply", start + timedelta(days=REPLY_DAYS),
                             complaint.replied_at, today))
        out.append(_deadline("mediation", start + timedelta(days=MEDIATION_DAYS),
                             complaint.mediated_at or complaint.closed_at, today))
    return out


def stage(complaint: Complaint) -> str | None:
    """The step the case waits for: ``accept`` (received), ``reply`` (accepted),
    ``mediation`` (replied), ``closing`` (mediated), ``None`` when closed or rejected."""
    return {
        ComplaintStatus.received: "accept",
        ComplaintStatus.accepted: "reply",
        ComplaintStatus.replied: "mediation",
        ComplaintStatus.mediated: "closing",
    }.get(ComplaintStatus(complaint.status))


def current_deadline(complaint: Complaint, today: date | None = None) -> Deadline | None:
    """The deadline of the current stage (``None`` when the stage has none: closing, or
    the case is finished)."""
    name = stage(complaint)
    return next((d for d in deadlines(complaint, today) if d.name == name), None)


def overdue_deadlines(complaint: Complaint, today: date | None = None) -> list[Deadline]:
    """The deadlines that passed without their step (none for a finished case)."""
    if stage(complaint) is None:
        return []
    return [d for d in deadlines(complaint, today) if d.overdue]


def is_overdue(complaint: Complaint, today: date | None = None) -> bool:
    """A deadline of the open case passed without its step."""
    return bool(overdue_deadlines(complaint, today))
