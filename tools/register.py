"""`poskit register`: the register of merchants, work orders and terminals on the command
line, for scripts and for the back office (docs/register.md).

    poskit register init --db sqlite:///shop.db          # the schema, and its administrator
    poskit register add form.toml --user li.na           # a merchant application
    poskit register review 1 phone pass --findings "..." --user chen.jie
    poskit register approve 1 --user chen.jie
    poskit register work-order add 1 --installer wang.li --at "2026-12-10 09:30" ...
    poskit register job 1 > wo1.toml                      # the job the install runs
    poskit register export --format csv -o merchants.csv
    poskit register serve --port 8080                     # the back office's web app

Every command acts as a user of the register (`--user NAME`, else $POSKIT_REGISTER_USER),
whose password comes from $POSKIT_REGISTER_PASSWORD or is asked without echo, never from the
command line: the roles apply here as in the web app. Every command runs in one transaction
(it is done whole or not at all) and takes `--db URL` (else $POSKIT_REGISTER, else
~/.poskit/register.db).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from pathlib import Path

from hostlib import secretinput
from hostlib.errors import PoskitError
from hostlib.register import RegisterError
from hostlib.register.terms import DOCUMENT_KINDS, ROLES, STAGES, TRAINING_ITEMS
from hostlib.register.web import serve as web_serve

# The database side (SQLAlchemy, a second of imports) is loaded when a register command runs,
# not for every `poskit` command's parser: see run().
db = export = service = None

HELP = "the register: merchants from application to installed terminal, work orders, exports"
PASSWORD_ENV = "POSKIT_REGISTER_PASSWORD"
USER_ENV = "POSKIT_REGISTER_USER"


def _common(parser: argparse.ArgumentParser, user: bool = True) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help="the register: sqlite:///PATH or postgresql://... "
        "(default: $POSKIT_REGISTER, else ~/.poskit/register.db)",
    )
    if user:
        parser.add_argument(
            "--user",
            metavar="NAME",
            help="act as this user of the register (default: $%s); the password from $%s, "
            "else asked" % (USER_ENV, PASSWORD_ENV),
        )


def _fields(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        metavar="FIELD=VALUE",
        action="append",
        default=[],
        dest="fields",
        help="a field (repeatable), over the file's",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="register_command", metavar="COMMAND", required=True)

    def command(name: str, help_: str, handler, user: bool = True, parent=sub):
        p = parent.add_parser(name, help=help_, description=help_)
        _common(p, user)
        p.set_defaults(register_handler=handler)
        return p

    p = command(
        "init",
        "make the register (or bring it up to date) and its first administrator",
        _init,
        user=False,
    )
    p.add_argument("--admin", default="admin", help="the administrator's user name (admin)")
    p.add_argument("--name", default="Administrator", help="the administrator's full name")
    command("upgrade", "bring the register's schema up to this poskit's", _upgrade, user=False)
    p = command("serve", web_serve.HELP, web_serve.run, user=False)
    web_serve.add_arguments(p)

    users = sub.add_parser("user", help="users of the register").add_subparsers(
        dest="user_command", metavar="COMMAND", required=True
    )
    p = command("add", "add a user (administrator)", _user_add, parent=users)
    p.add_argument("username")
    p.add_argument("--name", required=True, help="full name")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--staff-id", default="", help="工号: the staff id on the forms")
    secretinput.add_option(
        p, "new-password", "the new user's password", ask_help="ask for it (the default)"
    )
    command("list", "the users", _user_list, parent=users)
    p = command(
        "password",
        "a new password: your own, or anyone's (administrator)",
        _user_password,
        parent=users,
    )
    p.add_argument("username")
    secretinput.add_option(
        p, "new-password", "the new password", ask_help="ask for it (the default)"
    )
    for name, active in (("disable", False), ("enable", True)):
        p = command(
            name,
            "%s a user's login (administrator); their records stay" % name,
            _user_active,
            parent=users,
        )
        p.add_argument("username")
        p.set_defaults(active=active)

    p = command("add", "add a merchant application from a TOML or JSON file, or --set", _add)
    p.add_argument(
        "file", nargs="?", help="the application form: TOML ([merchant] or top level) or JSON"
    )
    _fields(p)
    p.add_argument(
        "--document",
        metavar="KIND=FILE",
        action="append",
        default=[],
        help="an uploaded document (%s)" % ", ".join(DOCUMENT_KINDS),
    )
    p = command("update", "change fields of a merchant application", _update)
    p.add_argument("merchant", help="id or contract number")
    _fields(p)
    p = command("document", "add a document to a merchant application", _document)
    p.add_argument("merchant", help="id or contract number")
    p.add_argument("kind", choices=DOCUMENT_KINDS)
    p.add_argument("file")
    p = command("list", "merchants, newest first", _list)
    p.add_argument("--stage", choices=STAGES)
    p.add_argument("--search", help="in name, contract number, contact, phone, MID")
    p = command("show", "a merchant (id or contract number), a work order or a terminal", _show)
    p.add_argument("merchant", nargs="?")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--work-order", type=int, metavar="N")
    what.add_argument("--terminal", metavar="SERIAL")

    p = command("review", "record a phone or site check, or the submission", _review)
    p.add_argument("merchant")
    p.add_argument("step", choices=("phone", "site", "submission"))
    p.add_argument("outcome", nargs="?", default="", help="pass or fail (phone, site)")
    p.add_argument("--findings", default="")
    p.add_argument("--party", default="", help="the bank or third party (submission)")
    for name, outcome in (("approve", "approved"), ("decline", "declined")):
        p = command(name, "record the bank's or third party's decision: %s" % outcome, _decide)
        p.add_argument("merchant")
        p.add_argument("--on", metavar="DATE", help="the decision's date (default today)")
        p.add_argument("--findings", default="")
        p.add_argument("--party", default="", help="default: the submission's")
        p.set_defaults(outcome=outcome)
    p = command("set-mid", "the merchant's MID, as the acquirer assigned it", _set_mid)
    p.add_argument("merchant")
    p.add_argument("mid")

    orders = sub.add_parser("work-order", help="installation work orders").add_subparsers(
        dest="work_order_command", metavar="COMMAND", required=True
    )
    p = command("add", "a work order for an approved merchant", _work_order_add, parent=orders)
    p.add_argument("merchant")
    _work_order_options(p)
    p = command("set", "change a work order", _work_order_set, parent=orders)
    p.add_argument("work_order", type=int)
    _work_order_options(p)
    p.add_argument("--status", choices=("open", "cancelled"))
    p = command("list", "work orders (an installer: their own)", _work_order_list, parent=orders)
    p.add_argument("--status", choices=("open", "installed", "cancelled"))

    terminals = sub.add_parser("terminal", help="terminals and their applications")
    terminals = terminals.add_subparsers(dest="terminal_command", metavar="COMMAND", required=True)
    p = command("add", "a terminal by its serial", _terminal_add, parent=terminals)
    p.add_argument("serial")
    p.add_argument("--model", default="")
    p.add_argument("--iccid", default="")
    p.add_argument("--pinpad-serial", default="")
    p.add_argument("--merchant", help="the merchant it goes to (id or contract number)")
    p = command("assign", "give a terminal to a merchant", _terminal_assign, parent=terminals)
    p.add_argument("serial")
    p.add_argument("merchant")
    p = command(
        "release", "take a terminal back from its merchant", _terminal_release, parent=terminals
    )
    p.add_argument("serial")
    p = command(
        "app",
        "a terminal's application N: acquirer, MID, TID, slip name",
        _terminal_app,
        parent=terminals,
    )
    p.add_argument("serial")
    p.add_argument("index", type=int)
    p.add_argument("--acquirer", required=True)
    p.add_argument("--mid", required=True)
    p.add_argument("--tid", required=True)
    p.add_argument("--slip-name", required=True)

    profiles = sub.add_parser("profile", help="acquirer profiles").add_subparsers(
        dest="profile_command", metavar="COMMAND", required=True
    )
    p = command(
        "add",
        "an acquirer profile from a TOML file (administrator)",
        _profile_add,
        parent=profiles,
    )
    p.add_argument("name")
    p.add_argument("file")
    command("list", "the acquirer profiles", _profile_list, parent=profiles)
    p = command("show", "an acquirer profile's TOML", _profile_show, parent=profiles)
    p.add_argument("name")

    p = command("job", "the installation job of a work order, as TOML", _job)
    p.add_argument("work_order", type=int)
    p.add_argument("-o", "--output", metavar="FILE", help="write it here (default: print it)")
    p = command(
        "record-install",
        "write an install record (the folder poskit install left) to its work order",
        _record_install,
    )
    p.add_argument("work_order", type=int)
    p.add_argument("folder", help="the install's record folder (install.json, install.html)")
    p = command("training", "the merchant's training, confirmed by its manager", _training)
    p.add_argument("merchant")
    p.add_argument("--manager", required=True, help="the manager who confirms it")
    p.add_argument(
        "--done",
        required=True,
        metavar="ITEM,...",
        help="the items trained: %s, or all" % ",".join(TRAINING_ITEMS),
    )
    p = command("visit", "a maintenance visit to a terminal", _visit)
    p.add_argument("serial")
    p.add_argument("--reason", required=True)
    p.add_argument("--findings", default="")
    p.add_argument("--action", default="")
    p = command("export", "the register for the acquirer: CSV or JSON", _export)
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("--stage", choices=STAGES, help="only merchants at this stage")
    p.add_argument("-o", "--output", metavar="FILE", help="write it here (default: print it)")
    p = command("audit", "the audit trail: who changed what, when, before and after", _audit)
    p.add_argument("--table", help="one table's changes (merchants, terminals, ...)")
    p.add_argument("--row", type=int, help="one row's (with --table)")


def _work_order_options(p: argparse.ArgumentParser) -> None:
    for option, field, help_ in (
        ("--installer", "installer", "the installer's user name"),
        ("--at", "appointment_at", "the appointment, YYYY-MM-DD HH:MM"),
        ("--place", "place", "where"),
        ("--kind", "kind", "desktop or mobile"),
        ("--line", "line", "desktop: direct or extension"),
        ("--prefix", "outside_prefix", "an extension's outside-line number"),
        ("--power", "power_position", "where the power socket is"),
        ("--line-position", "line_position", "where the phone line is"),
        ("--signal", "signal_readings", "mobile: readings, spot=CSQ,... (counter=18,door=12)"),
        ("--spot", "chosen_spot", "mobile: the spot chosen"),
        ("--profile", "profile", "the acquirer profile's name"),
        ("--serial", "serial", "the terminal to install"),
    ):
        p.add_argument(option, dest="wo_" + field, metavar=field.split("_")[0].upper(), help=help_)
    for option, field in (
        ("--requirements-confirmed", "requirements_confirmed"),
        ("--deposit-collected", "deposit_collected"),
    ):
        p.add_argument(option, dest="wo_" + field, action="store_const", const=True)


# --- running ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    global db, export, service
    from hostlib.register import db, export, service

    return args.register_handler(args) or 0


def password(username: str) -> str:
    """The acting user's password: $POSKIT_REGISTER_PASSWORD, else asked without echo."""
    value = os.environ.get(PASSWORD_ENV)
    if value:
        return value
    return secretinput.ask(
        "password of %s: " % username,
        "password of %s" % username,
        instead="$%s" % PASSWORD_ENV,
    )


def login(user: str | None, register):
    """The register's user `user` (else $POSKIT_REGISTER_USER), logged in with the password
    from $POSKIT_REGISTER_PASSWORD or asked for."""
    from hostlib.register import service

    username = user or os.environ.get(USER_ENV)
    if not username:
        raise PoskitError(
            "who is acting? give --user NAME (or set $%s): the register acts only for its "
            "users" % USER_ENV
        )
    secret = password(username)
    with register.session() as s:
        user = service.authenticate(s, username, secret)
    if user is None:
        raise RegisterError(
            "wrong user name or password for %s (or the user is disabled)" % username
        )
    return user


class _Acting:
    """The open register and the logged-in user, for one command."""

    def __init__(self, args) -> None:
        self.register = db.open(args.db)
        try:
            self.user = login(args.user, self.register)
        except BaseException:
            self.register.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.register.close()

    def transaction(self):
        return self.register.transaction(self.user)


def _init(args) -> int:
    url = args.db or db.default_url()
    before, now = db.upgrade(url)
    if before == now:
        print("register %s: schema %s, up to date" % (_shown(url), now))
    else:
        print(
            "register %s: schema %s"
            % (_shown(url), now if before is None else "%s -> %s" % (before, now))
        )
    register = db.open(url)
    try:
        with register.session() as s:
            existing = service.user_count(s)
        if existing:
            print("it has %d user(s): no administrator made" % existing)
            return 0
        secret = os.environ.get(PASSWORD_ENV) or _ask_twice("password for %s" % args.admin)
        with register.transaction(None) as s:
            service.add_user(s, None, args.admin, args.name, "admin", secret)
        print("administrator %s made" % args.admin)
    finally:
        register.close()
    return 0


def _ask_twice(what: str, instead: str = "$" + PASSWORD_ENV) -> str:
    first = secretinput.ask("%s: " % what, what, instead=instead)
    if secretinput.ask("again: ", what, instead=instead) != first:
        raise PoskitError("the two passwords differ")
    return first


def _shown(url: str) -> str:
    return db.engine_for(url).url.render_as_string(hide_password=True)


def _upgrade(args) -> int:
    url = args.db or db.default_url()
    before, now = db.upgrade(url)
    if before == now:
        print("register %s: schema %s, up to date" % (_shown(url), now))
    else:
        print("register %s: schema %s -> %s" % (_shown(url), before or "(empty)", now))
    return 0


def _user_add(args) -> int:
    with _Acting(args) as acting:
        secret = _new_password(args)
        with acting.transaction() as s:
            user = service.add_user(
                s, acting.user, args.username, args.name, args.role, secret, args.staff_id
            )
        print("user %s (%s, %s) added" % (user.username, user.name, user.role))
    return 0


def _new_password(args) -> str:
    secret = secretinput.read(args, "new-password", "password of %s" % args.username)
    if secret is not None:
        return secret
    # Not $POSKIT_REGISTER_PASSWORD: that one is the acting user's own.
    return _ask_twice(
        "password of %s" % args.username, "--new-password-fd N or --new-password-file FILE"
    )


def _user_password(args) -> int:
    with _Acting(args) as acting:
        secret = _new_password(args)
        with acting.transaction() as s:
            service.set_password(s, acting.user, args.username, secret)
        print("password of %s changed" % args.username)
    return 0


def _user_active(args) -> int:
    with _Acting(args) as acting, acting.transaction() as s:
        user = service.set_active(s, acting.user, args.username, args.active)
        print("user %s %s" % (user.username, "enabled" if user.active else "disabled"))
    return 0


def _user_list(args) -> int:
    with _Acting(args) as acting, acting.register.session() as s:
        for user in service.users(s, acting.user):
            print(
                "%-16s %-12s %-8s %s%s"
                % (
                    user.username,
                    user.role,
                    user.staff_id or "-",
                    user.name,
                    "" if user.active else "  (disabled)",
                )
            )
    return 0


# --- merchants -------------------------------------------------------------------------------


def _read_form(path: str | None) -> dict:
    if not path:
        return {}
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise PoskitError("cannot read %s: %s" % (path, exc.strerror)) from None
    try:
        if file.suffix.lower() == ".json":
            document = json.loads(raw.decode("utf-8-sig"))
        else:
            document = tomllib.loads(raw.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise PoskitError(
            "%s: not valid %s: %s" % (path, file.suffix.lstrip(".").upper() or "TOML", exc)
        ) from None
    if isinstance(document, dict) and isinstance(document.get("merchant"), dict):
        document = document["merchant"]
    if not isinstance(document, dict):
        raise PoskitError("%s: the form's fields, as a table" % path)
    return document


def _set_fields(items: list[str]) -> dict:
    fields = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise PoskitError("--set %s: give FIELD=VALUE" % item)
        fields[name.strip()] = value
    return fields


def _add(args) -> int:
    fields = _read_form(args.file)
    fields.update(_set_fields(args.fields))
    documents = []
    for item in args.document:
        kind, sep, path = item.partition("=")
        if not sep:
            raise PoskitError("--document %s: give KIND=FILE" % item)
        documents.append((kind, path, _read_bytes(path)))
    with _Acting(args) as acting, acting.transaction() as s:
        merchant = service.create_merchant(s, acting.user, fields)
        for kind, path, data in documents:
            service.add_document(s, acting.user, merchant.id, kind, path, data)
        print(
            "merchant %d %s %s: %s"
            % (merchant.id, merchant.contract_no, merchant.company_name, merchant.stage)
        )
    return 0


def _read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise PoskitError("cannot read %s: %s" % (path, exc.strerror)) from None


def _update(args) -> int:
    with _Acting(args) as acting, acting.transaction() as s:
        merchant = service.get_merchant(s, acting.user, args.merchant)
        service.update_merchant(s, acting.user, merchant.id, _set_fields(args.fields))
        print("merchant %d %s changed" % (merchant.id, merchant.contract_no))
    return 0


def _document(args) -> int:
    data = _read_bytes(args.file)
    with _Acting(args) as acting, acting.transaction() as s:
        merchant = service.get_merchant(s, acting.user, args.merchant)
        document = service.add_document(s, acting.user, merchant.id, args.kind, args.file, data)
        print(
            "document %d of merchant %d: %s %s (%s, %d bytes)"
            % (
                document.id,
                merchant.id,
                document.kind,
                document.filename,
                document.content_type,
                document.size,
            )
        )
    return 0


def _list(args) -> int:
    with _Acting(args) as acting, acting.register.session() as s:
        for m in service.merchants(s, acting.user, stage=args.stage, search=args.search):
            print("%4d  %-16s %-13s %s" % (m.id, m.contract_no, m.stage, m.company_name))
    return 0


def _show(args) -> int:
    with _Acting(args) as acting, acting.register.session() as s:
        if args.work_order is not None:
            _show_work_order(service.get_work_order(s, acting.user, args.work_order))
        elif args.terminal:
            _show_terminal(service.get_terminal(s, acting.user, args.terminal))
        elif args.merchant:
            _show_merchant(service.get_merchant(s, acting.user, args.merchant))
        else:
            raise PoskitError(
                "show what? a merchant (id or contract number), --work-order N "
                "or --terminal SERIAL"
            )
    return 0


def _rows(rows) -> None:
    for label, value in rows:
        lines = value if isinstance(value, list) else [value]
        for number, line in enumerate(lines or ["-"]):
            print("  %-14s %s" % (label if number == 0 else "", "" if line is None else line))


def _time(value) -> str:
    return value.isoformat(sep=" ", timespec="minutes") if value else "-"


def _show_merchant(m) -> None:
    print("merchant %d  %s  %s  (%s)" % (m.id, m.contract_no, m.company_name, m.stage))
    _rows(
        [
            ("slip name", m.slip_name),
            ("address", m.address),
            ("contact", "%s, %s" % (m.contact, m.phone)),
            ("price, rate", "%d.%02d yuan, %s %%" % (*divmod(m.terminal_price, 100), m.fee_rate)),
            (
                "salesperson",
                "%s %s (%s)"
                % (m.salesperson.staff_id, m.salesperson.name, m.salesperson.username),
            ),
            (
                "signed",
                "%s, found by %s%s"
                % (
                    m.signing_date,
                    m.channel,
                    " (referred by %s)" % m.referrer.contract_no if m.referrer else "",
                ),
            ),
            ("install", "%s, %s" % (m.install_location or "-", m.install_date or "no date yet")),
            ("MID", m.mid or "not assigned yet"),
            ("remarks", m.remarks or "-"),
            (
                "documents",
                [
                    "%d %s %s (%s, %d bytes, sha256 %s)"
                    % (d.id, d.kind, d.filename, d.content_type, d.size, d.sha256[:12])
                    for d in m.documents
                ],
            ),
            (
                "reviews",
                [
                    "%s %s %s%s by %s%s"
                    % (
                        _time(r.at),
                        r.step,
                        r.outcome,
                        " on %s" % r.decided_on if r.decided_on else "",
                        r.by.username,
                        ": " + r.findings if r.findings else "",
                    )
                    for r in m.reviews
                ],
            ),
            (
                "work orders",
                [
                    "%d %s, %s, %s"
                    % (o.id, o.status, o.installer.username, _time(o.appointment_at))
                    for o in m.work_orders
                ],
            ),
            ("terminals", [_terminal_line(t) for t in m.terminals]),
            (
                "training",
                [
                    "%s confirmed by %s: %s"
                    % (
                        _time(t.confirmed_at),
                        t.manager_name,
                        ", ".join(k for k, done in t.items.items() if done) or "nothing",
                    )
                    for t in m.trainings
                ],
            ),
        ]
    )


def _terminal_line(t) -> str:
    apps = "; ".join(
        "app %d %s MID %s TID %s %s" % (a.app_index, a.acquirer, a.mid, a.tid, a.slip_name)
        for a in t.apps
    )
    return "%s%s%s" % (t.serial, " " + t.model if t.model else "", ": " + apps if apps else "")


def _show_work_order(o) -> None:
    m = o.merchant
    print("work order %d  %s  (%s)" % (o.id, m.company_name, o.status))
    spot = (
        "desktop, %s line%s"
        % (
            o.line or "?",
            ", outside line %s" % o.outside_prefix if o.outside_prefix else "",
        )
        if o.kind == "desktop"
        else "mobile, signal %s; chosen: %s"
        % (
            ", ".join("%s=%s" % (r["spot"], r["csq"]) for r in o.signal_readings or ()) or "-",
            o.chosen_spot or "-",
        )
    )
    _rows(
        [
            ("merchant", "%d %s (%s)" % (m.id, m.contract_no, m.stage)),
            ("installer", "%s %s" % (o.installer.username, o.installer.name)),
            ("appointment", "%s at %s" % (_time(o.appointment_at), o.place)),
            (
                "confirmed",
                "requirements %s, deposit %s"
                % (
                    "confirmed" if o.requirements_confirmed else "not confirmed",
                    "collected" if o.deposit_collected else "not collected",
                ),
            ),
            ("spot", spot),
            ("power, line", "%s; %s" % (o.power_position or "-", o.line_position or "-")),
            ("profile", o.profile.name if o.profile else "-"),
            ("terminal", _terminal_line(o.terminal) if o.terminal else "-"),
            (
                "installs",
                [
                    "%d %s %s by %s" % (i.id, _time(i.at), i.outcome, i.installer.username)
                    for i in o.installs
                ],
            ),
        ]
    )


def _show_terminal(t) -> None:
    owner = t.merchant
    print("terminal %s  %s" % (t.serial, t.model or ""))
    _rows(
        [
            (
                "merchant",
                "%d %s %s" % (owner.id, owner.contract_no, owner.company_name)
                if owner
                else "none",
            ),
            ("SIM ICCID", t.iccid or "-"),
            ("PIN pad", t.pinpad_serial or "-"),
            (
                "applications",
                [
                    "%d %s MID %s TID %s %s" % (a.app_index, a.acquirer, a.mid, a.tid, a.slip_name)
                    for a in t.apps
                ],
            ),
            (
                "installs",
                [
                    "%d %s %s, work order %d" % (i.id, _time(i.at), i.outcome, i.work_order_id)
                    for i in t.installs
                ],
            ),
            (
                "visits",
                [
                    "%s by %s: %s%s%s"
                    % (
                        _time(v.at),
                        v.by.username,
                        v.reason,
                        "; found: " + v.findings if v.findings else "",
                        "; done: " + v.action if v.action else "",
                    )
                    for v in t.visits
                ],
            ),
        ]
    )


# --- review ----------------------------------------------------------------------------------


def _review(args) -> int:
    with _Acting(args) as acting, acting.transaction() as s:
        merchant = service.get_merchant(s, acting.user, args.merchant)
        service.record_review(
            s, acting.user, merchant.id, args.step, args.outcome, args.findings, args.party
        )
        print("merchant %d %s: %s" % (merchant.id, merchant.contract_no, merchant.stage))
    return 0


def _decide(args) -> int:
    with _Acting(args) as acting, acting.transaction() as s:
        merchant = service.get_merchant(s, acting.user, args.merchant)
        service.record_review(
            s,
            acting.user,
            merchant.id,
            "decision",
            args.outcome,
            args.findings,
            args.party,
            decided_on=args.on,
        )
        print("merchant %d %s: %s" % (merchant.id, merchant.contract_no, merchant.stage))
    return 0


def _set_mid(args) -> int:
    with _Acting(args) as acting, acting.transaction() as s:
        merchant = service.get_merchant(s, acting.user, args.merchant)
        service.set_mid(s, acting.user, merchant.id, args.mid)
        print("merchant %d %s: MID %s" % (merchant.id, merchant.contract_no, merchant.mid))
    return 0


# --- work orders -----------------------------------------------------------------------------


def _work_order_fields(args) -> dict:
    return {
        name[3:]: value
        for name, value in vars(args).items()
        if name.startswith("wo_") and value is not None
    }


def _work_order_add(args) -> int:
    with _Acting(args) as acting, acting.transaction() as s:
        merchant = service.get_merchant(s, acting.user, args.merchant)
        order = service.create_work_order(s, acting.user, merchant.id, _work_order_fields(args))
        print(
            "work order %d for merchant %d %s: %s, %s"
            % (
                order.id,
                merchant.id,
                merchant.contract_no,
                order.installer.username,
                _time(order.appointment_at),
            )
        )
    return 0


def _work_order_set(args) -> int:
    fields = _work_order_fields(args)
    if args.status:
        fields["status"] = args.status
    if not fields:
        raise PoskitError("nothing to change: give the options to set")
    with _Acting(args) as acting, acting.transaction() as s:
        order = service.update_work_order(s, acting.user, args.work_order, fields)
        print("work order %d: %s" % (order.id, order.status))
    return 0


def _work_order_list(args) -> int:
    with _Acting(args) as acting, acting.register.session() as s:
        for o in service.work_orders(s, acting.user, status=args.status):
            print(
                "%4d  %-9s %s  %-10s %s"
                % (
                    o.id,
                    o.status,
                    _time(o.appointment_at),
                    o.installer.username,
                    o.merchant.company_name,
                )
            )
    return 0


# --- terminals and profiles ------------------------------------------------------------------


def _terminal_add(args) -> int:
    fields = {
        "serial": args.serial,
        "model": args.model,
        "iccid": args.iccid,
        "pinpad_serial": args.pinpad_serial,
    }
    if args.merchant:
        fields["merchant"] = args.merchant
    with _Acting(args) as acting, acting.transaction() as s:
        terminal = service.add_terminal(s, acting.user, fields)
        print("terminal %s added" % terminal.serial)
    return 0


def _terminal_assign(args) -> int:
    with _Acting(args) as acting, acting.transaction() as s:
        merchant = service.get_merchant(s, acting.user, args.merchant)
        terminal = service.assign_terminal(s, acting.user, args.serial, merchant.id)
        print("terminal %s: merchant %d %s" % (terminal.serial, merchant.id, merchant.contract_no))
    return 0


def _terminal_release(args) -> int:
    with _Acting(args) as acting, acting.transaction() as s:
        terminal = service.release_terminal(s, acting.user, args.serial)
        print("terminal %s released: it belongs to no merchant" % terminal.serial)
    return 0


def _terminal_app(args) -> int:
    with _Acting(args) as acting, acting.transaction() as s:
        app = service.add_terminal_app(
            s,
            acting.user,
            args.serial,
            args.index,
            args.acquirer,
            args.mid,
            args.tid,
            args.slip_name,
        )
        print(
            "terminal %s application %d: %s MID %s TID %s %s"
            % (args.serial, app.app_index, app.acquirer, app.mid, app.tid, app.slip_name)
        )
    return 0


def _profile_add(args) -> int:
    try:
        text = Path(args.file).read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise PoskitError("cannot read %s: %s" % (args.file, exc.strerror)) from None
    except UnicodeDecodeError:
        raise PoskitError("%s: not UTF-8: save it as UTF-8" % args.file) from None
    with _Acting(args) as acting, acting.transaction() as s:
        profile = service.add_profile(s, acting.user, args.name, text)
        print("acquirer profile %r added" % profile.name)
    return 0


def _profile_list(args) -> int:
    with _Acting(args) as acting, acting.register.session() as s:
        for profile in service.profiles(s, acting.user):
            print(profile.name)
    return 0


def _profile_show(args) -> int:
    with _Acting(args) as acting, acting.register.session() as s:
        sys.stdout.write(service.get_profile(s, acting.user, args.name).toml)
    return 0


def _write(text: str, output: str | None, what: str, bom: bool = False) -> None:
    if not output:
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8-sig" if bom else "utf-8")
    except OSError as exc:
        raise PoskitError("cannot write %s: %s" % (output, exc.strerror)) from None
    print("%s written to %s" % (what, output), file=sys.stderr)


def _job(args) -> int:
    with _Acting(args) as acting, acting.register.session() as s:
        text = service.job_toml(s, acting.user, args.work_order)
    _write(text, args.output, "the job of work order %d" % args.work_order)
    return 0


def _record_install(args) -> int:
    with _Acting(args) as acting, acting.transaction() as s:
        done = service.record_install_folder(s, acting.user, args.work_order, args.folder)
        print(
            "work order %d: install %d %s, terminal %s"
            % (args.work_order, done.id, done.outcome, done.terminal.serial)
        )
    return 0


def _training(args) -> int:
    done = [item.strip() for item in args.done.split(",") if item.strip()]
    items = dict.fromkeys(TRAINING_ITEMS if done == ["all"] else done, True)
    with _Acting(args) as acting, acting.transaction() as s:
        merchant = service.get_merchant(s, acting.user, args.merchant)
        service.record_training(s, acting.user, merchant.id, items, args.manager)
        print("merchant %d %s: %s" % (merchant.id, merchant.contract_no, merchant.stage))
    return 0


def _visit(args) -> int:
    fields = {"reason": args.reason, "findings": args.findings, "action": args.action}
    with _Acting(args) as acting, acting.transaction() as s:
        visit = service.record_visit(s, acting.user, args.serial, fields)
        print("visit %d to terminal %s recorded" % (visit.id, args.serial))
    return 0


def _export(args) -> int:
    with _Acting(args) as acting, acting.register.session() as s:
        if args.format == "json":
            text = export.json_text(s, acting.user, args.stage)
        else:
            text = export.csv_text(s, acting.user, args.stage)
    # A CSV file for the acquirer opens in a spreadsheet: the byte order mark says UTF-8.
    _write(text, args.output, "the %s export" % args.format.upper(), bom=args.format == "csv")
    return 0


def _audit(args) -> int:
    with _Acting(args) as acting, acting.register.session() as s:
        for entry in service.audit(s, acting.user, args.table, args.row):
            print(
                "%s %-10s %-6s %s %d %s -> %s"
                % (
                    _time(entry.at),
                    entry.username,
                    entry.action,
                    entry.table,
                    entry.row_id,
                    _json(entry.before),
                    _json(entry.after),
                )
            )
    return 0


def _json(value) -> str:
    return "-" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
