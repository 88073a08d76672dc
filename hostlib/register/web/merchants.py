"""The merchants' pages: the pipeline, the application form with its documents, a merchant's
page with the review steps, its audit trail, and search.

    /                          the pipeline: merchants by stage, the channels compared
    /merchants/new             the application form (《POS终端申请签约单》) and its documents
    /merchants/<id>            the merchant: form, checklist, reviews, work orders, terminals
    /merchants/<id>/edit       the form again, to correct it
    /merchants/<id>/documents  POST: one document of the checklist
    /documents/<id>            a document, as a download
    /merchants/<id>/reviews    POST: a review step (phone, on site, submission, decision)
    /merchants/<id>/mid        POST: the MID the acquirer assigned
    /merchants/<id>/audit      who changed what, when, before and after
    /search?q=                 contract number, company, MID, TID, serial, phone

Every read and write goes through hostlib.register.service with the logged-in user, which
decides what they may see and do; a refused field comes back next to its field, the user's
input kept.
"""

from __future__ import annotations

import datetime
from urllib.parse import quote

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from hostlib.register import Invalid, models, service, validate
from hostlib.register.web import labels
from hostlib.register.web.login import register
from hostlib.register.web.uploads import UploadError, read_upload

blueprint = Blueprint("merchants", __name__)

# Stages a merchant has passed once approved, and once installed: for the channel comparison.
_APPROVED = {"approved", "work_order", "installed", "trained"}
_INSTALLED = {"installed", "trained"}


def form_values(names) -> dict:
    """The fields `names` as the user typed them (stripped), those the form sent."""
    return {name: request.form[name].strip() for name in names if name in request.form}


def _choices(s):
    """The select lists of the application form."""
    salespeople = s.scalars(
        select(models.User)
        .where(models.User.role == "salesperson", models.User.active.is_(True))
        .order_by(models.User.name)
    ).all()
    return {
        "channels": [("", "— choose —")] + list(labels.CHANNELS.items()),
        "salespeople": [("", "— choose —")]
        + [(u.username, "%s (%s)" % (u.name, u.staff_id or u.username)) for u in salespeople],
    }


@blueprint.route("/")
def pipeline():
    with register().session() as s:
        stages = service.pipeline(s, g.user)
        everyone = [m for merchants in stages.values() for m in merchants]
        channels = []
        for channel, label in labels.CHANNELS.items():
            found = [m for m in everyone if m.channel == channel]
            channels.append(
                {
                    "label": label,
                    "applied": len(found),
                    "approved": sum(m.stage in _APPROVED for m in found),
                    "declined": sum(m.stage == "declined" for m in found),
                    "installed": sum(m.stage in _INSTALLED for m in found),
                }
            )
        return render_template(
            "pipeline.html",
            stages=[(st, labels.STAGES[st], stages.get(st, [])) for st in models.STAGES],
            channels=channels,
            total=len(everyone),
        )


@blueprint.route("/merchants/new", methods=["GET", "POST"])
def new():
    values: dict = {"signing_date": datetime.date.today().isoformat()}
    errors: dict = {}
    if request.method == "POST":
        values = form_values(validate.MERCHANT_FIELDS)
        try:
            try:
                uploads = _uploads()
            except Invalid as exc:
                # the fields' messages too, not one round after the files'
                fields = validate.validate_merchant(_merchant_fields(values))
                raise Invalid(dict(fields, **exc.errors)) from None
            with register().transaction(g.user) as s:
                merchant = service.create_merchant(s, g.user, _merchant_fields(values))
                for kind, (filename, data) in uploads.items():
                    _add_document(s, merchant.id, kind, filename, data)
                merchant_id = merchant.id
        except Invalid as exc:
            errors = dict(exc.errors)
        else:
            flash("Application %s saved." % values.get("contract_no", ""), "ok")
            return redirect(url_for("merchants.merchant", merchant_id=merchant_id))
        if request.files and any(f.filename for f in request.files.values()):
            errors.setdefault(
                "_files", "The files chosen were not kept: choose them again after correcting."
            )
        errors.setdefault("_form", "The application was not saved: see the fields marked.")
    return _form_page(values, errors)


def _form_page(values: dict, errors: dict, merchant_id: int | None = None):
    """The application form: a new one, or merchant `merchant_id`'s to correct."""
    with register().session() as s:
        merchant = service.get_merchant(s, g.user, merchant_id) if merchant_id else None
        return render_template(
            "merchant_form.html",
            values=values,
            errors=errors,
            merchant=merchant,
            documents=labels.DOCUMENTS,
            **_choices(s),
        ), (400 if errors else 200)


def _merchant_fields(values: dict) -> dict:
    # The salesperson chooses nobody: the service puts them on their own applications.
    fields = {k: v for k, v in values.items() if k != "mid"}
    if not fields.get("salesperson"):
        fields.pop("salesperson", None)
    if not fields.get("referrer"):
        fields.pop("referrer", None)
    return fields


def _uploads() -> dict[str, tuple[str, bytes]]:
    """The documents chosen on the application form, by kind; Invalid naming the field of
    each one refused (too large, not a PDF, JPEG or PNG)."""
    found, errors = {}, {}
    for kind in labels.DOCUMENTS:
        upload = request.files.get("doc_" + kind)
        if upload is None or not upload.filename:
            continue
        try:
            found[kind] = read_upload(upload)
        except UploadError as exc:
            errors["doc_" + kind] = str(exc)
    if errors:
        raise Invalid(errors)
    return found


def _add_document(s, merchant_id: int, kind: str, filename: str, data: bytes) -> None:
    try:
        service.add_document(s, g.user, merchant_id, kind, filename, data)
    except Invalid as exc:
        # The service names its own fields (data, content_type...): one message, by the file.
        raise Invalid({"doc_" + kind: "; ".join(exc.errors.values())}) from None


@blueprint.route("/merchants/<int:merchant_id>")
def merchant(merchant_id: int):
    with register().session() as s:
        return _merchant_page(s, merchant_id)


def _merchant_page(s, merchant_id: int, errors=None, values=None, status=200):
    m = service.get_merchant(s, g.user, merchant_id)
    have = {d.kind for d in m.documents}
    trainings = s.scalars(
        select(models.Training)
        .where(models.Training.merchant_id == m.id)
        .order_by(models.Training.id)
    ).all()
    return render_template(
        "merchant.html",
        m=m,
        documents=labels.DOCUMENTS,
        missing=[kind for kind in labels.DOCUMENTS if kind not in have],
        trainings=trainings,
        errors=errors or {},
        values=values or {},
        today=datetime.date.today().isoformat(),
    ), status


@blueprint.route("/merchants/<int:merchant_id>/edit", methods=["GET", "POST"])
def edit(merchant_id: int):
    errors: dict = {}
    with register().session() as s:
        m = service.get_merchant(s, g.user, merchant_id)
        values = {
            name: _shown(getattr(m, name, None))
            for name in validate.MERCHANT_FIELDS
            if name not in ("salesperson", "referrer", "mid")
        }
        values["terminal_price"] = "%d.%02d" % divmod(m.terminal_price, 100)
        values["salesperson"] = m.salesperson.username if m.salesperson else ""
        values["referrer"] = m.referrer.contract_no if m.referrer else ""
    if request.method == "POST":
        values = form_values(validate.MERCHANT_FIELDS)
        try:
            with register().transaction(g.user) as s:
                service.update_merchant(s, g.user, merchant_id, _merchant_fields(values))
        except Invalid as exc:
            errors = dict(exc.errors)
            errors.setdefault("_form", "Nothing was changed: see the fields marked.")
        else:
            flash("Application saved.", "ok")
            return redirect(url_for("merchants.merchant", merchant_id=merchant_id))
    return _form_page(values, errors, merchant_id)


def _shown(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


@blueprint.route("/merchants/<int:merchant_id>/documents", methods=["POST"])
def add_document(merchant_id: int):
    kind = request.form.get("kind", "")
    upload = request.files.get("file")
    errors = {}
    if kind not in labels.DOCUMENTS:
        errors["doc_" + kind] = "choose which document this is"
    elif upload is None or not upload.filename:
        errors["doc_" + kind] = "choose a file"
    else:
        try:
            filename, data = read_upload(upload)
            with register().transaction(g.user) as s:
                service.get_merchant(s, g.user, merchant_id)
                _add_document(s, merchant_id, kind, filename, data)
        except UploadError as exc:
            errors["doc_" + kind] = str(exc)
        except Invalid as exc:
            errors = dict(exc.errors)
    if not errors:
        flash("%s uploaded." % labels.DOCUMENTS[kind], "ok")
        return redirect(url_for("merchants.merchant", merchant_id=merchant_id) + "#documents")
    with register().session() as s:
        return _merchant_page(s, merchant_id, errors=errors, status=400)


@blueprint.route("/documents/<int:document_id>")
def document(document_id: int):
    with register().session() as s:
        doc = service.get_document(s, g.user, document_id)
        response = current_app.response_class(doc.data, mimetype=doc.content_type)
        # Always a download: an uploaded file is never shown as a page of this app.
        response.headers["Content-Disposition"] = _attachment(doc.filename)
        return response


def _attachment(filename: str) -> str:
    ascii_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)[:100]
    return "attachment; filename=\"%s\"; filename*=UTF-8''%s" % (
        ascii_name or "document",
        quote(filename),
    )


@blueprint.route("/merchants/<int:merchant_id>/reviews", methods=["POST"])
def review(merchant_id: int):
    names = ("step", "outcome", "findings", "party", "decided_on")
    values = form_values(names)
    step = values.get("step", "")
    try:
        with register().transaction(g.user) as s:
            service.record_review(
                s,
                g.user,
                merchant_id,
                step,
                values.get("outcome", ""),
                findings=values.get("findings", ""),
                party=values.get("party", ""),
                decided_on=values.get("decided_on") or None,
            )
    except Invalid as exc:
        errors = {"%s_%s" % (step, k): v for k, v in exc.errors.items()}
        errors["_review_" + step] = "Not recorded: see the fields marked."
        values = {"%s_%s" % (step, k): v for k, v in values.items()}
        with register().session() as s:
            return _merchant_page(s, merchant_id, errors=errors, values=values, status=400)
    flash("%s recorded." % labels.REVIEW_STEPS.get(step, step), "ok")
    return redirect(url_for("merchants.merchant", merchant_id=merchant_id) + "#review")


@blueprint.route("/merchants/<int:merchant_id>/mid", methods=["POST"])
def set_mid(merchant_id: int):
    mid = request.form.get("mid", "").strip()
    try:
        with register().transaction(g.user) as s:
            service.set_mid(s, g.user, merchant_id, mid)
    except Invalid as exc:
        errors = {"mid": "; ".join(exc.errors.values())}
        with register().session() as s:
            return _merchant_page(s, merchant_id, errors=errors, values={"mid": mid}, status=400)
    flash("MID %s set." % mid, "ok")
    return redirect(url_for("merchants.merchant", merchant_id=merchant_id))


@blueprint.route("/merchants/<int:merchant_id>/audit")
def audit(merchant_id: int):
    with register().session() as s:
        m = service.get_merchant(s, g.user, merchant_id)
        rows = merchant_audit(s, m)
        return render_template("audit.html", m=m, rows=rows)


def merchant_audit(s, m: models.Merchant) -> list:
    """The audit trail of a merchant: its own row and the rows that belong to it (documents,
    reviews, work orders, terminals and their applications, installs, training, visits),
    oldest first. The service's audit() decides who may read it."""
    owned = {
        "merchants": [m.id],
        "documents": [d.id for d in m.documents],
        "reviews": [r.id for r in m.reviews],
        "work_orders": [w.id for w in m.work_orders],
        "installs": [i.id for w in m.work_orders for i in w.installs],
        "terminals": [t.id for t in m.terminals],
        "terminal_apps": [a.id for t in m.terminals for a in t.apps],
        "trainings": list(
            s.scalars(select(models.Training.id).where(models.Training.merchant_id == m.id)).all()
        ),
        "maintenance_visits": list(
            s.scalars(
                select(models.MaintenanceVisit.id).where(
                    models.MaintenanceVisit.merchant_id == m.id
                )
            ).all()
        ),
    }
    rows = []
    for table, ids in owned.items():
        for row_id in ids:
            rows.extend(service.audit(s, g.user, table=table, row_id=row_id))
    rows.sort(key=lambda a: (a.at, a.id))
    return rows


@blueprint.route("/search")
def search():
    text = request.args.get("q", "").strip()
    with register().session() as s:
        found, terminals = [], []
        if text:
            # The service searches the merchants' own fields (contract, company, contact,
            # phone, MID, address); a terminal is found by its serial or an application's TID.
            found = service.merchants(s, g.user, search=text)
            wanted = text.upper()
            terminals = [
                t
                for t in service.terminals(s, g.user)
                if wanted in t.serial or any(text in a.tid for a in t.apps)
            ]
            found += [t.merchant for t in terminals if t.merchant and t.merchant not in found]
        return render_template("search.html", found=found, terminals=terminals, search_text=text)
