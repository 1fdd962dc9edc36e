"""Anonymized microdata for researchers: ``/export``.

Researchers and admins export any city; officials only their own (server-checked: another
city is a 404). ``POST /export/`` (CSRF) streams a zip with the CSV and its codebook
(JSON + Markdown, and ``.sav``/``.dta`` when asked). Every export is audit-logged by
:func:`survey.export.service.export_files`.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from survey.core.db import engine_of, get_session
from survey.core.models import City, ResponseStatus, Role
from survey.core.models import Response as ResponseRow
from survey.core.security import require_city, require_role
from survey.export.columns import BOOTSTRAP_REPLICATES, MAX_REPLICATES, MIN_VARIANCE_UNIT
from survey.export.service import (
    FORMATS,
    ExportError,
    ExportRequest,
    export_files,
    iter_file,
    parse_count,
)

bp = Blueprint("export", __name__, url_prefix="/export")


def _cities() -> list[City]:
    session = get_session()
    stmt = select(City).order_by(City.code)
    if current_user.role == Role.official:
        stmt = stmt.where(City.id == current_user.city_id)
    return list(session.scalars(stmt))


def _waves() -> list[str]:
    stmt = (select(ResponseRow.wave).where(ResponseRow.status == ResponseStatus.valid.value)
            .group_by(ResponseRow.wave).order_by(ResponseRow.wave))
    if current_user.role == Role.official:
        stmt = stmt.where(ResponseRow.city_id == current_user.city_id)
    return list(get_session().scalars(stmt))


def _page(error: str | None = None, status: int = 200) -> Any:
    return render_template("export/index.html", cities=_cities(), waves=_waves(),
                           formats=FORMATS, error=error,
                           bootstrap_default=BOOTSTRAP_REPLICATES, max_replicates=MAX_REPLICATES,
                           official=current_user.role == Role.official), status


@bp.route("/", methods=["GET"])
@login_required
def index() -> ResponseReturnValue:
    require_role(Role.admin, Role.official, Role.researcher)
    return _page()


@bp.route("/", methods=["POST"])
@login_required
def download() -> ResponseReturnValue:
    require_role(Role.admin, Role.official, Role.researcher)
    form = request.form
    city_code = form.get("city") or None
    if current_user.role == Role.official:
        if city_code is None:
            abort(404)
    if city_code is not None:
        require_city(get_session().scalar(select(City).where(City.code == city_code)))
    questionnaires = current_app.extensions["manyi.questionnaires"]
    qid = form.get("questionnaire", "")
    fmt = form.get("format", "csv")
    design = form.get("design", "labels")
    method = form.get("replicate_method", "jkn")
    workdir = Path(tempfile.mkdtemp(prefix="manyi-export-"))
    try:
        # The bootstrap's count is read only for the bootstrap (the field stays on the
        # form when JKn, one replicate per variance unit, is chosen).
        replicates = (parse_count("replicates", form.get("replicates"))
                      if design == "replicates" and method == "bootstrap" else None)
        export_request = ExportRequest(
            qid, city_code, form.get("wave") or None, bom=form.get("bom") == "1",
            include_text=form.get("text", "0") == "1", format=fmt, design=design,
            replicate_method=method, replicates=replicates,
            min_variance_unit=current_app.config.get("EXPORT_MIN_VARIANCE_UNIT",
                                                     MIN_VARIANCE_UNIT))
        base = f"manyi-{qid}-{city_code or 'all'}-{export_request.wave or 'all'}"
        if design == "replicates":
            base += "-public"
        result = export_files(engine_of(current_app), get_session(), questionnaires,
                              export_request, workdir / f"{base}.csv",
                              actor=current_user.email, user_id=current_user.id)
        archive = workdir / f"{base}.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in (result.csv_path, result.codebook_json, result.codebook_md,
                         result.extra_path):
                if path is not None:
                    zf.write(path, path.name)
                    path.unlink()
    except ExportError as exc:
        get_session().rollback()
        shutil.rmtree(workdir, ignore_errors=True)
        return _page(_("Cannot export: %(reason)s", reason=str(exc)), 400)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise

    def stream() -> Iterator[bytes]:
        try:
            yield from iter_file(archive)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    response = Response(stream(), mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{base}.zip"'
    response.headers["Content-Length"] = str(archive.stat().st_size)
    response.headers["Cache-Control"] = "no-store"
    return response
