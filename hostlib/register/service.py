"""Every operation on the register, for the command line and the web app alike: who may do
it, what is valid, which rules hold. Each takes the session and the acting user first and
never commits: the caller's `register.transaction(actor)` commits the whole operation or
none of it.

    with register.transaction(user) as s:
        m = service.create_merchant(s, user, {"contract_no": "SH-2026-0001", ...})
        service.record_review(s, reviewer, m.id, "phone", "pass", findings="owner confirmed")

Refusals: Forbidden (the role may not), Invalid({field: message}), Conflict (a rule),
NotFound; all RegisterError, one readable line each.

The rules (docs/register.md, "Rules"): a merchant moves through the stages as its reviews,
work orders, installs and training are recorded; only an approved merchant gets a work order
or a terminal; a terminal belongs to one merchant at a time (moving it means releasing it
first, which the audit trail shows); a MID/TID pair is one terminal application's; a
salesperson sees and changes only their own applications and cannot review or approve; an
installer sees only their own work orders and those merchants and terminals; no clear key
enters the register (a profile or a record that may carry one is refused).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import tomllib
from pathlib import PurePath

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hostlib import jobs
from hostlib.register import Conflict, Forbidden, Invalid, NotFound, auth, terms, validate
from hostlib.register.models import (
    DOCUMENT_KINDS,
    REVIEW_STEPS,
    STAGES,
    TRAINING_ITEMS,
    Audit,
    Document,
    Install,
    MaintenanceVisit,
    Merchant,
    Profile,
    Review,
    Terminal,
    TerminalApp,
    Training,
    User,
    WorkOrder,
    utcnow,
)

MAX_DOCUMENT = 5 * 1024 * 1024
# Magic bytes of the documents the register takes: what a file is, not what it is called.
_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
# Stages from which the merchant's review steps no longer change it.
_AFTER_APPROVAL = ("work_order", "installed", "trained")
_APPROVED = ("approved",) + _AFTER_APPROVAL
# A salesperson may correct the application until it is submitted to the bank.
_EDITABLE_BY_SALES = ("applied", "phone_checked", "site_checked")
_WHAT = {
    "merchant.create": "enter a merchant application",
    "merchant.update": "change a merchant application",
    "merchant.read": "read merchant applications",
    "document.add": "add documents",
    "review.record": "record a review or a decision",
    "merchant.set_mid": "set a merchant's MID",
    "work_order.create": "make a work order",
    "work_order.update": "change a work order",
    "terminal.add": "add or assign terminals",
    "terminal.release": "release a terminal from its merchant",
    "install.record": "record an install",
    "training.record": "record a training",
    "visit.record": "record a maintenance visit",
    "profile.add": "add an acquirer profile",
    "profile.read": "read acquirer profiles",
    "user.add": "add users",
    "user.read": "read the users",
    "audit.read": "read the audit trail",
    "export": "export the register",
}


def _require(actor: User | None, action: str) -> User:
    if actor is None or not actor.active:
        raise Forbidden("log in first: the register acts only for a user")
    if not auth.allowed(actor.role, action):
        article = "an" if actor.role[0] in "aeiou" else "a"
        raise Forbidden("%s %s cannot %s" % (article, actor.role, _WHAT[action]))
    return actor


def _today() -> datetime.date:
    return utcnow().date()


# --- looking things up -----------------------------------------------------------------------


def _installer_merchant_ids(s: Session, actor: User):
    return select(WorkOrder.merchant_id).where(WorkOrder.installer_id == actor.id)


def _visible_merchants(s: Session, actor: User):
    query = select(Merchant)
    if actor.role == "salesperson":
        query = query.where(Merchant.salesperson_id == actor.id)
    elif actor.role == "installer":
        query = query.where(Merchant.id.in_(_installer_merchant_ids(s, actor)))
    return query


def get_merchant(s: Session, actor: User, merchant: int | str) -> Merchant:
    """A merchant by id or contract number, if `actor` may see it."""
    _require(actor, "merchant.read")
    query = _visible_merchants(s, actor)
    if isinstance(merchant, int) or str(merchant).isdigit():
        found = s.scalar(
            query.where(
                or_(Merchant.id == int(merchant), Merchant.contract_no == str(merchant))
            ).order_by(Merchant.contract_no == str(merchant))
        )
    else:
        found = s.scalar(query.where(Merchant.contract_no == str(merchant)))
    if found is None:
        if s.scalar(select(func.count()).select_from(Merchant).where(_merchant_is(merchant))):
            raise Forbidden("merchant %s is not one of yours" % merchant)
        raise NotFound("no merchant %s in the register" % merchant)
    return found


def _merchant_is(merchant):
    if isinstance(merchant, int) or str(merchant).isdigit():
        return or_(Merchant.id == int(merchant), Merchant.contract_no == str(merchant))
    return Merchant.contract_no == str(merchant)


def get_work_order(s: Session, actor: User, work_order_id: int) -> WorkOrder:
    """A work order, if `actor` may see it (an installer: their own)."""
    _require(actor, "merchant.read")
    order = s.get(WorkOrder, int(work_order_id))
    if order is None:
        raise NotFound("no work order %s in the register" % work_order_id)
    if actor.role == "installer" and order.installer_id != actor.id:
        raise Forbidden("work order %d is another installer's" % order.id)
    if actor.role == "salesperson" and order.merchant.salesperson_id != actor.id:
        raise Forbidden("work order %d is not for one of your merchants" % order.id)
    return order


def get_terminal(s: Session, actor: User, serial: str) -> Terminal:
    """A terminal by its serial, if `actor` may see it."""
    _require(actor, "merchant.read")
    terminal = s.scalar(select(Terminal).where(Terminal.serial == str(serial).strip().upper()))
    if terminal is None:
        raise NotFound("no terminal %s in the register" % serial)
    if actor.role in ("installer", "salesperson"):
        visible = s.scalar(_visible_merchants(s, actor).where(Merchant.id == terminal.merchant_id))
        if visible is None:
            raise Forbidden("terminal %s is not at one of your merchants" % terminal.serial)
    return terminal


def get_document(s: Session, actor: User, document_id: int) -> Document:
    document = s.get(Document, int(document_id))
    if document is None:
        raise NotFound("no document %s in the register" % document_id)
    get_merchant(s, actor, document.merchant_id)
    return document


def get_user(s: Session, username: str) -> User:
    user = s.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound("no user %s in the register" % username)
    return user


def get_profile(s: Session, actor: User, name: str) -> Profile:
    _require(actor, "profile.read")
    profile = s.scalar(select(Profile).where(Profile.name == name))
    if profile is None:
        raise NotFound("no acquirer profile %r in the register" % name)
    return profile


def merchants(s: Session, actor: User, stage: str | None = None, search: str | None = None):
    """The merchants `actor` may see (a salesperson: their own; an installer: those of their
    work orders), newest first; of one stage, or matching `search` (name, contract number,
    contact, phone, MID)."""
    _require(actor, "merchant.read")
    query = _visible_merchants(s, actor)
    if stage:
        if stage not in STAGES:
            raise Invalid({"stage": "one of %s" % ", ".join(STAGES)})
        query = query.where(Merchant.stage == stage)
    if search and search.strip():
        like = "%" + search.strip().replace("%", r"\%").replace("_", r"\_") + "%"
        query = query.where(
            or_(
                *(
                    column.ilike(like, escape="\\")
                    for column in (
                        Merchant.company_name,
                        Merchant.slip_name,
                        Merchant.contract_no,
                        Merchant.contact,
                        Merchant.phone,
                        Merchant.mid,
                        Merchant.address,
                    )
                )
            )
        )
    return list(s.scalars(query.order_by(Merchant.id.desc())))


def pipeline(s: Session, actor: User) -> dict[str, list[Merchant]]:
    """Every stage (in the pipeline's order) with the merchants `actor` may see at it."""
    stages: dict[str, list[Merchant]] = {stage: [] for stage in STAGES}
    for merchant in reversed(merchants(s, actor)):
        stages[merchant.stage].append(merchant)
    return stages


def work_orders(s: Session, actor: User, status: str | None = None) -> list[WorkOrder]:
    """The work orders `actor` may see (an installer: their own), by appointment."""
    _require(actor, "merchant.read")
    query = select(WorkOrder)
    if actor.role == "installer":
        query = query.where(WorkOrder.installer_id == actor.id)
    elif actor.role == "salesperson":
        query = query.join(Merchant).where(Merchant.salesperson_id == actor.id)
    if status:
        query = query.where(WorkOrder.status == status)
    return list(s.scalars(query.order_by(WorkOrder.appointment_at, WorkOrder.id)))


def terminals(s: Session, actor: User) -> list[Terminal]:
    """The terminals `actor` may see, by serial."""
    _require(actor, "merchant.read")
    query = select(Terminal)
    if actor.role in ("installer", "salesperson"):
        query = query.where(
            Terminal.merchant_id.in_(_visible_merchants(s, actor).with_only_columns(Merchant.id))
        )
    return list(s.scalars(query.order_by(Terminal.serial)))


def user_count(s: Session) -> int:
    """How many users the register has (none: `poskit register init` makes the first)."""
    return s.scalar(select(func.count()).select_from(User)) or 0


def users(s: Session, actor: User) -> list[User]:
    _require(actor, "user.read")
    return list(s.scalars(select(User).order_by(User.username)))


def profiles(s: Session, actor: User) -> list[Profile]:
    _require(actor, "profile.read")
    return list(s.scalars(select(Profile).order_by(Profile.name)))


def audit(s: Session, actor: User, table: str | None = None, row_id: int | None = None):
    """The audit trail, oldest first: every change, or one table's, or one row's."""
    _require(actor, "audit.read")
    query = select(Audit)
    if table:
        query = query.where(Audit.table == table)
    if row_id is not None:
        query = query.where(Audit.row_id == int(row_id))
    return list(s.scalars(query.order_by(Audit.id)))


# --- users -----------------------------------------------------------------------------------


def add_user(
    s: Session,
    actor: User | None,
    username: str,
    name: str,
    role: str,
    password: str,
    staff_id: str = "",
) -> User:
    """A new user. Only an administrator adds users, except the register's first user (an
    administrator, made by `poskit register init`), for whom `actor` is None."""
    first = s.scalar(select(func.count()).select_from(User)) == 0
    if not (first and actor is None and role == "admin"):
        _require(actor, "user.add")
    errors = {}
    for field, message in (
        ("username", validate.username(username)),
        ("password", validate.password(password)),
    ):
        if message:
            errors[field] = message
    if not str(name or "").strip() or len(name) > 100:
        errors["name"] = "required, at most 100 characters"
    if role not in auth.ROLES:
        errors["role"] = "one of %s" % ", ".join(auth.ROLES)
    if len(staff_id or "") > 32:
        errors["staff_id"] = "at most 32 characters"
    if not errors and s.scalar(select(User).where(User.username == username)) is not None:
        errors["username"] = "%s is taken" % username
    if errors:
        raise Invalid(errors)
    user = User(
        username=username,
        name=name.strip(),
        role=role,
        staff_id=(staff_id or "").strip(),
        password_hash=auth.hash_password(password),
        active=True,
    )
    s.add(user)
    s.flush()
    return user


def set_password(s: Session, actor: User, username: str, password: str) -> User:
    """A new password for `username`: one's own, or anyone's by an administrator."""
    user = get_user(s, username)
    if actor is None or (actor.id != user.id and actor.role != "admin"):
        raise Forbidden("only an administrator sets another user's password")
    message = validate.password(password)
    if message:
        raise Invalid({"password": message})
    user.password_hash = auth.hash_password(password)
    s.flush()
    return user


def set_active(s: Session, actor: User, username: str, active: bool) -> User:
    """Enable or disable a user's login (an administrator); their records stay theirs. The
    last active administrator stays: the register would have nobody to manage it."""
    _require(actor, "user.add")
    user = get_user(s, username)
    if not active and user.role == "admin":
        admins = s.scalar(
            select(func.count()).select_from(User).where(User.role == "admin", User.active)
        )
        if user.active and admins <= 1:
            raise Conflict("%s is the last active administrator: enable another first" % username)
    user.active = bool(active)
    s.flush()
    return user


# A hash to check a password against when the user does not exist, so that the time taken
# does not tell which usernames are real.
_NOBODY = auth.hash_password("no such user")


def authenticate(s: Session, username: str, password: str) -> User | None:
    """The active user `username` if `password` is theirs; None otherwise."""
    user = s.scalar(select(User).where(User.username == str(username or "").strip()))
    if user is None:
        auth.verify_password(password or "", _NOBODY)
        return None
    if not auth.verify_password(password or "", user.password_hash) or not user.active:
        return None
    return user


# --- merchants -------------------------------------------------------------------------------


def _salesperson(s: Session, who: str) -> User | None:
    return s.scalar(
        select(User).where(
            User.role == "salesperson", or_(User.username == who, User.staff_id == who)
        )
    )


def _referrer(s: Session, who: str) -> Merchant | None:
    return s.scalar(select(Merchant).where(_merchant_is(who)))


def create_merchant(s: Session, actor: User, fields: dict) -> Merchant:
    """A new merchant application, at stage `applied`. A salesperson's is their own; an
    administrator names the salesperson (username or staff id)."""
    _require(actor, "merchant.create")
    values, errors = validate.clean_merchant(fields)
    if actor.role == "salesperson":
        if values.get("salesperson") not in (None, actor.username, actor.staff_id or None):
            errors["salesperson"] = "your applications are your own"
        salesperson = actor
    else:
        salesperson = None
        if "salesperson" not in values:
            errors["salesperson"] = "required: the salesperson's username or staff id"
        else:
            salesperson = _salesperson(s, values["salesperson"])
            if salesperson is None:
                errors["salesperson"] = "no salesperson %s" % values["salesperson"]
    values.pop("salesperson", None)
    referrer = None
    if "referrer" in values:
        referrer = _referrer(s, values.pop("referrer"))
        if referrer is None:
            errors["referrer"] = "no merchant %s in the register" % fields["referrer"]
    _unique_merchant(s, values, errors)
    if errors:
        raise Invalid(errors)
    values.setdefault("signing_date", None)
    if values["signing_date"] is None:
        values["signing_date"] = _today()
    merchant = Merchant(
        **values, salesperson_id=salesperson.id, referrer_id=referrer and referrer.id
    )
    merchant.stage = "applied"
    s.add(merchant)
    s.flush()
    return merchant


def _unique_merchant(s: Session, values: dict, errors: dict, merchant_id: int | None = None):
    for name, column in (("contract_no", Merchant.contract_no), ("mid", Merchant.mid)):
        if values.get(name) and name not in errors:
            other = s.scalar(select(Merchant).where(column == values[name]))
            if other is not None and other.id != merchant_id:
                errors[name] = "%s is already merchant %d's (%s)" % (
                    values[name],
                    other.id,
                    other.company_name,
                )


def update_merchant(s: Session, actor: User, merchant_id: int, fields: dict) -> Merchant:
    """Change the fields given of an application. A salesperson: their own, until it is
    submitted to the bank. The MID is set_mid's."""
    _require(actor, "merchant.update")
    merchant = get_merchant(s, actor, merchant_id)
    if actor.role == "salesperson" and merchant.stage not in _EDITABLE_BY_SALES:
        raise Conflict(
            "merchant %d is at stage %s: a salesperson changes an application only until it is "
            "submitted" % (merchant.id, merchant.stage)
        )
    if "mid" in fields:
        raise Forbidden("the MID is set with set_mid (poskit register set-mid), by a reviewer")
    values, errors = validate.clean_merchant(fields, partial=True)
    if "salesperson" in values:
        if actor.role != "admin":
            errors["salesperson"] = "only an administrator gives an application to another"
        else:
            salesperson = _salesperson(s, values["salesperson"])
            if salesperson is None:
                errors["salesperson"] = "no salesperson %s" % values["salesperson"]
            else:
                values["salesperson_id"] = salesperson.id
        values.pop("salesperson")
    channel = values.get("channel", merchant.channel)
    if "referrer" in values:
        referrer = _referrer(s, values.pop("referrer"))
        if referrer is None:
            errors["referrer"] = "no merchant %s in the register" % fields["referrer"]
        elif referrer.id == merchant.id:
            errors["referrer"] = "a merchant does not refer itself"
        else:
            values["referrer_id"] = referrer.id
    elif "channel" in values:
        if channel == "referral" and merchant.referrer_id is None:
            errors["referrer"] = "a referral names the referring merchant"
        if channel != "referral":
            values["referrer_id"] = None
    _unique_merchant(s, values, errors, merchant.id)
    if errors:
        raise Invalid(errors)
    for name, value in values.items():
        setattr(merchant, name, value)
    s.flush()
    return merchant


def sniff(data: bytes) -> str | None:
    """The content type of a document by its first bytes: PDF, JPEG or PNG; None otherwise."""
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    return None


def add_document(
    s: Session, actor: User, merchant_id: int, kind: str, filename: str, data: bytes
) -> Document:
    """An uploaded document of the application: a PDF, JPEG or PNG (by its bytes, whatever
    it is called) of at most 5 MB."""
    _require(actor, "document.add")
    merchant = get_merchant(s, actor, merchant_id)
    errors = {}
    if kind not in DOCUMENT_KINDS:
        errors["kind"] = "one of %s" % ", ".join(DOCUMENT_KINDS)
    name = PurePath(str(filename or "").replace("\\", "/")).name.strip()
    if not name or len(name) > 200:
        errors["filename"] = "a file name, at most 200 characters"
    content_type = sniff(data or b"")
    if not data:
        errors["file"] = "the file is empty"
    elif len(data) > MAX_DOCUMENT:
        errors["file"] = "%.1f MB; at most 5 MB" % (len(data) / 1048576)
    elif content_type is None:
        errors["file"] = "not a PDF, JPEG or PNG file"
    if errors:
        raise Invalid(errors)
    document = Document(
        merchant_id=merchant.id,
        kind=kind,
        filename=name,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=bytes(data),
        uploaded_by=actor.id,
    )
    s.add(document)
    s.flush()
    return document


# --- review ----------------------------------------------------------------------------------


def _latest(merchant: Merchant, step: str) -> Review | None:
    found = [r for r in merchant.reviews if r.step == step]
    return found[-1] if found else None


def review_stage(merchant: Merchant) -> str:
    """The stage the merchant's review steps put it at (applied to approved or declined)."""
    reviews = list(merchant.reviews)
    submitted = [i for i, r in enumerate(reviews) if r.step == "submission"]
    decided = [i for i, r in enumerate(reviews) if r.step == "decision"]
    if submitted and decided and decided[-1] > submitted[-1]:
        return reviews[decided[-1]].outcome
    if submitted:
        return "submitted"
    phone = _latest(merchant, "phone")
    site = _latest(merchant, "site")
    if phone and phone.outcome == "pass":
        return "site_checked" if site and site.outcome == "pass" else "phone_checked"
    return "applied"


def record_review(
    s: Session,
    actor: User,
    merchant_id: int,
    step: str,
    outcome: str,
    findings: str = "",
    party: str = "",
    decided_on=None,
) -> Review:
    """One review step. phone and site: outcome pass or fail (a failure stays on record, the
    merchant stays where it was); submission: to `party` (the bank or third party; outcome
    may name it instead), once phone and site checks have passed; decision: approved or
    declined by that party on `decided_on` (default today), after a submission. Approval
    needs the phone and site checks passed."""
    _require(actor, "review.record")
    merchant = get_merchant(s, actor, merchant_id)
    if merchant.stage in _AFTER_APPROVAL:
        raise Conflict(
            "merchant %d has a work order already (%s): its review is closed"
            % (merchant.id, merchant.stage)
        )
    errors = {}
    outcome = str(outcome or "").strip()
    party = str(party or "").strip()
    findings = str(findings or "").strip()
    date = None
    if step not in REVIEW_STEPS:
        raise Invalid({"step": "one of %s" % ", ".join(REVIEW_STEPS)})
    if step in ("phone", "site"):
        if outcome not in ("pass", "fail"):
            errors["outcome"] = "pass or fail"
        if step == "site" and outcome == "fail" and not findings:
            errors["findings"] = "say what the site check found"
    elif step == "submission":
        party = party or outcome
        outcome = party
        if not party or len(party) > 100:
            errors["party"] = "the bank or third party it is submitted to"
    else:
        if outcome not in ("approved", "declined"):
            errors["outcome"] = "approved or declined"
        date, message = validate.date(decided_on) if decided_on else (_today(), None)
        if message:
            errors["decided_on"] = message
    if len(findings) > 2000:
        errors["findings"] = "at most 2000 characters"
    if errors:
        raise Invalid(errors)
    phone, site = _latest(merchant, "phone"), _latest(merchant, "site")
    checked = phone and phone.outcome == "pass" and site and site.outcome == "pass"
    if step == "submission" and not checked:
        raise Conflict(
            "merchant %d is submitted once its phone and site checks have passed" % merchant.id
        )
    if step == "decision":
        submission = _latest(merchant, "submission")
        if submission is None:
            raise Conflict(
                "merchant %d has not been submitted to a bank or third party: record the "
                "submission first" % merchant.id
            )
        if outcome == "approved" and not checked:
            raise Conflict(
                "merchant %d cannot be approved: its phone and site checks have not both "
                "passed" % merchant.id
            )
        party = party or submission.party
    review = Review(
        merchant_id=merchant.id,
        step=step,
        outcome=outcome,
        findings=findings,
        party=party,
        decided_on=date,
        by_id=actor.id,
    )
    s.add(review)
    s.flush()
    s.refresh(merchant, ["reviews"])
    merchant.stage = review_stage(merchant)
    s.flush()
    return review


def set_mid(s: Session, actor: User, merchant_id: int, mid: str) -> Merchant:
    """The merchant's MID (15 digits), as the acquirer assigned it on approval."""
    _require(actor, "merchant.set_mid")
    merchant = get_merchant(s, actor, merchant_id)
    message = validate.mid(mid)
    if message:
        raise Invalid({"mid": message})
    mid = str(mid).strip()
    if merchant.stage not in _APPROVED:
        raise Conflict(
            "merchant %d is at stage %s: the acquirer assigns the MID when it approves"
            % (merchant.id, merchant.stage)
        )
    other = s.scalar(select(Merchant).where(Merchant.mid == mid, Merchant.id != merchant.id))
    if other is not None:
        raise Conflict(
            "MID %s is already merchant %d's (%s)" % (mid, other.id, other.company_name)
        )
    merchant.mid = mid
    s.flush()
    return merchant


# --- work orders -----------------------------------------------------------------------------


def _installer(s: Session, who: str) -> User | None:
    return s.scalar(
        select(User).where(
            User.role == "installer", User.active, or_(User.username == who, User.staff_id == who)
        )
    )


def _resolve_work_order(s: Session, actor: User, values: dict, errors: dict, merchant) -> dict:
    """The installer, profile and terminal named in `values`, as their ids."""
    if "installer" in values:
        who = values.pop("installer")
        installer = _installer(s, who)
        if installer is None:
            errors["installer"] = "no active installer %s" % who
        else:
            values["installer_id"] = installer.id
    if "profile" in values:
        name = values.pop("profile")
        if name:
            profile = s.scalar(select(Profile).where(Profile.name == name))
            if profile is None:
                errors["profile"] = "no acquirer profile %r" % name
            else:
                values["profile_id"] = profile.id
        else:
            values["profile_id"] = None
    if "serial" in values and "serial" not in errors:
        serial = values.pop("serial")
        terminal = s.scalar(select(Terminal).where(Terminal.serial == serial))
        if terminal is None:
            _require(actor, "terminal.add")
            terminal = Terminal(serial=serial, merchant_id=merchant.id)
            s.add(terminal)
            s.flush()
        elif terminal.merchant_id not in (None, merchant.id):
            errors["serial"] = _held_by(terminal)
        else:
            terminal.merchant_id = merchant.id
        values["terminal_id"] = terminal.id
    return values


def _held_by(terminal: Terminal) -> str:
    owner = terminal.merchant
    return "terminal %s belongs to merchant %d (%s): release it from that merchant first" % (
        terminal.serial,
        owner.id,
        owner.company_name,
    )


def create_work_order(s: Session, actor: User, merchant_id: int, fields: dict) -> WorkOrder:
    """A work order for an approved merchant: the installer (username), the appointment and
    place, and the spot (desktop: its line; mobile: signal readings and the spot chosen);
    optionally the acquirer profile (name) and the terminal's serial."""
    _require(actor, "work_order.create")
    merchant = get_merchant(s, actor, merchant_id)
    if merchant.stage not in _APPROVED:
        raise Conflict(
            "merchant %d is at stage %s: only an approved merchant gets a work order"
            % (merchant.id, merchant.stage)
        )
    values, errors = validate.clean_work_order(fields)
    values = _resolve_work_order(s, actor, values, errors, merchant)
    errors.update(validate.check_work_order_site(values) if not errors else {})
    if values.pop("status", "open") != "open":
        errors["status"] = "a new work order is open"
    if errors:
        raise Invalid(errors)
    order = WorkOrder(merchant_id=merchant.id, created_by_id=actor.id, status="open", **values)
    s.add(order)
    s.flush()
    if merchant.stage == "approved":
        merchant.stage = "work_order"
    s.flush()
    return order


def update_work_order(s: Session, actor: User, work_order_id: int, fields: dict) -> WorkOrder:
    """Change a work order's fields. An installer: their own, and only what they find at the
    spot (line, outside-line number, positions, signal readings, the spot chosen, the
    terminal). A cancelled or installed work order changes no more."""
    _require(actor, "work_order.update")
    order = get_work_order(s, actor, work_order_id)
    if order.status != "open":
        raise Conflict("work order %d is %s: it changes no more" % (order.id, order.status))
    if actor.role == "installer":
        refused = sorted(set(fields) - set(terms.SPOT_FIELDS))
        if refused:
            raise Forbidden(
                "an installer changes only the spot's details, not %s" % ", ".join(refused)
            )
    values, errors = validate.clean_work_order(fields, partial=True)
    values = _resolve_work_order(s, actor, values, errors, order.merchant)
    if not errors:
        merged = {
            name: getattr(order, name)
            for name in ("kind", "line", "outside_prefix", "signal_readings", "chosen_spot")
        }
        merged.update(values)
        errors.update(validate.check_work_order_site(merged))
    if errors:
        raise Invalid(errors)
    for name, value in values.items():
        setattr(order, name, value)
    s.flush()
    if order.status == "cancelled" and order.merchant.stage == "work_order":
        others = [o for o in order.merchant.work_orders if o.status == "open"]
        if not others:
            order.merchant.stage = "approved"
    s.flush()
    return order


# --- terminals -------------------------------------------------------------------------------


def _check_merchant_for_terminal(s: Session, actor: User, merchant: Merchant) -> None:
    if merchant.stage not in _APPROVED:
        raise Conflict(
            "merchant %d is at stage %s: only an approved merchant gets a terminal"
            % (merchant.id, merchant.stage)
        )


def add_terminal(s: Session, actor: User, fields: dict) -> Terminal:
    """A terminal by its serial (model, SIM ICCID, PIN pad serial; optionally the merchant
    it goes to, id or contract number)."""
    _require(actor, "terminal.add")
    errors = {}
    serial = str(fields.get("serial") or "").strip().upper()
    message = validate.serial(serial)
    if message:
        errors["serial"] = message
    for name in fields:
        if name not in ("serial", "model", "iccid", "pinpad_serial", "merchant"):
            errors[name] = "not a field of a terminal"
    iccid = str(fields.get("iccid") or "").strip()
    if iccid and not (iccid.isdigit() and 18 <= len(iccid) <= 22):
        errors["iccid"] = "the SIM's ICCID: 18 to 22 digits"
    for name in ("model", "pinpad_serial"):
        if len(str(fields.get(name) or "")) > 40:
            errors[name] = "at most 40 characters"
    if not errors and s.scalar(select(Terminal).where(Terminal.serial == serial)):
        errors["serial"] = "terminal %s is already in the register" % serial
    if errors:
        raise Invalid(errors)
    terminal = Terminal(
        serial=serial,
        model=str(fields.get("model") or "").strip(),
        iccid=iccid,
        pinpad_serial=str(fields.get("pinpad_serial") or "").strip(),
    )
    if fields.get("merchant"):
        merchant = get_merchant(s, actor, fields["merchant"])
        _check_merchant_for_terminal(s, actor, merchant)
        terminal.merchant_id = merchant.id
    s.add(terminal)
    s.flush()
    return terminal


def assign_terminal(s: Session, actor: User, serial: str, merchant_id: int) -> Terminal:
    """Give terminal `serial` to an approved merchant. A terminal another merchant holds is
    refused: release it from that merchant first (release_terminal)."""
    _require(actor, "terminal.add")
    merchant = get_merchant(s, actor, merchant_id)
    terminal = s.scalar(select(Terminal).where(Terminal.serial == str(serial).strip().upper()))
    if terminal is None:
        raise NotFound("no terminal %s in the register" % serial)
    if terminal.merchant_id == merchant.id:
        return terminal
    if terminal.merchant_id is not None:
        raise Conflict(_held_by(terminal))
    _check_merchant_for_terminal(s, actor, merchant)
    terminal.merchant_id = merchant.id
    s.flush()
    return terminal


def release_terminal(s: Session, actor: User, serial: str) -> Terminal:
    """Take terminal `serial` back from its merchant (returned, moved, replaced): its
    applications (MID/TID) go with the merchant, and the audit trail keeps all of it. Refused
    while an open work order is to install it."""
    _require(actor, "terminal.release")
    terminal = get_terminal(s, actor, serial)
    if terminal.merchant_id is None:
        raise Conflict("terminal %s belongs to no merchant" % terminal.serial)
    pending = s.scalar(
        select(WorkOrder).where(WorkOrder.terminal_id == terminal.id, WorkOrder.status == "open")
    )
    if pending is not None:
        raise Conflict(
            "work order %d (open) is to install terminal %s: cancel it or give it another "
            "terminal first" % (pending.id, terminal.serial)
        )
    for app in list(terminal.apps):
        s.delete(app)
    terminal.merchant_id = None
    s.flush()
    s.expire(terminal, ["apps"])
    return terminal


def add_terminal_app(
    s: Session,
    actor: User,
    serial: str,
    app_index: int,
    acquirer: str,
    mid: str,
    tid: str,
    slip_name: str,
) -> TerminalApp:
    """Application `app_index` of terminal `serial`: its acquirer, MID, TID and the merchant
    name on its slip (replacing what that application had). The terminal must be its
    merchant's; a MID/TID pair is one application's in the whole register."""
    _require(actor, "terminal.add")
    terminal = get_terminal(s, actor, serial)
    values, errors = validate.clean_terminal_app(
        {
            "app_index": app_index,
            "acquirer": acquirer,
            "mid": mid,
            "tid": tid,
            "slip_name": slip_name,
        }
    )
    if errors:
        raise Invalid(errors)
    if terminal.merchant_id is None:
        raise Conflict(
            "terminal %s belongs to no merchant: assign it to its merchant first" % terminal.serial
        )
    other = s.scalar(
        select(TerminalApp).where(
            TerminalApp.mid == values["mid"], TerminalApp.tid == values["tid"]
        )
    )
    if other is not None and not (
        other.terminal_id == terminal.id and other.app_index == values["app_index"]
    ):
        raise Conflict(
            "MID %s TID %s is already application %d of terminal %s"
            % (values["mid"], values["tid"], other.app_index, other.terminal.serial)
        )
    app = s.scalar(
        select(TerminalApp).where(
            TerminalApp.terminal_id == terminal.id, TerminalApp.app_index == values["app_index"]
        )
    )
    if app is None:
        app = TerminalApp(terminal_id=terminal.id, **values)
        s.add(app)
    else:
        for name, value in values.items():
            setattr(app, name, value)
    s.flush()
    s.expire(terminal, ["apps"])
    return app


# --- profiles and jobs -----------------------------------------------------------------------

# Filled in from the register, never from a profile.
_FROM_REGISTER = ("merchant_id", "terminal_id", "merchant_name")
# What a profile's applications are checked with (valid values, replaced by the register's).
_PLACEHOLDER = {"merchant_id": "000000000000000", "terminal_id": "00000000", "merchant_name": "X"}


def _refuse_keys(document, what: str) -> None:
    found = validate.find_key_material(document)
    if found:
        raise Invalid(
            {
                what: "may carry a clear key at %s: no key enters the register (keep check "
                "values only; keys are loaded with poskit install or poskit keys)"
                % ", ".join(found)
            }
        )


def add_profile(s: Session, actor: User, name: str, toml_text: str) -> Profile:
    """An acquirer profile: a job's [terminal] and [[application]] tables (and optionally
    [install]), without MID, TID or merchant name (the register's) and without any key."""
    _require(actor, "profile.add")
    name = str(name or "").strip()
    if not name or len(name) > 64:
        raise Invalid({"name": "a name, at most 64 characters"})
    try:
        document = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError as exc:
        raise Invalid({"toml": "not valid TOML: %s" % exc}) from None
    _refuse_keys(document, "toml")
    extra = sorted(set(document) - {"terminal", "application", "install"})
    if extra:
        raise Invalid(
            {
                "toml": "a profile has [terminal], [[application]] and [install] only, not [%s]"
                % "], [".join(extra)
            }
        )
    for number, app in enumerate(document.get("application", []), 1):
        given = [n for n in _FROM_REGISTER if n in app]
        if given:
            raise Invalid(
                {
                    "toml": "[[application]] %d: %s come from the register (the terminal's "
                    "applications), not from a profile" % (number, ", ".join(given))
                }
            )
    test = dict(document)
    test["application"] = [dict(app, **_PLACEHOLDER) for app in document.get("application", [])]
    try:
        jobs.loads(_dump({"job": {"serial": "PK-0000"}, **test}), "profile %s" % name)
    except jobs.JobError as exc:
        raise Invalid({"toml": str(exc)}) from None
    if s.scalar(select(Profile).where(Profile.name == name)) is not None:
        raise Invalid({"name": "profile %r exists" % name})
    profile = Profile(name=name, toml=toml_text)
    s.add(profile)
    s.flush()
    return profile


def job_reference(order: WorkOrder) -> str:
    return "WO-%06d" % order.id


def job_toml(s: Session, actor: User, work_order_id: int) -> str:
    """The installation job of a work order, as TOML: its profile's settings, the terminal's
    serial, each application's MID, TID and slip name, the merchant's form and the work
    order's line; checked by hostlib.jobs as a job file is. Refused for a work order that is
    not open, a merchant not approved, or what the job still lacks."""
    order = get_work_order(s, actor, work_order_id)
    merchant = order.merchant
    if order.status != "open":
        raise Conflict(
            "work order %d is %s: there is nothing to install" % (order.id, order.status)
        )
    if merchant.stage not in _APPROVED:
        raise Conflict(
            "merchant %d (%s) is at stage %s, not approved: it gets no terminal"
            % (merchant.id, merchant.company_name, merchant.stage)
        )
    if order.profile is None:
        raise Conflict(
            "work order %d has no acquirer profile: give it one (poskit register work-order "
            "set %d --profile NAME)" % (order.id, order.id)
        )
    terminal = order.terminal
    if terminal is None:
        raise Conflict(
            "work order %d has no terminal: give it the terminal's serial (poskit register "
            "work-order set %d --serial SERIAL)" % (order.id, order.id)
        )
    if terminal.merchant_id != merchant.id:
        raise Conflict(
            "terminal %s is not merchant %d's any more: give the work order another"
            % (terminal.serial, merchant.id)
        )
    profile = tomllib.loads(order.profile.toml)
    registered = {app.app_index: app for app in terminal.apps}
    apps = []
    for position, app in enumerate(profile.get("application", []), 1):
        index = app.get("index", position)
        held = registered.pop(index, None)
        if held is None:
            raise Conflict(
                "terminal %s has no application %d (%s) in the register: add its MID, TID and "
                "slip name (poskit register terminal app %s %d ...)"
                % (terminal.serial, index, app.get("name", "unnamed"), terminal.serial, index)
            )
        apps.append(
            {
                "index": index,
                **{k: v for k, v in app.items() if k != "index"},
                "merchant_id": held.mid,
                "terminal_id": held.tid,
                "merchant_name": held.slip_name,
            }
        )
    if registered:
        raise Conflict(
            "terminal %s has application(s) %s in the register that profile %r does not set up"
            % (terminal.serial, ", ".join(map(str, sorted(registered))), order.profile.name)
        )
    terminal_table = dict(profile.get("terminal", {}))
    if order.kind == "desktop" and isinstance(terminal_table.get("dialup"), dict):
        dialup = dict(terminal_table["dialup"])
        dialup["line"] = order.line or "direct"
        dialup["prefix"] = order.outside_prefix or ""
        terminal_table["dialup"] = dialup
    installed = s.scalar(
        select(func.count())
        .select_from(Install)
        .where(Install.terminal_id == terminal.id, Install.outcome == "passed")
    )
    document = {
        "job": {
            "reference": job_reference(order),
            "serial": terminal.serial,
            "version": 1 + installed,
        },
        "merchant": {
            "contract_no": merchant.contract_no,
            "company": merchant.company_name,
            "address": merchant.address,
            "contact": merchant.contact,
            "phone": merchant.phone,
            "salesperson": merchant.salesperson.staff_id or merchant.salesperson.username,
            "install_location": merchant.install_location or order.place,
        },
    }
    if merchant.install_date:
        document["merchant"]["install_date"] = merchant.install_date
    if profile.get("install"):
        document["install"] = profile["install"]
    document["terminal"] = terminal_table
    document["application"] = apps
    head = (
        "# The installation job of work order %d (merchant %s, %s), composed by the register\n"
        "# from acquirer profile %r. poskit install --work-order %d installs it.\n\n"
        % (order.id, merchant.contract_no, merchant.company_name, order.profile.name, order.id)
    )
    text = head + _dump(document)
    try:
        jobs.loads(text, "work order %d" % order.id)
    except jobs.JobError as exc:
        raise Conflict(str(exc)) from None
    return text


def check_job(s: Session, job) -> None:
    """A job file (hostlib.jobs.Job) against the register: its terminal must be there, at an
    approved merchant, and each application's MID, TID and merchant name the register's for
    that terminal. Conflict naming the first disagreement."""
    name = job.path.name
    terminal = s.scalar(select(Terminal).where(Terminal.serial == job.serial))
    for index, app in sorted(job.applications.items()):
        other = s.scalar(
            select(TerminalApp).where(
                TerminalApp.mid == app.get("merchant_id"),
                TerminalApp.tid == app.get("terminal_id"),
            )
        )
        if other is not None and (terminal is None or other.terminal_id != terminal.id):
            raise Conflict(
                "%s: application %d's MID %s TID %s is terminal %s's in the register, not %s's"
                % (name, index, other.mid, other.tid, other.terminal.serial, job.serial)
            )
    if terminal is None:
        raise Conflict(
            "%s: the register has no terminal %s: add it to its merchant there first"
            % (name, job.serial)
        )
    merchant = terminal.merchant
    if merchant is None:
        raise Conflict(
            "%s: terminal %s belongs to no merchant in the register" % (name, job.serial)
        )
    if merchant.stage not in _APPROVED:
        raise Conflict(
            "%s: terminal %s's merchant %d (%s) is at stage %s, not approved"
            % (name, job.serial, merchant.id, merchant.company_name, merchant.stage)
        )
    registered = {app.app_index: app for app in terminal.apps}
    for index, app in sorted(job.applications.items()):
        held = registered.get(index)
        if held is None:
            raise Conflict(
                "%s: terminal %s has no application %d in the register" % (name, job.serial, index)
            )
        for field, want, label in (
            ("merchant_id", held.mid, "MID"),
            ("terminal_id", held.tid, "TID"),
            ("merchant_name", held.slip_name, "merchant name"),
        ):
            if app.get(field) != want:
                raise Conflict(
                    "%s: application %d's %s is %r, the register's %r (terminal %s, merchant %s)"
                    % (name, index, label, app.get(field), want, job.serial, merchant.contract_no)
                )


# --- installs, training, visits --------------------------------------------------------------


def record_install(
    s: Session, actor: User, work_order_id: int, record: dict, record_html: str
) -> Install:
    """The install record of `poskit install` (install.json as a dict, install.html) for a
    work order: the terminal (serial, model, SIM, PIN pad serial, as identify found them) and
    its applications' MID/TID/name recorded and tied to the merchant; a complete install
    marks the work order installed and the merchant installed."""
    _require(actor, "install.record")
    order = get_work_order(s, actor, work_order_id)
    if order.status != "open":
        raise Conflict("work order %d is %s already" % (order.id, order.status))
    if not isinstance(record, dict) or not str(record.get("format", "")).startswith(
        "poskit-install-record/"
    ):
        raise Invalid({"record": "not an install record (install.json of poskit install)"})
    _refuse_keys(record, "record")
    found = record.get("terminal") or {}
    serial = found.get("serial") or (record.get("job") or {}).get("serial")
    if not serial or validate.serial(serial):
        raise Invalid({"record": "the record names no terminal serial"})
    if order.terminal is not None and order.terminal.serial != serial:
        raise Conflict(
            "the record is of terminal %s; work order %d installs %s"
            % (serial, order.id, order.terminal.serial)
        )
    terminal = s.scalar(select(Terminal).where(Terminal.serial == serial))
    if terminal is None:
        terminal = Terminal(serial=serial, merchant_id=order.merchant_id)
        s.add(terminal)
    elif terminal.merchant_id not in (None, order.merchant_id):
        raise Conflict(_held_by(terminal))
    terminal.merchant_id = order.merchant_id
    for name in ("model", "iccid", "pinpad_serial"):
        if found.get(name):
            setattr(terminal, name, str(found[name])[:40])
    s.flush()
    passed = record.get("status") == "complete"
    if passed:
        for app in record.get("applications") or ():
            held = app.get("terminal") or app.get("expected") or {}
            if held.get("merchant_id") and held.get("terminal_id"):
                add_terminal_app(
                    s,
                    actor,
                    serial,
                    app["index"],
                    app.get("name") or held.get("name") or "",
                    held["merchant_id"],
                    held["terminal_id"],
                    held.get("merchant_name") or "",
                )
    slips = []
    for app in record.get("applications") or ():
        for test in app.get("tests") or ():
            for slip in test.get("slips") or ():
                slips.append(
                    "application %s %s\n%s" % (app.get("index"), test.get("kind"), "\n".join(slip))
                )
    install = Install(
        work_order_id=order.id,
        terminal_id=terminal.id,
        installer_id=actor.id,
        outcome="passed" if passed else "failed",
        record_json=json.dumps(record, ensure_ascii=False, indent=1),
        record_html=record_html or "",
        slips="\n\n".join(slips),
    )
    s.add(install)
    if passed:
        order.status = "installed"
        order.terminal_id = terminal.id
        if order.merchant.stage in ("approved", "work_order"):
            order.merchant.stage = "installed"
    s.flush()
    return install


def record_install_folder(s: Session, actor: User, work_order_id: int, folder) -> Install:
    """record_install with the record `poskit install` left in `folder` (install.json,
    install.html)."""
    from pathlib import Path

    from hostlib import install_record

    folder = Path(folder)
    try:
        record = json.loads((folder / install_record.JSON_NAME).read_text(encoding="utf-8"))
        page = (folder / install_record.HTML_NAME).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotFound("no install record in %s: %s is missing" % (folder, exc.filename)) from None
    except (OSError, ValueError) as exc:
        raise Invalid({"record": "%s: cannot be read: %s" % (folder, exc)}) from None
    return record_install(s, actor, work_order_id, record, page)


def record_training(
    s: Session, actor: User, merchant_id: int, items: dict, manager_name: str
) -> Training:
    """The training checklist (sign-on, sale, void, pre-auth, refund, settlement, paper
    loading, paper jam, near-end warning), confirmed by the merchant's manager. Every item
    done moves an installed merchant to `trained`."""
    _require(actor, "training.record")
    merchant = get_merchant(s, actor, merchant_id)
    errors = {}
    unknown = sorted(set(items or {}) - set(TRAINING_ITEMS))
    if unknown:
        errors["items"] = "not training items: %s (the items: %s)" % (
            ", ".join(unknown),
            ", ".join(TRAINING_ITEMS),
        )
    manager_name = str(manager_name or "").strip()
    if not manager_name or len(manager_name) > 50:
        errors["manager_name"] = "the merchant's manager who confirms it"
    if errors:
        raise Invalid(errors)
    if merchant.stage not in ("installed", "trained"):
        raise Conflict(
            "merchant %d is at stage %s: training follows the install"
            % (merchant.id, merchant.stage)
        )
    done = {item: bool((items or {}).get(item)) for item in TRAINING_ITEMS}
    install = s.scalar(
        select(Install)
        .join(WorkOrder)
        .where(WorkOrder.merchant_id == merchant.id, Install.outcome == "passed")
        .order_by(Install.id.desc())
    )
    training = Training(
        merchant_id=merchant.id,
        install_id=install and install.id,
        items=done,
        manager_name=manager_name,
        by_id=actor.id,
    )
    s.add(training)
    if all(done.values()):
        merchant.stage = "trained"
    s.flush()
    return training


def record_visit(s: Session, actor: User, serial: str, fields: dict) -> MaintenanceVisit:
    """A maintenance visit to terminal `serial`: why, what was found, what was done."""
    _require(actor, "visit.record")
    terminal = get_terminal(s, actor, serial)
    errors = {}
    reason = str(fields.get("reason") or "").strip()
    if not reason or len(reason) > 200:
        errors["reason"] = "why the visit: at most 200 characters"
    for name in fields:
        if name not in ("reason", "findings", "action", "at"):
            errors[name] = "not a field of a visit"
    at = utcnow()
    if fields.get("at"):
        at, message = validate.when(fields["at"])
        if message:
            errors["at"] = message
    if errors:
        raise Invalid(errors)
    visit = MaintenanceVisit(
        terminal_id=terminal.id,
        merchant_id=terminal.merchant_id,
        at=at,
        by_id=actor.id,
        reason=reason,
        findings=str(fields.get("findings") or "").strip(),
        action=str(fields.get("action") or "").strip(),
    )
    s.add(visit)
    s.flush()
    return visit


# --- TOML out ------------------------------------------------------------------------------


def _dump(document: dict) -> str:
    """`document` (tables of strings, numbers, booleans, dates; arrays of tables) as TOML."""
    lines: list[str] = []

    def table(name: str, values: dict, array: bool = False) -> None:
        plain = {k: v for k, v in values.items() if not isinstance(v, dict)}
        nested = {k: v for k, v in values.items() if isinstance(v, dict)}
        lines.append(("[[%s]]" if array else "[%s]") % name)
        for key, value in plain.items():
            lines.append("%s = %s" % (_key(key), _value(value)))
        lines.append("")
        for key, value in nested.items():
            table("%s.%s" % (name, _key(key)), value)

    for name, value in document.items():
        if isinstance(value, list):
            for item in value:
                table(name, item, array=True)
        else:
            table(name, value)
    return "\n".join(lines)


def _key(name: str) -> str:
    return (
        name
        if name.replace("_", "").replace("-", "").isalnum() and name.isascii()
        else json.dumps(name)
    )


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[%s]" % ", ".join(_value(v) for v in value)
    if isinstance(value, dict):
        return "{%s}" % ", ".join("%s = %s" % (_key(k), _value(v)) for k, v in value.items())
    return json.dumps(str(value), ensure_ascii=False)
