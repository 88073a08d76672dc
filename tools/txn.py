"""`poskit txn`: run the terminal's transaction engine (device/app/txn/engine.py) on MicroPython,
in a virtual terminal's state folder, against any acquirer host: one transaction or a script.

    poskit txn --state DIR init --params JOB.toml --tmk              # set a terminal up
    poskit txn --state DIR [--host HOST:PORT] sign-on
    poskit txn --state DIR sale --amount 0.01 --card-file card.txt --pin
    poskit txn --state DIR void --trace 000002                       # asks the password
    poskit txn --state DIR --script FILE                             # one command a line

The device code runs precompiled from the ROMFS image in an ESP32-sized heap, with the state
folder's flash mounted, exactly as `poskit load` runs it, and reaches the host over the bearer
its parameters select:

- Ethernet: TCP to ethernet.host:port (or its backup); `--host` replaces them (plain TCP, as
  for any bearer when the parameters cannot be used).
- dial-up: the terminal's modem driver dials through an emulated modem (ModemEmulator), which
  puts every number through to `--host` (needed: a phone number says nothing about TCP).
- GPRS: the terminal's GPRS driver runs through an emulated module (Sim800Emulator, or
  Sim7600Emulator with `--gprs sim7600`), which connects to `--host`, or without it to the
  parameters' gprs.host:port as they are.

Secrets and card data (the TMK, a card's track 2 or number, the PIN, the supervisor
password) never come on the command line: each is asked without echo, or read from a file
descriptor or a file (hostlib.secretinput: `--pin`, `--pin-fd N`, `--pin-file FILE`), and
reaches the terminal process on its standard input. Each result is printed (response code and
message, STAN, RRN, auth code, the merchant copy of the slip); the exit status is 0 only if
every command was approved.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import tempfile
import threading
from pathlib import Path

from hostlib import micropython, secretinput
from hostlib.errors import PoskitError
from hostlib.scriptfile import read_lines
from hostlib.state import TerminalState, heap_size

HELP = "run transactions (sign-on, sale, void, settlement...) on a virtual terminal"

# An amount as the cashier writes it: yuan, ASCII digits, at most 2 decimals.
_AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]{1,2}))?")
# Field 4 holds 12 digits of fen.
_MAX_FEN = 999_999_999_999

# Device side of init: parameter sets (validated by the terminal) and master keys, one JSON
# object per line on stdin.
_INIT = """
import sys, json
from binascii import unhexlify
from app.store.params import Params, ParamStore
from app.keys.slots import KeyStore
params = ParamStore(store)
for line in sys.stdin:
    req = json.loads(line)
    app = req["app"]
    try:
        if req["op"] == "params":
            p = Params.from_tlv(unhexlify(req["body"]), app)
            params.save(app, p, req["version"])
            print("@OK params", app, req["version"])
        else:
            p = params.load(app)
            if p is None:
                raise ValueError("application %d has no parameters" % app)
            key = bytearray(unhexlify(req["key"]))
            kcv = KeyStore(store, storage_key).set_tmk(app, p.tmk_slot, key, p.key_algorithm)
            for i in range(len(key)):
                key[i] = 0
            print("@OK tmk", app, p.tmk_slot, p.key_algorithm, kcv)
    except ValueError as exc:
        print("@ERR", app, exc)
"""

# Device side of init's last step: the start-up file on the flash, as a deployed terminal has
# it (device/main.py, read from stdin): the terminal application runs at power-up.
_MAIN = """
import sys
with open(board.MOUNT + "/main.py", "w") as f:
    f.write(sys.stdin.read())
print("@OK main")
"""

# Device side of a run: app.txn.link reads a configuration line, then one request per line,
# and answers "@E" events, "@R" results (JSON) and "@L" slip lines (hex of GB18030 bytes).
_RUN = """
import sys
from app.txn.link import serve
serve(store, storage_key, sys.stdin, print, board)
"""

# Device side of the bearer question: which bearer the terminal's parameters select.
_BEARER = """
from app.store.params import ParamStore
p = ParamStore(store).load(0)
print("@BEARER", "-" if p is None else p["bearer"])
"""

# Command name -> engine request kind.
_KINDS = {
    "sign-on": "sign_on",
    "sign-off": "sign_off",
    "echo": "echo",
    "settle": "settlement",
    "balance": "balance",
    "sale": "sale",
    "void": "sale_void",
    "refund": "refund",
    "preauth": "preauth",
    "preauth-cancel": "preauth_cancel",
    "completion": "completion",
    "completion-notice": "completion_notice",
    "completion-void": "completion_void",
    "reprint": "reprint",
}


class TxnError(PoskitError):
    pass


def amount_fen(text: str) -> int:
    """Fen from yuan written plainly: "0.01" -> 1, "25" -> 2500, "1999.9" -> 199990.

    The one amount parser of `poskit txn`: ASCII digits, an optional point and at most 2
    decimals, above 0 and within field 4 (12 digits of fen). Anything else ("1e3", "NaN",
    "inf", "-5", "1,000", full-width digits) is refused with the value named: a Decimal or
    a float would take those, and an amount is not a place for surprises."""
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise TxnError(
            "amount %r: give yuan as plain digits with at most 2 decimals (e.g. 0.01, 25, "
            "1999.99)" % text
        )
    whole, cents = match.group(1), (match.group(2) or "").ljust(2, "0")
    fen = int(whole) * 100 + int(cents)
    if not 0 < fen <= _MAX_FEN:
        raise TxnError(
            "amount %r: must be above 0 and at most %d.%02d" % (text, *divmod(_MAX_FEN, 100))
        )
    return fen


def _amount(text: str) -> int:
    try:
        return amount_fen(text)
    except TxnError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _trace(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 999999:
        raise argparse.ArgumentTypeError("a trace number is 1 to 6 digits")
    return int(text)


def _mmdd(text: str) -> str:
    if len(text) != 4 or not text.isdigit():
        raise argparse.ArgumentTypeError("a date is MMDD")
    return text


def _card_options(p: argparse.ArgumentParser, required: bool) -> None:
    group = p.add_mutually_exclusive_group(required=required)
    secretinput.add_option(
        group,
        "card",
        "the card's track 2 (PAN=YYMM...)",
        ask_help="a swiped card: ask for its track 2 (PAN=YYMM...) without echo",
    )
    secretinput.add_option(
        group,
        "pan",
        "the card number",
        ask_help="a card keyed in: ask for its number without echo (with --expiry)",
    )
    group.add_argument(
        "--reader",
        action="store_true",
        help="(--port) the card swiped on the terminal's own reader, the PIN entered on its "
        "PIN pad or keypad, as the cashier does (a sale)",
    )
    p.add_argument("--expiry", metavar="YYMM", help="expiry of a keyed-in card")
    secretinput.add_option(
        p, "pin", "the PIN", ask_help="the card has a PIN: ask for it without echo"
    )


def _supervisor_option(p: argparse.ArgumentParser) -> None:
    secretinput.add_option(
        p,
        "supervisor",
        "the supervisor password",
        ask_help="ask for the supervisor password without echo (the default)",
    )


def _command_parsers(sub) -> None:
    for name, text in (
        ("sign-on", "sign on: working keys, clock, batch number"),
        ("sign-off", "sign off"),
        ("echo", "echo test (0820/301)"),
        ("settle", "settle the batch (0500), batch upload when unbalanced"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        if name == "settle":
            p.add_argument(
                "--empty",
                action="store_true",
                help="settle a batch with no transactions (zero totals) without being asked, "
                "where the application's empty_batch parameter is ask",
            )
    p = sub.add_parser("balance", help="balance inquiry")
    _card_options(p, True)
    for name, text in (("sale", "sale (消费)"), ("preauth", "pre-authorisation (预授权)")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--amount", type=_amount, required=True, help="yuan, e.g. 0.01")
        _card_options(p, True)
    for name, text in (("void", "sale void (消费撤销)"), ("completion-void", "completion void")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--trace", type=_trace, required=True, help="the original's trace no.")
        _supervisor_option(p)
        p.add_argument(
            "--amount", type=_amount, help="must be the original's amount (default: it is)"
        )
        _card_options(p, False)
    p = sub.add_parser("refund", help="refund (退货) by the original's RRN and date")
    p.add_argument("--rrn", required=True, help="the original's reference number")
    p.add_argument("--date", type=_mmdd, required=True, help="the original's date MMDD")
    p.add_argument(
        "--amount", type=_amount, required=True, help="yuan, at most what is left to refund"
    )
    _supervisor_option(p)
    _card_options(p, True)
    for name, text in (
        ("preauth-cancel", "pre-auth cancel (预授权撤销)"),
        ("completion", "completion request (预授权完成请求)"),
        ("completion-notice", "completion notice (预授权完成通知)"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--auth", required=True, help="the pre-authorisation's auth code")
        p.add_argument("--date", type=_mmdd, help="the pre-authorisation's date MMDD")
        p.add_argument(
            "--amount",
            type=_amount,
            required=name != "preauth-cancel",
            help="yuan (cancel: default the pre-authorisation's)",
        )
        _card_options(p, False)
    p = sub.add_parser("reprint", help="print a slip again from the journal (offline)")
    p.add_argument("--trace", type=_trace, help="trace number (default: the last)")
    p.add_argument("--copy", choices=("merchant", "cardholder"), default="merchant")
    p = sub.add_parser(
        "init",
        help="set a state folder up: parameters, master key",
        description="Create the state folder if needed; store the parameters of a job file "
        "(checked by the terminal's own code), or with --serial provision the terminal and "
        "load the job as packets; load parameter packets (verified as `poskit load` does); "
        "put the master key in the application's TMK slot.",
    )
    p.add_argument(
        "--params",
        nargs="+",
        metavar="FILE",
        help="job files (.toml) and/or parameter packets, applied in order",
    )
    secretinput.add_option(
        p,
        "tmk",
        "the master key (hex)",
        ask_help="ask (without echo) for the master key of application --app (default 1), "
        "hex, put in the slot its parameters name (tmk_slot) with their key_algorithm",
    )
    p.add_argument(
        "--serial",
        help="provision a blank terminal with this serial (keys generated into the host key "
        "store) and load a job's parameters as authenticated packets",
    )
    p.add_argument("--keystore", help="host key store for --serial (default as provision)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tools.provision import add_target

    add_target(parser, "terminal state folder (virtual terminal)")
    parser.add_argument("--host", metavar="HOST:PORT", help="acquirer host (default: params)")
    parser.add_argument("--app", type=int, default=1, help="acquirer application (default 1)")
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="receive timeout, instead of the parameter's (tests, slow links)",
    )
    parser.add_argument(
        "--heap",
        type=heap_size,
        help="the terminal's heap (default: an ESP32-WROOM's, %s, in which every bearer's "
        "install cycle runs: docs/transactions.md, figures; %s on a 64-bit MicroPython, whose "
        "objects are half again as large)" % (micropython.ESP32_HEAP, micropython.ESP32_HEAP_64),
    )
    parser.add_argument(
        "--gprs",
        choices=("sim800", "sim7600"),
        default="sim800",
        help="the GPRS module a GPRS terminal has fitted, emulated (default: %(default)s)",
    )
    parser.add_argument("--script", metavar="FILE", help="run the commands of FILE, one a line")
    parser.add_argument("--json", action="store_true", help="print each result as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the engine's events")
    sub = parser.add_subparsers(dest="txn_command", metavar="COMMAND")
    _command_parsers(sub)


class _LineParser(argparse.ArgumentParser):
    """A script line's parser: a mistake raises instead of printing usage and exiting."""

    def error(self, message):
        raise TxnError(message)


def _line_parser() -> argparse.ArgumentParser:
    parser = _LineParser(prog="script line", add_help=False, exit_on_error=False)
    sub = parser.add_subparsers(dest="txn_command", metavar="COMMAND", required=True)
    _command_parsers(sub)
    return parser


def _request(args: argparse.Namespace, base: Path | None = None, label: str = "") -> dict:
    """The JSON request for the device from a parsed command; secrets read here (asked
    without echo, or from their file descriptor or file; relative files from `base`, the
    script's folder). `label` starts each prompt ("day.txt:3: ")."""
    name = args.txn_command
    req: dict = {"kind": _KINDS[name]}
    if name == "reprint":
        req.update(trace=args.trace, copy=args.copy)
        return req
    if getattr(args, "empty", False):
        req["confirmed"] = True
    if getattr(args, "amount", None) is not None:
        req["amount"] = args.amount
    if getattr(args, "reader", False):
        req["card"] = "reader"
    track2 = _secret(args, "card", "card's track 2", base, label + "card track 2 (not echoed): ")
    if track2 is not None:
        req["track2"] = track2
    pan = _secret(args, "pan", "card number", base, label + "card number (not echoed): ")
    if pan is not None:
        req["pan"] = pan
        req["expiry"] = args.expiry
    pin = _secret(args, "pin", "PIN", base, label + "PIN (not echoed): ")
    if pin is not None:
        req["pin"] = pin
    for option, key in (("trace", "trace"), ("rrn", "rrn"), ("auth", "auth"), ("date", "date")):
        value = getattr(args, option, None)
        if value is not None:
            req[key] = value
    if hasattr(args, "supervisor"):
        req["supervisor"] = _secret(
            args,
            "supervisor",
            "supervisor password",
            base,
            label + "supervisor password (not echoed): ",
            needed=True,
        )
    return req


def _secret(args, name, what, base, prompt, needed=False) -> str | None:
    if not hasattr(args, name):
        return None
    return secretinput.read(args, name, what, needed=needed, prompt=prompt, base=base)


def _requests_from_script(path: str) -> list[dict]:
    """The requests of a script file, every line checked and every secret read before the
    terminal starts: a mistake on line 9 costs no transaction."""
    parser = _line_parser()
    base = Path(path).parent
    out = []
    for number, line in enumerate(read_lines(Path(path), lambda n: "%s:%d" % (path, n)), 1):
        where = "%s:%d" % (path, number)
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:  # shlex: "No closing quotation", "No escaped character"
            raise TxnError("%s: %s" % (where, str(exc).lower())) from None
        if not words:
            continue
        if words[0] == "init":
            raise TxnError("%s: init is not a script command" % where)
        try:
            args = parser.parse_args(words)
            out.append(_request(args, base, where + ": "))
        except (argparse.ArgumentError, PoskitError) as exc:
            raise TxnError("%s: %s" % (where, exc)) from None
    return out


def terminal_bearer(state: TerminalState) -> str | None:
    """The bearer ("dialup", "gprs", "ethernet") the terminal's parameters select, or None
    when it has none yet."""
    out = state.run(_BEARER).check()
    for line in out.stdout.splitlines():
        if line.startswith("@BEARER "):
            value = line.split()[1]
            return None if value == "-" else value
    raise TxnError("the terminal did not say which bearer it uses:\n%s" % out.stdout[-2000:])


def bearer_emulator(bearer: str | None, host: tuple[str, int] | None, gprs: str = "sim800"):
    """For a dial-up or GPRS terminal: the emulated modem or GPRS module (`gprs`: "sim800"
    or "sim7600", the module fitted) it reaches `host` through, started, and the environment
    that wires the terminal to it (POSKIT_UART_MODEM, or POSKIT_UART_GPRS and
    POSKIT_GPRS_MODEL, read by board.unix_sim). (None, {}) for any other bearer. The caller
    stops the emulator."""
    from hostlib.emulators import GPRS_MODELS, ModemEmulator

    if bearer == "dialup":
        if host is None:
            raise TxnError(
                "the terminal's bearer is dial-up: give --host HOST:PORT, where the emulated "
                "modem puts its calls through"
            )
        # The modem's escape guard (S12) under the terminal's 1 s wait before "+++", so that
        # a few milliseconds of scheduling never turn the escape into data.
        emulator = ModemEmulator(guard_s=0.5, default=host)
    elif bearer == "gprs":
        if gprs not in GPRS_MODELS:
            raise TxnError("--gprs must be sim800 or sim7600, not %r" % gprs)
        emulator = GPRS_MODELS[gprs](default=host)
    else:
        return None, {}
    emulator.start()
    address = "%s:%d" % emulator.address
    if bearer == "dialup":
        return emulator, {"POSKIT_UART_MODEM": address}
    return emulator, {"POSKIT_UART_GPRS": address, "POSKIT_GPRS_MODEL": gprs}


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) <= 65535:
        raise TxnError("--host wants HOST:PORT, got %r" % text)
    return host or "127.0.0.1", int(port)


def _show(result: dict, lines: list[bytes], out) -> None:
    name = result["kind"]
    if result.get("approved"):
        state = "APPROVED"
    elif result.get("error") in ("confirm_empty", "empty_batch"):
        state = "NOT SENT"
    elif result.get("error"):
        state = "FAILED"
    else:
        state = "DECLINED"
    code = result.get("response_code")
    head = "%s %s" % (name, state)
    if code:
        head += " %s" % code
    elif result.get("error"):
        head += " (%s)" % result["error"]
    print(head, file=out)
    if result.get("message_en"):
        print("  %s / %s" % (result["message_en"], result["message_zh"]), file=out)
    if result.get("detail"):
        print("  detail    %s" % result["detail"], file=out)
    row = []
    for key, label in (
        ("stan", "stan"),
        ("batch", "batch"),
        ("rrn", "rrn"),
        ("auth_code", "auth"),
    ):
        if result.get(key):
            value = result[key]
            row.append("%s %s" % (label, "%06d" % value if isinstance(value, int) else value))
    if row:
        print("  " + "  ".join(row), file=out)
    if result.get("amount") is not None:
        print("  amount    %.2f" % (result["amount"] / 100), file=out)
    if result.get("balance") is not None:
        print("  balance   %.2f" % (result["balance"] / 100), file=out)
    if result.get("pan_masked"):
        print("  card      %s" % result["pan_masked"], file=out)
    original = result.get("original")
    if original:
        print(
            "  original  trace %06d, %.2f, card %s, %s"
            % (original["stan"], original["amount"] / 100, original["pan"], original["date"]),
            file=out,
        )
    settlement = result.get("settlement")
    if settlement:
        debit, dcount, credit, ccount = settlement["terminal"]
        print(
            "  totals    debit %d / %.2f, credit %d / %.2f; %s%s"
            % (
                dcount,
                debit / 100,
                ccount,
                credit / 100,
                "balanced" if settlement["balanced"] else "unbalanced",
                ", %d uploaded" % settlement["uploaded"] if settlement["uploaded"] else "",
            ),
            file=out,
        )
    if result.get("reversal_note"):
        print("  reversal  %s" % result["reversal_note"], file=out)
    if result.get("pending_reversal"):
        stan, reason = result["pending_reversal"]
        print("  pending   reversal of %06d (reason %s)" % (stan, reason), file=out)
    if result.get("pending_advice"):
        stan, kind = result["pending_advice"]
        what = kind.replace("_", " ")
        print(
            "  pending   %s %06d, sent again before the next transaction" % (what, stan), file=out
        )
    for note in result.get("notes") or ():
        print("  note      %s" % note, file=out)
    if lines:
        print("  slip:", file=out)
        for line in lines:
            print("  | " + line.decode("gb18030", errors="replace"), file=out)


def _run_device(
    state: TerminalState,
    conf: dict,
    requests: list[dict],
    args,
    env: dict | None = None,
    results: list | None = None,
) -> int:
    """Run the requests on the device; print results as they come (and add them to
    `results`). Exit status."""
    per_request = (conf.get("timeout_ms") or 120_000) / 1000 * 6 + 30
    limit = 60 + per_request * len(requests)
    proc = state.popen(_RUN, heap=args.heap, env=env)
    timer = threading.Timer(limit, proc.kill)
    timer.start()
    failed = 0
    done = 0
    pending: tuple[dict, list[bytes]] | None = None
    other: list[str] = []

    def flush() -> None:
        nonlocal pending
        if pending is None:
            return
        result, lines = pending
        if args.json:
            record = dict(result)
            record["receipt"] = [line.decode("gb18030", errors="replace") for line in lines]
            print(json.dumps(record, ensure_ascii=False))
        else:
            _show(result, lines, sys.stdout)
        sys.stdout.flush()
        pending = None

    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(conf) + "\n")
        for req in requests:
            proc.stdin.write(json.dumps(req) + "\n")
        proc.stdin.close()
        for raw in proc.stdout:
            tag, _, rest = raw.rstrip("\n").partition(" ")
            if tag == "@R":
                flush()
                result = json.loads(rest)
                if results is not None:
                    results.append(result)
                done += 1
                if not result.get("approved"):
                    failed += 1
                pending = (result, [])
            elif tag == "@L" and pending is not None:
                pending[1].append(bytes.fromhex(rest))
            elif tag == "@.":
                flush()
            elif tag == "@E":
                if args.verbose:
                    print("  . %s" % rest, file=sys.stderr)
            elif tag == "@X":
                raise TxnError(rest)
            elif raw.strip():
                other.append(raw.rstrip("\n"))  # a MicroPython traceback comes on stdout
        flush()
        err = proc.stderr.read() if proc.stderr else ""
        proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
    if proc.returncode != 0 or done < len(requests):
        hint = ""
        if any("MemoryError" in line for line in other):
            heap = args.heap or micropython.esp32_heap()
            hint = "\nthe terminal ran out of heap (%s): --heap gives it more" % heap
        raise TxnError(
            "the terminal stopped after %d of %d command(s) (status %s)\n%s%s%s"
            % (done, len(requests), proc.returncode, "\n".join(other[-30:]), err[-2000:], hint)
        )
    return 1 if failed else 0


def _provisioned(state: TerminalState, args) -> tuple[str, bytes] | None:
    """With --serial: the terminal provisioned as that serial (done now if it is blank, keys
    generated into the host key store); returns (serial, link key). None without --serial."""
    if not args.serial:
        return None
    from hostlib.keystore import KeyStore, default_path, passphrase_from_env_or_prompt
    from tools import provision

    keystore = args.keystore or str(default_path())
    current = provision.terminal_serial(state)
    if current is None:
        status = provision.run(
            argparse.Namespace(
                serial=args.serial, state=str(state.folder), keystore=keystore, derive=False
            )
        )
        if status:
            raise TxnError("provisioning failed")
    elif current != args.serial:
        raise TxnError("the terminal is provisioned as %s, not %s" % (current, args.serial))
    store = KeyStore.open(Path(keystore).expanduser(), passphrase_from_env_or_prompt())
    return args.serial, store.terminal(args.serial)["link_key"]


def _init(state: TerminalState, args) -> int:
    from hostlib import jobs, keys, packets

    if not args.params and not secretinput.given(args, "tmk"):
        raise TxnError("init needs --params FILE... and/or the master key (--tmk, asked)")
    files = [Path(name) for name in args.params or ()]
    for path in files:
        if not path.is_file():
            raise TxnError("no file %s" % path)
    # The key is read before anything changes: a mistyped one leaves no half-made terminal.
    tmk = None
    text = secretinput.read(args, "tmk", "master key", prompt="TMK (hex, not echoed): ")
    if text is not None:
        tmk = keys.parse_hex(text, "the master key")
    if not state.exists():
        state.create()
        print("created a blank terminal in %s" % state.folder)
    identity = _provisioned(state, args)
    direct: list[str] = []  # parameter sets stored as they are (job files, no --serial)
    to_load: list[str] = []  # packets, verified by the terminal as `poskit load` does
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            if path.suffix != ".toml":
                to_load.append(str(path.resolve()))
                continue
            job = jobs.load(path)
            version = job.version or 1
            if identity is not None:
                serial, link_key = identity
                for index, data in job.packets(serial, link_key, version):
                    packet = Path(tmp) / ("%s.%d.bin" % (path.stem, index))
                    packet.write_bytes(data)
                    to_load.append(str(packet))
                continue
            for index, values in job.parameter_sets():
                body = packets.encode_parameters(values, index)
                direct.append(
                    json.dumps(
                        {"op": "params", "app": index, "body": body.hex(), "version": version}
                    )
                )
        if to_load:
            from tools import load

            status = load.run(argparse.Namespace(state=str(state.folder), packets=to_load))
            if status:
                return status
    if direct:
        out = state.run(_INIT, stdin="\n".join(direct) + "\n").check()
        if not _report_init(out.stdout):
            return 1
    if tmk is not None:
        line = json.dumps({"op": "tmk", "app": args.app, "key": tmk.hex()})
        out = state.run(_INIT, stdin=line + "\n").check()
        if not _report_init(out.stdout):
            return 1
    return _install_main(state)


def _install_main(state: TerminalState) -> int:
    """Put the terminal application's start-up (device/main.py) on the flash: a virtual
    terminal on this state folder then powers up into the application, as a deployed one."""
    source = (Path(__file__).resolve().parents[1] / "device" / "main.py").read_text()
    out = state.run(_MAIN, stdin=source).check()
    if "@OK main" not in out.stdout:
        raise TxnError("could not write main.py on the terminal's flash:\n%s" % out.stdout)
    print("start-up main.py on the flash: the terminal application runs at power-up")
    return 0


def _report_init(stdout: str) -> bool:
    ok = True
    for line in stdout.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "@OK":
            what, _, rest = rest.partition(" ")
            if what == "params":
                app, version = rest.split()
                where = "terminal" if app == "0" else "application %s" % app
                print("stored parameters for %s (version %s)" % (where, version))
            else:
                app, slot, algorithm, kcv = rest.split()
                print(
                    "master key of application %s in slot %s: %s KCV %s"
                    % (app, slot, algorithm, kcv)
                )
        elif tag == "@ERR":
            ok = False
            app, _, message = rest.partition(" ")
            print(
                "refused for %s: %s"
                % ("terminal" if app == "0" else "application " + app, message),
                file=sys.stderr,
            )
    return ok


def _run_port(args: argparse.Namespace, requests: list[dict]) -> int:
    """The requests sent to the terminal on --port (its host link), one at a time; each
    result printed as for a state folder. Exit status 0 only if every one was approved."""
    from hostlib.terminal import connect

    if args.host:
        raise TxnError(
            "--host is for a virtual terminal's state folder: a terminal on a port reaches "
            "its acquirer over its own bearer"
        )
    timeout = 180.0 if args.timeout is None else args.timeout * 6 + 30
    failed = 0
    with connect(args.port, timeout=timeout) as term:
        for req in requests:
            result = term.txn(dict(req, app=args.app))
            slips = result.pop("slips", [])
            if args.json:
                record = dict(result)
                record["receipt"] = slips[0] if slips else []
                print(json.dumps(record, ensure_ascii=False))
            else:
                lines = [line.encode("gb18030") for line in slips[0]] if slips else []
                _show(result, lines, sys.stdout)
            sys.stdout.flush()
            if not result.get("approved"):
                failed += 1
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    if not args.state and args.txn_command == "init":
        raise TxnError(
            "init sets up a virtual terminal's state folder (--state); a terminal on a port "
            "is set up with poskit provision and poskit load"
        )
    state = TerminalState(args.state or ".")
    if args.txn_command == "init":
        return _init(state, args)
    if args.script and args.txn_command:
        raise TxnError("give a command or --script, not both")
    if not args.script and not args.txn_command:
        raise TxnError("no command: give one (poskit txn --help) or --script FILE")
    with secretinput.no_echo():  # nor what is typed ahead of the next prompt
        if args.script:
            requests = _requests_from_script(args.script)
        else:
            requests = [_request(args)]
    if any(req.get("card") == "reader" for req in requests):
        if args.state:
            raise TxnError("--reader is for a terminal on --port: a state folder has no reader")
        if any(req.get("card") == "reader" and req["kind"] != "sale" for req in requests):
            raise TxnError("--reader is for a sale")
    if not args.state:
        return _run_port(args, requests)
    if not state.exists():
        raise TxnError(
            "%s is not a terminal state folder: poskit txn --state DIR init" % args.state
        )
    conf: dict = {"app": args.app}
    host = _address(args.host) if args.host else None
    if args.timeout is not None:
        if not 0 < args.timeout <= 600:
            raise TxnError("--timeout must be above 0 and at most 600 seconds")
        conf["timeout_ms"] = int(args.timeout * 1000)
    if not requests:
        return 0
    emulator, env = bearer_emulator(terminal_bearer(state), host, args.gprs)
    if emulator is None and host is not None:
        conf["host"], conf["port"] = host  # plain TCP
    try:
        results: list = []
        status = _run_device(state, conf, requests, args, env, results)
        if _settle_empty(results):
            status = _run_device(state, conf, [dict(requests[-1], confirmed=True)], args, env)
        return status
    finally:
        if emulator is not None:
            emulator.stop()


def _settle_empty(results: list) -> bool:
    """Whether to settle again with zero totals: the terminal asked about an empty batch
    (its empty_batch parameter is ask) and the person at this keyboard says yes. Without a
    keyboard (a pipe, a script) nobody is asked: not settled."""
    if not results or results[-1].get("error") != "confirm_empty":
        return False
    if not sys.stdin.isatty():
        print("not settled: nobody to ask; `settle --empty` settles it anyway", file=sys.stderr)
        return False
    return input("settle with zero totals? [y/N] ").strip().lower() in ("y", "yes")


if __name__ == "__main__":  # pragma: no cover - `poskit txn` is the way in
    parser = argparse.ArgumentParser(prog="poskit txn", description=HELP)
    add_arguments(parser)
    try:
        sys.exit(run(parser.parse_args()))
    except PoskitError as exc:
        print("poskit: %s" % exc, file=sys.stderr)
        sys.exit(1)
