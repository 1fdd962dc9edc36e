"""Anonymized microdata for researchers."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

from survey.models import Role
from survey.security import require_role

bp = Blueprint("export", __name__, url_prefix="/export")


@bp.route("/")
@login_required
def index():  # type: ignore[no-untyped-def]
    require_role(Role.admin, Role.official, Role.researcher)
    return render_template("export/index.html")
