"""`poskit install`: install a terminal from its job, every acquirer application, step by step,
and keep the install record (docs/install.md).

    poskit install JOB.toml --port /dev/ttyUSB0          # a real terminal (or leave --port
                                                         #   off: the one ESP32 plugged in)
    poskit install JOB.toml --vterm DIR                  # the virtual terminal on DIR
    poskit install JOB.toml --port P                     # again after a failure: goes on
    poskit install JOB.toml --port P --restart           # the whole install again
    poskit install --work-order 12 --port P --user wang.li   # the job from the register;
                                                         #   the record written back to it

The record and its report go into --record DIR (default: install-<work order> in the current
folder), with the progress of the steps; hostlib/install.py runs the steps. The master key of
each application is asked for without echo (or read a line an application from --tmk-fd N),
the key store's passphrase as every command asks it.

With the register (docs/register.md): `--work-order N` takes the job the register composes
for that work order (refused for a merchant not approved, a work order cancelled or already
installed), keeps it in the record folder as job.toml, and writes the install record back to
the register after the run: the terminal, its applications, the slips, the work order marked
installed. A job file run with `--db URL` (or with $POSKIT_REGISTER set) is checked against
the register first: a MID, TID or merchant name that disagrees is refused before anything
reaches the terminal.
"""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path

from hostlib import install, jobs, keys, packets, secretinput
from hostlib.errors import PoskitError
from hostlib.keystore import KeyStore, default_path, passphrase_from_env_or_prompt

HELP = (
    "install a terminal from its job: identify, deploy, provision, parameters, keys, sign-on, "
    "0.01 sale, slip check, void, settlement per application; the install record"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "job", metavar="JOB.toml", nargs="?", help="the installation job (or --work-order)"
    )
    parser.add_argument(
        "--work-order",
        type=int,
        metavar="N",
        help="install work order N of the register: its job composed there, the record "
        "written back (docs/register.md)",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help="the register (default: $POSKIT_REGISTER, else ~/.poskit/register.db with "
        "--work-order); a job file is checked against it",
    )
    parser.add_argument(
        "--user",
        metavar="NAME",
        help="with --work-order: the register's user who installs (default: "
        "$POSKIT_REGISTER_USER); the password from $POSKIT_REGISTER_PASSWORD, else asked",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--port",
        help="the terminal's serial port (default: the one ESP32 USB-serial port plugged in)",
    )
    where.add_argument(
        "--vterm",
        metavar="DIR",
        help="the virtual terminal running on state folder DIR (poskit vterm --state DIR): "
        "its console, and its card reader and keypad for the test card and PIN",
    )
    parser.add_argument(
        "--card",
        metavar="NAME",
        help="make the 0.01 sale by chip with the test chip card NAME (a built-in emulated "
        "card of `poskit vterm`, e.g. pboc-debit): inserted on the virtual terminal, asked "
        "for at a real one; the record says the sale was by chip (default: the test card "
        "swiped)",
    )
    parser.add_argument(
        "--record",
        metavar="DIR",
        help="folder of the install record, its report, slips and progress (default: "
        "install-<work order> here)",
    )
    parser.add_argument(
        "--installer",
        help="who installs, for the record (default: $POSKIT_INSTALLER, else your user name)",
    )
    parser.add_argument(
        "--line",
        choices=("direct", "extension"),
        help="the phone line at the spot: direct, or an extension (分机) behind a switchboard "
        "(default: the job's dial-up line, else direct)",
    )
    parser.add_argument(
        "--prefix",
        metavar="DIGITS",
        help="outside-line number dialled first on an extension (default: the job's)",
    )
    secretinput.add_option(
        parser,
        "tmk",
        "the applications' master keys (hex, one line each, in application order)",
        ask_help="ask for each application's master key without echo (the default)",
    )
    parser.add_argument("--keystore", help="host key store (default as provision)")
    parser.add_argument(
        "--restart",
        action="store_true",
        help="start the install over: forget the steps done in the record folder",
    )


class KeyAccess:
    """The host key store and the master keys, opened and asked for when a step needs them
    (a terminal already provisioned and keyed asks for nothing)."""

    def __init__(self, args: argparse.Namespace, job) -> None:
        self.args = args
        self.job = job
        self.path = Path(args.keystore).expanduser() if args.keystore else default_path()
        self._store: KeyStore | None = None

    def store(self) -> KeyStore:
        if self._store is None:
            passphrase = passphrase_from_env_or_prompt(confirm=not self.path.exists())
            self._store = KeyStore.open(self.path, passphrase, create=True)
        return self._store

    def new_identity(self, serial: str) -> tuple[bytes, bytes, str]:
        """New KBPK and link key for `serial`, saved in the key store before the terminal
        gets them (as poskit provision does); their check values as text."""
        from tools import provision

        store = self.store()
        provision.check_serial(serial)
        # A serial whose keys a terminal may still hold is refused, as poskit provision does.
        provision._check_store(store, serial, False)
        store.remove_terminal(serial)  # keys of a wiped terminal open nothing any more
        made = store.add_terminal(serial)
        store.save()
        kbpk_kcv, link_check = provision.check_values(made)
        return (
            made["kbpk"],
            made["link_key"],
            "KBPK KCV %s, link key check %s"
            % (
                kbpk_kcv,
                link_check,
            ),
        )

    def forget(self, serial: str) -> None:
        store = self.store()
        store.remove_terminal(serial)
        store.save()

    def link_key(self, serial: str) -> bytes:
        return self.store().terminal(serial)["link_key"]

    def key_packet(self, serial: str, index: int, slot: int, algorithm: str) -> tuple[bytes, str]:
        """A key packet carrying application `index`'s master key (asked for now) in `slot`,
        wrapped in TR-31 under the terminal's KBPK; the key's check value (hex)."""
        name = self.job.applications[index].get("name")
        text = secretinput.read(
            self.args,
            "tmk",
            "master key of application %d" % index,
            needed=True,
            prompt="TMK of application %d (%s), slot %d, %s (hex, not echoed): "
            % (index, name, slot, algorithm),
        )
        tmk = keys.parse_hex(text or "", "the master key of application %d" % index)
        keys.check_master_key(algorithm, tmk)
        terminal = self.store().terminal(serial)
        letter = "D" if algorithm == "DES" else "T"
        block = keys.tr31_wrap(
            terminal["kbpk"].hex(), tmk.hex(), "K0", letter, "D", version_id="D"
        )
        check = keys.kcv(algorithm, tmk)
        data = packets.build_key_packet(
            [(slot, block, check)], serial, terminal["link_key"], self.job.version or 1, index
        )
        return data, check.hex().upper()


def onsite_settings(args: argparse.Namespace, job) -> dict:
    """The installer's line type and outside-line prefix: the options, else the job's."""
    line = args.line or job.terminal.get("dialup.line") or "direct"
    prefix = args.prefix if args.prefix is not None else job.terminal.get("dialup.prefix", "")
    if prefix and not prefix.replace(",", "").isdigit():
        raise PoskitError("--prefix: digits (commas for pauses), got %r" % prefix)
    if line == "extension" and not prefix:
        raise PoskitError("an extension line needs its outside-line number: give --prefix")
    return {"line": line, "prefix": prefix}


def _cardholder(args: argparse.Namespace, job, say):
    from hostlib.card import profiles

    chip = getattr(args, "card", None)
    if chip is not None:
        profiles.builtin(chip)  # an unknown name: CardFileError listing the cards
    if not args.vterm:
        return None, install.Cardholder(say, chip)
    from hostlib.emulators.cardreader import TEST_TRACK2
    from hostlib.hostsim.seed import TEST_CARDS
    from hostlib.vterm_control import VtermControl

    control = VtermControl.find(args.vterm)
    card = next(c for c in TEST_CARDS if c["track2"] == TEST_TRACK2)
    holder = install.VtermCardholder(
        control,
        say,
        track2=card["track2"],
        # The emulated chip cards' online PIN is the host simulator's test PIN.
        pin=card["pin"] if chip is None else profiles.TEST_PIN,
        pinpad=bool(job.terminal.get("external_pinpad")),
        chip=chip,
    )
    return control.console, holder


def run(args: argparse.Namespace) -> int:
    if (args.job is None) == (args.work_order is None):
        raise PoskitError("give the job: a JOB.toml file, or --work-order N from the register")
    register = None
    if args.work_order is not None:
        register = RegisterLink(args)
        job_path = register.job_file(args.record)
        folder = job_path.parent
    else:
        job_path = Path(args.job)
    job = jobs.load(job_path)
    if job.serial is None:
        raise PoskitError("%s: [job] serial is needed: the terminal's serial" % args.job)
    if register is None:
        check_against_register(args, job)
        folder = Path(args.record or "install-%s" % (job.reference or job.serial))
    onsite = onsite_settings(args, job)
    say = _say
    port, cardholder = _cardholder(args, job, say)
    if port is None:
        from hostlib import ports

        port = ports.find_port(args.port)
    installer = (
        args.installer
        or (register and register.user.username)
        or os.environ.get("POSKIT_INSTALLER")
        or getpass.getuser()
    )

    def connect():
        from hostlib.terminal import Terminal

        return Terminal.open(port)

    deploy_fn = build_fn = None
    if not args.vterm:
        from hostlib import deploy

        def deploy_fn(progress):
            return deploy.deploy(port, progress=progress)

        build_fn = deploy.build_hash

    runner = install.InstallRunner(
        job,
        folder,
        connect=connect,
        keys=KeyAccess(args, job),
        cardholder=cardholder,
        installer=installer,
        port=port,
        onsite=onsite,
        deploy=deploy_fn,
        build=build_fn,
        say=say,
        restart=args.restart,
        # The virtual terminal runs device/ of this kit, packed into its image at its start.
        no_deploy="the virtual terminal runs this kit's application (its image is built "
        "from device/ when it starts): nothing to deploy",
    )
    say("installing %s (%s) on %s, record in %s" % (job.serial, job.reference, port, folder))
    try:
        with secretinput.no_echo():
            runner.run()
    except install.InstallError:
        if register is not None:
            # The failed attempt, for the back office; the install's own failure is the
            # message that matters, whatever the register says.
            try:
                register.record_back(folder, say)
            except PoskitError as exc:
                say("note: %s" % exc)
        raise
    say("install complete: %s, %s" % (folder / "install.html", folder / "install.json"))
    if register is not None:
        register.record_back(folder, say)
    return 0


class RegisterLink:
    """`--work-order N`: the register, the user acting there, the job it composes and the
    record it takes back."""

    def __init__(self, args: argparse.Namespace) -> None:
        from hostlib.register import db
        from tools import register as register_cli

        self.work_order = args.work_order
        self.register = db.open(args.db)
        self.user = register_cli.login(args.user, self.register)

    def job_file(self, record: str | None) -> Path:
        """The work order's job, composed by the register (refused for a merchant not
        approved, a work order cancelled or installed), as FOLDER/job.toml: the file the
        install's progress is kept against, as a job file's would be."""
        from hostlib.register import service

        with self.register.session() as s:
            text = service.job_toml(s, self.user, self.work_order)
            reference = service.job_reference(
                service.get_work_order(s, self.user, self.work_order)
            )
        folder = Path(record or "install-%s" % reference)
        path = folder / "job.toml"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name("job.toml.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        return path

    def record_back(self, folder: Path, say) -> None:
        """The install record in FOLDER written to the register (one transaction)."""
        from hostlib.register import RegisterError, service

        try:
            with self.register.transaction(self.user) as s:
                done = service.record_install_folder(s, self.user, self.work_order, folder)
                serial = done.terminal.serial
        except RegisterError as exc:
            raise PoskitError(
                "the register did not take the install record of work order %d: %s; the "
                "record is in %s: poskit register record-install %d %s writes it there later"
                % (self.work_order, exc, folder, self.work_order, folder)
            ) from None
        say(
            "the register has it: work order %d, install %d %s, terminal %s"
            % (self.work_order, done.id, done.outcome, serial)
        )


def check_against_register(args: argparse.Namespace, job) -> None:
    """A job file against the register given (--db, else $POSKIT_REGISTER): its terminal,
    MIDs, TIDs and merchant names must be the register's. Nothing without a register."""
    url = args.db or os.environ.get("POSKIT_REGISTER")
    if not url:
        return
    from hostlib.register import db, service

    register = db.open(url)
    try:
        with register.session() as s:
            service.check_job(s, job)
    finally:
        register.close()


def _say(text: str) -> None:
    print(text, flush=True)
