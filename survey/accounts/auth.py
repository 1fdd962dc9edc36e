"""Accounts: login and logout (Flask-Login sessions, argon2id hashes, audit-logged)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Flask, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from survey.core import audit
from survey.core.db import get_session
from survey.core.models import User
from survey.core.security import verify_password
from survey.extensions import limiter, login_manager

bp = Blueprint("auth", __name__, url_prefix="/auth")


class LoginUser(UserMixin):
    """What Flask-Login keeps for a request: a detached snapshot of the account."""

    def __init__(self, user: User) -> None:
        self.id = user.id
        self.email = user.email
        self.role = user.role
        self.city_id = user.city_id
        self.agency_id = user.agency_id

    def get_id(self) -> str:
        return str(self.id)


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


def init_login(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to see this page.")

    @login_manager.user_loader
    def _load(user_id: str) -> LoginUser | None:
        if not user_id.isdigit():
            return None
        user = get_session().get(User, int(user_id))
        return LoginUser(user) if user is not None and user.active else None


HOME_BY_ROLE = {"admin": "dashboard.index", "official": "dashboard.index",
                "researcher": "export.index", "agency": "agency.batches"}


def _safe_next(target: str | None, role: str) -> str:
    """``next`` when it is a path on this site, else the role's home page."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for(HOME_BY_ROLE.get(role, "respond.index"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        session = get_session()
        email = form.email.data.strip().lower()
        user = session.scalar(select(User).where(func.lower(User.email) == email))
        if (user is not None and user.active
                and verify_password(user.password_hash, form.password.data)):
            login_user(LoginUser(user))
            audit.record(session, "login", actor=user.email, user_id=user.id, city_id=user.city_id)
            session.commit()
            return redirect(_safe_next(request.args.get("next"), user.role))
        audit.record(session, "login_failed", actor=email)
        session.commit()
        error = _l("Email or password is wrong.")
    return render_template("auth/login.html", form=form, error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    if current_user.is_authenticated:
        session = get_session()
        audit.record(session, "logout", actor=current_user.email, user_id=current_user.id)
        session.commit()
    logout_user()
    return redirect(url_for("respond.index"))
