"""The installation runner: the operator's terminal preparation and on-site installation
(procedure §3 and §4.2) for every acquirer application of a job, one step at a time, each
step's outcome kept so that a run stopped by a failure goes on from that step.

    runner = InstallRunner(job, folder, connect=lambda: Terminal.open(port), keys=keys,
                           cardholder=VtermCardholder(control), installer="wang.li", port=port)
    runner.run()          # InstallError (one line, what to do) at the first failed step

The steps, in order (docs/install.md says what each does for the installer):

    identify            the terminal's serial, model, firmware and application build,
                        checked against the job (run again on every run: the same terminal?)
    deploy              the application of this kit, when the terminal's build differs
    provision           serial, KBPK and link key, when the terminal is blank
    parameters          the job's parameter packets, loaded and read back
    keys.N              application N's master key in a key packet, its check value read back
    onsite              the installer's line type and outside-line prefix
    appN.sign_on        for each application N: sign-on,
    appN.sale           the 0.01 sale with the test card (swiped, PIN entered; or by chip:
                        the test chip card inserted, `poskit install --card NAME`),
    appN.slip           MID, TID and merchant name on its slip checked against the job,
    appN.void           the 0.01 void of that sale,
    appN.settlement     settlement
    record              the terminal identified again; the record and its report written

The rule kept: a step is marked done in FOLDER/progress.json only once it has succeeded on
the terminal, with what it found (a sale's STAN, a slip); the file is replaced whole after
each step. A later run with the same job skips the steps marked done; a run with a changed
job is refused (its packets and tests would not be the ones recorded) unless started over.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from hostlib import install_record
from hostlib.errors import PoskitError

PROGRESS_NAME = "progress.json"
PROGRESS_FORMAT = "poskit-install-progress/1"
TEST_AMOUNT = 1  # fen: the procedure's 0.01
# The longest wait for a transaction read from the card at the terminal: the installer's
# time to swipe, check and type is in it.
CARD_TIMEOUT = 180
# The terminal's slip lines that carry what the installer checks (app/txn/receipt.py).
_SLIP_MID = "MERCHANT NO:"
_SLIP_TID = "TERMINAL NO:"
_SLIP_NAME = "MERCHANT NAME:"


class InstallError(PoskitError):
    """A step failed; the message says what was found and what to do."""


def job_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def step_names(job) -> list[str]:
    """Every step of an install of `job`, in order."""
    names = ["identify", "deploy", "provision", "parameters"]
    apps = sorted(job.applications)
    names += ["keys.%d" % i for i in apps]
    names.append("onsite")
    for i in apps:
        names += ["app%d.%s" % (i, s) for s in ("sign_on", "sale", "slip", "void", "settlement")]
    names.append("record")
    return names


def check_slip(slip: list[str], expected: dict) -> list[str]:
    """What disagrees between a slip (its text lines) and the job's `merchant_id`,
    `terminal_id` and `merchant_name`: one sentence each, empty when all three agree."""
    found = {"merchant_id": None, "terminal_id": None, "merchant_name": None}
    for number, line in enumerate(slip):
        text = line.strip()
        for name, label in (("merchant_id", _SLIP_MID), ("terminal_id", _SLIP_TID)):
            if text.startswith(label):
                words = text[len(label) :].split()  # "TERMINAL NO: 12345678 OPER: 01"
                found[name] = words[0] if words else ""
        if text.startswith(_SLIP_NAME):
            rest = text[len(_SLIP_NAME) :].strip()
            if not rest and number + 1 < len(slip):
                rest = slip[number + 1].strip()  # the name has a line of its own
            found["merchant_name"] = rest
    problems = []
    for name, label in (
        ("merchant_id", "MID (MERCHANT NO)"),
        ("terminal_id", "TID (TERMINAL NO)"),
        ("merchant_name", "merchant name"),
    ):
        want = expected.get(name)
        got = found[name]
        if got is None:
            problems.append("the slip has no %s line" % label)
        elif got != want:
            problems.append("the slip's %s is %r, the job's %r" % (label, got, want))
    return problems


class Cardholder:
    """The person with the test card at a real terminal: the installer, told what to do."""

    picture = False

    def __init__(self, say: Callable[[str], None], chip: str | None = None) -> None:
        self.say = say
        self.chip = chip  # the test chip card's name: the sale by chip, else a swipe

    @contextlib.contextmanager
    def present(self, what: str):
        """While the terminal runs a transaction that reads the card (`what`: "sale")."""
        if self.chip:
            self.say(
                "    at the terminal: insert the test chip card (%s), enter its PIN if asked, "
                "tear off the merchant copy and press ENTER, then take the card out" % self.chip
            )
        else:
            self.say(
                "    at the terminal: swipe the test card, check the card number and RMB 0.01 "
                "and press ENTER, enter the card's PIN, tear off the merchant copy and press "
                "ENTER"
            )
        yield

    def screen_png(self) -> bytes | None:
        return None


class VtermCardholder(Cardholder):
    """The installer's hands at a virtual terminal, through its emulators
    (hostlib.vterm_control): each step done once, when the screen asks for it, as a person
    reads the screen before acting. The PIN goes to the external PIN pad ahead of its entry
    when the terminal has one, else to the keypad when the PIN screen shows."""

    picture = True
    _KEY = "/250"  # keys held 250 ms: none lost while a loaded machine scans slowly

    def __init__(
        self,
        control,
        say,
        *,
        track2: str,
        pin: str,
        pinpad: bool = False,
        chip: str | None = None,
    ) -> None:
        super().__init__(say, chip)
        self.control = control
        self._track2 = track2
        self._pin = pin
        self._pinpad = pinpad
        pan = track2.partition("=")[0]
        self._masked = pan[:6] + "*" * (min(len(pan), 16) - 10) + pan[-4:]
        self.errors: list[str] = []
        self._approved_png: bytes | None = None  # the screen when it said 交易成功

    def _steps(self) -> list[tuple[str, str, bool]]:
        # (text on the screen, the script line, whether the line holds the PIN)
        # A chip card: inserted at the card prompt (请刷卡或插卡), the PIN if its CVM asks,
        # taken out when the terminal asks (请拔卡); a step the screen skips is passed over.
        enter = "keys ENTER" + self._KEY
        if self.chip:
            steps = [("请刷卡", "insert " + self.chip, False)]
        else:
            steps = [("请刷卡", "swipe " + self._track2, False), (self._masked, enter, False)]
        if not self._pinpad:
            digits = " ".join(d + self._KEY for d in self._pin)
            steps.append(("密码", "keys %s %s" % (digits, "ENTER" + self._KEY), True))
        steps.append(("请撕下", enter, False))
        if self.chip:
            steps.append(("请拔卡", "remove", False))
        return steps

    @contextlib.contextmanager
    def present(self, what: str):
        if self.chip:
            self.say(
                "    the chip card %s inserted, its PIN typed if asked, on the vterm" % self.chip
            )
        else:
            self.say(
                "    the test card swiped, the sale confirmed and its PIN typed, on the vterm"
            )
        stop = threading.Event()
        if self._pinpad:
            self.control.do("pin %s" % self._pin, secret=True)
        worker = threading.Thread(target=self._act, args=(stop,), daemon=True)
        worker.start()
        try:
            yield
        finally:
            stop.set()
            worker.join(timeout=30)

    def _act(self, stop: threading.Event) -> None:
        steps = self._steps()
        self._approved_png = None
        while steps and not stop.is_set():
            try:
                screen = " ".join(self.control.screen())
                if self._approved_png is None and "交易成功" in screen:
                    self._approved_png = self.control.screen_png()
                for number, (text, line, secret) in enumerate(steps):
                    if text in screen:
                        self.control.do(line, secret=secret)
                        del steps[: number + 1]
                        break
            except PoskitError as exc:
                self.errors.append(str(exc))
                return
            stop.wait(0.1)

    def screen_png(self) -> bytes | None:
        """The screen at the approval if it was seen, else as it is now."""
        return self._approved_png or self.control.screen_png()


class InstallRunner:
    """Runs the steps of `step_names(job)` on a terminal; see the module docstring.

    `connect()` opens the terminal (a context manager giving a hostlib.terminal.Terminal);
    `keys` gives the host key store's operations (KeyAccess); `cardholder` swipes and types
    (Cardholder, VtermCardholder); `deploy(progress)` deploys this kit's application and
    returns its figures, `build()` the build hash of this kit's application (without them
    the deploy step only says `no_deploy`: a virtual terminal); `onsite` the
    installer's on-site settings ({"line": ..., "prefix": ...}); `say` prints a line.
    """

    def __init__(
        self,
        job,
        folder: Path,
        *,
        connect: Callable,
        keys,
        cardholder: Cardholder,
        installer: str,
        port: str,
        onsite: dict,
        deploy: Callable | None = None,
        build: Callable[[], str] | None = None,
        say: Callable[[str], None] = print,
        restart: bool = False,
        no_deploy: str = "not checked",
    ) -> None:
        self.job = job
        self.folder = Path(folder)
        self.connect = connect
        self.keys = keys
        self.cardholder = cardholder
        self.onsite_settings = onsite
        self.deploy_fn = deploy
        self.build_fn = build
        self.no_deploy = no_deploy  # what the deploy step says without deploy and build
        self.say = say
        self.names = step_names(job)
        self.progress_path = self.folder / PROGRESS_NAME
        self.digest = job_digest(job.path)
        self.screens: dict[str, bytes] = {}
        self.progress = self._load_progress(restart)
        if self.progress is None:
            self.progress = {
                "format": PROGRESS_FORMAT,
                "job_sha256": self.digest,
                "done": {},
                "record": install_record.new_record(
                    job, installer=installer, port=port, job_sha256=self.digest
                ),
            }
        self.record = self.progress["record"]
        self.terminal = None
        self._found: dict = {}  # what identify found this run
        self._fresh = False  # no request yet in this host-link session
        self._next_stan = None  # the trace number the terminal gives next, as last told

    # --- progress ------------------------------------------------------------------------

    def _load_progress(self, restart: bool) -> dict | None:
        if not self.progress_path.exists():
            return None
        if restart:
            self.progress_path.unlink()
            return None
        try:
            progress = json.loads(self.progress_path.read_text(encoding="utf-8"))
            if progress.get("format") != PROGRESS_FORMAT:
                raise ValueError
        except (OSError, ValueError):
            raise InstallError(
                "%s is not an install's progress file: move it away, or give --restart"
                % self.progress_path
            ) from None
        if progress["job_sha256"] != self.digest:
            raise InstallError(
                "%s changed since the install in %s began: its steps done were done with "
                "the old one. Give --restart to start that install over with this job, or "
                "--record another folder" % (self.job.path, self.folder)
            )
        for name in progress["done"]:
            path = self.folder / (name.replace(".", "-") + ".png")
            if name.endswith(".sale") and path.exists():
                self.screens[name.replace(".", "-")] = path.read_bytes()
        return progress

    def _save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.progress_path.with_name(PROGRESS_NAME + ".tmp")
        tmp.write_text(json.dumps(self.progress, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.progress_path)
        install_record.write(self.record, self.folder, self.screens)

    def _mark(self, name: str, status: str, note: str = "") -> None:
        steps = [s for s in self.record["steps"] if s["name"] != name]
        steps.append({"name": name, "status": status, "at": install_record.now(), "note": note})
        order = {n: i for i, n in enumerate(self.names)}
        steps.sort(key=lambda s: order.get(s["name"], len(order)))
        self.record["steps"] = steps

    # --- the run -------------------------------------------------------------------------

    def run(self) -> dict:
        """Every step not yet done, in order; the record once all are. InstallError at the
        first that fails (the record and progress written first)."""
        done = self.progress["done"]
        total = len(self.names)
        before = [n for n in self.names if n in done]
        if before:
            self.say(
                "resuming the install in %s: %d of %d steps were done; identify runs again, "
                "the other %d are not repeated"
                % (self.folder, len(before), total, len([n for n in before if n != "identify"]))
            )
        with contextlib.ExitStack() as stack:
            self._stack = stack
            self._open()
            for number, name in enumerate(self.names, 1):
                if name in done and name != "identify":
                    continue
                title = self._title(name)
                self.say("[%d/%d] %s" % (number, total, title))
                started = time.monotonic()
                try:
                    result = self._step(name)
                    self._fresh = False
                except PoskitError as exc:
                    self._mark(name, "failed", str(exc))
                    self._save()
                    raise InstallError(
                        "step %d/%d, %s, failed: %s\nthe %d step(s) before it are done and "
                        "kept in %s; fix the cause and run the same command again: it goes on "
                        "from this step" % (number, total, title, exc, number - 1, self.folder)
                    ) from None
                note = (result or {}).pop("note", "") if isinstance(result, dict) else ""
                done[name] = result if result is not None else {}
                self._mark(name, "done", note)
                self._save()
                self.say(
                    "    done%s (%.1f s)"
                    % (": " + note if note else "", time.monotonic() - started)
                )
        return self.record

    def _open(self) -> None:
        self.terminal = self._stack.enter_context(self.connect())
        self._fresh = True

    def _reopen(self, tries: int = 3) -> None:
        """Close the session and open a new one. The terminal restarts its application in
        between, which takes a moment longer on a loaded machine than the link's entry
        waits: tried again, 2 s apart."""
        self._stack.close()
        for attempt in range(tries):
            try:
                self._open()
                return
            except PoskitError:
                if attempt == tries - 1:
                    raise
                time.sleep(2)

    def _title(self, name: str) -> str:
        if name.startswith("app"):
            index, _, what = name[3:].partition(".")
            app = self.job.applications[int(index)]
            return "application %s (%s): %s" % (
                index,
                app.get("name"),
                {
                    "sign_on": "sign-on",
                    "sale": "0.01 sale",
                    "slip": "MID, TID and merchant name on the slip",
                    "void": "0.01 void",
                    "settlement": "settlement",
                }[what],
            )
        if name.startswith("keys."):
            index = int(name[5:])
            return "application %d (%s): master key" % (
                index,
                self.job.applications[index].get("name"),
            )
        return {
            "identify": "identify the terminal, check it against the job",
            "deploy": "the application on the terminal",
            "provision": "the terminal's identity (serial, KBPK, link key)",
            "parameters": "parameters, loaded and read back",
            "onsite": "on-site settings (line type, outside-line prefix)",
            "record": "the install record",
        }[name]

    def _step(self, name: str):
        if name.startswith("app"):
            index, _, what = name[3:].partition(".")
            return getattr(self, "_app_" + what)(int(index))
        if name.startswith("keys."):
            return self._keys(int(name[5:]))
        return getattr(self, "_" + name)()

    # --- the steps -----------------------------------------------------------------------

    def _identify(self) -> dict:
        info = self.terminal.identify()
        self._found = info
        job = self.job
        serial = info.get("serial")
        if serial is not None and serial != job.serial:
            raise InstallError(
                "the terminal is %s; the job %s is for %s: connect %s's terminal, or take "
                "this terminal's job" % (serial, job.path.name, job.serial, job.serial)
            )
        before = self.progress["done"].get("identify", {}).get("chip_id")
        if before is not None and info.get("chip_id") != before:
            raise InstallError(
                "this is not the terminal the install began on (chip id %s, then %s): "
                "connect that one, or give --restart" % (info.get("chip_id"), before)
            )
        for key, field, what in (
            ("model", "model", "model"),
            ("firmware", "micropython", "firmware (MicroPython)"),
        ):
            want = job.install.get(key)
            got = info.get(field)
            if want is not None and not str(got or "").startswith(str(want)):
                raise InstallError(
                    "the terminal's %s is %s; the job wants %s (its [install] %s)"
                    % (what, got, want, key)
                )
        self._terminal_fields(info)
        note = "%s, %s, MicroPython %s, build %s" % (
            serial or "blank (not provisioned)",
            info.get("model"),
            info.get("micropython"),
            str(info.get("app_build"))[:12],
        )
        return {"serial": serial, "chip_id": info.get("chip_id"), "note": note}

    def _terminal_fields(self, info: dict) -> None:
        fields = (
            "serial chip_id model micropython app_build lockdown terminal_params_version "
            "iccid signal pinpad_serial key_check_values ic_sets"
        ).split()
        self.record["terminal"] = {name: info.get(name) for name in fields}
        for held in info.get("applications") or ():
            try:
                app = install_record.application(self.record, held.get("index"))
            except KeyError:
                continue
            app["terminal"] = {
                k: _text(held.get(k))
                for k in (
                    "name",
                    "merchant_id",
                    "terminal_id",
                    "merchant_name",
                    "params_version",
                    "bearer",
                )
            }

    def _deploy(self) -> dict:
        if self.build_fn is None or self.deploy_fn is None:
            return {"note": self.no_deploy}
        want = self.build_fn()
        have = self._found.get("app_build")
        if have == want:
            return {"note": "build %s already on the terminal" % want[:12]}
        if self._found.get("lockdown"):
            raise InstallError(
                "the terminal is locked down with build %s, and this kit's is %s: a locked "
                "terminal takes no new application over its console (docs/board.md, "
                "production lockdown)" % (have, want[:12])
            )
        self._stack.close()  # deploy has the port to itself
        shown = {"path": None}

        def progress(done: int, total: int, path: str) -> None:
            if path and path != shown["path"]:
                shown["path"] = path
                self.say("    %s (%d of %d bytes sent)" % (path, done, total))

        figures = self.deploy_fn(progress)
        self._open()
        self._found = self.terminal.identify()
        if self._found.get("app_build") != want:
            raise InstallError(
                "after the deploy the terminal reports build %s, not %s"
                % (self._found.get("app_build"), want[:12])
            )
        self.record["deploy"] = {k: v for k, v in figures.items() if not isinstance(v, dict)}
        return {
            "note": "%s file(s), %s bytes sent"
            % (figures.get("files_sent"), figures.get("bytes_sent"))
        }

    def _provision(self) -> dict:
        serial = self._found.get("serial")
        if serial is not None:
            return {"note": "already provisioned as %s" % serial}
        kbpk, link_key, checks = self.keys.new_identity(self.job.serial)
        try:
            self.terminal.provision(self.job.serial, kbpk, link_key)
        except PoskitError:
            self.keys.forget(self.job.serial)
            raise
        self._found = self.terminal.identify()
        return {"note": "%s: %s" % (self.job.serial, checks)}

    def _parameters(self) -> dict:
        job = self.job
        version = job.version or 1
        held = {0: self._found.get("terminal_params_version")}
        for app in self._found.get("applications") or ():
            held[app.get("index")] = app.get("params_version")
        link_key = self.keys.link_key(job.serial)
        loaded = []
        for index, data in job.packets(job.serial, link_key, version):
            where = "terminal" if index == 0 else "application %d" % index
            have = held.get(index)
            if have is not None and have > version:
                raise InstallError(
                    "the terminal holds version %s of the %s parameters, newer than the "
                    "job's %d: raise [job] version above %s" % (have, where, version, have)
                )
            if have == version:
                self._check_held(index)
                continue
            back = self.terminal.load(data)
            if back.get("version") not in (None, version):
                raise InstallError(
                    "the %s parameters read back as version %s, not %d"
                    % (where, back.get("version"), version)
                )
            loaded.append(where)
        self._found = self.terminal.identify()
        self._terminal_fields(self._found)
        for index in sorted(job.applications):
            self._check_held(index)
        if not loaded:
            return {"note": "version %d already on the terminal" % version}
        return {"note": "version %d: %s" % (version, ", ".join(loaded))}

    def _check_held(self, index: int) -> None:
        """The terminal's MID, TID and name of application `index` are the job's."""
        if index == 0:
            return
        want = self.job.applications[index]
        for app in self._found.get("applications") or ():
            if app.get("index") != index:
                continue
            for name in ("merchant_id", "terminal_id", "merchant_name"):
                if _text(app.get(name)) != want.get(name):
                    raise InstallError(
                        "application %d on the terminal has %s %r, the job %r (same version "
                        "%s): raise [job] version so that the job's parameters are loaded"
                        % (
                            index,
                            name,
                            _text(app.get(name)),
                            want.get(name),
                            app.get("params_version"),
                        )
                    )

    def _keys(self, index: int) -> dict:
        values = self.job.applications[index]
        algorithm, slot = values["key_algorithm"], values["tmk_slot"]
        held = self._found.get("key_check_values") or {}
        if algorithm == "SM4":
            raise InstallError(
                "application %d's master key is SM4, which no key packet carries: load it as "
                "the custodians' components (poskit keys load-components, docs/keys.md), then "
                "run again" % index
            )
        data, check = self.keys.key_packet(self.job.serial, index, slot, algorithm)
        if check in (str(v).upper() for v in held.values()):
            return {"note": "slot %d already holds this key (KCV %s)" % (slot, check)}
        back = self.terminal.load(data)
        got = _kcv_in(back, slot)
        if got is not None and got != check:
            raise InstallError(
                "the terminal read back KCV %s for slot %d, the key's is %s" % (got, slot, check)
            )
        self._found = self.terminal.identify()
        self._terminal_fields(self._found)
        return {"note": "slot %d %s KCV %s" % (slot, algorithm, check)}

    def _onsite(self) -> dict:
        settings = self.onsite_settings
        if not any(name.startswith("dialup.") for name in self.job.terminal):
            # Ethernet and GPRS dial no number: the line at the spot is not the terminal's.
            return {"note": "no dial-up bearer in the job: nothing to set"}
        held = self.terminal.onsite(app=min(self.job.applications), **settings)
        self.record["onsite"] = dict(settings)
        if isinstance(held, dict) and held.get("line") not in (None, settings["line"]):
            raise InstallError(
                "the terminal kept line %s, not %s" % (held.get("line"), settings["line"])
            )
        prefix = settings.get("prefix") or "none"
        return {"note": "%s line, outside-line prefix %s" % (settings["line"], prefix)}

    def _txn(self, index: int, request: dict, kind: str) -> dict:
        request = dict(request, app=index)
        if request.get("card") == "reader":
            with self.cardholder.present(kind.replace("_", " ")):
                result = self.terminal.txn(request, timeout=CARD_TIMEOUT)
        else:
            result = self.terminal.txn(request)
        return self._entry(index, request["kind"], kind, result)

    def _entry(self, index: int, request_kind: str, kind: str, result: dict) -> dict:
        self._next_stan = result.get("next_stan")
        entry = install_record.test_entry(request_kind, result)
        app = install_record.application(self.record, index)
        app["tests"] = [t for t in app["tests"] if t["kind"] != entry["kind"]] + [entry]
        if not result.get("approved"):
            reason = result.get("response_code") or result.get("error") or "declined"
            message = result.get("message_en") or ""
            detail = result.get("detail") or ""
            raise InstallError(
                "%s %s%s%s"
                % (
                    kind.replace("_", " "),
                    reason,
                    ": " + message if message else "",
                    " (%s)" % detail if detail else "",
                )
            )
        return entry

    def _app_sign_on(self, index: int) -> dict:
        if not self._fresh:
            self._reopen()  # each application's bearer brought up on a whole heap
        entry = self._txn(index, {"kind": "sign_on"}, "sign_on")
        return {
            "stan": entry["stan"],
            "next_stan": self._next_stan,
            "note": "approved, STAN %s" % _stan(entry["stan"]),
        }

    def _app_sale(self, index: int) -> dict:
        name = "app%d.sale" % index
        attempts = self.progress.setdefault("attempts", {})
        entry = None
        if name in attempts:
            entry = self._sale_already_made(index, attempts[name])
        if entry is None:
            signed_on = self.progress["done"].get("app%d.sign_on" % index, {})
            attempts[name] = {"next_stan": signed_on.get("next_stan")}
            self._save()
            if not self._fresh:
                # The sale in a host-link session of its own: the terminal restarts its
                # application first (as at power-up), so the sale and its slips have the
                # whole heap (measured: after other requests in one session, a sale's answer
                # could run out of a 176K heap on the 64-bit port).
                self._reopen()
            request = {"kind": "sale", "amount": TEST_AMOUNT, "card": "reader"}
            entry = self._txn(index, request, "sale")
        if self.cardholder.picture:
            png = self.cardholder.screen_png()
            if png:
                name = "app%d-sale" % index
                self.screens[name] = png
                install_record.application(self.record, index)["screen"] = name
        else:
            self.record["screen_note"] = (
                "a real terminal: no picture of its screen is taken (the virtual terminal's "
                "display gives one)"
            )
        if self.cardholder.chip and entry.get("card") != "chip":
            # The test was to go through the chip (field 55, the host's ARQC check).
            raise InstallError(
                "the sale was approved, but its card was read by %s, not by chip: the slip "
                "says so; void it at the terminal, then run the install again"
                % (entry.get("card") or "an unknown way")
            )
        by = " by chip" if self.cardholder.chip else ""  # a swipe's note as it always was
        return {
            "stan": entry["stan"],
            "rrn": entry["rrn"],
            "card": entry.get("card"),
            "note": "approved%s, STAN %s RRN %s" % (by, _stan(entry["stan"]), entry["rrn"]),
        }

    def _sale_already_made(self, index: int, attempt: dict) -> dict | None:
        """The sale a run before this one started, if the terminal approved it after that
        run lost its answer (the cable out, a timeout): the record takes it from the
        terminal's journal and slip, and no second sale is made. None if there is none."""
        last = self.terminal.journal(app=index).get("last") or {}
        since = attempt.get("next_stan")
        if not (
            last.get("kind") == "sale"
            and last.get("status") == "approved"
            and last.get("amount") == TEST_AMOUNT
            and isinstance(since, int)
            and isinstance(last.get("stan"), int)
            and last["stan"] >= since
        ):
            return None
        slips = self.terminal.slips(count=1, app=index)
        rrn = None
        for line in slips[0] if slips else ():
            if line.startswith("REF NO:"):
                rrn = line[len("REF NO:") :].strip()
        result = {
            "kind": "sale",
            "approved": True,
            "response_code": "00",
            "stan": last["stan"],
            "rrn": rrn,
            "amount": last["amount"],
            "date": last.get("date"),
            "slips": slips,
            "message_en": "approved by the terminal in the run before; taken from its journal",
        }
        self.say("    the sale the run before started was approved: taken from the journal")
        return self._entry(index, "sale", "sale", result)

    def _app_slip(self, index: int) -> dict:
        app = install_record.application(self.record, index)
        sale = next((t for t in app["tests"] if t["kind"] == "sale"), None)
        if sale is None or not sale["slips"]:
            raise InstallError("the sale printed no slip to check")
        problems = check_slip(sale["slips"][0], app["expected"])
        app["slip_check"] = {"ok": not problems, "problems": problems}
        if problems:
            raise InstallError(
                "%s. The terminal prints what it holds: check the job against the acquirer's "
                "letter, correct it, raise [job] version and run again" % "; ".join(problems)
            )
        return {
            "note": "MID %s, TID %s, %s"
            % tuple(app["expected"][k] for k in ("merchant_id", "terminal_id", "merchant_name"))
        }

    def _app_void(self, index: int) -> dict:
        sale = self.progress["done"]["app%d.sale" % index]
        request = {
            "kind": "sale_void",
            "trace": sale["stan"],
            "supervisor": self.job.terminal.get("supervisor_password"),
        }
        entry = self._txn(index, request, "void")
        return {"stan": entry["stan"], "note": "approved, STAN %s" % _stan(entry["stan"])}

    def _app_settlement(self, index: int) -> dict:
        entry = self._txn(index, {"kind": "settlement", "confirmed": True}, "settlement")
        return {"stan": entry["stan"], "note": "approved, STAN %s" % _stan(entry["stan"])}

    def _record(self) -> dict:
        self._found = self.terminal.identify()
        self._terminal_fields(self._found)
        self.record["status"] = "complete"
        self.record["finished"] = install_record.now()
        return {"note": "%s" % (self.folder / install_record.HTML_NAME)}


def _stan(value) -> str:
    return "%06d" % value if isinstance(value, int) else str(value)


def _kcv_in(back: dict, slot: int) -> str | None:
    """The check value (6 hex digits) a key packet's read-back reports for `slot`: its
    "keys" rows are [slot, algorithm, check value]."""
    if back.get("kcv"):
        return str(back["kcv"]).upper()[:6]
    for row in back.get("keys") or ():
        if row and row[0] == slot:
            return str(row[2]).upper()[:6]
    return None


def _text(value):
    """A parameter text from identify: str, or {"gb18030": hex} as the terminal holds it."""
    if isinstance(value, dict) and "gb18030" in value:
        return bytes.fromhex(value["gb18030"]).decode("gb18030", errors="replace")
    return value
