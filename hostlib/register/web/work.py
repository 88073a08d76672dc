"""Work orders (§4.1): the installer's list, a new work order for an approved merchant, a
work order's page with what the spot is like, and the job it gives `poskit install`.

    /work-orders                               the list (an installer: their own only)
    /merchants/<id>/work-orders/new            a new work order (reviewer, administrator)
    /work-orders/<id>                          the work order; its form to correct or complete it
    /work-orders/<id>/job.toml                 the job for `poskit install`, as a download
    /work-orders/<id>/terminal                 POST: the terminal it installs (serial, model,
                                               SIM ICCID, PIN pad serial)

A desktop terminal's spot is its line (direct, or an extension with its outside-line number)
and where the power and the phone line are; a mobile terminal's, the signal (CSQ) measured at
each candidate spot and the spot chosen.
"""

from __future__ import annotations

import datetime

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from hostlib.register import Invalid, models, service, terms, validate
from hostlib.register.web import labels
from hostlib.register.web.login import register
from hostlib.register.web.merchants import form_values

blueprint = Blueprint("work", __name__)

_TERMINAL_FIELDS = ("serial", "model", "iccid", "pinpad_serial")
# Candidate spots a form offers for signal readings (more: save, and the form offers more).
_SPOT_ROWS = 4


@blueprint.route("/work-orders")
def work_orders():
    status = request.args.get("status") or None
    if status not in (None,) + models.WORK_ORDER_STATUSES:
        status = None
    with register().session() as s:
        orders = service.work_orders(s, g.user, status=status)
        orders = sorted(orders, key=lambda w: (w.status != "open", w.appointment_at))
        return render_template("work_orders.html", orders=orders, status=status)


def _read_form() -> dict:
    """The work order's fields from its form: checkboxes as yes/no, the signal readings
    from their rows."""
    names = [n for n in validate.WORK_ORDER_FIELDS if n != "signal_readings"]
    values = form_values(names)
    for name in ("requirements_confirmed", "deposit_collected"):
        values[name] = "yes" if request.form.get(name) else "no"
    readings = []
    for row in range(1, 1 + int(request.form.get("spot_rows", _SPOT_ROWS))):
        spot = request.form.get("spot_%d" % row, "").strip()
        csq = request.form.get("csq_%d" % row, "").strip()
        if spot or csq:
            readings.append({"spot": spot, "csq": csq})
    values["signal_readings"] = readings
    return values


def _form_rows(values: dict) -> dict:
    """The values as the form shows them: readings one a row, with empty rows to fill."""
    shown = dict(values)
    readings = list(values.get("signal_readings") or [])
    rows = max(_SPOT_ROWS, len(readings) + 1)
    for row in range(1, rows + 1):
        reading = readings[row - 1] if row <= len(readings) else {}
        shown["spot_%d" % row] = reading.get("spot", "")
        shown["csq_%d" % row] = reading.get("csq", "")
    shown["spot_rows"] = rows
    return shown


def _choices(s) -> dict:
    installers = s.scalars(
        select(models.User)
        .where(models.User.role == "installer", models.User.active.is_(True))
        .order_by(models.User.name)
    ).all()
    profiles = s.scalars(select(models.Profile).order_by(models.Profile.name)).all()
    return {
        "installers": [("", "— choose —")] + [(u.username, u.name) for u in installers],
        "profiles": [("", "— none yet —")] + [(p.name, p.name) for p in profiles],
        "kinds": list(labels.WORK_ORDER_KINDS.items()),
        "lines": [("", "—")] + list(labels.LINES.items()),
    }


@blueprint.route("/merchants/<int:merchant_id>/work-orders/new", methods=["GET", "POST"])
def new_work_order(merchant_id: int):
    errors: dict = {}
    with register().session() as s:
        m = service.get_merchant(s, g.user, merchant_id)
        tomorrow = datetime.datetime.combine(
            datetime.date.today() + datetime.timedelta(days=1), datetime.time(10, 0)
        )
        values = {
            "place": m.install_location or m.address,
            "appointment_at": tomorrow.isoformat(timespec="minutes"),
            "kind": "desktop",
            "line": "direct",
        }
    if request.method == "POST":
        values = _read_form()
        try:
            with register().transaction(g.user) as s:
                order = service.create_work_order(s, g.user, merchant_id, _fields(values))
                order_id = order.id
        except Invalid as exc:
            errors = dict(exc.errors)
            errors.setdefault("_form", "The work order was not made: see the fields marked.")
        else:
            flash("Work order #%d made." % order_id, "ok")
            return redirect(url_for("work.work_order", work_order_id=order_id))
    with register().session() as s:
        m = service.get_merchant(s, g.user, merchant_id)
        return render_template(
            "work_order_form.html",
            m=m,
            order=None,
            values=_form_rows(values),
            errors=errors,
            **_choices(s),
        ), (400 if errors else 200)


def _fields(values: dict) -> dict:
    fields = {k: v for k, v in values.items() if k not in ("serial", "status") or v}
    if g.user.role == "installer":
        fields = {k: v for k, v in fields.items() if k in terms.SPOT_FIELDS}
    if not fields.get("profile"):
        fields.pop("profile", None)
    if fields.get("kind") == "mobile":
        fields.pop("line", None)
    return fields


@blueprint.route("/work-orders/<int:work_order_id>", methods=["GET", "POST"])
def work_order(work_order_id: int):
    if request.method == "GET":
        return _work_order_page(work_order_id)
    values = _read_form()
    try:
        with register().transaction(g.user) as s:
            service.update_work_order(s, g.user, work_order_id, _fields(values))
    except Invalid as exc:
        errors = dict(exc.errors)
        errors.setdefault("_form", "Nothing was changed: see the fields marked.")
        return _work_order_page(work_order_id, errors=errors, values=values)
    flash("Work order #%d saved." % work_order_id, "ok")
    return redirect(url_for("work.work_order", work_order_id=work_order_id))


@blueprint.route("/work-orders/<int:work_order_id>/terminal", methods=["POST"])
def terminal(work_order_id: int):
    # The form's fields are named terminal_serial...: apart from the work order's own.
    values = {
        name[len("terminal_") :]: value
        for name, value in form_values(["terminal_" + n for n in _TERMINAL_FIELDS]).items()
    }
    serial = values.get("serial", "").upper()
    try:
        with register().transaction(g.user) as s:
            order = service.get_work_order(s, g.user, work_order_id)
            known = s.scalar(select(models.Terminal).where(models.Terminal.serial == serial))
            if known is None:
                service.add_terminal(s, g.user, dict(values, merchant=order.merchant_id))
            else:
                service.assign_terminal(s, g.user, serial, order.merchant_id)
            service.update_work_order(s, g.user, work_order_id, {"serial": serial})
    except Invalid as exc:
        errors = {"terminal_" + k: v for k, v in exc.errors.items()}
        errors["_terminal"] = "The terminal was not recorded: see the fields marked."
        shown = {"terminal_" + k: v for k, v in values.items()}
        return _work_order_page(work_order_id, errors=errors, values=shown)
    flash("Terminal %s is the one to install." % serial, "ok")
    return redirect(url_for("work.work_order", work_order_id=work_order_id))


def _work_order_page(work_order_id: int, errors=None, values=None):
    with register().session() as s:
        order = service.get_work_order(s, g.user, work_order_id)
        shown = {
            "installer": order.installer.username,
            "appointment_at": order.appointment_at.isoformat(timespec="minutes"),
            "place": order.place,
            "requirements_confirmed": order.requirements_confirmed,
            "deposit_collected": order.deposit_collected,
            "kind": order.kind,
            "line": order.line or "",
            "outside_prefix": order.outside_prefix,
            "power_position": order.power_position,
            "line_position": order.line_position,
            "signal_readings": order.signal_readings or [],
            "chosen_spot": order.chosen_spot,
            "profile": order.profile.name if order.profile else "",
            "status": order.status,
        }
        shown.update(values or {})
        return render_template(
            "work_order.html",
            order=order,
            m=order.merchant,
            values=_form_rows(shown),
            errors=errors or {},
            spot_fields=terms.SPOT_FIELDS,
            **_choices(s),
        ), (400 if errors else 200)


@blueprint.route("/work-orders/<int:work_order_id>/job.toml")
def job(work_order_id: int):
    with register().session() as s:
        service.get_work_order(s, g.user, work_order_id)
        text = service.job_toml(s, g.user, work_order_id)
    response = current_app.response_class(text, mimetype="application/toml")
    response.headers["Content-Disposition"] = (
        'attachment; filename="work-order-%d.toml"' % work_order_id
    )
    return response
