"""Administration: places, QR sheets, accounts."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from flask_login import login_required
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from survey.core.db import get_session
from survey.core.models import City, Site, User
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
    user_count = session.scalar(select(func.count()).select_from(User))
    return render_template("admin/index.html", cities=cities, site_counts=site_counts,
                           user_count=user_count)


@bp.route("/qr-sheet/<city_code>")
@login_required
def qr_sheet(city_code: str) -> ResponseReturnValue:
    """A printable sheet of every site's QR code in a city."""
    require_role("admin")
    session = get_session()
    city = session.scalar(select(City).where(City.code == city_code))
    if city is None:
        from flask import abort

        abort(404)
    sites = list(session.scalars(select(Site).where(Site.city_id == city.id)
                                 .options(joinedload(Site.district)).order_by(Site.code)))
    return render_template("admin/qr_sheet.html", city=city, sites=sites)
