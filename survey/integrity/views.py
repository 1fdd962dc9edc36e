"""The integrity page (``/integrity``, admins only; any other role gets 404): flagged web
responses grouped by site with the check and figure that flagged them, and the admin's
decision — restore or keep excluded, with a written reason — per response or for every
flagged web response of a site. Every form has CSRF (Flask-WTF)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import RadioField, TextAreaField

# SelectChoice is new in WTForms 3.3; types-WTForms 3.2.1 does not declare it yet.
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import DataRequired, Length

from survey.agency.acceptance import MIN_REASON_LENGTH
from survey.core.db import get_session
from survey.core.models import Response, Role, Site
from survey.core.security import require_role
from survey.integrity import review

bp = Blueprint("integrity", __name__, url_prefix="/integrity")


class DecisionForm(FlaskForm):
    decision = RadioField(_l("Decision"), choices=[
        SelectChoice(review.RESTORE, _l("Restore: count it in the indices")),
        SelectChoice(review.EXCLUDE, _l("Keep it excluded"))], validators=[DataRequired()])
    reason = TextAreaField(_l("Written reason"), validators=[
        DataRequired(), Length(min=MIN_REASON_LENGTH, max=2000)])


@bp.route("/")
@login_required
def index() -> ResponseReturnValue:
    require_role(Role.admin)
    groups, total = review.flagged_by_site(get_session())
    return render_template("integrity/index.html", groups=groups, total=total,
                           listed=sum(len(g.responses) for g in groups),
                           titles=review.CHECK_TITLES, form=DecisionForm(formdata=None),
                           min_reason=MIN_REASON_LENGTH)


def _apply(responses: list[Response]) -> ResponseReturnValue:
    form = DecisionForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        flash(_("Choose restore or keep excluded, and write a reason of at least "
                "%(n)d characters.", n=MIN_REASON_LENGTH), "error")
        return redirect(url_for("integrity.index"))
    # Impossible: validate_on_submit() passed, so DataRequired saw both fields.
    assert form.decision.data is not None and form.reason.data is not None
    try:
        n = review.decide(get_session(), responses, form.decision.data, form.reason.data,
                          actor=current_user.email, user_id=current_user.id)
    except review.ReviewError as exc:
        get_session().rollback()
        flash(str(exc), "error")
    else:
        flash(_("Restored %(n)d response(s).", n=n) if form.decision.data == review.RESTORE
              else _("Kept %(n)d response(s) excluded.", n=n), "info")
    return redirect(url_for("integrity.index"))


@bp.route("/responses/<int:response_id>/decision", methods=["POST"])
@login_required
def decide_response(response_id: int) -> ResponseReturnValue:
    require_role(Role.admin)
    response = review.flagged_response(get_session(), response_id)
    if response is None:
        abort(404)
    return _apply([response])


@bp.route("/sites/<code>/decision", methods=["POST"])
@login_required
def decide_site(code: str) -> ResponseReturnValue:
    require_role(Role.admin)
    session = get_session()
    site = session.scalar(select(Site).where(Site.code == code))
    responses = review.flagged_of_site(session, site.id) if site is not None else []
    if not responses:
        abort(404)
    return _apply(responses)
