"""``GET /api/v1/public/releases``: every release (no login; docs/openapi.yaml)."""

from __future__ import annotations

from flask import Blueprint, jsonify, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from survey.core.db import get_session
from survey.core.models import City
from survey.extensions import csrf, limiter
from survey.public import service

bp = Blueprint("public_api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


@bp.route("/public/releases")
@limiter.limit("60 per minute")
def releases() -> ResponseReturnValue:
    session = get_session()
    codes = {c.id: c.code for c in session.scalars(select(City))}
    rows = service.releases(session)
    newest = service.newest(rows)
    out = []
    for r in rows:
        city = codes[r.city_id]
        out.append({
            "city": city, "wave": r.wave, "number": r.number,
            "released_at": r.released_at.isoformat(), "questionnaires": r.questionnaires,
            "note": r.note, "sha256": r.digest,
            "latest": newest[(r.city_id, r.wave)].id == r.id,
            "csv": url_for("public.data_release_file", city=city, wave=r.wave,
                           number=r.number, ext="csv"),
            "json": url_for("public.data_release_file", city=city, wave=r.wave,
                            number=r.number, ext="json")})
    return jsonify({"releases": out})
