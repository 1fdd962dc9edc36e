"""``/evaluation``: the ranking of every city for admins (rank intervals, tied groups,
each city's component breakdown, provinces, the trend over periods, CSV, a print-ready
report), and a city's own card for its officials. Adapter over
:mod:`survey.evaluation.service`."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from sqlalchemy import select

from survey.core.db import get_session
from survey.core.i18n import N_, current_lang, localized, localized_name, translate
from survey.core.models import City, Role
from survey.core.security import require_city, require_role
from survey.core.spreadsheet import escape_formula
from survey.dashboard.estimates import Settings
from survey.evaluation import service
from survey.evaluation.rules import RuleError, Rules, rule_files
from survey.evaluation.scoring import Note

bp = Blueprint("evaluation", __name__)

PART_LABELS = {"on_time": N_("deadlines met"), "rating": N_("handling rating"),
               "batches": N_("agency batches accepted"),
               "flagged": N_("web responses flagged")}


@dataclass(frozen=True)
class BadParam(Exception):
    param: str
    value: str
    allowed: tuple[str, ...]


@bp.errorhandler(BadParam)
def _bad_param(exc: BadParam) -> ResponseReturnValue:
    return render_template("evaluation/bad_param.html", exc=exc), 400


@bp.errorhandler(RuleError)
def _bad_rules(exc: RuleError) -> ResponseReturnValue:
    return render_template("evaluation/bad_rules.html", exc=exc), 500


def _settings() -> Settings:
    return Settings.of(current_app.config)


def _rules() -> tuple[str, Rules]:
    files = rule_files(Path(current_app.config["EVALUATION_DIR"]))
    if not files:
        raise RuleError(current_app.config["EVALUATION_DIR"], "", "no rule file (*.yaml)")
    wanted = request.args.get("rules") or next(iter(files))
    if wanted not in files:
        raise BadParam("rules", wanted, tuple(files))
    rules = service.load(files[wanted], get_session(),
                         list(current_app.extensions["manyi.questionnaires"]))
    return wanted, rules


def _period(periods: list[str]) -> str:
    wanted = request.args.get("period")
    if wanted is None:
        if not periods:
            return str(service.china_today().year)
        return periods[-1]
    if wanted not in periods:
        raise BadParam("period", wanted, tuple(periods))
    return wanted


def _page() -> dict[str, Any]:
    session = get_session()
    stem, rules = _rules()
    periods = service.periods_with_data(session)
    period = _period(periods)
    settings = _settings()
    trend = service.trend(session, rules, settings=settings,
                          periods=sorted({*periods, period}))
    result = trend[period]
    return {"rules": rules, "stem": stem, "period": period, "periods": periods,
            "result": result, "trend": trend,
            "titles": {c.name: localized(c.title) or c.name for c in rules.components},
            "PART_LABELS": PART_LABELS,
            "files": list(rule_files(Path(current_app.config["EVALUATION_DIR"])))}


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    """Admins: the ranking; an official is sent to their own city's card."""
    require_role(Role.admin, Role.official)
    if current_user.role == Role.official:
        city = get_session().get(City, current_user.city_id)
        if city is None:
            abort(404)
        wanted: dict[str, Any] = {k: request.args[k] for k in ("rules", "period")
                                  if k in request.args}
        return redirect(url_for("evaluation.card", code=city.code, **wanted))
    fmt = request.args.get("format")
    if fmt not in (None, "csv"):
        raise BadParam("format", fmt, ("csv",))
    page = _page()
    if fmt == "csv":
        return _csv(page)
    return render_template("evaluation/index.html", **page)


@bp.get("/report")
@login_required
def report() -> ResponseReturnValue:
    """Admins: the same figures as a print-ready A4 report."""
    require_role(Role.admin)
    return render_template("evaluation/report.html", **_page())


@bp.get("/city/<code>")
@login_required
def card(code: str) -> ResponseReturnValue:
    """One city's card: its total, rank interval, components and trend (admins, and the
    city's own officials; another city is a 404)."""
    require_role(Role.admin, Role.official)
    city = require_city(get_session().scalar(select(City).where(City.code == code)))
    page = _page()
    mine = page["result"].city(city.code)
    if mine is None:
        abort(404)
    history = [(p, ev.city(city.code)) for p, ev in page["trend"].items()]
    return render_template("evaluation/card.html", city=city, mine=mine, history=history,
                           **page)


def _csv(page: dict[str, Any]) -> Response:
    result: service.Evaluation = page["result"]
    names = [c.name for c in result.rules.components]
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["rank", "rank_low", "rank_high", "tied_group", "city", "city_name",
              "province", "province_name", "total"]
    for n in names:
        header += [f"{n}_raw", f"{n}_points", f"{n}_max_points"]
    writer.writerow(header)
    for c in result.cities:
        r = c.ranked
        row: list[Any] = [r.rank, r.rank_low, r.rank_high, r.group,
                          escape_formula(c.city.code), escape_formula(localized_name(c.city)),
                          escape_formula(c.city.province_code),
                          escape_formula(c.city.province_en if _lang_en()
                                         else c.city.province_zh),
                          f"{r.total:.6f}"]
        for s in c.score.components:
            row += ["" if s.raw is None else f"{s.raw:.6f}", f"{s.points:.6f}",
                    f"{s.max_points:g}"]
        writer.writerow(row)
    body = "\ufeff" + out.getvalue()
    filename = f"evaluation-{page['stem']}-{page['period']}.csv"
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


def _lang_en() -> bool:
    return current_lang() == "en"


@bp.app_template_filter("province")
def _province(city: City) -> str:
    name = city.province_en if _lang_en() else city.province_zh
    return name or city.province_code or "—"



@bp.app_template_filter("evaluation_note")
def _note(note: Note) -> str:
    return translate(note.msgid, current_lang(), **dict(note.params))
