"""Measurement agencies on the web (``/agency``): agency users upload batches for the
cities their agency serves and read their reports; admins manage agencies, decide on
batches (confirm or override, with a written reason), restore responses, and read every
agency's scorecard. Session login (Flask-Login); every form has CSRF.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import (
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)

# SelectChoice is new in WTForms 3.3; types-WTForms 3.2.1 does not declare it yet.
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from survey.agency import acceptance, tokens
from survey.agency.batches import (
    MAX_BYTES,
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    MAX_ROWS,
    BatchFileError,
    LimitExceeded,
    NotServed,
    import_batch,
    served_city_ids,
)
from survey.agency.service import save_agency
from survey.core import audit
from survey.core.db import get_session
from survey.core.models import (
    Agency,
    AgencyCity,
    Batch,
    City,
    Decision,
    Response,
    ResponseStatus,
    Role,
)
from survey.core.security import require_role
from survey.core.waves import WAVE_RE

bp = Blueprint("agency", __name__, url_prefix="/agency")


def _share(value: object) -> str:
    return f"{float(value):.1%}" if isinstance(value, int | float) else str(value)


def reason_text(reason: Mapping[str, Any]) -> str:
    """A decision reason in the reader's language (stored reasons keep their English
    message for the JSON report; the page translates them from the rule and figures)."""
    rule, f = reason.get("rule"), reason
    if rule == "no_valid_rows":
        return _("No valid row was stored.")
    if rule == "duplicates_over_limit":
        return _("%(figure)s of rows duplicate another row (limit %(limit)s).",
                 figure=_share(f.get("figure")), limit=_share(f.get("limit")))
    if rule == "outlier_interviewer":
        return _("Interviewer(s) %(names)s answer unlike the others (possible fabrication).",
                 names=f.get("interviewers", ""))
    if rule == "flagged_over_limit":
        return _("%(figure)s of stored rows are flagged (limit %(limit)s).",
                 figure=_share(f.get("figure")), limit=_share(f.get("limit")))
    if rule == "invalid_over_limit":
        return _("%(figure)s of data rows are invalid (limit %(limit)s).",
                 figure=_share(f.get("figure")), limit=_share(f.get("limit")))
    if rule == "check_failed":
        return _("Check %(check)s failed: figure %(figure)s, threshold %(limit)s.",
                 check=f.get("check", ""), figure=f"{float(f.get('figure', 0)):.4g}",
                 limit=f"{float(f.get('limit', 0)):.4g}")
    if rule == "invalid_rows":
        return _("%(n)s row(s) invalid, not stored.", n=f.get("figure", ""))
    if rule == "all_passed":
        return _("Every check passed.")
    return str(reason.get("message", ""))


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"reason_text": reason_text}

CHECK_TITLES = {
    "duplicates": _l("Duplicate answer vectors"),
    "speeders": _l("Speeders"),
    "straightlining": _l("Straight-lining"),
    "interviewer_effect": _l("Interviewer effect"),
    "timestamps": _l("Implausible timestamps"),
    "composition": _l("Sample composition"),
    "item_nonresponse": _l("Item non-response"),
}
DECISION_TITLES = {
    Decision.accepted: _l("accepted"), Decision.conditional: _l("conditional"),
    Decision.rejected: _l("rejected"), None: _l("awaiting decision"),
}


class UploadForm(FlaskForm):
    file = FileField(_l("Batch file (CSV or XLSX)"), validators=[FileRequired()])
    city = SelectField(_l("City"), validators=[DataRequired()])
    wave = StringField(_l("Wave (e.g. 2026Q4; empty = inferred)"),
                       validators=[Optional(), Regexp(WAVE_RE.pattern)])


class DecisionForm(FlaskForm):
    decision = RadioField(_l("Decision"),
                          choices=[SelectChoice(d, d) for d in acceptance.DECISIONS],
                          validators=[DataRequired()])
    reason = TextAreaField(_l("Written reason (required to override)"),
                           validators=[Length(max=2000)])


class RestoreForm(FlaskForm):
    reason = TextAreaField(_l("Written reason"), validators=[
        DataRequired(), Length(min=acceptance.MIN_REASON_LENGTH, max=2000)])


class AgencyForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32),
                                               Regexp(r"^[A-Za-z0-9_-]+$")])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    accreditation_no = StringField(_l("Accreditation number"), validators=[Length(max=64)])
    contact = StringField(_l("Contact"), validators=[Length(max=200)])
    cities = SelectMultipleField(_l("Cities served"))


def questionnaires() -> dict[str, Any]:
    return current_app.extensions["manyi.questionnaires"]


def _visible_batch(batch_id: int) -> Batch:
    """The batch if the user may see it (admins: all; agency users: their agency's, in a
    city it serves), else 404."""
    session = get_session()
    batch = session.get(Batch, batch_id)
    if batch is None:
        abort(404)
    if current_user.role == Role.admin:
        return batch
    if (current_user.role != Role.agency or batch.agency_id != current_user.agency_id
            or batch.city_id not in served_city_ids(session, batch.agency_id)):
        abort(404)
    return batch


def _city_choices(agency_id: int | None) -> list[SelectChoice]:
    """(code, name) of every city, or of the cities ``agency_id`` serves."""
    stmt = select(City).order_by(City.code)
    if agency_id is not None:
        stmt = stmt.join(AgencyCity, AgencyCity.city_id == City.id).where(
            AgencyCity.agency_id == agency_id)
    return [SelectChoice(c.code, f"{c.name_zh} {c.name_en}") for c in get_session().scalars(stmt)]


@bp.route("/")
@login_required
def index() -> ResponseReturnValue:
    require_role(Role.admin, Role.agency)
    return redirect(url_for("agency.batches"))


@bp.route("/batches", methods=["GET", "POST"])
@login_required
def batches() -> ResponseReturnValue:
    """Agency users: the upload form and their batches. Admins: every batch."""
    require_role(Role.admin, Role.agency)
    session = get_session()
    is_agency = current_user.role == Role.agency
    form = UploadForm() if is_agency else None
    error = None
    status = 200
    if form is not None:
        form.city.choices = _city_choices(current_user.agency_id)
        if form.is_submitted():
            # A city the agency does not serve does not exist for it.
            allowed = {c.value for c in form.city.choices}
            if form.city.data and form.city.data not in allowed:
                abort(404)
        if form.validate_on_submit():
            data = form.file.data.stream.read(MAX_BYTES + 1)
            agency = session.get_one(Agency, current_user.agency_id)
            try:
                result = import_batch(session, questionnaires(), agency=agency,
                                      filename=form.file.data.filename or "upload",
                                      data=data, city_code=form.city.data,
                                      wave=form.wave.data or None,
                                      uploaded_by=current_user.id, actor=current_user.email)
            except NotServed:
                abort(404)
            except BatchFileError as exc:
                session.rollback()
                # the message names the limit and its value, as in the API (413 / 422)
                too_large = isinstance(exc, LimitExceeded) and exc.too_large
                error, status = str(exc), (413 if too_large else 422)
            else:
                return redirect(url_for("agency.batch", batch_id=result.batch.id))
        elif form.is_submitted():
            status = 422
    stmt = select(Batch).order_by(Batch.uploaded_at.desc(), Batch.id.desc())
    if is_agency:
        stmt = stmt.where(Batch.agency_id == current_user.agency_id)
    rows = list(session.scalars(stmt.limit(500)))
    agencies = {a.id: a for a in session.scalars(select(Agency))}
    cities = {c.id: c for c in session.scalars(select(City))}
    return render_template("agency/batches.html", form=form, batches=rows, error=error,
                           agencies=agencies, cities=cities, titles=DECISION_TITLES,
                           max_mb=MAX_BYTES >> 20, max_rows=f"{MAX_ROWS:,}",
                           max_columns=MAX_COLUMNS, max_cell=f"{MAX_CELL_CHARS:,}"), status


@bp.route("/batches/<int:batch_id>")
@login_required
def batch(batch_id: int) -> ResponseReturnValue:
    """The acceptance report; admins also get the decision and restore forms."""
    require_role(Role.admin, Role.agency)
    b = _visible_batch(batch_id)
    session = get_session()
    report = acceptance.report(session, b)
    is_admin = current_user.role == Role.admin
    flagged: list[Response] = []
    if is_admin:
        flagged = list(session.scalars(
            select(Response).where(Response.batch_id == b.id,
                                   Response.status.in_([ResponseStatus.flagged,
                                                        ResponseStatus.excluded]))
            .order_by(Response.id).limit(200)))
    decision_form = DecisionForm(data={"decision": b.final_decision or b.auto_decision})
    return render_template("agency/batch.html", b=b, report=report, is_admin=is_admin,
                           decision_form=decision_form, restore_form=RestoreForm(),
                           flagged=flagged, check_titles=CHECK_TITLES,
                           titles=DECISION_TITLES)


@bp.route("/batches/<int:batch_id>/report.json")
@login_required
def batch_json(batch_id: int) -> ResponseReturnValue:
    require_role(Role.admin, Role.agency)
    return jsonify(acceptance.report(get_session(), _visible_batch(batch_id)))


@bp.route("/batches/<int:batch_id>/decision", methods=["POST"])
@login_required
def decide(batch_id: int) -> ResponseReturnValue:
    require_role(Role.admin)
    b = _visible_batch(batch_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        acceptance.decide(get_session(), b, form.decision.data, form.reason.data or "",
                          user_id=current_user.id, actor=current_user.email)
    except acceptance.DecisionError as exc:
        get_session().rollback()
        flash(str(exc), "error")
    return redirect(url_for("agency.batch", batch_id=b.id))


@bp.route("/batches/<int:batch_id>/restore", methods=["POST"])
@login_required
def restore_batch(batch_id: int) -> ResponseReturnValue:
    require_role(Role.admin)
    b = _visible_batch(batch_id)
    form = RestoreForm()
    if not form.validate_on_submit():
        flash(_("A written reason of at least %(n)d characters is required.",
                n=acceptance.MIN_REASON_LENGTH), "error")
        return redirect(url_for("agency.batch", batch_id=b.id))
    # Impossible: validate_on_submit() passed, so DataRequired saw a non-empty reason.
    assert form.reason.data is not None
    try:
        acceptance.restore_batch(get_session(), b, form.reason.data,
                                 user_id=current_user.id, actor=current_user.email)
    except acceptance.DecisionError as exc:
        get_session().rollback()
        flash(str(exc), "error")
    return redirect(url_for("agency.batch", batch_id=b.id))


@bp.route("/responses/<int:response_id>/restore", methods=["POST"])
@login_required
def restore_response(response_id: int) -> ResponseReturnValue:
    require_role(Role.admin)
    session = get_session()
    response = session.get(Response, response_id)
    if response is None or response.batch_id is None:
        abort(404)
    form = RestoreForm()
    if not form.validate_on_submit():
        flash(_("A written reason of at least %(n)d characters is required.",
                n=acceptance.MIN_REASON_LENGTH), "error")
    else:
        # Impossible: validate_on_submit() passed, so DataRequired saw a non-empty reason.
        assert form.reason.data is not None
        try:
            acceptance.restore_response(session, response, form.reason.data,
                                        user_id=current_user.id, actor=current_user.email)
        except acceptance.DecisionError as exc:
            session.rollback()
            flash(str(exc), "error")
    return redirect(url_for("agency.batch", batch_id=response.batch_id))


# --------------------------------------------------------------------------- agencies


@bp.route("/admin/agencies")
@login_required
def agencies() -> ResponseReturnValue:
    require_role(Role.admin)
    session = get_session()
    rows = list(session.scalars(select(Agency).order_by(Agency.code)))
    served: dict[int, list[str]] = {}
    for agency_id, code in session.execute(
            select(AgencyCity.agency_id, City.code).join(City, City.id == AgencyCity.city_id)
            .order_by(City.code)):
        served.setdefault(agency_id, []).append(code)
    return render_template("agency/agencies.html", agencies=rows, served=served)


@bp.route("/admin/agencies/new", methods=["GET", "POST"])
@bp.route("/admin/agencies/<code>/edit", methods=["GET", "POST"])
@login_required
def agency_form(code: str | None = None) -> ResponseReturnValue:
    require_role(Role.admin)
    session = get_session()
    agency = None
    if code is not None:
        agency = session.scalar(select(Agency).where(Agency.code == code))
        if agency is None:
            abort(404)
    form = AgencyForm(obj=agency)
    form.cities.choices = _city_choices(None)
    if agency is not None and not form.is_submitted():
        form.cities.data = list(session.scalars(
            select(City.code).join(AgencyCity, AgencyCity.city_id == City.id)
            .where(AgencyCity.agency_id == agency.id)))
    error = None
    if form.validate_on_submit():
        # Impossible: validate_on_submit() passed, so DataRequired saw both fields.
        assert form.code.data is not None and form.name.data is not None
        clash = session.scalar(select(Agency).where(Agency.code == form.code.data))
        if clash is not None and clash is not agency:
            error = _l("An agency with this code already exists.")
        else:
            saved = save_agency(session, agency, code=form.code.data, name=form.name.data,
                                accreditation_no=form.accreditation_no.data or "",
                                contact=form.contact.data or "",
                                city_codes=form.cities.data or [])
            audit.record(session, "agency_saved", actor=current_user.email,
                         user_id=current_user.id, agency=saved.code,
                         cities=form.cities.data or [], created=agency is None)
            session.commit()
            return redirect(url_for("agency.agencies"))
    return render_template("agency/agency_form.html", form=form, agency=agency,
                           error=error), (422 if form.is_submitted() else 200)


# --------------------------------------------------------------------------- scorecard


def _visible_agency(code: str) -> Agency:
    agency = get_session().scalar(select(Agency).where(Agency.code == code))
    if agency is None:
        abort(404)
    if current_user.role == Role.admin:
        return agency
    if current_user.role != Role.agency or current_user.agency_id != agency.id:
        abort(404)
    return agency


@bp.route("/scorecard/<code>")
@login_required
def scorecard(code: str) -> ResponseReturnValue:
    agency = _visible_agency(code)
    card = acceptance.scorecard(get_session(), agency)
    return render_template("agency/scorecard.html", card=card, check_titles=CHECK_TITLES,
                           titles=DECISION_TITLES)


@bp.route("/scorecard/<code>.json")
@login_required
def scorecard_json(code: str) -> ResponseReturnValue:
    return jsonify(acceptance.scorecard(get_session(), _visible_agency(code)))


# --------------------------------------------------------------------------- API tokens


class TokenForm(FlaskForm):
    label = StringField(_l("What the token is for (e.g. CATI server)"),
                        validators=[Length(max=100)])
    expires_days = IntegerField(_l("Expires after (days; empty = never)"),
                                validators=[Optional(), NumberRange(min=1, max=3650)])


def _admin_agency(code: str) -> Agency:
    require_role(Role.admin)
    agency = get_session().scalar(select(Agency).where(Agency.code == code))
    if agency is None:
        abort(404)
    return agency


def _token_page(agency: Agency, form: TokenForm, *, new_token: str | None = None,
                status: int = 200) -> ResponseReturnValue:
    rows = tokens.of_agency(get_session(), agency.id)
    names = {"active": _("active"), "expired": _("expired"), "revoked": _("revoked")}
    return render_template("agency/tokens.html", agency=agency, tokens=rows, form=form,
                           new_token=new_token,
                           states={t.id: names[tokens.state(t)] for t in rows}), status


@bp.route("/admin/agencies/<code>/tokens", methods=["GET", "POST"])
@login_required
def api_tokens(code: str) -> ResponseReturnValue:
    """An agency's API tokens: create one (shown once), see their state, revoke."""
    agency = _admin_agency(code)
    form = TokenForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return _token_page(agency, form, status=422)
        session = get_session()
        _row, raw = tokens.create(session, agency, actor=current_user.email,
                                  label=form.label.data or "",
                                  expires_days=form.expires_days.data)
        session.commit()
        return _token_page(agency, TokenForm(formdata=None), new_token=raw)
    return _token_page(agency, form)


@bp.post("/admin/agencies/<code>/tokens/<int:token_id>/revoke")
@login_required
def revoke_api_token(code: str, token_id: int) -> ResponseReturnValue:
    agency = _admin_agency(code)
    if not FlaskForm().validate_on_submit():
        abort(400)
    session = get_session()
    try:
        tokens.revoke(session, token_id, actor=current_user.email, agency_id=agency.id)
    except tokens.TokenError:
        abort(404)
    session.commit()
    return redirect(url_for("agency.api_tokens", code=agency.code))
