"""Weighting a city's responses to population margins (raking), so the indices describe
the city's population rather than whoever answered.

``manyi weights rake --city C --questionnaire Q --wave W --margins FILE.yaml [--trim L,U]``
rakes the ``valid`` responses of one city, questionnaire and wave on the margins in the
file (``analysis.rake``, iterative proportional fitting), and stores it as each response's
``final_weight``; ``design_weight`` is kept. The dashboard and the export use
``final_weight``.

``--trim L,U`` is *bounded raking* (``analysis.rake(..., bounds=(L, U))``, the
Deville–Särndal logit method, R ``calibrate(calfun="logit", bounds=c(L, U))``): every
weight's ratio to its design weight scaled to the population total,
``final_weight / (design_weight · N / Σ design_weight)``, stays strictly within [L, U]
*and* every margin is still met exactly. With equal design weights that is the old meaning,
L and U as multiples of the mean weight. (Trimming after raking, as before, broke the
margins.) Bounds that no weights can meet give an error naming the margin, and nothing is
stored.

Margins file (YAML), one block per variable — ``age_band``, ``gender``, ``visit_type``
(response columns) or ``district`` (district codes) — with population counts or shares::

    district: population        # the districts' populations stored with the city
    age_band: {18_29: 0.20, 30_44: 0.27, 45_59: 0.29, 60_plus: 0.24}
    gender: {male: 0.51, female: 0.49}

Shares and counts are both scaled to the same total (the districts' population when
given, else the sum of the design weights), so only the proportions matter. A level may
group several answer codes: ``60_plus: {share: 0.24, codes: [60_69, 70_79, 80_plus]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session

import analysis
from survey.core import audit
from survey.core.models import City, District, Response, ResponseStatus
from survey.core.questionnaires import safe_load_yaml

VARIABLES = ("district", "age_band", "gender", "visit_type")


class WeightingError(ValueError):
    """The margins or the sample cannot be raked; the message says what and where."""


@dataclass(frozen=True)
class Margin:
    """One raking variable: population total per level and the answer codes of a level."""

    variable: str
    totals: dict[str, float]
    codes: dict[str, str]  # answer code (or district code) → level


@dataclass(frozen=True)
class WeightingResult:
    responses: int
    converged: bool
    iterations: int
    max_margin_error: float
    kish_effective_n: float
    design_effect: float  # Kish's weighting effect, 1 + CV² of the weights


def read_margins(path: Path, session: Session, city: City) -> list[Margin]:
    """Parse a margins file; raise :class:`WeightingError` naming the file and key."""
    try:
        data = safe_load_yaml(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise WeightingError(f"{path}: cannot read margins: {exc}".splitlines()[0]) from None
    if not isinstance(data, Mapping) or not data:
        raise WeightingError(f"{path}: expected a mapping of variables to margins")
    margins = []
    for variable, spec in data.items():
        where = f"{path}: {variable}"
        if variable not in VARIABLES:
            raise WeightingError(f"{where}: unknown variable (use {', '.join(VARIABLES)})")
        if variable == "district" and spec == "population":
            rows = session.execute(select(District.code, District.population)
                                   .where(District.city_id == city.id)).all()
            missing = [code for code, population in rows if not population]
            if missing:
                raise WeightingError(f"{where}: no population stored for {', '.join(missing)}")
            spec = {code: float(population) for code, population in rows if population}
        if not isinstance(spec, Mapping) or not spec:
            raise WeightingError(f"{where}: expected {{level: count or share}}")
        totals: dict[str, float] = {}
        codes: dict[str, str] = {}
        for level, value in spec.items():
            level = str(level)
            members = [level]
            if isinstance(value, Mapping):
                members = [str(c) for c in value.get("codes", [level])]
                value = value.get("share", value.get("count"))
            try:
                amount = float(value)
            except (TypeError, ValueError):
                raise WeightingError(f"{where}.{level}: not a number: {value!r}") from None
            if not amount > 0:
                raise WeightingError(f"{where}.{level}: must be positive, got {amount:g}")
            totals[level] = amount
            for code in members:
                if code in codes:
                    raise WeightingError(f"{where}.{level}: code {code!r} is in two levels")
                codes[code] = level
        margins.append(Margin(str(variable), totals, codes))
    return margins


def rake_city(session: Session, *, city: City, questionnaire: str, wave: str,
              margins: list[Margin], trim: tuple[float, float] | None = None,
              actor: str = "cli") -> WeightingResult:
    """Rake the city's valid responses of ``questionnaire`` in ``wave`` to ``margins`` and
    store ``final_weight``; ``trim = (L, U)`` bounds each weight's ratio to its design
    weight scaled to the population total (bounded raking, see the module docstring).
    Commits; nothing is changed when it raises."""
    district_code = dict(session.execute(select(District.id, District.code)
                                         .where(District.city_id == city.id)).all())
    rows = session.execute(
        select(Response.id, Response.design_weight, Response.district_id, Response.age_band,
               Response.gender, Response.visit_type)
        .where(Response.city_id == city.id, Response.questionnaire == questionnaire,
               Response.wave == wave, Response.status == ResponseStatus.valid.value)
        .order_by(Response.id)).all()
    if not rows:
        raise WeightingError(f"no valid {questionnaire} responses in {city.code} {wave}")
    ids = np.array([r.id for r in rows])
    design = np.array([r.design_weight for r in rows], dtype=float)
    values = {"district": [district_code[r.district_id] for r in rows],
              "age_band": [r.age_band for r in rows], "gender": [r.gender for r in rows],
              "visit_type": [r.visit_type for r in rows]}
    grand = next((sum(m.totals.values()) for m in margins if m.variable == "district"),
                 float(design.sum()))
    categories: dict[str, np.ndarray] = {}
    # analysis.rake takes any hashable level labels (Mapping is invariant in its key).
    targets: dict[str, Mapping[object, float]] = {}
    for m in margins:
        level_of = [m.codes.get(v) if v is not None else None for v in values[m.variable]]
        unknown = sorted({str(v) for v, lev in zip(values[m.variable], level_of, strict=True)
                          if lev is None})
        if unknown:
            raise WeightingError(f"{m.variable}: the sample has values not in the margins: "
                                 f"{', '.join(unknown)} (add them to a level)")
        empty = sorted(set(m.totals) - set(level_of))
        if empty:
            raise WeightingError(f"{m.variable}: no respondent in level(s) {', '.join(empty)} "
                                 "in this sample (merge them with a neighbouring level)")
        scale = grand / sum(m.totals.values())
        categories[m.variable] = np.array(level_of, dtype=object)
        targets[m.variable] = {level: total * scale for level, total in m.totals.items()}
    # Design weights scaled to the population total: the bounds apply to w / that.
    scaled = design * (grand / design.sum())
    try:
        result = analysis.rake(categories, targets, weights=scaled, bounds=trim)
    except ValueError as exc:
        message = str(exc).replace("`bounds`", "--trim").replace("w/w0", "weight ratio")
        raise WeightingError(message) from None
    weights = result.weights
    session.execute(update(Response), [{"id": int(i), "final_weight": float(w)}
                                       for i, w in zip(ids, weights, strict=True)])
    n_eff = analysis.kish_effective_n(weights)
    outcome = WeightingResult(len(rows), result.converged, result.iterations,
                              result.max_margin_error, n_eff, len(rows) / n_eff)
    audit.record(session, "weights_raked", city_id=city.id, actor=actor,
                 questionnaire=questionnaire, wave=wave, responses=len(rows),
                 variables=[m.variable for m in margins], trim=list(trim) if trim else None,
                 converged=result.converged, kish_effective_n=round(n_eff, 2))
    session.commit()
    return outcome


def weights_summary(result: WeightingResult) -> dict[str, Any]:
    return {"responses": result.responses, "converged": result.converged,
            "iterations": result.iterations, "max_margin_error": result.max_margin_error,
            "kish_effective_n": result.kish_effective_n,
            "weighting_effect": result.design_effect}
