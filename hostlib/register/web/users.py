"""The administrator's page: the users (add, disable, enable) and the acquirer profiles.

    /users                      the users; POST: a new user
    /users/<username>/active    POST: disable or enable a user (their sessions end at once)
    /profiles                   POST: a new acquirer profile (TOML)

The service refuses these to anyone but an administrator; the page is offered only to one.
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from hostlib.register import Invalid, auth, service
from hostlib.register.web.login import ROLE_NAMES, register
from hostlib.register.web.merchants import form_values

blueprint = Blueprint("users", __name__)

_USER_FIELDS = ("username", "name", "role", "staff_id")


def _page(errors=None, values=None):
    with register().session() as s:
        return render_template(
            "users.html",
            users=service.users(s, g.user),
            profiles=service.profiles(s, g.user),
            roles=[(role, ROLE_NAMES[role]) for role in auth.ROLES],
            errors=errors or {},
            values=values or {"role": "salesperson"},
        ), (400 if errors else 200)


@blueprint.route("/users", methods=["GET", "POST"])
def users():
    if request.method == "GET":
        return _page()
    values = form_values(_USER_FIELDS)
    try:
        with register().transaction(g.user) as s:
            service.add_user(
                s,
                g.user,
                values.get("username", ""),
                values.get("name", ""),
                values.get("role", ""),
                request.form.get("password", ""),
                staff_id=values.get("staff_id", ""),
            )
    except Invalid as exc:
        errors = dict(exc.errors, _form="The user was not added: see the fields marked.")
        return _page(errors, values)
    flash("User %s added." % values["username"], "ok")
    return redirect(url_for("users.users"))


@blueprint.route("/users/<username>/active", methods=["POST"])
def set_active(username: str):
    active = request.form.get("active") == "1"
    with register().transaction(g.user) as s:
        service.set_active(s, g.user, username, active)
    flash("%s %s." % (username, "enabled" if active else "disabled"), "ok")
    return redirect(url_for("users.users"))


@blueprint.route("/profiles", methods=["POST"])
def add_profile():
    values = form_values(("profile_name", "profile_toml"))
    try:
        with register().transaction(g.user) as s:
            service.add_profile(
                s, g.user, values.get("profile_name", ""), values.get("profile_toml", "")
            )
    except Invalid as exc:
        errors = {"profile_" + k: v for k, v in exc.errors.items()}
        errors["_form"] = "The profile was not added: see the fields marked."
        return _page(errors, values)
    flash("Profile %s added." % values["profile_name"], "ok")
    return redirect(url_for("users.users") + "#profiles")
