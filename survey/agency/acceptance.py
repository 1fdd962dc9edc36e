"""Acceptance (采信) of agency batches: the decision rules, an admin's confirmation or
override, the response statuses that follow, restoring, and the agency scorecard.

Rules (docs/agencies.md), applied to the screening of :mod:`survey.agency.screening`:

* **rejected** when the batch has no valid row; or more than
  :data:`REJECT_DUPLICATES` of its rows duplicate another row; or the interviewer check
  found an outlier interviewer (evidence of fabrication); or more than
  :data:`REJECT_FLAGGED` of its stored rows are flagged by any check; or more than
  :data:`REJECT_INVALID` of its data rows were invalid;
* otherwise **conditional** when any check failed or any row was invalid: the unflagged
  rows are accepted, the flagged ones are not;
* otherwise **accepted**.

Nothing changes for the indices until an admin confirms (or overrides, with a written
reason) the decision. Then: accepted/conditional → unflagged rows ``valid``, flagged
rows ``flagged``; rejected → every row ``excluded``. Each row keeps its data and gets a
``status_reason``; an admin may restore a response or a whole batch (audit-logged).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from survey.agency.screening import CheckResult
from survey.core import audit
from survey.core.models import (
    Agency,
    Batch,
    City,
    Decision,
    Response,
    ResponseStatus,
    as_utc,
)

DECISIONS = tuple(Decision)
REJECT_DUPLICATES = 0.05
REJECT_FLAGGED = 0.20
REJECT_INVALID = 0.20
MIN_REASON_LENGTH = 10


class DecisionError(ValueError):
    """A decision or restore request that cannot be applied (the message says why)."""


@dataclass(frozen=True)
class AutoDecision:
    decision: str
    reasons: list[dict[str, Any]]
    flagged_rows: list[int]


def _reason(rule: str, message: str, **figures: Any) -> dict[str, Any]:
    return {"rule": rule, "message": message, **figures}


def auto_decide(checks: Sequence[CheckResult], *, n_rows: int, n_valid: int,
                n_invalid: int) -> AutoDecision:
    """Apply the documented rules to a batch's checks and row counts.

    >>> auto_decide([], n_rows=0, n_valid=0, n_invalid=0).decision
    'rejected'
    """
    by_name = {c.name: c for c in checks}
    flagged = sorted({r for c in checks for r in c.flagged_rows})
    reasons: list[dict[str, Any]] = []
    reject = False
    if n_valid == 0:
        reject = True
        reasons.append(_reason("no_valid_rows", "no valid row was stored"))
    dup = by_name.get("duplicates")
    if dup is not None and dup.figure > REJECT_DUPLICATES:
        reject = True
        reasons.append(_reason("duplicates_over_limit",
                               f"{dup.figure:.1%} of rows duplicate another row "
                               f"(limit {REJECT_DUPLICATES:.0%})",
                               figure=dup.figure, limit=REJECT_DUPLICATES))
    iv = by_name.get("interviewer_effect")
    outliers = list(iv.detail.get("outliers", [])) if iv is not None else []
    if outliers:
        reject = True
        names = ", ".join(o["interviewer"] for o in outliers)
        reasons.append(_reason("outlier_interviewer",
                               f"interviewer(s) {names} answer unlike the others "
                               "(possible fabrication)", interviewers=names))
    share_flagged = len(flagged) / n_valid if n_valid else 0.0
    if share_flagged > REJECT_FLAGGED:
        reject = True
        reasons.append(_reason("flagged_over_limit",
                               f"{share_flagged:.1%} of stored rows are flagged "
                               f"(limit {REJECT_FLAGGED:.0%})",
                               figure=share_flagged, limit=REJECT_FLAGGED))
    share_invalid = n_invalid / n_rows if n_rows else 0.0
    if share_invalid > REJECT_INVALID:
        reject = True
        reasons.append(_reason("invalid_over_limit",
                               f"{share_invalid:.1%} of data rows are invalid "
                               f"(limit {REJECT_INVALID:.0%})",
                               figure=share_invalid, limit=REJECT_INVALID))
    failed = [c for c in checks if not c.passed]
    for c in failed:
        if c.figure > c.threshold:
            message = f"{c.name}: {c.figure:.3g} exceeds {c.threshold:.3g}"
        else:  # failed on its flagged rows (e.g. an outlier interviewer), not its figure
            message = (f"{c.name}: {len(c.flagged_rows)} row(s) flagged "
                       f"(figure {c.figure:.3g} within {c.threshold:.3g})")
        reasons.append(_reason("check_failed", message, check=c.name, figure=c.figure,
                               limit=c.threshold))
    if n_invalid and not reject:
        reasons.append(_reason("invalid_rows", f"{n_invalid} row(s) invalid, not stored",
                               figure=n_invalid))
    if reject:
        decision = Decision.rejected
    elif failed or n_invalid:
        decision = Decision.conditional
    else:
        decision = Decision.accepted
        reasons.append(_reason("all_passed", "every check passed"))
    return AutoDecision(decision, reasons, flagged)


# --------------------------------------------------------------------------- statuses


def _row_checks(batch: Batch) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    for check in batch.report.get("checks", []):
        for row in check.get("flagged_rows", []):
            out[int(row)].append(check["name"])
    return out


def _update(session: Session, ids: Iterable[int], **values: Any) -> None:
    ids = list(ids)
    for start in range(0, len(ids), 1000):
        session.execute(update(Response).where(Response.id.in_(ids[start:start + 1000]))
                        .values(**values).execution_options(synchronize_session=False))


def apply_decision(session: Session, batch: Batch, decision: str) -> dict[str, int]:
    """Set the statuses of the batch's responses for ``decision``; returns counts."""
    row_checks = _row_checks(batch)
    counts = {ResponseStatus.valid.value: 0, ResponseStatus.flagged.value: 0,
              ResponseStatus.excluded.value: 0}
    if decision == Decision.rejected:
        ids = [rid for _row, rid in batch.response_rows]
        _update(session, ids, status=ResponseStatus.excluded.value,
                status_reason=f"batch {batch.id} rejected")
        counts[ResponseStatus.excluded.value] = len(ids)
        return counts
    by_reason: dict[str, list[int]] = defaultdict(list)
    valid: list[int] = []
    for row, rid in batch.response_rows:
        names = row_checks.get(int(row))
        if names:
            by_reason[f"batch {batch.id} row {row}: " + ", ".join(names)].append(rid)
        else:
            valid.append(rid)
    _update(session, valid, status=ResponseStatus.valid.value, status_reason=None)
    for reason, ids in by_reason.items():
        _update(session, ids, status=ResponseStatus.flagged.value, status_reason=reason)
        counts[ResponseStatus.flagged.value] += len(ids)
    counts[ResponseStatus.valid.value] = len(valid)
    return counts


def decide(session: Session, batch: Batch, decision: str, reason: str, *,
           user_id: int | None, actor: str) -> dict[str, int]:
    """An admin's decision on a batch: confirm the automatic one (reason optional) or
    override it (a written reason of at least ``MIN_REASON_LENGTH`` characters required).
    Audit-logged; commits."""
    reason = (reason or "").strip()
    if decision not in DECISIONS:
        raise DecisionError(f"decision: must be one of {', '.join(DECISIONS)}")
    override = decision != batch.auto_decision
    if override and len(reason) < MIN_REASON_LENGTH:
        raise DecisionError(f"reason: overriding the automatic decision needs a written "
                            f"reason of at least {MIN_REASON_LENGTH} characters")
    counts = apply_decision(session, batch, decision)
    previous = batch.final_decision
    batch.final_decision = decision
    batch.decided_by = user_id
    batch.decided_at = datetime.now(UTC)
    batch.override_reason = reason or None
    audit.record(session, "agency_batch_decided", city_id=batch.city_id, actor=actor,
                 user_id=user_id, batch_id=batch.id, decision=decision,
                 auto_decision=batch.auto_decision, previous=previous, override=override,
                 reason=reason, statuses=counts)
    session.commit()
    return counts


def restore_response(session: Session, response: Response, reason: str, *,
                     user_id: int | None, actor: str) -> None:
    """Put a flagged or excluded response back into the indices (``valid``); commits."""
    reason = (reason or "").strip()
    if response.status not in (ResponseStatus.flagged, ResponseStatus.excluded):
        raise DecisionError(f"status: response {response.id} is {response.status}; only "
                            "flagged or excluded responses can be restored")
    if len(reason) < MIN_REASON_LENGTH:
        raise DecisionError(f"reason: restoring needs a written reason of at least "
                            f"{MIN_REASON_LENGTH} characters")
    before, before_reason = response.status, response.status_reason
    response.status = ResponseStatus.valid.value
    response.status_reason = f"restored: {reason}"
    audit.record(session, "response_restored", city_id=response.city_id, actor=actor,
                 user_id=user_id, response_id=response.id, batch_id=response.batch_id,
                 previous=before, previous_reason=before_reason, reason=reason)
    session.commit()


def restore_batch(session: Session, batch: Batch, reason: str, *, user_id: int | None,
                  actor: str) -> int:
    """Every flagged or excluded response of a decided batch back to ``valid``;
    returns how many. Audit-logged; commits."""
    reason = (reason or "").strip()
    if batch.final_decision is None:
        raise DecisionError("batch: not decided yet; its rows are still pending")
    if len(reason) < MIN_REASON_LENGTH:
        raise DecisionError(f"reason: restoring needs a written reason of at least "
                            f"{MIN_REASON_LENGTH} characters")
    ids = list(session.scalars(select(Response.id).where(
        Response.batch_id == batch.id,
        Response.status.in_([ResponseStatus.flagged.value, ResponseStatus.excluded.value]))))
    _update(session, ids, status=ResponseStatus.valid.value,
            status_reason=f"restored with batch {batch.id}: {reason}")
    audit.record(session, "agency_batch_restored", city_id=batch.city_id, actor=actor,
                 user_id=user_id, batch_id=batch.id, restored=len(ids), reason=reason)
    session.commit()
    return len(ids)


# --------------------------------------------------------------------------- reports


def status_counts(session: Session, batch_id: int) -> dict[str, int]:
    rows = session.execute(select(Response.status, func.count()).where(
        Response.batch_id == batch_id).group_by(Response.status)).all()
    return {status: int(n) for status, n in rows}


def report(session: Session, batch: Batch) -> dict[str, Any]:
    """The acceptance report as JSON: ``batch``, ``decision``, ``checks``, ``row_errors``.

    ``flagged_rows`` and ``row_errors[].row`` are 1-based data row numbers (the header
    is not counted).
    """
    agency = session.get(Agency, batch.agency_id)
    city = session.get(City, batch.city_id)
    checks = [{k: c[k] for k in ("name", "figure", "threshold", "flagged_rows", "passed",
                                 "detail")}
              for c in batch.report.get("checks", [])]
    return {
        "batch": {
            "id": batch.id, "agency": agency.code if agency else None,
            "city": city.code if city else None, "wave": batch.wave,
            "filename": batch.filename, "sha256": batch.sha256,
            "uploaded_at": as_utc(batch.uploaded_at).isoformat() if batch.uploaded_at else None,
            "n_rows": batch.n_rows, "n_valid": batch.n_valid, "n_invalid": batch.n_invalid,
            "n_skipped": batch.n_skipped,
            "row_numbering": "1-based data rows; the header row is not counted",
            "statuses": status_counts(session, batch.id),
        },
        "decision": {
            "auto": batch.auto_decision, "final": batch.final_decision,
            "reasons": batch.decision_reasons,
            "flagged_rows": batch.report.get("flagged_rows", []),
            "decided_at": as_utc(batch.decided_at).isoformat() if batch.decided_at else None,
            "override_reason": batch.override_reason,
        },
        "checks": checks,
        "row_errors": batch.row_errors,
    }


def scorecard(session: Session, agency: Agency) -> dict[str, Any]:
    """An agency's record across batches: rows, decisions, acceptance rates and each
    check's failures per wave.

    ``acceptance_rate`` = decided batches accepted or conditional / decided batches;
    ``row_acceptance_rate`` = rows now ``valid`` / rows stored in decided batches.
    """
    batches = list(session.scalars(select(Batch).where(Batch.agency_id == agency.id)
                                   .order_by(Batch.uploaded_at, Batch.id)))
    statuses: defaultdict[tuple[str, bool], int] = defaultdict(int)
    for status, is_decided, n in session.execute(
            select(Response.status, Batch.final_decision.is_not(None), func.count())
            .join(Batch, Batch.id == Response.batch_id)
            .where(Batch.agency_id == agency.id)
            .group_by(Response.status, Batch.final_decision.is_not(None))):
        statuses[(status, bool(is_decided))] += int(n)
    decided = [b for b in batches if b.final_decision is not None]
    rows_decided = sum(n for (s, d), n in statuses.items() if d)
    waves: dict[str, dict[str, Any]] = {}
    for b in batches:
        w = waves.setdefault(b.wave or "", {"wave": b.wave, "batches": 0, "rows": 0,
                                            "invalid_rows": 0, "decisions": {},
                                            "failed_checks": {}})
        w["batches"] += 1
        w["rows"] += b.n_rows
        w["invalid_rows"] += b.n_invalid
        key = b.final_decision or "pending"
        w["decisions"][key] = w["decisions"].get(key, 0) + 1
        for c in b.report.get("checks", []):
            w["failed_checks"].setdefault(c["name"], 0)
            if not c.get("passed", True):
                w["failed_checks"][c["name"]] += 1
    return {
        "agency": {"code": agency.code, "name": agency.name,
                   "accreditation_no": agency.accreditation_no},
        "batches": len(batches),
        "decided_batches": len(decided),
        "rows": sum(b.n_rows for b in batches),
        "stored_rows": sum(b.n_valid for b in batches),
        "invalid_rows": sum(b.n_invalid for b in batches),
        "decisions": {d: sum(1 for b in decided if b.final_decision == d) for d in DECISIONS},
        "acceptance_rate": (sum(1 for b in decided if b.final_decision != Decision.rejected)
                            / len(decided)) if decided else None,
        "row_acceptance_rate": (statuses[(ResponseStatus.valid.value, True)] / rows_decided)
        if rows_decided else None,
        "by_wave": [waves[k] for k in sorted(waves)],
        "history": [{"id": b.id, "wave": b.wave, "uploaded_at": as_utc(b.uploaded_at).isoformat(),
                     "rows": b.n_rows, "auto": b.auto_decision, "final": b.final_decision,
                     "failed": [c["name"] for c in b.report.get("checks", [])
                                if not c.get("passed", True)]}
                    for b in batches],
    }


def flagged_by_check(batch: Batch) -> Mapping[str, int]:
    """How many rows each check flagged."""
    return {c["name"]: len(c.get("flagged_rows", [])) for c in batch.report.get("checks", [])}
