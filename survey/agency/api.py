"""Agency JSON API (``/api/v1/agency``): upload a batch, read reports and the scorecard.

Authentication: HTTP Basic with the agency user's e-mail and password (checked with
argon2 by :func:`survey.core.security.verify_password`), on every request, over HTTPS in
production. No cookie is used, so the blueprint is exempt from CSRF. Wrong or missing
credentials → 401 with ``WWW-Authenticate``; a user who is not an agency user → 403; a
batch or city the agency may not see → 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from survey.agency import acceptance
from survey.agency.batches import (
    MAX_BYTES,
    BatchFileError,
    NotServed,
    import_batch,
    served_city_ids,
)
from survey.core import audit
from survey.core.db import get_session
from survey.core.models import Agency, Batch, Role, User
from survey.core.security import verify_password
from survey.core.web import json_errors
from survey.extensions import csrf, limiter

bp = Blueprint("agency_api", __name__, url_prefix="/api/v1/agency")
csrf.exempt(bp)


class _Unauthorized(Exception):
    pass


def agency_user() -> User:
    """The agency user named by the request's Basic credentials (401 / 403 otherwise)."""
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username or not auth.password:
        raise _Unauthorized
    session = get_session()
    user = session.scalar(select(User).where(func.lower(User.email)
                                             == auth.username.strip().lower()))
    if user is None or not user.active or not verify_password(user.password_hash,
                                                             auth.password):
        audit.record(session, "api_login_failed", actor=auth.username[:254])
        session.commit()
        raise _Unauthorized
    if user.role != Role.agency or user.agency_id is None:
        abort(403)
    return user


@bp.errorhandler(_Unauthorized)
def _unauthorized(_exc: Exception) -> ResponseReturnValue:
    return (jsonify({"error": "authentication required: HTTP Basic with the agency "
                              "user's e-mail and password"}), 401,
            {"WWW-Authenticate": 'Basic realm="manyi agency", charset="UTF-8"'})


@bp.post("/batches")
@limiter.limit("30 per minute")
def upload() -> ResponseReturnValue:
    """Multipart form: ``file`` (CSV/XLSX), optional ``city`` (code) and ``wave``.

    201 with the report for a new batch; 200 with the existing one when the same file
    was uploaded before; 422 ``{"error": …}`` when the file as a whole is unusable;
    413 over 20 MB; 404 for a city the agency does not serve.
    """
    user = agency_user()
    if request.content_length is not None and request.content_length > MAX_BYTES + 65536:
        message = f"file: larger than {MAX_BYTES} bytes ({MAX_BYTES >> 20} MB)"
        return jsonify({"error": message}), 413
    upload_file = request.files.get("file")
    if upload_file is None:
        return jsonify({"error": "file: missing (multipart field 'file')"}), 422
    data = upload_file.stream.read(MAX_BYTES + 1)
    session = get_session()
    agency = session.get_one(Agency, user.agency_id)
    try:
        result = import_batch(session, current_app.extensions["manyi.questionnaires"],
                              agency=agency, filename=upload_file.filename or "upload",
                              data=data, city_code=request.form.get("city") or None,
                              wave=request.form.get("wave") or None, uploaded_by=user.id,
                              actor=user.email)
    except NotServed:
        abort(404)
    except BatchFileError as exc:
        session.rollback()
        status = 413 if str(exc).startswith("file:") and "limit" in str(exc) else 422
        return jsonify({"error": str(exc)}), status
    return jsonify(acceptance.report(session, result.batch)), (201 if result.created else 200)


def _own_batch(batch_id: int, user: User) -> Batch:
    session = get_session()
    batch = session.get(Batch, batch_id)
    if (batch is None or batch.agency_id != user.agency_id
            or batch.city_id not in served_city_ids(session, batch.agency_id)):
        abort(404)
    return batch


@bp.get("/batches")
def list_batches() -> ResponseReturnValue:
    user = agency_user()
    session = get_session()
    rows = session.scalars(select(Batch).where(Batch.agency_id == user.agency_id)
                           .order_by(Batch.id.desc()).limit(500))
    return jsonify([{"id": b.id, "filename": b.filename, "wave": b.wave,
                     "uploaded_at": b.uploaded_at.isoformat(), "n_rows": b.n_rows,
                     "n_valid": b.n_valid, "n_invalid": b.n_invalid,
                     "auto_decision": b.auto_decision, "final_decision": b.final_decision}
                    for b in rows])


@bp.get("/batches/<int:batch_id>")
def get_batch(batch_id: int) -> ResponseReturnValue:
    user = agency_user()
    return jsonify(acceptance.report(get_session(), _own_batch(batch_id, user)))


@bp.get("/scorecard")
def get_scorecard() -> ResponseReturnValue:
    user = agency_user()
    session = get_session()
    return jsonify(acceptance.scorecard(session, session.get_one(Agency, user.agency_id)))


json_errors(bp, {403: "only agency users may use this API"})
