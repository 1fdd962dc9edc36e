"""Tourist complaints over the JSON API (``/api/v1``; docs/openapi.yaml, docs/complaints.md).

    POST /api/v1/complaints          {"site", "category", "description", "occurred_on",
                                     "contact_phone"?, "channel"?} → 201
                                     {"tracking_code", "status"}; 422 naming every bad field
    GET  /api/v1/complaints/<code>   status, deadlines and history — never contact data

Both are rate limited per client address (no survey token: a complaint is not a survey
response). Errors follow the API's conventions (:mod:`survey.core.hygiene`,
:mod:`survey.core.jsonbody`): ``{"error": …, "errors": {<field>: <reason>}}``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from survey.complaints import crypto, service
from survey.complaints.categories import CATEGORIES
from survey.complaints.deadlines import local_today
from survey.complaints.errors import ComplaintError
from survey.core.db import get_session
from survey.core.jsonbody import BodyRefused, read_json_object
from survey.core.models import Complaint, Site, as_utc
from survey.core.places import site_by_code
from survey.extensions import csrf, limiter

bp = Blueprint("complaints_api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

SUBMIT_LIMIT = "10 per minute"
READ_LIMIT = "60 per minute"
FIELDS = ("site", "category", "description", "occurred_on", "contact_phone", "channel")
CHANNELS = ("api", "web")
"""What a client may declare; hotline cases come only through imports (``source``)."""
DESCRIPTION_MAX = service.MAX_DESCRIPTION
PHONE_MAX = 32
SITE_CODE_MAX = 32
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
FIELD_OF = {"phone": "contact_phone", "contact_phone": "contact_phone"}
"""Service error fields → the API's field names (the service calls the number ``phone``)."""


class Invalid(Exception):
    """Bad fields of a complaint, every one: ``errors`` maps field → reason."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def _text(body: dict[str, Any], name: str, errors: dict[str, str], *, required: bool,
          max_length: int) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            errors[name] = "required"
        return None
    if not isinstance(value, str):
        errors[name] = f"must be a string, not {type(value).__name__}"
        return None
    value = value.strip()
    if not value:
        if required:
            errors[name] = "required (empty)"
        return None
    if len(value) > max_length:
        errors[name] = f"at most {max_length} characters ({len(value)} given)"
        return None
    return value


def parse_occurred_on(value: str, today: date) -> tuple[date | None, str | None]:
    """``value`` (``YYYY-MM-DD``) as a date not after ``today``, or the reason it is not."""
    if not _DATE.fullmatch(value):
        return None, f"{value!r} is not a date (YYYY-MM-DD)"
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        return None, f"{value!r} is not a date (YYYY-MM-DD)"
    if parsed > today:
        return None, f"{value} is in the future"
    return parsed, None


def parse_body(body: dict[str, Any], today: date) -> dict[str, Any]:
    """The complaint's fields from a JSON body, or :class:`Invalid` listing every bad
    field (unknown fields included)."""
    errors: dict[str, str] = {
        str(name): "unknown field; allowed: " + ", ".join(FIELDS)
        for name in body if name not in FIELDS}
    site_code = _text(body, "site", errors, required=True, max_length=SITE_CODE_MAX)
    category = _text(body, "category", errors, required=True, max_length=64)
    description = _text(body, "description", errors, required=True,
                        max_length=DESCRIPTION_MAX)
    occurred = _text(body, "occurred_on", errors, required=True, max_length=32)
    phone = _text(body, "contact_phone", errors, required=False, max_length=PHONE_MAX)
    channel = _text(body, "channel", errors, required=False, max_length=16) or "api"
    if category is not None and category not in CATEGORIES:
        errors["category"] = f"unknown category {category!r}; one of {', '.join(CATEGORIES)}"
    occurred_on = None
    if occurred is not None:
        occurred_on, reason = parse_occurred_on(occurred, today)
        if reason:
            errors["occurred_on"] = reason
    if phone is not None:
        try:
            crypto.normalise_phone(phone)
        except ComplaintError as exc:
            errors["contact_phone"] = exc.message
    if "channel" not in errors and channel not in CHANNELS:
        errors["channel"] = f"unknown channel {channel!r}; one of {', '.join(CHANNELS)}"
    site: Site | None = None
    if site_code is not None:
        site = site_by_code(get_session(), site_code)
        if site is None:
            errors["site"] = f"unknown site {site_code!r}"
    if errors:
        raise Invalid(dict(sorted(errors.items())))
    return {"site": site, "category": category, "description": description,
            "occurred_on": occurred_on, "phone": phone, "channel": channel}


def create(fields: dict[str, Any], *, actor: str) -> Complaint:
    """:func:`service.create` on parsed fields; :class:`Invalid` for the service's refusal
    (named by the API's field name)."""
    try:
        return service.create(get_session(), actor=actor, **fields)
    except ComplaintError as exc:
        raise Invalid({FIELD_OF.get(exc.field, exc.field): exc.message}) from None


def _iso(value: date | datetime | None) -> str | None:
    """ISO 8601; a time always with its offset (SQLite returns stored UTC times naive)."""
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return value.isoformat() if value is not None else None


def public_view(complaint: Complaint) -> dict[str, Any]:
    """What the complainant may see of a case (never the phone number)."""
    return {
        "tracking_code": complaint.tracking_code,
        "status": complaint.status,
        "category": complaint.category,
        "site": complaint.site.code,
        "received_at": _iso(complaint.received_at),
        "deadlines": {
            d.name: {"due": _iso(d.due), "done_at": _iso(d.done_at), "met": d.met,
                     "overdue_days": d.overdue_days, "provisional": d.provisional}
            for d in service.deadlines(complaint)},
        "history": [{"at": _iso(e.at), "status": e.status, "note": e.note or ""}
                    for e in complaint.events],
        "rating": complaint.rating,
    }


@bp.post("/complaints")
@limiter.limit(SUBMIT_LIMIT)
def submit() -> ResponseReturnValue:
    """File a complaint: 201 ``{tracking_code, status}``; 413/415/422 as every JSON body
    (:mod:`survey.core.jsonbody`); 422 naming every bad field."""
    try:
        body = read_json_object(request, current_app.config["MAX_JSON_BYTES"])
    except BodyRefused as exc:
        return jsonify(exc.payload), exc.status
    try:
        complaint = create(parse_body(body, local_today()), actor="api")
    except Invalid as exc:
        return jsonify({"error": "invalid", "errors": exc.errors}), 422
    return jsonify({"tracking_code": complaint.tracking_code,
                    "status": complaint.status}), 201


@bp.get("/complaints/<code>")
@limiter.limit(READ_LIMIT)
def track(code: str) -> ResponseReturnValue:
    """A case by its tracking code: 200, or 404 ``{"error": "not found"}``."""
    complaint = service.by_tracking_code(get_session(), code)
    if complaint is None:
        return jsonify({"error": "not found",
                        "errors": {"code": "no complaint has this tracking code"}}), 404
    response = jsonify(public_view(complaint))
    response.headers["Cache-Control"] = "no-store"
    return response
