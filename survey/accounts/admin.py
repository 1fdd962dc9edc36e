"""Administration: places, QR sheets, accounts."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from survey.accounts import sessions
from survey.core import audit
from survey.core.db import get_session
from survey.core.models import City, Site, User, UserSession
from survey.core.security import require_role

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/")
@login_required
def index() -> ResponseReturnValue:
    require_role("admin")
    session = get_session()
    cities = list(session.scalars(select(City).order_by(City.code)))
    site_counts = dict(session.execute(
        select(Site.city_id, func.count()).group_by(Site.city_id)).all())
    users = list(session.scalars(select(User).order_by(User.role, User.email)))
    live = dict(session.execute(
        select(UserSession.user_id, func.count()).where(UserSession.ended_at.is_(None))
        .group_by(UserSession.user_id)).all())
    return render_template("admin/index.html", cities=cities, site_counts=site_counts,
                           user_count=len(users), users=users, live=live, form=FlaskForm())


@bp.post("/users/<int:user_id>/end-sessions")
@login_required
def end_sessions(user_id: int) -> ResponseReturnValue:
    """End every session of an account (e.g. a lost phone); audited."""
    require_role("admin")
    if not FlaskForm().validate_on_submit():
        abort(400)
    session = get_session()
    user = session.get(User, user_id)
    if user is None:
        abort(404)
    ended = sessions.end_all(session, user.id, "ended_by_admin")
    audit.record(session, "sessions_ended", actor=current_user.email, user_id=current_user.id,
                 account=user.email, sessions=ended)
    session.commit()
    flash(_("%(n)d session(s) of %(email)s ended.", n=ended, email=user.email))
    return redirect(url_for("admin.index"))


@bp.route("/qr-sheet/<city_code>")
@login_required
def qr_sheet(city_code: str) -> ResponseReturnValue:
    """A printable sheet of every site's QR code in a city."""
    require_role("admin")
    session = get_session()
    city = session.scalar(select(City).where(City.code == city_code))
    if city is None:
        abort(404)
    sites = list(session.scalars(select(Site).where(Site.city_id == city.id)
                                 .options(joinedload(Site.district)).order_by(Site.code)))
    return render_template("admin/qr_sheet.html", city=city, sites=sites)
