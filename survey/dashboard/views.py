"""Pilot-city dashboards (officials see their city, admins every city).

Pages: ``/dashboard/`` (list), ``/dashboard/<city>`` (overview of every questionnaire),
``/dashboard/<city>/<questionnaire>`` (trend, dimensions, importance–performance, league
tables against the all-city benchmark) and ``/dashboard/all-cities`` (admins: cities side
by side, red and black lists). Filters are GET parameters validated against known values
(an unknown value is a 400 page naming the parameter and the allowed values); every chart
has a data table and a CSV download (``?format=csv&table=<name>``, same filters).
Numbers: :mod:`survey.dashboard.estimates`; figures: :mod:`survey.dashboard.charts`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    abort,
    after_this_request,
    current_app,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select
from werkzeug.wrappers import Response as BaseResponse

from survey.complaints import composite as complaint_composite
from survey.complaints import figures as complaint_figures
from survey.complaints.categories import CATEGORIES
from survey.core import audit
from survey.core.db import engine_of, get_session
from survey.core.i18n import localized, localized_name
from survey.core.models import City, District, ResponseStatus, Role, Site
from survey.core.models import Response as ResponseRow
from survey.core.security import require_city, require_role
from survey.dashboard import charts, estimates
from survey.dashboard.assets import PLOTLY_FILENAME
from survey.dashboard.filters import BadFilter, filter_choices, parse_filters, site_kind_label
from survey.dashboard.tables import (
    ESTIMATE_FORMATS,
    FEW,
    SUPPRESSED,
    Table,
    csv_response,
    estimate_columns,
    estimate_headers,
    fmt,
)
from survey.integrity import review as integrity_review

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

ALL_CITIES = "all-cities"


@bp.errorhandler(BadFilter)
def _bad_filter(exc: BadFilter) -> ResponseReturnValue:
    return render_template("dashboard/bad_filter.html", exc=exc), 400


# --------------------------------------------------------------------------- helpers

def _settings() -> estimates.Settings:
    return estimates.Settings.of(current_app.config)


def _questionnaires() -> dict[str, Any]:
    return current_app.extensions["manyi.questionnaires"]


def _city(code: str) -> City:
    """The city if the user may see it; 404 otherwise (never 403)."""
    require_role(Role.admin, Role.official)
    return require_city(get_session().scalar(select(City).where(City.code == code)))


def _audit(page: str, city_id: int | None, **detail: Any) -> None:
    """Audit this page view once its response is built, on a connection of its own: a
    locked database drops the entry (with a log line) instead of failing the read."""
    args = {k: v for k, v in request.args.items() if k != "lang"}
    actor, user_id = current_user.email, current_user.id
    engine = engine_of(current_app)
    timeout = current_app.config["READ_AUDIT_TIMEOUT_MS"]

    @after_this_request
    def _write(response: BaseResponse) -> BaseResponse:
        audit.record_read(engine, "view_city", actor=actor, user_id=user_id,
                          city_id=city_id, lock_timeout_ms=timeout, page=page,
                          filters=args, **detail)
        return response


def _url(**changes: Any) -> str:
    # dict[str, Any]: splatted into url_for, whose keyword options (_external...) aren't str.
    args: dict[str, Any] = request.args.to_dict()
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return url_for(request.endpoint or "dashboard.index", **(request.view_args or {}), **args)


@dataclass
class Chart:
    id: str
    title: str
    figure_json: str | None
    table: Table
    csv_url: str
    empty_reason: str = ""


def chart(table: Table, figure: Any | None, empty_reason: str = "") -> Chart:
    return Chart(id=table.name, title=table.title,
                 figure_json=None if figure is None else charts.to_json(figure), table=table,
                 csv_url=_url(format="csv", table=table.name), empty_reason=empty_reason)


def _respond(charts_: Sequence[Chart], filename: str,
             render: Callable[[], str]) -> Any:
    """The CSV of one chart when ``?format=csv``, else the page."""
    fmt_ = request.args.get("format", "")
    if fmt_ == "":
        return render()
    if fmt_ != "csv":
        raise BadFilter("format", fmt_, ["csv"])
    tables = {c.table.name: c.table for c in charts_}
    wanted = request.args.get("table", "")
    if wanted not in tables:
        raise BadFilter("table", wanted, tables)
    return csv_response(tables[wanted], f"{filename}-{wanted}.csv")


def _points(rows: Sequence[tuple[str, estimates.Cell]], scale: float = 1.0,
            ) -> tuple[list[str], list[float], list[float], list[float]]:
    labels, est, low, high = [], [], [], []
    for label, cell in rows:
        if cell.value is not None:
            labels.append(label)
            est.append(cell.value.estimate * scale)
            low.append(cell.value.ci_low * scale)
            high.append(cell.value.ci_high * scale)
    return labels, est, low, high


def _suppressed_note(rows: Sequence[tuple[str, estimates.Cell]]) -> str:
    hidden = sum(1 for _label, c in rows if c.suppressed)
    if not hidden:
        return ""
    return _("%(count)d unit(s) not shown: suppressed (n < %(n)d).", count=hidden,
             n=current_app.config["MIN_CELL_SIZE"])


def _by_estimate(rows: list[tuple[str, estimates.Cell]]) -> list[tuple[str, estimates.Cell]]:
    return sorted(rows, key=lambda r: (r[1].value is None,
                                       -(r[1].value.estimate if r[1].value else 0), r[0]))


def versus_label(v: str | None) -> str | None:
    if v is None:
        return None
    return {"better": _("better"), "worse": _("worse"), "same": _("not different"),
            "unknown": _("cannot tell (no interval)")}[v]


def _no_interval_note(rows: Sequence[tuple[str, estimates.Cell]]) -> str:
    count = sum(1 for _label, c in rows if c.value is not None and not c.value.has_interval)
    if not count:
        return ""
    return _("%(count)d unit(s) without a confidence interval (all respondents in one PSU, or "
             "no variation): shown without interval and never marked better or worse.",
             count=count)


def league_chart(table_name: str, title: str, rows: list[tuple[str, estimates.Cell]],
                 benchmark: estimates.Cell | None) -> Chart:
    """A league table (best first) with CIs, each unit marked against the benchmark by the
    contrast unit − benchmark (:func:`estimates.versus`)."""
    bench = benchmark.value.estimate if benchmark and benchmark.value else None
    rows = _by_estimate(rows)
    notes = " ".join(n for n in (_suppressed_note(rows), _no_interval_note(rows)) if n)
    table = Table(table_name, title, [_("Unit"), *estimate_headers(), _("Against benchmark"),
                                      _("Difference from benchmark"), _("p-value")],
                  ["text", *ESTIMATE_FORMATS, "text", "1", "p"], note=notes)
    colours = []
    for label, cell in rows:
        v = estimates.versus(cell)
        d = cell.versus if cell.value is not None else None
        table.rows.append([label, *estimate_columns(cell), versus_label(v),
                           d.estimate if d else None, d.p_value if d else None])
        if cell.value is not None:
            colours.append({"better": charts.BLUE, "worse": charts.ACCENT}.get(v or "",
                                                                             charts.GREY))
    labels, est, low, high = _points(rows)
    figure = None
    if labels:
        figure = charts.ci_points(title, labels, est, low, high, axis_title=_("Index (0–100)"),
                                  benchmark=bench, benchmark_label=_("All-city benchmark"),
                                  colours=colours)
    return chart(table, figure, "" if labels else _("No unit has enough responses."))


def _ranked_estimate(cell: estimates.Cell) -> float:
    """The estimate of a cell that :func:`estimates.versus` called "better" or "worse"."""
    # Impossible: versus() returns "better"/"worse" only for a cell with a value.
    assert cell.value is not None
    return cell.value.estimate


def kpi_dict(kpi: estimates.Kpi | None, previous: estimates.Kpi | None) -> dict[str, Any]:
    settings = _settings()
    index = kpi.index if kpi else estimates.empty_cell(settings)
    rate = kpi.rate if kpi else estimates.empty_cell(settings)
    diff = estimates.change(index, previous.index if previous else None)
    return {"index": index, "rate": rate, "change": diff,
            "significant": estimates.significant(diff)}


# --------------------------------------------------------------------------- pages

@bp.route("/")
@login_required
def index() -> ResponseReturnValue:
    require_role(Role.admin, Role.official)
    session = get_session()
    stmt = select(City).order_by(City.code)
    if current_user.role != Role.admin:
        stmt = stmt.where(City.id == current_user.city_id)
    cities = list(session.scalars(stmt))
    counts = {
        (row.city_id, row.questionnaire): row.n
        for row in session.execute(
            select(ResponseRow.city_id, ResponseRow.questionnaire, func.count().label("n"))
            .where(ResponseRow.status == ResponseStatus.valid,
                   ResponseRow.city_id.in_([c.id for c in cities]))
            .group_by(ResponseRow.city_id, ResponseRow.questionnaire))
    }
    return render_template("dashboard/index.html", cities=cities, counts=counts)


@bp.route("/<city>")
@login_required
def city_overview(city: str) -> ResponseReturnValue:
    """Every questionnaire of a city: index, satisfaction rate, n, effective n and the
    change since the previous wave, plus the index by questionnaire and over waves."""
    c = _city(city)
    session = get_session()
    settings = _settings()
    qs = _questionnaires()
    districts = list(session.scalars(select(District).where(District.city_id == c.id)
                                     .order_by(District.code)))
    waves = estimates.waves_with_data(session, c.id)
    choices = filter_choices(list(qs.values()), waves, districts)
    wave, filters = parse_filters(choices)
    prev = waves[waves.index(wave) - 1] if wave in waves and waves.index(wave) > 0 else None
    by_q_wave: dict[tuple, estimates.Kpi] = {}
    if wave:  # one query: every questionnaire × (this wave, the previous one)
        by_q_wave = estimates.kpis_by_split(
            session, settings, estimates.Scope(tuple(qs), tuple(w for w in (wave, prev) if w),
                                           c.id), filters,
            [ResponseRow.questionnaire, ResponseRow.wave])
    rows = []
    for q in qs.values():
        kpi = by_q_wave.get((q.id, wave))
        if kpi is None and not any(k[0] == q.id for k in by_q_wave):
            continue
        rows.append({"q": q, "title": localized(q.title),
                     **kpi_dict(kpi, by_q_wave.get((q.id, prev)) if prev else None),
                     "url": url_for("dashboard.questionnaire", city=c.code, questionnaire=q.id,
                                    **_kept_args())})

    overview = Table("overview", _("Index by questionnaire"),
                     [_("Questionnaire"), *estimate_headers(), _("Satisfaction rate (%)"),
                      _("Change since previous wave"), _("p-value"), _("Significant")],
                     ["text", *ESTIMATE_FORMATS, "1", "1", "p", "text"])
    for r in rows:
        rate = r["rate"].value
        d = r["change"]
        overview.rows.append([
            r["title"], *estimate_columns(r["index"]),
            (rate.estimate * 100 if rate else (SUPPRESSED if r["rate"].suppressed else None)),
            d.estimate if d else None, d.p_value if d else None,
            (_("yes") if r["significant"] else _("no")) if d else None])
    labels, est, low, high = _points([(r["title"], r["index"]) for r in rows])
    fig = charts.ci_points(_("Index by questionnaire, %(wave)s", wave=wave), labels, est, low,
                           high, axis_title=_("Index (0–100)")) if labels else None
    overview.note = _suppressed_note([(r["title"], r["index"]) for r in rows])

    # The trend over waves is on the questionnaire page: the overview stays one wave pair.
    all_charts = [chart(overview, fig, _("No questionnaire has enough responses."))]
    tq = _tourism_questionnaire(qs)
    complaints = (complaint_section(session, c, tq, wave, waves, filters, with_overdue=True)
                  if tq is not None and wave else ComplaintSection(
                      [], len(complaint_figures.overdue(session, c.id,
                                                        complaint_figures.china_today())),
                      _overdue_url()))
    _audit("overview", c.id, wave=wave)
    return _respond([*all_charts, *complaints.charts], f"{c.code}-{wave}", lambda: render_template(
        "dashboard/city.html", city=c, rows=rows, wave=wave, previous=prev, choices=choices,
        filters=filters, charts=all_charts, complaints=complaints,
        held_titles=integrity_review.CHECK_TITLES,
        held=integrity_review.held_back(session, c.id, qs, [wave]) if wave else {},
        **_page_context()))


def _kept_args() -> dict[str, Any]:
    """The query string minus format/table, as url_for keywords (str values)."""
    return {k: v for k, v in request.args.items() if k not in ("format", "table") and v}


def _page_context() -> dict[str, Any]:
    return {"PLOTLY_FILENAME": PLOTLY_FILENAME, "fmt": fmt,
            "url_with": _url, "site_kind_label": site_kind_label,
            "min_cell": current_app.config["MIN_CELL_SIZE"]}


@bp.route("/<city>/<questionnaire>")
@login_required
def questionnaire(city: str, questionnaire: str) -> ResponseReturnValue:
    """One questionnaire in one city: KPIs against the previous wave and the all-city
    benchmark, trend with CI band, dimension scores, importance–performance, district and
    site league tables."""
    c = _city(city)
    q = _questionnaires().get(questionnaire)
    if q is None:
        abort(404)
    session = get_session()
    settings = _settings()
    districts = list(session.scalars(select(District).where(District.city_id == c.id)
                                     .order_by(District.code)))
    waves = estimates.waves_with_data(session, c.id, q.id)
    choices = filter_choices([q], waves, districts)
    wave, filters = parse_filters(choices)
    charts_: list[Chart] = []
    ctx: dict[str, Any] = {"kpi": kpi_dict(None, None), "benchmark": None, "versus": None,
                           "versus_key": None, "previous": None}
    if wave is not None:
        scope = estimates.Scope((q.id,), (wave,), c.id)
        trend = estimates.kpis_by_split(session, settings,
                                        estimates.Scope((q.id,), tuple(waves), c.id), filters,
                                        [ResponseRow.wave])
        prev = waves[waves.index(wave) - 1] if waves.index(wave) > 0 else None
        ctx["kpi"] = kpi_dict(trend.get((wave,)), trend.get((prev,)) if prev else None)
        ctx["previous"] = prev
        everywhere = estimates.Scope((q.id,), (wave,))
        bench = estimates.kpis_by_split(session, settings, everywhere,
                                        filters.without_district(), [])
        bench_kpi = bench.get(())
        ctx["benchmark"] = bench_kpi
        # units as domains of the all-city design that contains them: contrast unit − all
        by_city = estimates.compare_units(session, settings, everywhere,
                                          filters.without_district(), ResponseRow.city_id)
        by_district = estimates.compare_units(session, settings, everywhere,
                                              filters.without_district(),
                                              ResponseRow.district_id)
        mine = by_district.cells.get(filters.district_id) if filters.district_id \
            else by_city.cells.get(c.id)
        ctx["versus_key"] = estimates.versus(mine) if mine else None
        ctx["versus"] = versus_label(ctx["versus_key"])
        charts_.append(_trend_chart(waves, trend))
        charts_.append(_dimension_chart(q, estimates.dimension_scores(session, settings, scope,
                                                                  filters)))
        charts_.append(_ipa_chart(q, session, scope, filters, settings))
        district_names = {d.id: localized_name(d) for d in districts}
        shown = {filters.district_id} if filters.district_id else set(district_names)
        charts_.append(league_chart(
            "districts", _("Districts"),
            [(district_names[k], v) for k, v in by_district.cells.items() if k in shown],
            bench_kpi.index if bench_kpi else None))
        sites = {s.id: s for s in session.scalars(select(Site).where(Site.city_id == c.id))
                 if not filters.district_id or s.district_id == filters.district_id}
        by_site = estimates.compare_sites(session, settings, everywhere,
                                          filters.without_district())
        charts_.append(league_chart(
            "sites", _("Sites"),
            [(localized_name(sites[k]), v) for k, v in by_site.cells.items() if k in sites],
            bench_kpi.index if bench_kpi else None))
    complaints = (complaint_section(session, c, q, wave, waves, filters, with_overdue=False)
                  if q.domain == "tourism" and wave is not None else None)
    _audit("questionnaire", c.id, questionnaire=q.id, wave=wave)
    others = [(x.id, localized(x.title)) for x in _questionnaires().values()]
    return _respond([*charts_, *(complaints.charts if complaints else [])],
                    f"{c.code}-{q.id}-{wave}", lambda: render_template(
        "dashboard/questionnaire.html", city=c, q=q, title=localized(q.title), wave=wave,
        choices=choices, filters=filters, charts=charts_, others=others,
        complaints=complaints,
        kept=_kept_args(), held_titles=integrity_review.CHECK_TITLES,
        held=integrity_review.held_back(session, c.id, [q.id], [wave]).get((q.id, wave))
        if wave else None, **ctx, **_page_context()))


def _trend_chart(waves: list[str], trend: Mapping[tuple, estimates.Kpi]) -> Chart:
    table = Table("trend", _("Index over waves"),
                  [_("Wave"), *estimate_headers(), _("Satisfaction rate (%)")],
                  ["text", *ESTIMATE_FORMATS, "1"])
    rows = []
    for w in waves:
        kpi = trend.get((w,))
        if kpi is None:
            continue
        rate = kpi.rate.value
        table.rows.append([w, *estimate_columns(kpi.index),
                           rate.estimate * 100 if rate else
                           (SUPPRESSED if kpi.rate.suppressed else None)])
        rows.append((w, kpi.index))
    table.note = _suppressed_note(rows)
    xs, est, low, high = _points(rows)
    figure = charts.trend(_("Index over waves"), xs, est, low, high,
                          axis_title=_("Index (0–100)"), band_label=_("95% CI")) if xs else None
    return chart(table, figure, _("No wave has enough responses."))


def _dimension_chart(q: Any, cells: Mapping[str, estimates.Cell]) -> Chart:
    titles = {d.id: localized(d.title) for d in q.dimensions}
    rows = [(titles.get(d, d), cells[d]) for d in titles if d in cells]
    table = Table("dimensions", _("Dimension scores"), [_("Dimension"), *estimate_headers()],
                  ["text", *ESTIMATE_FORMATS], note=_suppressed_note(rows))
    for label, cell in rows:
        table.rows.append([label, *estimate_columns(cell)])
    labels, est, low, high = _points(rows)
    figure = charts.ci_points(_("Dimension scores"), labels, est, low, high,
                              axis_title=_("Score (0–100)")) if labels else None
    return chart(table, figure, _("No dimension has enough responses."))


def _quadrant_label(key: str) -> str:
    return {"concentrate here": _("Concentrate here"),
            "keep up the good work": _("Keep up the good work"),
            "low priority": _("Low priority"),
            "possible overkill": _("Possible overkill")}.get(key, key)


def _ipa_chart(q: Any, session: Any, scope: estimates.Scope, filters: estimates.Filters,
               settings: estimates.Settings) -> Chart:
    titles = {d.id: localized(d.title) for d in q.dimensions}
    ipa = estimates.importance_performance(session, scope, filters, q.index.satisfaction_rate.item,
                                       titles, settings.min_cell)
    table = Table("ipa", _("Importance and performance"),
                  [_("Dimension"), _("Derived importance"), _("Performance (0–100)"),
                   _("Quadrant")], ["text", "3", "1", "text"])
    figure = None
    reason = ""
    if ipa.result is not None:
        r = ipa.result
        labels = [titles[d] for d in ipa.dimensions]
        quadrants = [_quadrant_label(x) for x in r.quadrant]
        for i, label in enumerate(labels):
            table.rows.append([label, float(r.importance[i]), float(r.performance[i]),
                               quadrants[i]])
        table.note = _("Importance: relative weights from regressing overall satisfaction on "
                       "the dimension scores (R² = %(r2).2f, n = %(n)d).", r2=r.r_squared,
                       n=ipa.n)
        figure = charts.importance_performance(
            _("Importance and performance"), labels, [float(x) for x in r.importance],
            [float(x) for x in r.performance], quadrants, x_title=_("Derived importance"),
            y_title=_("Performance (0–100)"),
            corner_labels=(_("Concentrate here"), _("Keep up the good work"),
                           _("Low priority"), _("Possible overkill")))
    elif ipa.n < settings.min_cell:
        reason = str(SUPPRESSED)
        table.note = reason
    else:
        reason = _("Not enough complete answers to derive importance.")
        table.note = reason
    return chart(table, figure, reason)


@bp.route(f"/{ALL_CITIES}")
@login_required
def all_cities() -> ResponseReturnValue:
    """Admins: every city side by side for one questionnaire and wave, against the
    all-city benchmark, with the red list (significantly best sites) and the black list
    (significantly worst sites)."""
    require_role(Role.admin)
    session = get_session()
    settings = _settings()
    qs = _questionnaires()
    qid = request.args.get("questionnaire") or next(iter(qs))
    if qid not in qs:
        raise BadFilter("questionnaire", qid, qs)
    q = qs[qid]
    waves = estimates.waves_with_data(session, None, q.id)
    choices = filter_choices([q], waves)
    if request.args.get("district"):
        raise BadFilter("district", request.args["district"], [])
    wave, filters = parse_filters(choices)
    cities = {c.id: c for c in session.scalars(select(City).order_by(City.code))}
    charts_: list[Chart] = []
    bench_kpi = None
    if wave is not None:
        scope = estimates.Scope((q.id,), (wave,))
        bench_kpi = estimates.kpis_by_split(session, settings, scope, filters, []).get(())
        per_city = estimates.compare_units(session, settings, scope, filters,
                                           ResponseRow.city_id)
        charts_.append(league_chart(
            "cities", _("Cities"),
            [(localized_name(cities[k]), v) for k, v in per_city.cells.items() if k in cities],
            bench_kpi.index if bench_kpi else None))
        sites = {s.id: s for s in session.scalars(select(Site))}
        by_site = estimates.compare_sites(session, settings, scope, filters)
        # Only a site with an interval whose contrast with the benchmark is significant is
        # listed (estimates.versus): never a site resting on one PSU or with SE 0.
        marked = [(sites[k], cell, estimates.versus(cell)) for k, cell in by_site.cells.items()
                  if k in sites and not cell.suppressed]
        red = sorted((m for m in marked if m[2] == "better"),
                     key=lambda m: -_ranked_estimate(m[1]))
        black = sorted((m for m in marked if m[2] == "worse"),
                       key=lambda m: _ranked_estimate(m[1]))
        for table_name, title, items in (("red", _("Red list: significantly best sites"), red),
                                         ("black", _("Black list: significantly worst sites"),
                                          black)):
            table = Table(table_name, title, [_("Site"), _("City"), *estimate_headers(),
                                              _("Difference from benchmark"), _("p-value")],
                          ["text", "text", *ESTIMATE_FORMATS, "1", "p"])
            for site, cell, _v in items:
                d = cell.versus
                table.rows.append([localized_name(site), localized_name(cities[site.city_id]),
                                   *estimate_columns(cell), d.estimate if d else None,
                                   d.p_value if d else None])
            charts_.append(Chart(table_name, title, None, table,
                                 _url(format="csv", table=table_name)))
    _audit("all_cities", None, questionnaire=q.id, wave=wave)
    return _respond(charts_, f"all-cities-{q.id}-{wave}", lambda: render_template(
        "dashboard/all_cities.html", q=q, wave=wave, choices=choices, filters=filters,
        charts=charts_, benchmark=bench_kpi,
        questionnaires=[(x.id, localized(x.title)) for x in qs.values()],
        **_page_context()))


# --------------------------------------------------------------------------- complaints
# Issue 15: complaint figures and the tourist satisfaction composite on the city page and
# the tourism questionnaire page. Numbers: survey.complaints.figures / .composite.

def _tourism_questionnaire(qs: Mapping[str, Any]) -> Any | None:
    return next((q for q in qs.values() if q.domain == "tourism"), None)


def _complaint_columns(f: complaint_figures.Figures | None) -> list[Any]:
    """The figure columns of one unit (see :func:`_complaint_headers`)."""
    if f is None:
        return [0, 0, None, None, None, None, None, None, None, 0, None, None, None]
    min_cell = current_app.config["MIN_CELL_SIZE"]
    shares = [f.on_time[n].value for n in complaint_figures.DEADLINE_NAMES]
    rating: list[Any]
    if f.rating is not None:
        rating = [f.rated, f.rating.estimate, f.rating.ci_low, f.rating.ci_high]
    elif 0 < f.rated < min_cell:
        rating = [FEW, SUPPRESSED, None, None]
    else:
        rating = [f.rated, None, None, None]
    return [f.complaints, f.responses, f.per_1000_responses, f.visitors,
            f.per_10000_visitors, *(None if s is None else 100.0 * s for s in shares),
            f.median_days_to_close, *rating]


def _complaint_headers(unit: str) -> tuple[list[str], list[str]]:
    return ([unit, _("Complaints"), _("Valid tourism responses"),
             _("Complaints per 1,000 responses"), _("Visitors"),
             _("Complaints per 10,000 visitors"), _("Accepted on time (%)"),
             _("Replied on time (%)"), _("Mediated on time (%)"), _("Median days to close"),
             _("Ratings (n)"), _("Mean handling rating (1–5)"), _("95% CI low"),
             _("95% CI high")],
            ["text", "int", "int", "2", "int", "2", "1", "1", "1", "1", "n", "2", "2", "2"])


def _complaint_note() -> str:
    return _("A complaint counts for the site complained about and the quarter it was "
             "received in. On time: deadlines met among the cases whose deadline was met or "
             "has passed (acceptance 5 working days, reply 10 days, mediation 60 days). "
             "Per 10,000 visitors only where every site has a visitor count. Mean rating "
             "with its 95%% CI over the complainants who rated (simple random sample); "
             "suppressed below %(n)d ratings.", n=current_app.config["MIN_CELL_SIZE"])


def _reason_text(code: str | None) -> str:
    texts = {
        complaint_composite.ONSITE_NO_RESPONSES: _("no on-site survey responses in this wave"),
        complaint_composite.ONSITE_SUPPRESSED: _(
            "on-site survey index suppressed (n < %(n)d)", n=current_app.config["MIN_CELL_SIZE"]),
        complaint_composite.NO_REVIEWS: _("no online reviews in this wave"),
        complaint_composite.NO_RESPONSES: _(
            "complaint rate unknown: no valid tourism survey responses in this wave"),
        complaint_composite.NO_DEADLINE_DUE: _(
            "on-time share unknown: no complaint deadline has come yet"),
    }
    return texts.get(code or "", code or "")


def _composite_note(weights: complaint_composite.Weights) -> str:
    return _("Composite = %(ws).2f × on-site survey index + %(wo).2f × online-review index + "
             "%(wc).2f × complaint index. On-site: the overall index of the tourism survey. "
             "Online reviews: mean of 100 × rating / maximum rating over the wave's reviews. "
             "Complaint index: 100 × on-time share (all deadlines) × max(0, 1 − complaints "
             "per 1,000 responses / %(ceiling)g). When a component is missing the composite "
             "is not computed (never re-weighted).", ws=weights.onsite, wo=weights.reviews,
             wc=weights.complaints, ceiling=weights.rate_ceiling)


@dataclass
class ComplaintSection:
    charts: list[Chart]
    overdue: int | None = None
    overdue_url: str = ""
    unfiltered_note: str = ""


def _overdue_url() -> str:
    if "complaints.queue" in current_app.view_functions:
        return url_for("complaints.queue", overdue="yes")
    return "/complaints?overdue=yes"


def complaint_section(session: Any, c: City, tq: Any, wave: str, waves: Sequence[str],
                      filters: estimates.Filters, *, with_overdue: bool) -> ComplaintSection:
    """Complaint figures (by site, by category, over waves) and the satisfaction composite
    of the city's tourism sites for ``wave``, each a chart with its table and CSV."""
    settings = _settings()
    today = complaint_figures.china_today()
    upto = [w for w in waves if w <= wave]
    figs = complaint_figures.city_figures(
        session, c.id, questionnaire=tq.id, site_kinds=list(tq.site_kinds), waves=upto,
        today=today, min_cell=settings.min_cell)
    site_rows = {s.id: s for s in session.scalars(select(Site).where(
        Site.id.in_(figs.sites)))}
    names = {sid: localized_name(site_rows[sid]) for sid in figs.sites}
    city_name = localized_name(c)
    note = _complaint_note()
    out: list[Chart] = []

    headers, formats = _complaint_headers(_("Site"))
    table = Table("complaints_sites", _("Complaints by site, %(wave)s", wave=wave), headers,
                  formats, note=note)
    table.rows.append([_("%(city)s (whole city)", city=city_name),
                       *_complaint_columns(figs.get(complaint_figures.CITY, wave))])
    bars: list[tuple[str, float]] = []
    for sid in figs.sites:
        f = figs.get(complaint_figures.site_key(sid), wave)
        table.rows.append([names[sid], *_complaint_columns(f)])
        if f is not None and f.per_1000_responses is not None:
            bars.append((names[sid], f.per_1000_responses))
    fig = charts.bars(table.title, [b[0] for b in bars], [b[1] for b in bars],
                      axis_title=_("Complaints per 1,000 responses")) if bars else None
    out.append(chart(table, fig, _("No site has valid tourism responses in this wave.")))

    headers, formats = _complaint_headers(_("Category"))
    table = Table("complaints_categories", _("Complaints by category, %(wave)s", wave=wave),
                  headers, formats, note=note)
    cat_bars: list[tuple[str, float]] = []
    for code in figs.categories:
        f = figs.get(complaint_figures.category_key(code), wave)
        if f is None or not f.complaints:
            continue
        label = localized(CATEGORIES.get(code, {"en": code, "zh-Hans": code}))
        table.rows.append([label, *_complaint_columns(f)])
        cat_bars.append((label, float(f.complaints)))
    fig = charts.bars(table.title, [b[0] for b in cat_bars], [b[1] for b in cat_bars],
                      axis_title=_("Complaints")) if cat_bars else None
    out.append(chart(table, fig, _("No complaint in this wave.")))

    headers, formats = _complaint_headers(_("Wave"))
    table = Table("complaints_waves", _("Complaints over waves, %(city)s", city=city_name),
                  headers, formats, note=note)
    wave_bars: list[tuple[str, float]] = []
    for w in upto:
        f = figs.get(complaint_figures.CITY, w)
        table.rows.append([w, *_complaint_columns(f)])
        if f is not None and f.per_1000_responses is not None:
            wave_bars.append((w, f.per_1000_responses))
    fig = charts.bars(table.title, [b[0] for b in wave_bars], [b[1] for b in wave_bars],
                      axis_title=_("Complaints per 1,000 responses")) if wave_bars else None
    out.append(chart(table, fig, _("No wave has valid tourism responses.")))

    out.append(_composite_chart(session, c, tq, wave, figs, names, settings))
    section = ComplaintSection(out)
    if filters.active:
        section.unfiltered_note = _("The complaint figures and the satisfaction composite "
                                    "are for the whole city and all respondents: the filters "
                                    "above do not apply to them.")
    if with_overdue:
        section.overdue = len(complaint_figures.overdue(session, c.id, today))
        section.overdue_url = _overdue_url()
    return section


def _composite_chart(session: Any, c: City, tq: Any, wave: str,
                     figs: complaint_figures.CityFigures, names: Mapping[int, str],
                     settings: estimates.Settings) -> Chart:
    weights = complaint_composite.Weights.from_config(current_app.config)
    scope = estimates.Scope((tq.id,), (wave,), c.id)
    city_kpi = estimates.kpis_by_split(session, settings, scope, estimates.Filters(), []).get(())
    site_cells = estimates.compare_sites(session, settings, scope, estimates.Filters()).cells
    sums = complaint_composite.review_sums(session, list(figs.sites), wave)

    def onsite(cell: estimates.Cell | None) -> complaint_composite.Component:
        if cell is None:
            return complaint_composite.onsite(None, 0, False)
        return complaint_composite.onsite(cell.value.estimate if cell.value else None,
                                          cell.n, cell.suppressed)

    units: list[tuple[str, complaint_composite.Composite]] = []
    city_parts = {
        complaint_composite.ONSITE: onsite(city_kpi.index if city_kpi else None),
        complaint_composite.REVIEWS: complaint_composite.review_index(sums, list(figs.sites)),
        complaint_composite.COMPLAINTS: complaint_composite.complaint_index(
            figs.get(complaint_figures.CITY, wave), weights.rate_ceiling)}
    units.append((_("%(city)s (whole city)", city=localized_name(c)),
                  complaint_composite.compose(city_parts, weights)))
    for sid in figs.sites:
        parts = {
            complaint_composite.ONSITE: onsite(site_cells.get(sid)),
            complaint_composite.REVIEWS: complaint_composite.review_index(sums, [sid]),
            complaint_composite.COMPLAINTS: complaint_composite.complaint_index(
                figs.get(complaint_figures.site_key(sid), wave), weights.rate_ceiling)}
        units.append((names[sid], complaint_composite.compose(parts, weights)))
    table = Table("satisfaction_composite",
                  _("Tourist satisfaction composite, %(wave)s", wave=wave),
                  [_("Unit"), _("On-site survey index"), _("Respondents"),
                   _("Online-review index"), _("Reviews"), _("Complaint index"),
                   _("Complaints"), _("Composite (0–100)"), _("Not computed because")],
                  ["text", "1", "n", "1", "int", "1", "int", "1", "text"],
                  note=_composite_note(weights))
    bars: list[tuple[str, float]] = []
    for label, comp in units:
        p = comp.parts
        on = p[complaint_composite.ONSITE]
        reasons = "; ".join(_reason_text(p[k].reason) for k in comp.missing)
        table.rows.append([
            label, on.value if on.value is not None else
            (SUPPRESSED if on.reason == complaint_composite.ONSITE_SUPPRESSED else None),
            FEW if on.reason == complaint_composite.ONSITE_SUPPRESSED else on.n,
            p[complaint_composite.REVIEWS].value, p[complaint_composite.REVIEWS].n,
            p[complaint_composite.COMPLAINTS].value, p[complaint_composite.COMPLAINTS].n,
            comp.value, reasons or None])
        if comp.value is not None:
            bars.append((label, comp.value))
    fig = charts.bars(table.title, [b[0] for b in bars], [b[1] for b in bars],
                      axis_title=_("Composite (0–100)")) if bars else None
    return chart(table, fig, _("No unit has every component of the composite."))
