"""Scoring rules (考核评分细则) as a YAML file: pydantic schema, loading, one-line errors.

A rule file lists weighted components, each with its scoring function (docs/evaluation.md).
Errors name the file, the path inside it and the reason, like questionnaire files::

    evaluation/zhejiang_2026.yaml: components[1].scoring.high: must differ from 'low'

Points of a component = ``weight`` × its score, a score being a number in [0, 1] from the
component's scoring function; the weights add up to ``total_points``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from survey.config import PACKAGE_DIR, REPO_ROOT
from survey.core.questionnaires.loader import (
    FileError,
    first_error,
    format_loc,
    safe_load_yaml,
)


def _rules_dir() -> Path:
    shipped = PACKAGE_DIR / "_data" / "evaluation"
    return shipped if shipped.is_dir() else REPO_ROOT / "evaluation"


RULES_DIR = _rules_dir()
"""``evaluation/`` at the repository root (``survey/_data/evaluation`` in a wheel)."""

IDENTIFIER = r"^[a-z][a-z0-9_]*$"


class RuleError(FileError):
    """A rule file is invalid: ``str(error)`` = ``<file>: <path>: <reason>`` (one line)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- scoring functions

class Linear(_Model):
    """Score = (x − low) / (high − low), clipped to [0, 1]. ``low`` > ``high`` scores a
    quantity where less is better (e.g. the share of flagged responses)."""

    type: Literal["linear"]
    low: float
    high: float

    @model_validator(mode="after")
    def _distinct(self) -> Linear:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("low and high must be finite numbers")
        if self.low == self.high:
            raise ValueError(f"high must differ from low (both {self.low:g})")
        return self


class Step(_Model):
    at: float
    score: float = Field(ge=0, le=1)


class Breakpoints(_Model):
    """Score = ``score`` of the last step whose ``at`` ≤ x; ``below`` under the first step
    (e.g. ≥ 90 → 1, ≥ 85 → 0.8 …, the usual form of a 评分细则)."""

    type: Literal["breakpoints"]
    steps: list[Step] = Field(min_length=1)
    below: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _increasing(self) -> Breakpoints:
        ats = [s.at for s in self.steps]
        for i in range(1, len(ats)):
            if not ats[i] > ats[i - 1]:
                raise ValueError(f"steps must be in increasing order of 'at' "
                                 f"(step {i} at {ats[i]:g} after {ats[i - 1]:g})")
        return self


Scoring = Annotated[Linear | Breakpoints, Field(discriminator="type")]

FRACTION = Linear(type="linear", low=0.0, high=1.0)


class Part(_Model):
    """One part of a composite component: its ``share`` of the component, its scoring
    function, and the score given when the figure cannot be computed (``missing_score``)."""

    share: float = Field(gt=0, le=1)
    scoring: Scoring = FRACTION
    missing_score: float = Field(default=0.0, ge=0, le=1)


class _Component(_Model):
    name: str = Field(pattern=IDENTIFIER)
    title: dict[Literal["zh-Hans", "en"], str] | None = None
    weight: float = Field(gt=0)


class SatisfactionLevel(_Component):
    """The city's satisfaction estimate of the period (``measure``: overall index 0–100 or
    satisfaction rate in %), scored by ``scoring``."""

    kind: Literal["satisfaction_level"]
    measure: Literal["index", "rate"] = "index"
    scoring: Scoring


class Improvement(_Component):
    """Change of the estimate since the previous period (in index points or percentage
    points), scored only when it is positive and significant (two-sided t test at
    ``significance``); otherwise 0."""

    kind: Literal["improvement"]
    measure: Literal["index", "rate"] = "index"
    significance: float = Field(default=0.05, gt=0, lt=1)
    scoring: Scoring


class ComplaintHandling(_Component):
    """Complaints of the period: share of deadlines met (``on_time``) and the mean
    handling rating 1–5 (``rating``)."""

    kind: Literal["complaint_handling"]
    on_time: Part
    rating: Part

    @model_validator(mode="after")
    def _shares(self) -> ComplaintHandling:
        _check_shares({"on_time": self.on_time, "rating": self.rating})
        return self


class Quota(_Model):
    """Valid responses required per district and wave; ``districts`` overrides by district
    code (0 = no quota there)."""

    default: int = Field(ge=0)
    districts: dict[str, Annotated[int, Field(ge=0)]] = {}


class SurveyCoverage(_Component):
    """Mean over questionnaire × district × wave cells with a quota of
    min(valid responses / quota, 1), scored by ``scoring``."""

    kind: Literal["survey_coverage"]
    quotas: dict[str, Quota] = Field(min_length=1)
    scoring: Scoring = FRACTION
    missing_score: float = Field(default=0.0, ge=0, le=1)


class DataQuality(_Component):
    """Share of decided agency batches accepted (``batches``; a conditional acceptance
    counts ``conditional_counts``) and share of web responses flagged (``flagged``)."""

    kind: Literal["data_quality"]
    batches: Part
    conditional_counts: float = Field(default=0.5, ge=0, le=1)
    flagged: Part

    @model_validator(mode="after")
    def _shares(self) -> DataQuality:
        _check_shares({"batches": self.batches, "flagged": self.flagged})
        return self


class Publication(_Component):
    """Share of the period's waves whose first release came within ``within_days`` days
    after the wave ended (waves not released and not yet due are left out)."""

    kind: Literal["publication"]
    within_days: int = Field(gt=0)
    scoring: Scoring = FRACTION
    missing_score: float = Field(default=0.0, ge=0, le=1)


Component = Annotated[
    SatisfactionLevel | Improvement | ComplaintHandling | SurveyCoverage | DataQuality
    | Publication, Field(discriminator="kind")]


def _check_shares(parts: Mapping[str, Part]) -> None:
    total = sum(p.share for p in parts.values())
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        names = " + ".join(f"{k}.share" for k in parts)
        raise ValueError(f"{names} must add up to 1 (they add up to {total:g})")


class Simulation(_Model):
    """Rank intervals: ``draws`` simulated estimates (≥ 1,000), seeded, at ``level``."""

    draws: int = Field(default=2000, ge=1000, le=100_000)
    seed: int = Field(default=0, ge=0)
    level: float = Field(default=0.95, gt=0, lt=1)


class Rules(_Model):
    id: str = Field(pattern=IDENTIFIER)
    title: dict[Literal["zh-Hans", "en"], str]
    questionnaires: list[str] = Field(min_length=1)
    total_points: float = Field(default=100.0, gt=0)
    simulation: Simulation = Simulation()
    components: list[Component] = Field(min_length=1)

    def component(self, name: str) -> Any:
        return next(c for c in self.components if c.name == name)


# --------------------------------------------------------------------------- loading

def _lines(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """pydantic puts the discriminator value into the location (``components[0].
    satisfaction_level.weight``): drop it, the path is the file's."""
    kinds = {"satisfaction_level", "improvement", "complaint_handling", "survey_coverage",
             "data_quality", "publication", "linear", "breakpoints"}
    out: list[int | str] = []
    for i, part in enumerate(loc):
        if isinstance(part, str) and part in kinds and i > 0 and (
                isinstance(loc[i - 1], int) or loc[i - 1] == "scoring"):
            continue
        out.append(part)
    return tuple(out)


def _check(rules: Rules, source: str | Path) -> None:
    """Cross-field rules, each with its path in the file."""
    seen: set[str] = set()
    for i, c in enumerate(rules.components):
        if c.name in seen:
            raise RuleError(source, f"components[{i}].name",
                            f"duplicate component name '{c.name}'")
        seen.add(c.name)
    total = sum(c.weight for c in rules.components)
    if not math.isclose(total, rules.total_points, rel_tol=1e-9):
        raise RuleError(source, "components",
                        f"the component weights add up to {total:g}, not total_points "
                        f"{rules.total_points:g}")
    for i, q in enumerate(rules.questionnaires):
        if q in rules.questionnaires[:i]:
            raise RuleError(source, f"questionnaires[{i}]", f"'{q}' is listed twice")


def parse_rules(data: object, source: str | Path = "<memory>",
                questionnaires: Iterable[str] | None = None,
                districts: Iterable[str] | None = None) -> Rules:
    """Validate parsed YAML ``data``. With ``questionnaires`` (known ids), every listed
    questionnaire and quota must be one of them; with ``districts`` (known district codes),
    every quota override must name one. Raises :class:`RuleError` on the first problem."""
    if not isinstance(data, Mapping):
        raise RuleError(source, "", "expected a mapping at the top level")
    try:
        rules = Rules.model_validate(data)
    except ValidationError as exc:
        loc, reason = first_error(exc)
        raise RuleError(source, format_loc(_lines(loc)), reason) from None
    _check(rules, source)
    if questionnaires is not None:
        known = sorted(set(questionnaires))
        for i, q in enumerate(rules.questionnaires):
            if q not in known:
                raise RuleError(source, f"questionnaires[{i}]",
                                f"unknown questionnaire '{q}' (known: {', '.join(known)})")
        for ci, c in enumerate(rules.components):
            if isinstance(c, SurveyCoverage):
                for q in c.quotas:
                    if q not in known:
                        raise RuleError(source, f"components[{ci}].quotas.{q}",
                                        f"unknown questionnaire '{q}' "
                                        f"(known: {', '.join(known)})")
    if districts is not None:
        codes = set(districts)
        for ci, c in enumerate(rules.components):
            if isinstance(c, SurveyCoverage):
                for q, quota in c.quotas.items():
                    for code in quota.districts:
                        if code not in codes:
                            raise RuleError(source,
                                            f"components[{ci}].quotas.{q}.districts.{code}",
                                            f"unknown district code '{code}'")
    return rules


def load_rules(path: str | Path, questionnaires: Iterable[str] | None = None,
               districts: Iterable[str] | None = None) -> Rules:
    """Read and validate one rule file (see :func:`parse_rules`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise RuleError(path, "", f"cannot read file: {reason}") from None
    try:
        data = safe_load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RuleError(path, where, f"invalid YAML: {problem}") from None
    return parse_rules(data, path, questionnaires, districts)


def rule_files(directory: str | Path = RULES_DIR) -> dict[str, Path]:
    """``{file stem: path}`` of the ``*.yaml`` files of ``directory`` (sorted)."""
    directory = Path(directory)
    if not directory.is_dir():
        return {}
    return {p.stem: p for p in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])}
