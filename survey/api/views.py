"""JSON API: public reads (questionnaires, sites) and response submission."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import joinedload

from survey.core.db import get_session
from survey.core.models import Site
from survey.core.places import site_refs
from survey.core.responses.ingest import Conflict, SubmissionInvalid, prepare, store
from survey.core.web import json_errors
from survey.extensions import csrf, limiter

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def questionnaires() -> dict[str, Any]:
    return current_app.extensions["manyi.questionnaires"]


@bp.get("/questionnaires")
def list_questionnaires() -> ResponseReturnValue:
    return jsonify([
        {"id": q.id, "version": q.version, "domain": q.domain,
         "title": q.title.as_dict()}
        for q in questionnaires().values()
    ])


@bp.get("/questionnaires/<qid>")
def get_questionnaire(qid: str) -> ResponseReturnValue:
    q = questionnaires().get(qid)
    if q is None:
        abort(404)
    return jsonify(q.public_definition())


@bp.get("/sites")
def list_sites() -> ResponseReturnValue:
    session = get_session()
    sites = session.scalars(
        select(Site).where(Site.active.is_(True))
        .options(joinedload(Site.city), joinedload(Site.district)).order_by(Site.code))
    by_kind: dict[str, list[str]] = {}
    for q in questionnaires().values():
        for kind in q.site_kinds:
            by_kind.setdefault(kind, []).append(q.id)
    return jsonify([
        {"code": s.code, "name": {"zh-Hans": s.name_zh, "en": s.name_en}, "kind": s.kind,
         "city": s.city.code, "district": s.district.code,
         "questionnaires": sorted(by_kind.get(s.kind, []))}
        for s in sites
    ])


@bp.post("/responses")
@limiter.limit("120 per minute")
def submit_response() -> ResponseReturnValue:
    """Store one response. 201 new, 200 replay of the same body, 409 same ``client_uuid``
    with other content, 422 invalid (every bad field listed)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify({"error": "invalid", "errors": {
            "body": "must be a JSON object (Content-Type: application/json)"}}), 422
    session = get_session()
    site_code = body.get("site")
    sites = site_refs(session, {site_code}) if isinstance(site_code, str) else {}
    try:
        prepared = prepare(questionnaires(), body, sites)
        response, created = store(session, prepared)
    except SubmissionInvalid as exc:
        return jsonify({"error": "invalid", "errors": exc.errors}), 422
    except Conflict as exc:
        return jsonify({"error": "conflict", "id": exc.response_id, "message": str(exc)}), 409
    return jsonify({"id": response.id, "client_uuid": response.client_uuid,
                    "receipt": response.receipt_code, "status": response.status}), (
        201 if created else 200)


@bp.errorhandler(OperationalError)
def _database_unavailable(_exc: Exception) -> ResponseReturnValue:
    return jsonify({"error": "database unavailable, nothing was stored; retry later"}), 503


json_errors(bp)
