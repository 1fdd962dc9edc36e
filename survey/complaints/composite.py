"""Tourist satisfaction composite (游客满意度综合指数, after the China Tourism Academy's
method: on-site survey, online reviews, complaints), for a tourism site or a city and a
wave (docs/complaints.md, "Figures"):

* on-site survey index S — the dashboard's overall index of the tourism questionnaire
  (0–100; given by the caller: the dashboard computes it);
* online-review index O = mean over the wave's :class:`OnlineReview` rows of
  100 × rating / max_rating (reviewed_on in the wave, China Standard Time);
* complaint index C = 100 × p × max(0, 1 − r / ``COMPLAINT_RATE_CEILING``), r = complaints
  per 1,000 valid tourism responses, p = the share of deadlines handled on time (every
  deadline pooled, :attr:`Figures.on_time_overall`); with no complaint at all in the wave,
  p = 1 (nothing was late);
* composite = w_S·S + w_O·O + w_C·C with the ``SATISFACTION_WEIGHT_*`` settings (summing
  to 1).

A component that cannot be computed carries its reason (:data:`REASONS`), and the composite
is then not computed — never re-weighted over the components that remain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.complaints.figures import Figures
from survey.core.models import OnlineReview
from survey.core.waves import wave_bounds

ONSITE, REVIEWS, COMPLAINTS = "onsite", "reviews", "complaints"
COMPONENTS = (ONSITE, REVIEWS, COMPLAINTS)

# Reason codes of a missing component (the dashboard translates them).
ONSITE_NO_RESPONSES = "onsite_no_responses"
ONSITE_SUPPRESSED = "onsite_suppressed"
NO_REVIEWS = "no_reviews"
NO_RESPONSES = "no_responses"
NO_DEADLINE_DUE = "no_deadline_due"
REASONS = (ONSITE_NO_RESPONSES, ONSITE_SUPPRESSED, NO_REVIEWS, NO_RESPONSES, NO_DEADLINE_DUE)


@dataclass(frozen=True)
class Weights:
    onsite: float
    reviews: float
    complaints: float
    rate_ceiling: float

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> Weights:
        def number(key: str) -> float:
            value = config[key]
            assert isinstance(value, int | float)
            return float(value)

        return cls(number("SATISFACTION_WEIGHT_ONSITE"), number("SATISFACTION_WEIGHT_REVIEWS"),
                   number("SATISFACTION_WEIGHT_COMPLAINTS"), number("COMPLAINT_RATE_CEILING"))

    def of(self, component: str) -> float:
        return float(getattr(self, component))


@dataclass(frozen=True)
class Component:
    """One component (0–100), or None with the reason code; ``n`` = what it rests on
    (respondents, reviews, complaints)."""

    value: float | None
    n: int
    reason: str | None = None


@dataclass(frozen=True)
class Composite:
    parts: dict[str, Component]
    value: float | None

    @property
    def missing(self) -> list[str]:
        """The components that could not be computed (then ``value`` is None)."""
        return [k for k in COMPONENTS if self.parts[k].value is None]


def onsite(index: float | None, n: int, suppressed: bool) -> Component:
    """The on-site survey component from the dashboard's index cell."""
    if index is not None:
        return Component(index, n)
    return Component(None, n, ONSITE_SUPPRESSED if suppressed and n else ONSITE_NO_RESPONSES)


def complaint_index(figures: Figures | None, rate_ceiling: float) -> Component:
    """C = 100 × p × max(0, 1 − r / ceiling) (module docstring)."""
    if figures is None or figures.per_1000_responses is None:
        return Component(None, figures.complaints if figures else 0, NO_RESPONSES)
    share = figures.on_time_overall.value
    if figures.complaints == 0:
        share = 1.0
    if share is None:
        return Component(None, figures.complaints, NO_DEADLINE_DUE)
    rate = figures.per_1000_responses
    return Component(100.0 * share * max(0.0, 1.0 - rate / rate_ceiling), figures.complaints)


def review_sums(session: Session, site_ids: Sequence[int],
                wave: str) -> dict[int, tuple[int, float]]:
    """Per site: (reviews in the wave, Σ 100 × rating / max_rating)."""
    if not site_ids:
        return {}
    start, end = wave_bounds(wave)
    rows = session.execute(
        select(OnlineReview.site_id, func.count(),
               func.sum(100.0 * OnlineReview.rating / OnlineReview.max_rating))
        .where(OnlineReview.site_id.in_(site_ids), OnlineReview.reviewed_on >= start.date(),
               OnlineReview.reviewed_on < end.date())
        .group_by(OnlineReview.site_id)).all()
    return {int(s): (int(n), float(total)) for s, n, total in rows}


def review_index(sums: Mapping[int, tuple[int, float]], site_ids: Sequence[int]) -> Component:
    """O over the reviews of ``site_ids`` (one site, or every site of a city)."""
    n = sum(sums[s][0] for s in site_ids if s in sums)
    if not n:
        return Component(None, 0, NO_REVIEWS)
    return Component(sum(sums[s][1] for s in site_ids if s in sums) / n, n)


def compose(parts: Mapping[str, Component], weights: Weights) -> Composite:
    """Σ w·component, or None when any component is missing (never re-weighted)."""
    full = {k: parts[k] for k in COMPONENTS}
    if any(p.value is None for p in full.values()):
        return Composite(full, None)
    value = sum(weights.of(k) * float(full[k].value or 0.0) for k in COMPONENTS)
    return Composite(full, value)
