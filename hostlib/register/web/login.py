"""Logging in and out, and who is logged in for each request (`g.user`).

    /login   the form; a user name and password checked by service.authenticate
    /logout  (POST, with its CSRF token: a link elsewhere cannot log anyone out)
    /password  one's own password changed (the current one asked first)

The session cookie holds the user's id and a fingerprint of their password hash: a password
changed, or a user made inactive, ends every session of theirs at the next click. A wrong
user name and a wrong password get the same answer, so the form does not tell which names
exist.
"""

from __future__ import annotations

import hashlib

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from hostlib.register import Invalid, auth, models, service

blueprint = Blueprint("login", __name__)

# Pages open without a login: the form itself and the style sheet it uses.
_OPEN = {"login.login", "static"}

ROLE_NAMES = {
    "salesperson": "salesperson 业务员",
    "reviewer": "reviewer 审核",
    "installer": "installer 装机员",
    "admin": "administrator 管理员",
}


def register():
    """The open register the app serves."""
    return current_app.extensions["register"]


def can(action: str) -> bool:
    """Whether the logged-in user's role may do `action` (hostlib.register.auth.PERMISSIONS):
    for what a page offers; the service checks again whatever is posted."""
    user = g.get("user")
    return bool(user) and auth.allowed(user.role, action)


def _fingerprint(user) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def _nav_links(user) -> list[tuple[str, str]]:
    links = [("merchants.pipeline", "Pipeline 进件")]
    if auth.allowed(user.role, "merchant.create"):
        links.append(("merchants.new", "New application 新申请"))
    if user.role != "salesperson":
        links.append(("work.work_orders", "Work orders 工单"))
    if user.role == "admin":
        links.append(("users.users", "Users 用户"))
    return links


def install(app) -> None:
    """Load the logged-in user before every request; send anyone else to the login form."""

    @app.before_request
    def _load_user():
        g.user = None
        user_id = session.get("user_id")
        if user_id is not None:
            with register().session() as s:
                user = s.get(models.User, user_id)
                if user is not None:
                    s.expunge(user)
            if user is None or not user.active or session.get("pw") != _fingerprint(user):
                session.clear()
            else:
                g.user = user
        if g.user is None and request.endpoint not in _OPEN:
            if request.method == "GET":
                return redirect(url_for("login.login", next=request.full_path.rstrip("?")))
            return redirect(url_for("login.login"))
        return None

    @app.context_processor
    def _page_globals():
        user = g.get("user")
        return {
            "user": user,
            "can": can,
            "role_names": ROLE_NAMES,
            "nav_links": _nav_links(user) if user else [],
        }


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    next_page = request.values.get("next", "")
    # Only a page of this app: never an address elsewhere (//host, http://...).
    if not next_page.startswith("/") or next_page.startswith("//"):
        next_page = url_for("merchants.pipeline")
    error = ""
    username = ""
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        with register().session() as s:
            user = service.authenticate(s, username, password)
            if user is not None:
                s.expunge(user)
        if user is None:
            error = "Wrong user name or password (or the account is disabled)."
        else:
            session.clear()
            session["user_id"] = user.id
            session["pw"] = _fingerprint(user)
            return redirect(next_page)
    status = 401 if error else 200
    return (
        render_template("login.html", error=error, username=username, next_page=next_page),
        status,
    )


@blueprint.route("/logout", methods=["POST"])
def logout():
    session.clear()
    return redirect(url_for("login.login"))


@blueprint.route("/password", methods=["GET", "POST"])
def password():
    errors = {}
    if request.method == "POST":
        current = request.form.get("current", "")
        new = request.form.get("password", "")
        with register().session() as s:
            right = service.authenticate(s, g.user.username, current) is not None
        if not right:
            errors["current"] = "not your current password"
        elif new != request.form.get("again", ""):
            errors["again"] = "the two new passwords differ"
        else:
            try:
                with register().transaction(g.user) as s:
                    user = service.set_password(s, g.user, g.user.username, new)
                    session["pw"] = _fingerprint(user)
            except Invalid as exc:
                errors = dict(exc.errors)
        if not errors:
            flash("Password changed.", "ok")
            return redirect(url_for("merchants.pipeline"))
    return render_template("password.html", errors=errors, values={}), (400 if errors else 200)
