"""The frozen figures of a release: computed once, from the same estimators as the
officials' dashboard (:mod:`survey.dashboard.estimates`, no filters), judged by the
reliability rules (:mod:`.reliability`), stored as plain JSON in ``release.snapshot``.

Everything public — pages, CSV, JSON, the national file, the red/black list proposals — is
read from a snapshot, never from live responses: a response arriving or re-weighted after
the release changes the dashboard but not what was published.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import analysis
from analysis import Estimate
from survey.core.models import City, District, Response, Site
from survey.core.questionnaires import Questionnaire
from survey.dashboard import estimates
from survey.public import reliability as rules

SNAPSHOT_VERSION = 1
CONFIDENCE = 0.95


def _num(value: float | None) -> float | None:
    """JSON has no NaN (and PostgreSQL's json refuses it): a missing number is null."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _estimate_fields(e: Estimate | None) -> dict[str, Any]:
    if e is None:
        return {"estimate": None, "se": None, "ci_low": None, "ci_high": None, "df": None,
                "n_effective": None, "note": None}
    return {"estimate": _num(e.estimate), "se": _num(e.standard_error),
            "ci_low": _num(e.ci_low), "ci_high": _num(e.ci_high), "df": _num(e.df),
            "n_effective": _num(e.n_effective), "note": e.note}


def _cell(kind: str, key: str, names: tuple[str, str], cell: estimates.Cell,
          *, proportion: bool, min_n: int, versus: str | None = None) -> dict[str, Any]:
    e = cell.estimate
    fields = _estimate_fields(e)
    if proportion:
        judged = rules.judge_proportion(cell.n, fields["estimate"], fields["ci_low"],
                                        fields["ci_high"], fields["df"],
                                        fields["n_effective"], min_n=min_n)
    else:
        judged = rules.judge_mean(cell.n, fields["estimate"], fields["se"], fields["ci_low"],
                                  fields["ci_high"], fields["df"], fields["n_effective"],
                                  min_n=min_n)
    out: dict[str, Any] = {"kind": kind, "key": key, "name_zh": names[0],
                           "name_en": names[1], "n": cell.n, **fields}
    out["versus"] = versus
    out["versus_p"] = (_num(cell.versus.p_value) if cell.versus is not None else None)
    return _apply(out, judged)


def _apply(out: dict[str, Any], judged: rules.Judgement) -> dict[str, Any]:
    """Set the judgement and blank every number a suppressed cell must not carry."""
    out["status"], out["reasons"] = judged.status, list(judged.reasons)
    if judged.status == rules.SUPPRESSED:
        for name in ("estimate", "se", "ci_low", "ci_high", "df", "n_effective", "versus_p"):
            out[name] = None
        out["versus"] = None
        if rules.counts_hidden(judged):
            out["n"] = None
    elif rules.NO_INTERVAL in judged.reasons and out.get("versus") in ("better", "worse"):
        out["versus"] = "unknown"  # defensive: versus() already says so
    return out


def _partition(cells: list[dict[str, Any]], raw_n: Mapping[str, int]) -> list[dict[str, Any]]:
    """Complementary suppression over cells that partition the city's sample."""
    judged = {c["key"]: rules.Judgement(c["status"], tuple(c["reasons"])) for c in cells}
    after = rules.complementary(judged, raw_n)
    for c in cells:
        if after[c["key"]] != judged[c["key"]]:
            _apply(c, after[c["key"]])
    return cells


def estimate_of(cell: Mapping[str, Any]) -> Estimate | None:
    """The :class:`analysis.Estimate` of a published cell (None if it has no number)."""
    if cell.get("estimate") is None or cell.get("status") == rules.SUPPRESSED:
        return None
    nan = math.nan

    def f(name: str) -> float:
        v = cell.get(name)
        return nan if v is None else float(v)

    df = cell.get("df")
    return Estimate(f("estimate"), f("se"), f("ci_low"), f("ci_high"), CONFIDENCE,
                    int(df) if df is not None else 0, int(cell.get("n") or 0), f("n_effective"),
                    nan, cell.get("note"))


def change(current: Mapping[str, Any], previous: Mapping[str, Any] | None,
           previous_release: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Change of a published index since the previous wave's published one (independent
    samples: :func:`analysis.difference`); None when either has no interval."""
    if previous is None or previous_release is None:
        return None
    a, b = estimate_of(current), estimate_of(previous)
    if a is None or b is None or not (a.has_interval and b.has_interval):
        return None
    d = analysis.difference(a, b)
    p = _num(d.p_value)
    return {"estimate": _num(d.estimate), "ci_low": _num(d.ci_low), "ci_high": _num(d.ci_high),
            "p_value": p, "significant": p is not None and p < estimates.SIGNIFICANCE,
            "previous_wave": previous_release["wave"],
            "previous_release": previous_release["number"]}


def questionnaire_figures(session: Session, settings: estimates.Settings, city: City,
                          q: Questionnaire, wave: str) -> dict[str, Any] | None:
    """Every published cell of one questionnaire in one city and wave (None: no response)."""
    min_n = max(settings.min_cell, rules.MIN_N)
    filters = estimates.Filters()
    scope = estimates.Scope((q.id,), (wave,), city.id)
    kpi = estimates.kpis_by_split(session, settings, scope, filters, []).get(())
    if kpi is None or kpi.index.n == 0:
        return None
    everywhere = estimates.Scope((q.id,), (wave,))
    by_district = estimates.compare_units(session, settings, everywhere, filters,
                                          Response.district_id)
    by_site = estimates.compare_sites(session, settings, everywhere, filters)
    dims = estimates.dimension_scores(session, settings, scope, filters)
    title = q.title
    out: dict[str, Any] = {
        "id": q.id, "title_zh": _text(title, "zh-Hans"), "title_en": _text(title, "en"),
        "index": _cell("index", q.id, ("总体指数", "Overall index"), kpi.index,
                       proportion=False, min_n=min_n),
        "rate": _cell("rate", q.id, ("满意率", "Satisfaction rate"), kpi.rate,
                      proportion=True, min_n=min_n),
    }
    out["dimensions"] = [
        _cell("dimension", d.id, (_text(d.title, "zh-Hans"), _text(d.title, "en")),
              dims[d.id], proportion=False, min_n=min_n)
        for d in q.dimensions if d.id in dims]
    districts = session.scalars(select(District).where(District.city_id == city.id)
                                .order_by(District.code))
    out["districts"] = _units("district", districts, by_district, min_n)
    sites = session.scalars(select(Site).where(Site.city_id == city.id).order_by(Site.code))
    out["sites"] = _units("site", sites, by_site, min_n)
    bench = estimates.kpis_by_split(session, settings, everywhere, filters, []).get(())
    out["benchmark"] = _cell("benchmark", q.id, ("全部城市", "All cities"),
                             bench.index if bench else estimates.empty_cell(settings),
                             proportion=False, min_n=min_n)
    return out


def _units(kind: str, units: Iterable[District | Site], compared: estimates.Compared,
           min_n: int) -> list[dict[str, Any]]:
    """The cells of the city's districts or sites that have respondents, with their
    contrast against all cities, after complementary suppression (they partition the
    city's sample)."""
    present = [u for u in units if u.id in compared.cells]
    return _partition([
        _cell(kind, u.code, (u.name_zh, u.name_en), compared.cells[u.id], proportion=False,
              min_n=min_n, versus=estimates.versus(compared.cells[u.id])) for u in present],
        {u.code: compared.cells[u.id].n for u in present})


def _text(value: Any, lang: str) -> str:
    from survey.core.i18n import localized

    return localized(value, lang)


def build(session: Session, settings: estimates.Settings, city: City, wave: str,
          questionnaires: Iterable[Questionnaire], *, number: int,
          carried: Mapping[str, Any] | None,
          previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """The snapshot of release ``number``: the questionnaires given, recomputed now; the
    others published in the previous release of this wave (``carried``) kept unchanged;
    the change of each index since ``previous`` (the previous wave's latest release)."""
    qs: dict[str, Any] = dict((carried or {}).get("questionnaires", {}))
    for q in questionnaires:
        figures = questionnaire_figures(session, settings, city, q, wave)
        if figures is None:
            qs.pop(q.id, None)
            continue
        figures["computed_in"] = number
        qs[q.id] = figures
    for qid, figures in qs.items():
        before = (previous or {}).get("questionnaires", {}).get(qid)
        figures["change"] = change(figures["index"], before["index"] if before else None,
                                   previous)
    return {"version": SNAPSHOT_VERSION, "city": city.code, "city_zh": city.name_zh,
            "city_en": city.name_en, "province_zh": city.province_zh,
            "province_en": city.province_en, "wave": wave, "number": number,
            "settings": {"single_psu": settings.single_psu, "min_cell": max(settings.min_cell,
                                                                            rules.MIN_N),
                         "confidence": CONFIDENCE},
            "questionnaires": dict(sorted(qs.items()))}


ROW_FIELDS: Sequence[str] = (
    "city", "wave", "release", "questionnaire", "kind", "key", "name_zh", "name_en", "n",
    "estimate", "se", "ci_low", "ci_high", "df", "n_effective", "status", "reasons",
    "versus", "versus_p", "change", "change_p", "change_significant")


def rows(snapshot: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The published cells of a snapshot as flat rows (the CSV/JSON files and the pages)."""
    out = []
    for qid, figures in snapshot["questionnaires"].items():
        cells = [figures["index"], figures["rate"], *figures["dimensions"],
                 *figures["districts"], *figures["sites"], figures["benchmark"]]
        for cell in cells:
            ch = figures.get("change") if cell["kind"] == "index" else None
            out.append({"city": snapshot["city"], "wave": snapshot["wave"],
                        "release": snapshot["number"], "questionnaire": qid,
                        **{k: cell.get(k) for k in ROW_FIELDS[4:19]},
                        "reasons": ";".join(cell["reasons"]),
                        "change": ch["estimate"] if ch else None,
                        "change_p": ch["p_value"] if ch else None,
                        "change_significant": ch["significant"] if ch else None})
    return out
