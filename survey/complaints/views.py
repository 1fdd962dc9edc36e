"""Tourist complaints on the web (docs/complaints.md): the tourist's pages (no login, no
JavaScript) and the city's case handling (login; officials of the owning city, admins all).

Tourist::

    GET/POST /complaints/new?site=CODE         the form → redirect to the receipt
    GET      /complaints/receipt/<code>        the tracking code and the tracking link
    GET      /complaints/track/<code>          status, deadlines, history (never the phone)
    POST     /complaints/track/<code>/rate     1–5 after closure, once

City (every step through :mod:`survey.complaints.service`, which audits)::

    GET  /complaints                           queue (?status, category, site, overdue, city)
    GET  /complaints/escalations               admins: escalated open cases
    GET  /complaints/case/<id>                 detail with the workflow forms
    POST /complaints/case/<id>/<action>        accept, reject, transfer, reply, mediation,
                                               close, phone ("show", audited)

A case the user may not see (another city's) is a 404 on every one of these URLs, as is an
unknown site or tracking code (a bilingual page). Forms are CSRF-protected (the app-wide
check before the request, and Flask-WTF forms).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response as BaseResponse
from wtforms import (
    BooleanField,
    DateField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)

# SelectChoice is new in WTForms 3.3; types-WTForms 3.2.1 does not declare it yet.
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)

from survey.complaints import crypto, service
from survey.complaints.api import DESCRIPTION_MAX, PHONE_MAX
from survey.complaints.categories import CATEGORIES
from survey.complaints.deadlines import CHINA_TZ, STAGES, local_today
from survey.complaints.errors import ComplaintError
from survey.core.db import get_session
from survey.core.i18n import N_, current_lang, localized, localized_name, translate
from survey.core.models import City, Complaint, ComplaintStatus, Role, Site, as_utc
from survey.core.origin import external_url
from survey.core.places import site_by_code
from survey.core.security import can_see_city, require_city, require_role
from survey.extensions import limiter

bp = Blueprint("complaints", __name__, url_prefix="/complaints")

NOTE_MAX = 2000

STATUS_LABELS = {
    ComplaintStatus.received: _l("Received"),
    ComplaintStatus.accepted: _l("Accepted"),
    ComplaintStatus.rejected: _l("Not accepted"),
    ComplaintStatus.replied: _l("Reply from the responsible unit"),
    ComplaintStatus.mediated: _l("Mediation result"),
    ComplaintStatus.closed: _l("Closed"),
    "transferred": _l("Transferred to another city"),
}
CONSENT_TEXT = (
    _l("Your complaint goes to the tourism authority of the city where the site is. It "
       "may be passed on to another city's authority if that city is responsible."),
    _l("If you give a phone number, only the officials handling your complaint can see "
       "it, and only to call you back. It is stored encrypted and deleted 180 days after "
       "the case is closed."),
    _l("Please do not write other people's names or personal details in the description."),
)
NOT_FOUND_TEXTS = (
    N_("This site or tracking code does not exist."),
    N_("Please check the code on your receipt, or scan the QR code at the site again."),
)
"""The 404 page of the tourist side, shown in Chinese and English at once (a tourist may
read either)."""


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


def deadline_label(name: str) -> str:
    return _(STAGES[name]) if name in STAGES else name


def category_label(code: str) -> str:
    return localized(CATEGORIES.get(code)) or code


@bp.app_template_filter("complaint_status")
def _status_filter(status: str) -> str:
    return status_label(status)


@bp.app_template_filter("complaint_category")
def _category_filter(code: str) -> str:
    return category_label(code)


@bp.app_template_filter("complaint_date")
def _date_filter(moment: datetime | None) -> str:
    """A stored time as China's local date and time (``2026-10-08 14:05``)."""
    if moment is None:
        return ""
    return as_utc(moment).astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


@bp.app_template_filter("deadline_name")
def _deadline_filter(name: str) -> str:
    return deadline_label(name)


def _not_found() -> tuple[str, int]:
    texts = [(lang, [translate(m, lang) for m in NOT_FOUND_TEXTS]) for lang in ("zh-Hans", "en")]
    return render_template("complaints/not_found.html", texts=texts), 404


def _no_store(body: str, status: int = 200) -> BaseResponse:
    response = BaseResponse(body, status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _user() -> Any:
    # The logged-in account (survey.accounts' LoginUser: id, email, role, city_id).
    return current_user._get_current_object()


def _field_errors(form: FlaskForm, exc: ComplaintError | None = None) -> dict[str, str]:
    errors = {name: str(messages[0]) for name, messages in form.errors.items() if messages}
    occurred = getattr(form, "occurred_on", None)
    if "occurred_on" in errors and occurred is not None and occurred.data is None:
        errors["occurred_on"] = _("Please give the date (year-month-day).")
    if exc is not None:
        errors[exc.field] = exc.text(current_lang())
    return errors


# --------------------------------------------------------------------------- forms


class ComplaintForm(FlaskForm):
    category = RadioField(_l("What is the complaint about?"), choices=[],
                          validators=[InputRequired(message=_l("Please choose a category."))])
    description = TextAreaField(_l("What happened?"), validators=[
        DataRequired(message=_l("Please describe what happened.")),
        Length(max=DESCRIPTION_MAX, message=_l("At most %(max)d characters, please."))])
    occurred_on = DateField(_l("When did it happen?"), validators=[
        InputRequired(message=_l("Please give the date (year-month-day)."))])
    contact_phone = StringField(_l("Phone number for a call back (optional)"), validators=[
        Optional(), Length(max=PHONE_MAX, message=_l("At most %(max)d characters, please."))])
    consent = BooleanField(_l("I have read this and agree."), validators=[
        DataRequired(message=_l("Please agree before sending."))])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.category.choices = [SelectChoice(code, localized(labels))
                                 for code, labels in CATEGORIES.items()]

    def validate_occurred_on(self, field: DateField) -> None:
        if field.data is not None and field.data > local_today():
            raise ValidationError(_("The date cannot be in the future."))

    def validate_contact_phone(self, field: StringField) -> None:
        if field.data and field.data.strip():
            try:
                crypto.normalise_phone(field.data)
            except ComplaintError as exc:
                raise ValidationError(exc.text(current_lang())) from None


class RatingForm(FlaskForm):
    rating = RadioField(_l("How satisfied are you with how your complaint was handled?"),
                        choices=[SelectChoice(str(n), str(n)) for n in range(1, 6)],
                        validators=[InputRequired(message=_l("Please choose 1 to 5."))])


class NoteForm(FlaskForm):
    note = TextAreaField(_l("Note (shown to the complainant)"), validators=[
        Optional(), Length(max=NOTE_MAX, message=_l("At most %(max)d characters, please."))])


class RequiredNoteForm(FlaskForm):
    note = TextAreaField(_l("Text (shown to the complainant)"), validators=[
        DataRequired(message=_l("Please fill this in.")),
        Length(max=NOTE_MAX, message=_l("At most %(max)d characters, please."))])


class TransferForm(FlaskForm):
    to_city = SelectField(_l("Transfer to"), choices=[], validators=[
        InputRequired(message=_l("Please choose a city."))])
    note = TextAreaField(_l("Note (shown to the complainant)"), validators=[
        Optional(), Length(max=NOTE_MAX, message=_l("At most %(max)d characters, please."))])


class ActionForm(FlaskForm):
    """A button with only the CSRF token (show the phone number)."""


# --------------------------------------------------------------------------- tourist side


def _site_arg() -> Site | None:
    code = request.args.get("site", "")
    return site_by_code(get_session(), code) if code else None


@bp.route("/new", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def new() -> ResponseReturnValue:
    """The complaint form for the site in ``?site=``."""
    site = _site_arg()
    if site is None:
        return _not_found()
    form = ComplaintForm()
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                complaint = service.create(
                    get_session(), site=site, category=form.category.data,
                    description=(form.description.data or "").strip(),
                    occurred_on=form.occurred_on.data,
                    phone=(form.contact_phone.data or "").strip() or None, channel="web",
                    actor="web")
            except ComplaintError as exc:
                errors = _field_errors(form, exc)
            else:
                return redirect(url_for("complaints.receipt", code=complaint.tracking_code))
        else:
            errors = _field_errors(form)
        errors = {("contact_phone" if k == "phone" else k): v for k, v in errors.items()}
        status = 422
    body = render_template("complaints/new.html", site=site, form=form, errors=errors,
                           consent=CONSENT_TEXT, today=local_today().isoformat(),
                           max_description=DESCRIPTION_MAX)
    return _no_store(body, status)


def _by_code(code: str) -> Complaint | None:
    return service.by_tracking_code(get_session(), code)


@bp.route("/receipt/<code>")
def receipt(code: str) -> ResponseReturnValue:
    complaint = _by_code(code)
    if complaint is None:
        return _not_found()
    track_url = external_url("complaints.track", code=complaint.tracking_code)
    return _no_store(render_template("complaints/receipt.html", complaint=complaint,
                                     track_url=track_url))


def _track_page(complaint: Complaint, form: RatingForm, errors: dict[str, str],
                status: int = 200) -> BaseResponse:
    body = render_template("complaints/track.html", complaint=complaint,
                           deadlines=service.deadlines(complaint), form=form, errors=errors,
                           can_rate=complaint.closed_at is not None
                           and complaint.rating is None)
    return _no_store(body, status)


@bp.route("/track/<code>")
def track(code: str) -> ResponseReturnValue:
    complaint = _by_code(code)
    if complaint is None:
        return _not_found()
    return _track_page(complaint, RatingForm(formdata=None), {})


@bp.route("/track/<code>/rate", methods=["POST"])
@limiter.limit("10 per minute")
def rate(code: str) -> ResponseReturnValue:
    complaint = _by_code(code)
    if complaint is None:
        return _not_found()
    form = RatingForm()
    if not form.validate():
        return _track_page(complaint, form, _field_errors(form), 422)
    try:
        service.rate(get_session(), complaint, int(form.rating.data or 0))
    except ComplaintError as exc:
        return _track_page(complaint, form, {"rating": exc.text(current_lang())}, 422)
    return redirect(url_for("complaints.track", code=complaint.tracking_code))


# --------------------------------------------------------------------------- city side


class BadParam(Exception):
    def __init__(self, param: str, value: str, allowed: list[str]) -> None:
        super().__init__(f"{param}={value!r}")
        self.param, self.value, self.allowed = param, value, allowed


@bp.errorhandler(BadParam)
def _bad_param(exc: BadParam) -> ResponseReturnValue:
    return render_template("complaints/bad_param.html", exc=exc), 400


def _staff() -> None:
    require_role(Role.admin, Role.official)


def _visible_cities() -> list[City]:
    stmt = select(City).order_by(City.code)
    if current_user.role != Role.admin:
        stmt = stmt.where(City.id == current_user.city_id)
    return list(get_session().scalars(stmt))


def is_overdue(complaint: Complaint) -> bool:
    """A deadline of the open case passed without its step."""
    return service.is_overdue(complaint)


@dataclass
class Row:
    complaint: Complaint
    overdue: bool


def _param(name: str, allowed: list[str]) -> str | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    if value not in allowed:
        raise BadParam(name, value, allowed)
    return value


@bp.route("")
@login_required
def queue() -> ResponseReturnValue:
    """The cases of the user's city (every city for admins), newest first, filtered by
    ``status``, ``category``, ``site``, ``overdue`` (``yes``/``no``) and, for admins,
    ``city``; an unknown value is a 400 page naming the parameter."""
    _staff()
    session = get_session()
    service.escalate_overdue(session)
    cities = _visible_cities()
    city_ids = [c.id for c in cities]
    sites = list(session.scalars(select(Site).where(Site.city_id.in_(city_ids))
                                 .order_by(Site.code)))
    status = _param("status", [s.value for s in ComplaintStatus])
    category = _param("category", list(CATEGORIES))
    site = _param("site", [s.code for s in sites])
    overdue = _param("overdue", ["yes", "no"])
    city = _param("city", [c.code for c in cities])
    stmt = (select(Complaint).where(Complaint.city_id.in_(city_ids))
            .options(joinedload(Complaint.site), joinedload(Complaint.city))
            .order_by(Complaint.received_at.desc(), Complaint.id.desc()))
    if status:
        stmt = stmt.where(Complaint.status == status)
    if category:
        stmt = stmt.where(Complaint.category == category)
    if site:
        stmt = stmt.where(Complaint.site_id == next(s.id for s in sites if s.code == site))
    if city:
        stmt = stmt.where(Complaint.city_id == next(c.id for c in cities if c.code == city))
    rows = [Row(c, is_overdue(c)) for c in session.scalars(stmt).unique()]
    if overdue:
        rows = [r for r in rows if r.overdue == (overdue == "yes")]
    return render_template(
        "complaints/queue.html", rows=rows, cities=cities, sites=sites,
        statuses=[s.value for s in ComplaintStatus], categories=list(CATEGORIES),
        selected={"status": status, "category": category, "site": site,
                  "overdue": overdue, "city": city})


@bp.route("/escalations")
@login_required
def escalations() -> ResponseReturnValue:
    """Admins: the escalated cases (a deadline passed) not closed yet."""
    require_role(Role.admin)
    session = get_session()
    service.escalate_overdue(session)
    cases = session.scalars(
        select(Complaint).where(Complaint.escalated_at.is_not(None),
                                Complaint.status != ComplaintStatus.closed)
        .options(joinedload(Complaint.site), joinedload(Complaint.city))
        .order_by(Complaint.escalated_at, Complaint.id)).unique()
    return render_template("complaints/escalations.html",
                           rows=[Row(c, is_overdue(c)) for c in cases])


def _case(cid: int) -> Complaint:
    """The case if the user may handle it; 404 otherwise (never 403)."""
    _staff()
    complaint = get_session().get(Complaint, cid)
    if complaint is None:
        abort(404)
    require_city(complaint.city)
    return complaint


def _forms() -> dict[str, FlaskForm]:
    transfer = TransferForm(formdata=None)
    return {"accept": NoteForm(formdata=None), "reject": RequiredNoteForm(formdata=None),
            "transfer": transfer, "reply": RequiredNoteForm(formdata=None),
            "mediation": RequiredNoteForm(formdata=None),
            "close": RequiredNoteForm(formdata=None), "phone": ActionForm(formdata=None)}


def _transfer_choices(complaint: Complaint) -> list[SelectChoice]:
    cities = get_session().scalars(select(City).where(City.id != complaint.city_id)
                                   .order_by(City.code))
    return [SelectChoice(c.code, localized_name(c)) for c in cities]


ACTIONS = ("accept", "reject", "transfer", "reply", "mediation", "close")
ACTION_OF_STEP = {"accept": "accept", "reject": "reject", "transfer": "transfer",
                  "record_reply": "reply", "record_mediation": "mediation", "close": "close"}
"""service.next_steps names → the action URLs here."""


def possible_actions(complaint: Complaint) -> list[str]:
    """The workflow forms shown now (the service decides; a step it refuses anyway is shown
    as an error next to its form)."""
    return [ACTION_OF_STEP[s] for s in service.next_steps(complaint) if s in ACTION_OF_STEP]


def _detail(complaint: Complaint, *, forms: dict[str, FlaskForm] | None = None,
            errors: dict[str, dict[str, str]] | None = None, phone: str | None = None,
            status: int = 200) -> BaseResponse:
    shown = _forms()
    shown.update(forms or {})
    transfer = shown["transfer"]
    assert isinstance(transfer, TransferForm)
    transfer.to_city.choices = _transfer_choices(complaint)
    body = render_template(
        "complaints/detail.html", complaint=complaint, forms=shown, errors=errors or {},
        deadlines=service.deadlines(complaint), overdue=is_overdue(complaint),
        masked=service.masked_phone(complaint), phone=phone,
        actions=possible_actions(complaint))
    return _no_store(body, status)


@bp.route("/case/<int:cid>")
@login_required
def detail(cid: int) -> ResponseReturnValue:
    return _detail(_case(cid))


def _step(action: str, complaint: Complaint, form: FlaskForm) -> None:
    session, user = get_session(), _user()
    note = (getattr(form, "note").data or "").strip()  # noqa: B009 (every form has it)
    if action == "accept":
        service.accept(session, complaint, user=user, note=note)
    elif action == "reject":
        service.reject(session, complaint, user=user, reason=note)
    elif action == "transfer":
        assert isinstance(form, TransferForm)
        to_city = session.scalar(select(City).where(City.code == form.to_city.data))
        if to_city is None:
            raise ComplaintError("to_city", N_("Unknown city."))
        service.transfer(session, complaint, user=user, to_city=to_city, note=note)
    elif action == "reply":
        service.record_reply(session, complaint, user=user, note=note)
    elif action == "mediation":
        service.record_mediation(session, complaint, user=user, note=note)
    elif action == "close":
        service.close(session, complaint, user=user, outcome=note)


FORM_OF: dict[str, type[FlaskForm]] = {
    "accept": NoteForm, "reject": RequiredNoteForm, "transfer": TransferForm,
    "reply": RequiredNoteForm, "mediation": RequiredNoteForm, "close": RequiredNoteForm}
SERVICE_FIELD = {"reason": "note", "outcome": "note"}
"""Service error fields → the form field they are shown next to."""


@bp.route("/case/<int:cid>/<action>", methods=["POST"])
@login_required
def act(cid: int, action: str) -> ResponseReturnValue:
    """One workflow step; the detail page again with the error next to the field when the
    input is bad or the step impossible (422)."""
    complaint = _case(cid)
    if action == "phone":
        return _reveal(complaint)
    if action not in ACTIONS:
        abort(404)
    form = FORM_OF[action]()
    if isinstance(form, TransferForm):
        form.to_city.choices = _transfer_choices(complaint)
    if not form.validate():
        return _detail(complaint, forms={action: form},
                       errors={action: _field_errors(form)}, status=422)
    try:
        _step(action, complaint, form)
    except ComplaintError as exc:
        field = SERVICE_FIELD.get(exc.field, exc.field)
        return _detail(complaint, forms={action: form},
                       errors={action: {field: exc.text(current_lang())}}, status=422)
    owner = get_session().get(City, complaint.city_id)  # after a transfer: the new city
    if owner is None or not can_see_city(_user(), owner):
        return redirect(url_for("complaints.queue"))
    return redirect(url_for("complaints.detail", cid=complaint.id))


def _reveal(complaint: Complaint) -> BaseResponse:
    """The detail page with the phone number in clear (audited by the service); answered
    directly, never redirected, so the number is in no URL and no cache."""
    form = ActionForm()
    if not form.validate():
        abort(400)
    phone = service.reveal_phone(get_session(), complaint, user=_user())
    return _detail(complaint, phone=phone or "")
