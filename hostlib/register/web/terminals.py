"""A terminal's page and what is recorded on it: its applications, its installs with their
records and slips, the merchant's training, maintenance visits.

    /terminals/<serial>                   serial, model, SIM, PIN pad; applications (MID/TID);
                                          installs; training; maintenance visits
    /terminals/<serial>/apps              POST: an acquirer application (MID, TID, slip name)
    /terminals/<serial>/training          POST: the training checklist, the manager's name
    /terminals/<serial>/visits            POST: a maintenance visit
    /installs/<id>/record                 the install record's page (sandboxed: no script)
    /installs/<id>/record.json            install.json, as a download

The install record is HTML that `poskit install` wrote from what the terminal answered. It is
shown only in a frame the browser sandboxes (no script, no forms, no navigation of this page,
its own origin) and served with a Content-Security-Policy saying the same, so nothing in a
record can act on the register, whatever it holds.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from hostlib.register import Invalid, NotFound, models, service
from hostlib.register.web import labels
from hostlib.register.web.login import register
from hostlib.register.web.merchants import form_values

blueprint = Blueprint("terminals", __name__)

_APP_FIELDS = ("app_index", "acquirer", "mid", "tid", "slip_name")
_VISIT_FIELDS = ("reason", "findings", "action", "at")
# The record's own page: its inline style only, pictures as data: addresses, nothing else.
_RECORD_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
)


@blueprint.route("/terminals/<serial>")
def terminal(serial: str):
    with register().session() as s:
        return _terminal_page(s, serial)


def _terminal_page(s, serial: str, errors=None, values=None, status=200):
    t = service.get_terminal(s, g.user, serial)
    m = t.merchant
    trainings = []
    if m is not None:
        trainings = s.scalars(
            select(models.Training)
            .where(models.Training.merchant_id == m.id)
            .order_by(models.Training.id)
        ).all()
    visits = s.scalars(
        select(models.MaintenanceVisit)
        .where(models.MaintenanceVisit.terminal_id == t.id)
        .order_by(models.MaintenanceVisit.at)
    ).all()
    users = {u.id: u for u in s.scalars(select(models.User))}
    return render_template(
        "terminal.html",
        t=t,
        m=m,
        trainings=trainings,
        visits=visits,
        users=users,
        errors=errors or {},
        values=values or {},
        items=labels.TRAINING_ITEMS,
    ), status


@blueprint.route("/terminals/<serial>/apps", methods=["POST"])
def add_app(serial: str):
    values = form_values(_APP_FIELDS)
    try:
        with register().transaction(g.user) as s:
            service.add_terminal_app(
                s,
                g.user,
                serial,
                values.get("app_index", ""),
                values.get("acquirer", ""),
                values.get("mid", ""),
                values.get("tid", ""),
                values.get("slip_name", ""),
            )
    except Invalid as exc:
        errors = {"app_" + k: v for k, v in exc.errors.items()}
        with register().session() as s:
            return _terminal_page(
                s, serial, errors, {"app_" + k: v for k, v in values.items()}, 400
            )
    flash("Application %s saved." % values.get("app_index", ""), "ok")
    return redirect(url_for("terminals.terminal", serial=serial) + "#apps")


@blueprint.route("/terminals/<serial>/training", methods=["POST"])
def training(serial: str):
    items = {item: bool(request.form.get("item_" + item)) for item in labels.TRAINING_ITEMS}
    manager = request.form.get("manager_name", "").strip()
    try:
        with register().transaction(g.user) as s:
            t = service.get_terminal(s, g.user, serial)
            if t.merchant_id is None:
                raise Invalid({"manager_name": "this terminal belongs to no merchant"})
            service.record_training(s, g.user, t.merchant_id, items, manager)
    except Invalid as exc:
        values = {"manager_name": manager, **{"item_" + k: v for k, v in items.items()}}
        with register().session() as s:
            return _terminal_page(s, serial, dict(exc.errors), values, 400)
    flash("Training confirmed by %s." % manager, "ok")
    return redirect(url_for("terminals.terminal", serial=serial) + "#training")


@blueprint.route("/terminals/<serial>/visits", methods=["POST"])
def visit(serial: str):
    values = form_values(_VISIT_FIELDS)
    if not values.get("at"):
        values.pop("at", None)
    try:
        with register().transaction(g.user) as s:
            service.record_visit(s, g.user, serial, values)
    except Invalid as exc:
        errors = {"visit_" + k: v for k, v in exc.errors.items()}
        with register().session() as s:
            return _terminal_page(
                s, serial, errors, {"visit_" + k: v for k, v in values.items()}, 400
            )
    flash("Maintenance visit recorded.", "ok")
    return redirect(url_for("terminals.terminal", serial=serial) + "#visits")


def _install(s, install_id: int) -> models.Install:
    install = s.get(models.Install, install_id)
    if install is None:
        raise NotFound("no install %d in the register" % install_id)
    service.get_work_order(s, g.user, install.work_order_id)  # who may see it
    return install


@blueprint.route("/installs/<int:install_id>/record")
def install_record(install_id: int):
    with register().session() as s:
        install = _install(s, install_id)
        page = install.record_html or "<p>This install has no HTML record.</p>"
        response = current_app.response_class(page, mimetype="text/html")
        response.headers["Content-Security-Policy"] = _RECORD_CSP
        if request.args.get("download"):
            response.headers["Content-Disposition"] = (
                'attachment; filename="install-%d-%s.html"' % (install.id, install.terminal.serial)
            )
        return response


@blueprint.route("/installs/<int:install_id>/record.json")
def install_json(install_id: int):
    with register().session() as s:
        install = _install(s, install_id)
        response = current_app.response_class(install.record_json, mimetype="application/json")
        response.headers["Content-Disposition"] = 'attachment; filename="install-%d.json"' % (
            install.id
        )
        return response
