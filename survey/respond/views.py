"""What citizens, tourists and car owners meet: the home page, site QR codes and the
questionnaire flow.

The flow works without JavaScript, one page per section::

    GET  /s/<qid>?site=CODE      intro + consent (versioned by consent_version)
    POST /s/<qid>?site=CODE      "I agree": a server-side draft is created
    GET/POST /s/<qid>/p/<n>      page n (1 = age, stops under-14s; then sections; then
                                 the other demographics); Back / Next
    GET  /s/<qid>/review         the answers, with links to change them, and Submit
    POST /s/<qid>/submit         prepare + survey.integrity.service.submit (the survey
                                 token issued at "I agree", the client's daily cap,
                                 screening; idempotent by client_uuid), draft deleted
    GET  /s/<qid>/done/<receipt> the receipt code, nothing else
    GET  /s/<qid>/stopped        polite stop for respondents under 14 (nothing stored)

The session cookie holds only draft tokens (``session["drafts"]``); answers live in the
``draft`` table (:mod:`survey.respond.drafts`).
"""

from __future__ import annotations

import io
from typing import Any

import segno
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from survey.core.db import get_session
from survey.core.i18n import current_lang
from survey.core.models import Draft, Site, SiteKind, as_utc
from survey.core.models import Response as StoredResponse
from survey.core.origin import external_url
from survey.core.places import site_by_code
from survey.core.questionnaires import UNDER_14, Item, Questionnaire
from survey.core.responses.ingest import Conflict, SiteRef, SubmissionInvalid, prepare
from survey.core.responses.scoring import validate_answers
from survey.core.security import client_hash
from survey.extensions import csrf, limiter
from survey.integrity import service as integrity
from survey.integrity import tokens
from survey.respond import drafts
from survey.respond.forms import (
    AGE_ITEM,
    SHOWN_FIELD,
    ConsentForm,
    Page,
    SubmitForm,
    answer_text,
    page_form,
    page_of_item,
    pages,
    raw_answers,
    visible_answers,
)

bp = Blueprint("respond", __name__)
# CSRF is checked by every POST view's FlaskForm.validate() (start, page, submit) rather
# than before the request, so an expired token re-renders the page with the respondent's
# answers and a notice instead of a bare 400. A new POST view here must validate a form.
csrf.exempt(bp)

CONSENT_TEXTS: dict[str, tuple[Any, ...]] = {
    "2026-01": (
        _l("This survey is anonymous. We do not ask for your name, phone number or ID "
           "number, and we do not store your IP address."),
        _l("Purpose: to measure how satisfied residents and visitors are with this "
           "service, for the city's service-quality improvement work."),
        _l("Your answers are used only in aggregate statistics. No single person's "
           "answers are ever published or passed on."),
        _l("Taking part is voluntary. You may stop at any time by closing the page; "
           "unfinished answers are deleted after 7 days."),
        _l("People under 14 are asked not to take part; we ask your age first."),
        _l("Please do not write names, phone numbers or other personal details in the "
           "comment boxes."),
    ),
}
"""Consent texts by ``consent_version`` (English msgids, zh-Hans in respond.po). A new
version of the text gets a new key and the questionnaires' ``consent_version`` is raised."""


@bp.route("/")
def index() -> ResponseReturnValue:
    qs = current_app.extensions["manyi.questionnaires"].values()
    return render_template("respond/index.html", questionnaires=qs)


def survey_url_for_site(site_code: str, questionnaire: str) -> str:
    return external_url("respond.start", qid=questionnaire, site=site_code)


def _questionnaires_at(site: Site) -> list[Questionnaire]:
    return [q for q in current_app.extensions["manyi.questionnaires"].values()
            if site.kind in q.site_kinds]


@bp.route("/sites/<code>")
def site_landing(code: str) -> ResponseReturnValue:
    """Where a site's QR code leads when several questionnaires are asked there (a
    community centre serves both community services and elderly care)."""
    site = site_by_code(get_session(), code)
    qs = _questionnaires_at(site) if site is not None else []
    if not qs:
        abort(404)
    return render_template("respond/site.html", site=site, questionnaires=qs)


@bp.route("/sites/<code>/qr")
def site_qr(code: str) -> Response:
    """The site's QR code (SVG, or PNG with ``?format=png``): the survey's URL when one
    questionnaire is asked at the site, else the site's page that lets people choose."""
    site = site_by_code(get_session(), code)
    if site is None:
        abort(404)
    qs = _questionnaires_at(site)
    if not qs:
        abort(404)
    target = (survey_url_for_site(site.code, qs[0].id) if len(qs) == 1
              else external_url("respond.site_landing", code=site.code))
    qr = segno.make(target, error="m")
    buf = io.BytesIO()
    if request.args.get("format") == "png":
        qr.save(buf, kind="png", scale=8, border=2)
        mimetype = "image/png"
    else:
        qr.save(buf, kind="svg", scale=6, border=2, xmldecl=False)
        mimetype = "image/svg+xml"
    return Response(buf.getvalue(), mimetype=mimetype,
                    headers={"Cache-Control": "public, max-age=86400"})


# --------------------------------------------------------------------------- helpers


def _questionnaire(qid: str) -> Questionnaire:
    q = current_app.extensions["manyi.questionnaires"].get(qid)
    if q is None:
        abort(404)
    return q


def _site_for(q: Questionnaire, code: object) -> Site:
    site = site_by_code(get_session(), code) if isinstance(code, str) and code else None
    if site is None or site.kind not in q.site_kinds:
        abort(404)
    return site


def _draft_token(qid: str) -> str | None:
    return (session.get(drafts.SESSION_KEY) or {}).get(qid)


def _remember_draft(qid: str, token: str | None) -> None:
    tokens = dict(session.get(drafts.SESSION_KEY) or {})
    if token is None:
        tokens.pop(qid, None)
    else:
        tokens[qid] = token
    session[drafts.SESSION_KEY] = tokens


def _current_draft(q: Questionnaire) -> Draft | None:
    return drafts.load(get_session(), _draft_token(q.id), q)


def _expired(q: Questionnaire) -> tuple[str, int]:
    return render_template("respond/expired.html", q=q), 200


def _total_steps(q: Questionnaire) -> int:
    return len(pages(q)) + 1  # the review page is the last step


def _next_number(q: Questionnaire, answers: dict[str, Any], number: int, step: int) -> int:
    """The next page in direction ``step`` that shows at least one item (0 = consent
    page, ``len(pages) + 1`` = review)."""
    all_pages = pages(q)
    n = number + step
    while 1 <= n <= len(all_pages) and not all_pages[n - 1].visible_items(q, answers):
        n += step
    return n


def _page_url(q: Questionnaire, draft: Draft, n: int) -> str:
    if n < 1:
        return url_for("respond.start", qid=q.id, site=draft.site.code)
    if n > len(pages(q)):
        return url_for("respond.review", qid=q.id)
    return url_for("respond.page", qid=q.id, n=n)


def _page_errors(q: Questionnaire, items: list[Item],
                 merged: dict[str, Any]) -> dict[str, str]:
    """Errors of the page's items, from the one validation path (scoring), in the
    respondent's language."""
    result = validate_answers(q, visible_answers(q, merged))
    lang = current_lang()
    return {item.id: result.errors[item.id].message(lang)
            for item in items if item.id in result.errors}


# --------------------------------------------------------------------------- the flow


@bp.route("/s/<qid>", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
def start(qid: str) -> ResponseReturnValue:
    """Intro and consent; "I agree" starts a draft and goes to page 1 (age)."""
    q = _questionnaire(qid)
    site = _site_for(q, request.args.get("site"))
    consent = CONSENT_TEXTS.get(q.consent_version)
    if consent is None:
        raise RuntimeError(f"no consent text for consent_version {q.consent_version!r} "
                           f"of questionnaire {q.id} (add it to respond.CONSENT_TEXTS)")
    form = ConsentForm()
    db = get_session()
    existing = _current_draft(q)
    policy = integrity.Policy.from_config(current_app.config)
    if request.method == "POST" and form.validate():
        if existing is not None:
            drafts.discard(db, existing)
        token, _expires = integrity.issue_token(policy, site.code, q.id)
        draft = drafts.create(db, q, site.id, survey_token=token)
        _remember_draft(q.id, draft.id)
        return redirect(url_for("respond.page", qid=q.id, n=1))
    resume_url = (_resume_url(q, existing)
                  if existing is not None and existing.site_id == site.id
                  and tokens.usable(policy.secret, drafts.survey_token(existing),
                                    lifetime=policy.token_lifetime) else None)
    expired = request.method == "POST"  # the form did not validate: CSRF token too old
    return render_template("respond/start.html", q=q, site=site, form=form, consent=consent,
                           resume_url=resume_url, expired=expired), 400 if expired else 200


def _resume_url(q: Questionnaire, draft: Draft) -> str:
    """The first page still missing an answer, or the review page."""
    answers = visible_answers(q, drafts.answers_of(draft))
    if answers.get(AGE_ITEM) in (None, UNDER_14):
        return url_for("respond.page", qid=q.id, n=1)
    where = page_of_item(q)
    missing = [where[item] for item in validate_answers(q, answers).errors if item in where]
    if missing:
        return url_for("respond.page", qid=q.id, n=min(missing))
    return url_for("respond.review", qid=q.id)


@bp.route("/s/<qid>/p/<int:n>", methods=["GET", "POST"])
def page(qid: str, n: int) -> ResponseReturnValue:
    """Page ``n``: shows the stored answers (GET), saves and moves on (POST)."""
    q = _questionnaire(qid)
    all_pages = pages(q)
    if not 1 <= n <= len(all_pages):
        abort(404)
    draft = _current_draft(q)
    if draft is None:
        return _expired(q)
    answers: dict[str, Any] = drafts.answers_of(draft)
    if n > 1 and answers.get(AGE_ITEM) in (None, UNDER_14):
        return redirect(url_for("respond.page", qid=q.id, n=1))
    this = all_pages[n - 1]
    lang = current_lang()
    db = get_session()

    if request.method == "GET":
        items = this.visible_items(q, answers)
        if not items:
            return redirect(_page_url(q, draft, _next_number(q, answers, n, +1)))
        form = page_form(q, items, lang, data=answers)
        return _render_page(q, this, items, form, {}, notice=None)

    shown_ids = set(request.form.get(SHOWN_FIELD, "").split())
    shown = [item for item in this.items if item.id in shown_ids]
    form = page_form(q, shown, lang, from_request=True)
    if not form.validate():  # CSRF only: answers are validated below, by scoring
        items = this.visible_items(q, answers)
        form = page_form(q, items, lang, data={**answers, **raw_answers(form, shown)})
        return _render_page(q, this, items, form, {}, status=400,
                            notice=_("This page had expired, so nothing was saved. "
                                     "Please check your answers and press Next again."))
    posted = raw_answers(form, shown)
    merged = {k: v for k, v in answers.items() if k not in {i.id for i in this.items}}
    merged.update(posted)
    merged = visible_answers(q, merged)
    errors = _page_errors(q, shown, merged)
    clean = {k: v for k, v in merged.items() if k not in errors}
    going_back = request.form.get("action") == "back"

    if n == 1 and clean.get(AGE_ITEM) == UNDER_14:
        drafts.discard(db, draft)
        _remember_draft(q.id, None)
        return redirect(url_for("respond.stopped", qid=q.id))

    drafts.save_answers(db, draft, clean)
    if going_back:
        return redirect(_page_url(q, draft, _next_number(q, clean, n, -1)))

    items = this.visible_items(q, merged)
    newly_visible = [item for item in items if item.id not in {i.id for i in shown}]
    if errors or newly_visible:
        form = page_form(q, items, lang, data=merged)
        notice = (_("Your answers opened further questions on this page. "
                    "Please answer them too, then press Next.") if newly_visible else None)
        return _render_page(q, this, items, form, errors, notice=notice,
                            status=422 if errors else 200)
    return redirect(_page_url(q, draft, _next_number(q, clean, n, +1)))


def _render_page(q: Questionnaire, this: Page, items: list[Item], form: Any,
                 errors: dict[str, str], *, notice: str | None,
                 status: int = 200) -> tuple[str, int]:
    scales = {item.id: q.scale_for(item) for item in items if item.type in ("scale", "nps")}
    return render_template(
        "respond/page.html", q=q, page=this, items=items, form=form, errors=errors,
        notice=notice, scales=scales, step=this.number, total=_total_steps(q),
    ), status


@bp.route("/s/<qid>/review")
def review(qid: str) -> ResponseReturnValue:
    """Every answer by page, with links to change them, and the Submit button."""
    q = _questionnaire(qid)
    draft = _current_draft(q)
    if draft is None:
        return _expired(q)
    answers = visible_answers(q, drafts.answers_of(draft))
    if answers.get(AGE_ITEM) in (None, UNDER_14):
        return redirect(url_for("respond.page", qid=q.id, n=1))
    return _render_review(q, draft, answers)


def _render_review(q: Questionnaire, draft: Draft, answers: dict[str, Any],
                   status: int = 200) -> tuple[str, int]:
    lang = current_lang()
    result = validate_answers(q, answers)
    where = page_of_item(q)
    bad_pages = sorted({where[item] for item in result.errors if item in where})
    summary = []
    for p in pages(q):
        rows = [(item, answer_text(q, item, answers.get(item.id), lang))
                for item in p.visible_items(q, answers)]
        if rows:
            summary.append((p, rows))
    form = SubmitForm(formdata=None, data={"client_uuid": draft.client_uuid})
    return render_template("respond/review.html", q=q, summary=summary, form=form,
                           bad_pages=bad_pages, all_pages=pages(q), step=_total_steps(q),
                           total=_total_steps(q)), status


@bp.route("/s/<qid>/submit", methods=["POST"])
@limiter.limit("10 per minute")
def submit(qid: str) -> BaseResponse | tuple[str, int]:
    """Store the draft (prepare + store, channel web) and show the receipt.

    A double tap or a replayed POST finds the draft gone and the response stored under
    the form's ``client_uuid``: it gets the same receipt, and no second row is stored.
    """
    q = _questionnaire(qid)
    form = SubmitForm()
    db = get_session()
    valid_form = form.validate()
    client_uuid = (form.client_uuid.data or "").strip()
    stored = _stored_response(q, client_uuid) if valid_form else None
    if stored is not None:
        return redirect(url_for("respond.done", qid=q.id, receipt=stored.receipt_code))
    draft = _current_draft(q)
    if draft is None:
        return _expired(q)
    answers = visible_answers(q, drafts.answers_of(draft))
    if not valid_form or client_uuid != draft.client_uuid:
        return _render_review(q, draft, answers, status=400)
    payload = {
        "client_uuid": draft.client_uuid, "questionnaire": q.id, "version": draft.version,
        "site": draft.site.code, "answers": answers,
        "consent_version": draft.consent_version, "channel": "web",
        "started_at": as_utc(draft.started_at),
    }
    site = draft.site
    try:
        prepared = prepare({q.id: q}, payload, {site.code: SiteRef.of(site)})
        response, _created = integrity.submit(
            db, prepared, drafts.survey_token(draft), client_hash=client_hash(),
            policy=integrity.Policy.from_config(current_app.config))
    except SubmissionInvalid:
        return _render_review(q, draft, answers, status=422)
    except tokens.TokenRefused as exc:
        # This draft can never be submitted (e.g. its survey token expired): start again.
        drafts.discard(db, draft)
        _remember_draft(q.id, None)
        return render_template("integrity/refused.html", q=q, reason=exc.reason,
                               start_url=url_for("respond.start", qid=q.id,
                                                 site=site.code)), 403
    except integrity.DailyCapReached as exc:
        return render_template("integrity/capped.html", q=q, limit=exc.limit), 429
    except Conflict:
        # The same client_uuid was stored with other answers (the draft was changed in
        # another tab after a submit): the respondent's submission is the stored one.
        existing = db.scalar(select(StoredResponse).where(
            StoredResponse.client_uuid == draft.client_uuid))
        # Impossible: Conflict is raised only for a client_uuid already stored.
        assert existing is not None
        response = existing
    receipt = response.receipt_code
    drafts.discard(db, draft)
    _remember_draft(q.id, None)
    return redirect(url_for("respond.done", qid=q.id, receipt=receipt))


def _stored_response(q: Questionnaire, client_uuid: str) -> StoredResponse | None:
    if not client_uuid:
        return None
    return get_session().scalar(select(StoredResponse).where(
        StoredResponse.client_uuid == client_uuid, StoredResponse.questionnaire == q.id))


@bp.route("/s/<qid>/done/<receipt>")
def done(qid: str, receipt: str) -> ResponseReturnValue:
    """Thank you and the receipt code; nothing else (no answers, nothing personal)."""
    q = _questionnaire(qid)
    found = get_session().execute(select(StoredResponse.id, Site.code, Site.kind).join(
        Site, Site.id == StoredResponse.site_id).where(
        StoredResponse.receipt_code == receipt, StoredResponse.questionnaire == q.id).limit(1)
    ).first()
    if found is None:
        abort(404)
    # Tourists may also make a complaint about the scenic spot (survey.complaints).
    complaint_site = found.code if found.kind == SiteKind.scenic_spot else None
    return render_template("respond/done.html", q=q, receipt=receipt,
                           complaint_site=complaint_site)


@bp.route("/s/<qid>/stopped")
def stopped(qid: str) -> ResponseReturnValue:
    """Respondents under 14 are thanked and stopped; nothing was stored."""
    q = _questionnaire(qid)
    return render_template("respond/stopped.html", q=q)
