"""JSON API: public reads (questionnaires, sites) and response submission."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from survey.core.db import get_session
from survey.core.jsonbody import BodyRefused, read_json_object
from survey.core.models import Site
from survey.core.places import site_ref
from survey.core.responses.ingest import Conflict, SubmissionInvalid, prepare
from survey.core.security import client_hash
from survey.extensions import csrf, limiter
from survey.integrity import service as integrity
from survey.integrity.tokens import TokenRefused

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


@bp.get("/survey-token")
@limiter.limit("30 per minute")
def survey_token() -> ResponseReturnValue:
    """A survey token for one response at ``site`` to ``questionnaire``: 200 ``{token,
    expires_at}``, 404 unknown site or questionnaire, 422 missing parameter or a site where
    the questionnaire is not asked."""
    site_code, qid = request.args.get("site", ""), request.args.get("questionnaire", "")
    missing = {name: "required" for name, value in (("site", site_code),
                                                    ("questionnaire", qid)) if not value}
    if missing:
        return jsonify({"error": "invalid", "errors": missing}), 422
    q = questionnaires().get(qid)
    if q is None:
        return jsonify({"error": "not found", "errors": {
            "questionnaire": f"unknown questionnaire {qid!r}"}}), 404
    site = site_ref(get_session(), site_code)
    if site is None:
        return jsonify({"error": "not found", "errors": {
            "site": f"unknown site {site_code!r}"}}), 404
    if site.kind not in q.site_kinds:
        return jsonify({"error": "invalid", "errors": {
            "site": f"site {site.code} is a {site.kind}; {q.id} is asked at "
                    f"{', '.join(q.site_kinds)}"}}), 422
    token, expires_at = integrity.issue_token(_policy(), site.code, q.id)
    return jsonify({"token": token, "expires_at": expires_at.isoformat()})


def _policy() -> integrity.Policy:
    return integrity.Policy.from_config(current_app.config)


@bp.post("/responses")
@limiter.limit("120 per minute")
def submit_response() -> ResponseReturnValue:
    """Store one response. 201 new, 200 replay of the same body, 403 no valid survey
    token, 409 same ``client_uuid`` with other content, 413 body over ``MAX_JSON_BYTES``,
    415 not JSON, 422 invalid (every bad field listed; also a body that is not UTF-8, not
    JSON, nested too deep or holding a NUL or lone surrogate: :mod:`survey.core.jsonbody`),
    429 the client's daily limit at the site reached."""
    try:
        body = read_json_object(request, current_app.config["MAX_JSON_BYTES"])
    except BodyRefused as exc:
        return jsonify(exc.payload), exc.status
    session = get_session()
    token = body.pop("survey_token", None)
    site_code = body.get("site")
    site = site_ref(session, site_code) if isinstance(site_code, str) else None
    sites = {site.code: site} if site is not None else {}
    try:
        prepared = prepare(questionnaires(), body, sites)
        response, created = integrity.submit(session, prepared, token,
                                             client_hash=client_hash(), policy=_policy())
    except SubmissionInvalid as exc:
        return jsonify({"error": "invalid", "errors": exc.errors}), 422
    except TokenRefused as exc:
        return jsonify({"error": "survey token", "reason": exc.reason,
                        "message": exc.message}), 403
    except integrity.DailyCapReached as exc:
        return jsonify({"error": "daily limit", "limit": exc.limit, "message": str(exc)}), 429
    except Conflict as exc:
        return jsonify({"error": "conflict", "id": exc.response_id, "message": str(exc)}), 409
    return jsonify({"id": response.id, "client_uuid": response.client_uuid,
                    "receipt": response.receipt_code, "status": response.status}), (
        201 if created else 200)

