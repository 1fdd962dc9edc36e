"""Public results (no login, no JavaScript) and the admins' release and list pages.

Public (read from release snapshots only; docs/public.md)::

    GET /public                                 cities and their latest release
    GET /public/<city>[?wave=W]                 each questionnaire: index, rate, change, trend
    GET /public/<city>/<questionnaire>[?wave=W] dimensions, districts, sites
    GET /public/methodology                     design, weights, formulas, rules, questionnaires
    GET /public/lists[?history=1]               red and black lists; /public/lists/<id>
    GET/POST /public/objection/<token>          the listed unit's objection (one-time link)
    GET /public/data                            open data: files, dictionary, licence
    GET /public/data/<city>/<wave>.csv|.json    the latest release (…/<wave>/r<N>.csv: one)
    GET /public/data/national/<wave>.csv|.json  every city's latest release of the wave

Admins::

    GET/POST /public/admin/releases             preview exactly what will be published, release
    GET      /public/admin/lists                proposals and entries; POST …/<id>/<action>
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from datetime import date
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
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from survey.complaints.deadlines import local_today
from survey.core.db import get_session
from survey.core.i18n import N_, current_lang, localized
from survey.core.models import City, ListEntry, Release, Role
from survey.core.security import require_role
from survey.dashboard.estimates import Settings
from survey.public import reliability, service
from survey.public import snapshot as snap

bp = Blueprint("public", __name__, url_prefix="/public")

LICENCE = "CC BY 4.0"
LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"


def _today() -> date:
    return local_today()


def _city(code: str) -> City:
    city = get_session().scalar(select(City).where(City.code == code))
    if city is None:
        abort(404)
    return city


def title(figures: Mapping[str, Any]) -> str:
    return localized({"zh-Hans": figures["title_zh"], "en": figures["title_en"]})


def reason_text(code: str) -> str:
    zh, en = reliability.REASONS.get(code, (code, code))
    return localized({"zh-Hans": zh, "en": en})


def _context() -> dict[str, Any]:
    return {"reason_text": reason_text, "qtitle": title, "min_n": reliability.MIN_N,
            "reasons": reliability.REASONS}


@bp.app_template_filter("list_state")
def list_state(state: str) -> str:
    return {"proposed": _("proposed"), "declined": _("declined"), "listed": _("listed"),
            "expired": _("expired"), "withdrawn": _("withdrawn"),
            "removed": _("removed after rectification")}.get(state, state)


@bp.app_template_filter("objection_state")
def objection_state(state: str) -> str:
    return {"pending": _("objection under review"), "upheld": _("objection reviewed: entry upheld"),
            "withdrawn": _("objection reviewed: entry withdrawn")}.get(state, state)


@bp.app_template_filter("list_event")
def list_event(kind: str) -> str:
    return {"confirmed": _("listed"), "decision": _("decision on the objection"),
            "removed": _("removed after rectification")}.get(kind, kind)


def _releases_of(city: City) -> dict[str, Release]:
    """The latest release of each released wave of ``city``, oldest wave first (one query)."""
    by_key = service.newest(service.releases(get_session(), city.id))
    return {w: r for (_c, w), r in sorted(by_key.items(), key=lambda kv: kv[0][1])}


def _release_for(city: City, wave: str | None,
                 latest: Mapping[str, Release] | None = None) -> tuple[Release | None, list[str]]:
    latest = _releases_of(city) if latest is None else latest
    waves = list(latest)
    if wave is None:
        wave = waves[-1] if waves else None
    elif wave not in latest:
        abort(404)
    return (latest[wave] if wave else None), waves


@bp.route("")
def index() -> ResponseReturnValue:
    session = get_session()
    cities = list(session.scalars(select(City).order_by(City.code)))
    latest: dict[int, Release] = {}
    for (city_id, _wave), r in sorted(service.newest(service.releases(session)).items(),
                                      key=lambda kv: kv[0][1]):
        latest[city_id] = r  # the newest wave last: it stays
    return render_template("public/index.html", cities=cities, latest=latest, **_context())


@bp.route("/<city>")
def city_page(city: str) -> ResponseReturnValue:
    c = _city(city)
    session = get_session()
    every = service.releases(session, c.id)
    latest = {w: r for (_c, w), r in sorted(service.newest(every).items(),
                                             key=lambda kv: kv[0][1])}
    rel, waves = _release_for(c, request.args.get("wave"), latest)
    trend = {w: r.snapshot["questionnaires"] for w, r in latest.items()}
    history = [r for r in every if rel is not None and r.wave == rel.wave]
    return render_template("public/city.html", city=c, rel=rel, waves=waves, trend=trend,
                           history=history, **_context())


@bp.route("/<city>/<questionnaire>")
def questionnaire_page(city: str, questionnaire: str) -> ResponseReturnValue:
    c = _city(city)
    rel, waves = _release_for(c, request.args.get("wave"))
    if rel is None or questionnaire not in rel.snapshot["questionnaires"]:
        abort(404)
    figures = rel.snapshot["questionnaires"][questionnaire]
    return render_template("public/questionnaire.html", city=c, rel=rel, waves=waves,
                           q=figures, **_context())


@bp.route("/methodology")
def methodology() -> ResponseReturnValue:
    qs = current_app.extensions["manyi.questionnaires"]
    return render_template("public/methodology.html", qs=list(qs.values()),
                           settings=Settings.of(current_app.config), rules=reliability,
                           **_context())


# --------------------------------------------------------------------------- lists

@bp.route("/lists")
def lists() -> ResponseReturnValue:
    session = get_session()
    history = request.args.get("history") == "1"
    today = _today()
    rows = service.public_entries(session, today, current=not history)
    return render_template("public/lists.html", rows=rows, history=history, today=today,
                           state=service.state, **_context())


@bp.route("/lists/<int:entry_id>")
def list_entry(entry_id: int) -> ResponseReturnValue:
    session = get_session()
    row = session.get(ListEntry, entry_id)
    if row is None or row.status not in (service.LISTED, service.WITHDRAWN, service.REMOVED):
        abort(404)
    return render_template("public/entry.html", row=row, state=service.state(row, _today()),
                           events=[e for e in row.events if e.public], **_context())


@bp.route("/objection/<token>", methods=["GET", "POST"])
def objection(token: str) -> ResponseReturnValue:
    session = get_session()
    try:
        row = service.by_token(session, token)
    except service.NotFound:
        abort(404)
    error = None
    if request.method == "POST":
        try:
            service.object_to(session, token, text=request.form.get("text", ""),
                              today=_today())
            session.commit()
            return render_template("public/objection_done.html", row=row, **_context())
        except service.PublicError as exc:
            session.rollback()
            error = exc.text(current_lang())
    return render_template("public/objection.html", row=row, error=error,
                           text=request.form.get("text", ""),
                           state=service.state(row, _today()), **_context()), \
        (422 if error else 200)


# --------------------------------------------------------------------------- open data

@bp.route("/data")
def data_index() -> ResponseReturnValue:
    session = get_session()
    rels = service.releases(session)
    cities = {c.id: c for c in session.scalars(select(City))}
    waves = sorted({r.wave for r in rels}, reverse=True)
    return render_template("public/data.html", rels=rels, cities=cities, waves=waves,
                           fields=snap.ROW_FIELDS, licence=LICENCE, licence_url=LICENCE_URL,
                           **_context())


def _file(rows: list[dict[str, Any]], name: str, fmt: str,
          meta: Mapping[str, Any]) -> ResponseReturnValue:
    if fmt == "json":
        body = json.dumps({**meta, "licence": LICENCE, "fields": list(snap.ROW_FIELDS),
                           "rows": rows}, ensure_ascii=False, indent=1)
        return Response(body, mimetype="application/json",
                        headers={"Content-Disposition": f'inline; filename="{name}.json"'})
    out = io.StringIO()
    out.write("\ufeff")  # UTF-8 with BOM: Excel opens the Chinese names correctly
    writer = csv.DictWriter(out, fieldnames=list(snap.ROW_FIELDS), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return Response(out.getvalue().encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def _fmt(ext: str) -> str:
    if ext not in ("csv", "json"):
        abort(404)
    return ext


@bp.route("/data/<city>/<wave>.<ext>")
def data_file(city: str, wave: str, ext: str) -> ResponseReturnValue:
    fmt = _fmt(ext)
    if city == "national":
        return _national(wave, fmt)
    c = _city(city)
    rel = service.latest(get_session(), c.id, wave)
    if rel is None:
        abort(404)
    return _file(snap.rows(rel.snapshot), f"{c.code}-{wave}", fmt, _meta(rel))


@bp.route("/data/<city>/<wave>/r<int:number>.<ext>")
def data_release_file(city: str, wave: str, number: int, ext: str) -> ResponseReturnValue:
    fmt = _fmt(ext)
    c = _city(city)
    rel = get_session().scalar(select(Release).where(Release.city_id == c.id,
                                                     Release.wave == wave,
                                                     Release.number == number))
    if rel is None:
        abort(404)
    return _file(snap.rows(rel.snapshot), f"{c.code}-{wave}-r{number}", fmt, _meta(rel))


def _meta(rel: Release) -> dict[str, Any]:
    return {"city": rel.snapshot["city"], "wave": rel.wave, "release": rel.number,
            "released_at": rel.released_at.isoformat(), "note": rel.note, "sha256": rel.digest}


def _national(wave: str, fmt: str) -> ResponseReturnValue:
    session = get_session()
    rows: list[dict[str, Any]] = []
    included = []
    for c in session.scalars(select(City).order_by(City.code)):
        rel = service.latest(session, c.id, wave)
        if rel is not None:
            rows.extend(snap.rows(rel.snapshot))
            included.append({"city": c.code, "release": rel.number, "sha256": rel.digest})
    if not included:
        abort(404)
    return _file(rows, f"national-{wave}", fmt, {"wave": wave, "releases": included})


# --------------------------------------------------------------------------- admin

def _months() -> tuple[int, ...]:
    return service.display_periods(str(current_app.config["LIST_DISPLAY_MONTHS"]))


def _admin() -> None:
    require_role(Role.admin)


@bp.route("/admin/releases", methods=["GET", "POST"])
@login_required
def admin_releases() -> ResponseReturnValue:
    _admin()
    session = get_session()
    qs = current_app.extensions["manyi.questionnaires"]
    cities = list(session.scalars(select(City).order_by(City.code)))
    form = {k: (request.form.get(k) or request.args.get(k) or "").strip()
            for k in ("city", "wave", "questionnaire", "note")}
    plan, error, done = None, None, None
    if request.method == "POST" or form["city"]:
        try:
            plan = service.preview(session, Settings.of(current_app.config), qs, form["city"],
                                   form["wave"], form["questionnaire"] or None)
        except service.PublicError as exc:
            error = exc.text(current_lang())
    if request.method == "POST" and plan is not None and request.form.get("action") == "release":
        if request.form.get("digest") != service.digest(plan.snapshot):
            error = _("The figures changed since the preview (new responses or weights): "
                      "check the preview again before releasing.")
        else:
            try:
                row = service.release(session, plan, note=form["note"],
                                      actor=current_user.email, user_id=current_user.id)
                session.commit()
                done = row
                plan = None
            except service.PublicError as exc:
                session.rollback()
                error = exc.text(current_lang())
    return render_template("public/admin_releases.html", cities=cities, qs=qs, form=form,
                           plan=plan, error=error, done=done,
                           plan_digest=service.digest(plan.snapshot) if plan else "",
                           rels=service.releases(session), **_context()), \
        (422 if error and request.method == "POST" else 200)


@bp.route("/admin/lists")
@login_required
def admin_lists() -> ResponseReturnValue:
    _admin()
    session = get_session()
    return render_template("public/admin_lists.html", rows=service.proposals(session),
                           today=_today(), state=service.state, months=_months(),
                           token=None, **_context())


@bp.route("/admin/lists/<int:entry_id>/<action>", methods=["POST"])
@login_required
def admin_list_action(entry_id: int, action: str) -> ResponseReturnValue:
    _admin()
    session = get_session()
    try:
        row = service.entry(session, entry_id)
    except service.NotFound:
        abort(404)
    who = {"actor": current_user.email, "user_id": current_user.id}
    token = None
    try:
        if action == "confirm":
            try:
                months = int(request.form.get("months", ""))
            except ValueError:
                raise service.PublicError(N_("display period: choose one of %(months)s months"),
                                          months=", ".join(map(str, _months()))) from None
            token = service.confirm(session, row, reason=request.form.get("reason", ""),
                                    months=months, today=_today(), allowed=_months(), **who)
        elif action == "decline":
            service.decline(session, row, reason=request.form.get("reason", ""), **who)
        elif action == "decide":
            service.decide(session, row, decision=request.form.get("decision", ""),
                           reason=request.form.get("reason", ""), **who)
        elif action == "remove":
            service.remove_after_rectification(session, row,
                                               notice=request.form.get("reason", ""),
                                               today=_today(), **who)
        else:
            abort(404)
    except service.PublicError as exc:
        session.rollback()
        return render_template("public/admin_lists.html", rows=service.proposals(session),
                               today=_today(), state=service.state,
                               months=_months(), token=None, error=exc.text(current_lang()),
                               error_entry=entry_id, **_context()), 422
    session.commit()
    if token is not None:
        link = url_for("public.objection", token=token, _external=True)
        return render_template("public/admin_lists.html", rows=service.proposals(session),
                               today=_today(), state=service.state,
                               months=_months(), token=link, token_entry=row,
                               **_context())
    return redirect(url_for("public.admin_lists"))
