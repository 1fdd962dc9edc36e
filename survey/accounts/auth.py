"""Accounts on the web: login and logout, and changing one's password.

Sessions live on the server (:mod:`survey.accounts.sessions`): the cookie holds a random
token, so logout, a password change or an admin ends them for good. Failed logins are
throttled per account and per client (:mod:`survey.accounts.throttle`) and recorded
(audit log: the account tried; ``login_failure``: a salted client hash, 30 days). An
unknown account costs the same argon2 time as a known one.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Flask, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from survey.accounts import sessions, throttle
from survey.accounts.users import AccountError, change_password, record_failed_login
from survey.core import audit
from survey.core.db import get_session
from survey.core.models import User
from survey.core.security import MIN_PASSWORD_LENGTH, client_hash, verify_password
from survey.extensions import limiter, login_manager

bp = Blueprint("auth", __name__, url_prefix="/auth")


class LoginUser(UserMixin):
    """What Flask-Login keeps for a request: a detached snapshot of the account and the
    server-side session it came through."""

    def __init__(self, user: User, session_token: str) -> None:
        self.id = user.id
        self.email = user.email
        self.role = user.role
        self.city_id = user.city_id
        self.agency_id = user.agency_id
        self.session_token = session_token

    def get_id(self) -> str:
        return self.session_token


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"),
                            validators=[DataRequired(), Length(max=200)])
    new = PasswordField(_l("New password (at least 12 characters, hard to guess)"),
                        validators=[DataRequired(), Length(max=200)])
    confirm = PasswordField(_l("New password again"),
                            validators=[DataRequired(), EqualTo("new", _l("The two differ."))])


def init_login(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to see this page.")

    @login_manager.user_loader
    def _load(token: str) -> LoginUser | None:
        user = sessions.load(get_session(), token,
                             idle=timedelta(minutes=app.config["SESSION_IDLE_MINUTES"]),
                             maximum=timedelta(hours=app.config["SESSION_MAX_HOURS"]))
        return LoginUser(user, token) if user is not None else None


HOME_BY_ROLE = {"admin": "dashboard.index", "official": "dashboard.index",
                "researcher": "export.index", "agency": "agency.batches"}


def _safe_next(target: str | None, role: str) -> str:
    """``next`` when it is a path on this site, else the role's home page."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for(HOME_BY_ROLE.get(role, "respond.index"))


def _too_many(wait: int, form: LoginForm) -> ResponseReturnValue:
    error = _l("Too many failed logins for this account or from this device. "
               "Try again in %(minutes)d minutes.", minutes=max(1, -(-wait // 60)))
    return (render_template("auth/login.html", form=form, error=error), 429,
            {"Retry-After": str(wait)})


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        # Impossible: validate_on_submit() passed, so DataRequired saw both fields.
        assert form.email.data is not None and form.password.data is not None
        session = get_session()
        email = form.email.data.strip().lower()
        client = client_hash()
        wait = throttle.retry_after(email, client)
        if wait is not None:
            return _too_many(wait, form)
        user = session.scalar(select(User).where(func.lower(User.email) == email))
        stored = user.password_hash if user is not None and user.active else None
        # With no hash, verify_password runs argon2 on a dummy hash: the same cost.
        if verify_password(stored, form.password.data):
            assert user is not None  # verify_password is False without a hash
            token = sessions.start(session, user)
            login_user(LoginUser(user, token))
            audit.record(session, "login", actor=user.email, user_id=user.id, city_id=user.city_id)
            session.commit()
            return redirect(_safe_next(request.args.get("next"), user.role))
        record_failed_login(session, email, client)
        audit.record(session, "login_failed", actor=email)
        session.commit()
        wait = throttle.record_failure(email, client)
        if wait is not None:
            return _too_many(wait, form)
        error = _l("Email or password is wrong.")
    return render_template("auth/login.html", form=form, error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    if current_user.is_authenticated:
        session = get_session()
        sessions.end(session, current_user.session_token, "logout")
        audit.record(session, "logout", actor=current_user.email, user_id=current_user.id)
        session.commit()
    logout_user()
    return redirect(url_for("respond.index"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
@limiter.limit("10 per hour", methods=["POST"])
def password() -> ResponseReturnValue:
    """Change one's password; every session of the account ends, this one starts anew."""
    form = PasswordForm()
    error = None
    if form.validate_on_submit():
        assert form.current.data is not None and form.new.data is not None  # DataRequired
        session = get_session()
        user = session.get_one(User, current_user.id)
        if not verify_password(user.password_hash, form.current.data):
            error = _l("The current password is wrong.")
        else:
            try:
                change_password(session, user, form.new.data)
            except AccountError:
                error = (_l("The password must be at least %(n)d characters.",
                            n=MIN_PASSWORD_LENGTH)
                         if len(form.new.data) < MIN_PASSWORD_LENGTH else
                         _l("This password is too easy to guess (common words, repeats, "
                            "sequences or dates): use a longer, less common phrase."))
            else:
                ended = sessions.end_all(session, user.id, "password_changed")
                token = sessions.start(session, user)
                audit.record(session, "password_changed", actor=user.email, user_id=user.id,
                             sessions_ended=ended)
                session.commit()
                login_user(LoginUser(user, token))
                return render_template("auth/password.html", form=PasswordForm(formdata=None),
                                       done=True)
    status = 422 if error or form.errors else 200
    return render_template("auth/password.html", form=form, error=error, done=False), status
