"""Agency JSON API (``/api/v1/agency``): upload a batch, read reports and the scorecard.

Authentication: ``Authorization: Bearer <token>`` with an agency API token
(:mod:`survey.agency.tokens`; created with ``manyi agency token create``, revocable,
optionally expiring), on every request, over HTTPS in production. Human passwords are
never accepted. No cookie is used, so the blueprint is exempt from CSRF. A missing, wrong,
revoked or expired token → 401 with ``WWW-Authenticate: Bearer`` (the same answer for all,
so nothing can be confirmed); ``API_AUTH_FAILURES_PER_CLIENT`` rejected tokens from one
client → 429 with ``Retry-After``; a batch or city the agency may not see → 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from survey.accounts import throttle
from survey.agency import acceptance, tokens
from survey.agency.batches import (
    MAX_BYTES,
    BatchFileError,
    LimitExceeded,
    NotServed,
    import_batch,
    served_city_ids,
)
from survey.core import audit
from survey.core.db import get_session
from survey.core.models import Agency, AgencyToken, Batch, as_utc
from survey.core.security import client_hash
from survey.extensions import csrf, limiter

bp = Blueprint("agency_api", __name__, url_prefix="/api/v1/agency")
csrf.exempt(bp)


class _Unauthorized(Exception):
    pass


class _Throttled(Exception):
    def __init__(self, wait: int) -> None:
        super().__init__(wait)
        self.wait = wait


def agency_token() -> AgencyToken:
    """The live token of the request's ``Authorization: Bearer`` header (401 / 429)."""
    client = client_hash()
    wait = throttle.api_retry_after(client)
    if wait is not None:
        raise _Throttled(wait)
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    session = get_session()
    row = tokens.authenticate(session, raw.strip()) if scheme.lower() == "bearer" else None
    if row is None:
        audit.record(session, "api_auth_failed", actor="anonymous",
                     scheme=scheme.lower()[:16] or None)
        session.commit()
        wait = throttle.api_record_failure(client)
        if wait is not None:
            raise _Throttled(wait)
        raise _Unauthorized
    return row


@bp.errorhandler(_Unauthorized)
def _unauthorized(_exc: Exception) -> ResponseReturnValue:
    return (jsonify({"error": "authentication required: Authorization: Bearer <agency API "
                              "token> (manyi agency token create)"}), 401,
            {"WWW-Authenticate": 'Bearer realm="manyi agency"'})


@bp.errorhandler(_Throttled)
def _throttled(exc: _Throttled) -> ResponseReturnValue:
    return (jsonify({"error": f"too many rejected credentials from this client; retry in "
                              f"{exc.wait} s"}), 429, {"Retry-After": str(exc.wait)})


def _actor(token: AgencyToken) -> str:
    return f"token:{token.prefix}"


@bp.post("/batches")
@limiter.limit("30 per minute")
def upload() -> ResponseReturnValue:
    """Multipart form: ``file`` (CSV/XLSX), optional ``city`` (code) and ``wave``.

    201 with the report for a new batch (also when every row is invalid: the batch is
    stored with its row report and rejected); 200 with the existing one when the same file
    was uploaded before; 422 ``{"error": …}`` when the file as a whole is unusable or over
    a row, column, cell or XLSX limit (the message names the limit and its value); 413
    over ``MAX_BYTES`` (20 MB); 404 for a city the agency does not serve.
    """
    token = agency_token()
    if request.content_length is not None and request.content_length > MAX_BYTES + 65536:
        message = (f"file: the request has {request.content_length} bytes; the limit is "
                   f"{MAX_BYTES} bytes ({MAX_BYTES >> 20} MB) per file")
        return jsonify({"error": message}), 413
    upload_file = request.files.get("file")
    if upload_file is None:
        return jsonify({"error": "file: missing (multipart field 'file')"}), 422
    data = upload_file.stream.read(MAX_BYTES + 1)
    session = get_session()
    agency = session.get_one(Agency, token.agency_id)
    try:
        result = import_batch(session, current_app.extensions["manyi.questionnaires"],
                              agency=agency, filename=upload_file.filename or "upload",
                              data=data, city_code=request.form.get("city") or None,
                              wave=request.form.get("wave") or None,
                              actor=_actor(token))
    except NotServed:
        abort(404)
    except BatchFileError as exc:
        session.rollback()
        status = 413 if isinstance(exc, LimitExceeded) and exc.too_large else 422
        return jsonify({"error": str(exc)}), status
    return jsonify(acceptance.report(session, result.batch)), (201 if result.created else 200)


def _own_batch(batch_id: int, token: AgencyToken) -> Batch:
    session = get_session()
    batch = session.get(Batch, batch_id)
    if (batch is None or batch.agency_id != token.agency_id
            or batch.city_id not in served_city_ids(session, batch.agency_id)):
        abort(404)
    return batch


@bp.get("/batches")
def list_batches() -> ResponseReturnValue:
    token = agency_token()
    session = get_session()
    rows = session.scalars(select(Batch).where(Batch.agency_id == token.agency_id)
                           .order_by(Batch.id.desc()).limit(500))
    return jsonify([{"id": b.id, "filename": b.filename, "wave": b.wave,
                     "uploaded_at": as_utc(b.uploaded_at).isoformat(), "n_rows": b.n_rows,
                     "n_valid": b.n_valid, "n_invalid": b.n_invalid,
                     "auto_decision": b.auto_decision, "final_decision": b.final_decision}
                    for b in rows])


@bp.get("/batches/<int:batch_id>")
def get_batch(batch_id: int) -> ResponseReturnValue:
    token = agency_token()
    return jsonify(acceptance.report(get_session(), _own_batch(batch_id, token)))


@bp.get("/scorecard")
def get_scorecard() -> ResponseReturnValue:
    token = agency_token()
    session = get_session()
    return jsonify(acceptance.scorecard(session, session.get_one(Agency, token.agency_id)))

