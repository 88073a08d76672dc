"""`poskit provision`: give a fresh terminal its identity (serial, KBPK, link key), once.

The keys are made on the host (random, or derived per terminal from the key store's base
key with --derive), recorded in the host's encrypted key store first, then sent to the
terminal, which seals them under its storage key. A terminal already provisioned refuses;
`poskit wipe` (authenticated with the terminal's link key) clears it first, and records the
wipe in the key store.

A serial the key store already holds keys for is refused too: giving it new keys would leave
the terminal that has the old ones refusing every packet and its own wipe. `--replace`
gives new keys after the installer confirms, for a terminal that was re-flashed (its keys
erased without a wipe) or is gone.
"""

import argparse
import hashlib
import hmac
import sys
from pathlib import Path

from Crypto.Cipher import AES

from hostlib.errors import PoskitError
from hostlib.identity_token import wipe_token
from hostlib.keystore import KeyStore, default_path, passphrase_from_env_or_prompt
from hostlib.state import TerminalState

SERIAL_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")

HELP = "give a fresh terminal its serial number, KBPK and link key (once)"

KEYSTORE_HELP = "host key store (default: $POSKIT_KEYSTORE, else ~/.poskit/keystore.json)"

# Device side: read the keys from stdin (never from the command line), provision, report.
_PROVISION = """
import sys
from binascii import unhexlify
from app.keys.identity import Identity, IdentityError
serial, kbpk, link = sys.stdin.readline().split()
try:
    Identity(store, storage_key).provision(serial, unhexlify(kbpk), unhexlify(link))
except IdentityError as exc:
    print("REFUSED", exc)
else:
    print("PROVISIONED", Identity(store, storage_key).serial())
"""

_SERIAL = """
from app.keys.identity import Identity
print("SERIAL", Identity(store, storage_key).serial())
"""

# Device side of a wipe: a one-time challenge out, the token in, the outcome out.
_WIPE = """
import sys
from binascii import hexlify, unhexlify
from app.keys.identity import Identity, IdentityError
from app.store import journal
identity = Identity(store, storage_key)
print("CHALLENGE", hexlify(identity.wipe_challenge()).decode())
token = unhexlify(sys.stdin.readline().strip())
journals = journal.stored(store)  # both layouts: journalN.log files, the journal region
try:
    print("WIPED", identity.wipe(token, journals))
except IdentityError as exc:
    print("REFUSED", exc)
"""


PORT_HELP = (
    "the terminal's serial port (its USB console, e.g. /dev/ttyUSB0); without --state or "
    "--port, the one terminal plugged in"
)


class ProvisionError(PoskitError):
    pass


def add_target(parser: argparse.ArgumentParser, state_help: str) -> None:
    """--state DIR (a virtual terminal's folder) or --port P (a terminal on a serial port,
    through its host-link mode): the terminal a command works on."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--state", help=state_help)
    group.add_argument("--port", help=PORT_HELP)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--serial", required=True, help="terminal serial, e.g. PK-000123")
    add_target(parser, "terminal state folder of a virtual terminal (created blank if missing)")
    parser.add_argument("--keystore", help=KEYSTORE_HELP)
    parser.add_argument(
        "--derive",
        action="store_true",
        help="derive the terminal's keys from the key store's base key instead of random",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="give new keys to a serial the key store already holds (a terminal re-flashed "
        "without a wipe); asks to confirm by typing the serial",
    )


def _answer(lines: str, word: str) -> str:
    for line in lines.splitlines():
        if line.startswith(word + " "):
            return line[len(word) + 1 :]
    raise ProvisionError("the terminal did not answer as expected:\n%s" % lines)


def terminal_serial(state: TerminalState) -> str | None:
    out = state.run(_SERIAL).check()
    value = _answer(out.stdout, "SERIAL")
    return None if value == "None" else value


def check_values(keys: dict) -> tuple[str, str]:
    """KCV of the KBPK (AES, first 3 bytes of E(K, 0^16)) and a check value of the link key."""
    kbpk_kcv = AES.new(keys["kbpk"], AES.MODE_ECB).encrypt(bytes(16))[:3].hex().upper()
    link_kcv = hmac.new(keys["link_key"], b"check", hashlib.sha256).digest()[:3].hex().upper()
    return kbpk_kcv, link_kcv


def check_serial(serial: str) -> str:
    """The device's rule, checked on the host before any key is made."""
    if not 4 <= len(serial) <= 16 or any(c not in SERIAL_CHARS for c in serial):
        raise ProvisionError(
            "serial must be 4 to 16 characters of A-Z, 0-9 and '-', got %r" % serial
        )
    return serial


def _confirm_replace(serial: str, record: dict) -> None:
    print(
        "The key store holds keys for %s, provisioned %s. New keys replace them for good: "
        "a terminal that still holds the old ones will refuse every packet made from now "
        "on, and its own wipe." % (serial, record["provisioned"] or "at an unrecorded time"),
        file=sys.stderr,
    )
    try:
        answer = input("type the serial %s to replace its keys: " % serial)
    except EOFError:
        answer = ""
    if answer.strip() != serial:
        raise ProvisionError("not confirmed: the keys of %s are unchanged" % serial)


def _check_store(store: KeyStore, serial: str, replace: bool) -> None:
    """Refuse a serial whose keys a terminal may still hold, unless --replace is confirmed."""
    record = store.record(serial)
    if record is None or record["wiped"]:
        return  # new, or its terminal erased the old keys: they open nothing any more
    if not replace:
        raise ProvisionError(
            "%s already has keys in the key store %s, provisioned %s: a terminal holding "
            "them would refuse every packet made with new ones. Wipe that terminal first "
            "(poskit wipe); give --replace if it was re-flashed or is gone"
            % (serial, store.path, record["provisioned"] or "at an unrecorded time")
        )
    _confirm_replace(serial, record)


def run(args: argparse.Namespace) -> int:
    check_serial(args.serial)
    if not args.state:
        return _run_port(args)
    state = TerminalState(args.state)
    with state.hold():
        if state.exists():
            current = terminal_serial(state)
            if current is not None:
                raise ProvisionError(
                    "terminal is already provisioned as %s; wipe it first (poskit wipe)" % current
                )
        path = Path(args.keystore).expanduser() if args.keystore else default_path()
        passphrase = passphrase_from_env_or_prompt(confirm=not path.exists())
        store = KeyStore.open(path, passphrase, create=True)
        _check_store(store, args.serial, getattr(args, "replace", False))
        if not state.exists():
            state.create()
            print("created a blank terminal in %s" % state.folder)
        return _provision(state, store, args.serial, args.derive)


def _open_store(args, confirm: bool = False) -> KeyStore:
    path = Path(args.keystore).expanduser() if args.keystore else default_path()
    passphrase = passphrase_from_env_or_prompt(confirm=confirm and not path.exists())
    return KeyStore.open(path, passphrase, create=confirm)


def _run_port(args: argparse.Namespace) -> int:
    """provision over --port: the same checks, the same keys, the same lines printed; the
    terminal's own check values compared with the host's."""
    from hostlib.terminal import connect

    with connect(args.port) as term:
        current = term.identify()["serial"]
        if current is not None:
            raise ProvisionError(
                "terminal is already provisioned as %s; wipe it first (poskit wipe)" % current
            )
        store = _open_store(args, confirm=True)
        _check_store(store, args.serial, getattr(args, "replace", False))
        store.remove_terminal(args.serial)
        keys = store.add_terminal(args.serial, derive=args.derive)
        store.save()  # the host holds the keys before the terminal does
        try:
            back = term.provision(args.serial, keys["kbpk"], keys["link_key"])
        except PoskitError as exc:
            store.remove_terminal(args.serial)
            store.save()
            detail = getattr(exc, "detail", str(exc))
            raise ProvisionError("terminal refused: %s" % detail) from None
    kbpk_kcv, link_kcv = check_values(keys)
    if (back["kbpk_kcv"], back["link_check"]) != (kbpk_kcv, link_kcv):
        raise ProvisionError(
            "the terminal holds keys with check values %s / %s, the key store %s / %s: "
            "wipe it and provision again"
            % (back["kbpk_kcv"], back["link_check"], kbpk_kcv, link_kcv)
        )
    _report(back["serial"], kbpk_kcv, link_kcv, store, args.derive)
    return 0


def _report(serial: str, kbpk_kcv: str, link_kcv: str, store: KeyStore, derive: bool) -> None:
    print("provisioned %s" % serial)
    print("  KBPK      AES-128, KCV %s" % kbpk_kcv)
    print("  link key  HMAC-SHA256, check %s" % link_kcv)
    print("  keys %s in %s" % ("derived" if derive else "generated", store.path))


def _provision(state: TerminalState, store: KeyStore, serial: str, derive: bool) -> int:
    store.remove_terminal(serial)
    keys = store.add_terminal(serial, derive=derive)
    store.save()  # the host holds the keys before the terminal does
    line = "%s %s %s\n" % (serial, keys["kbpk"].hex(), keys["link_key"].hex())
    out = state.run(_PROVISION, stdin=line)
    if not out.ok or "PROVISIONED " not in out.stdout:
        store.remove_terminal(serial)
        store.save()
        if "REFUSED " in out.stdout:
            raise ProvisionError("terminal refused: %s" % _answer(out.stdout, "REFUSED"))
        out.check()
        raise ProvisionError("the terminal did not answer as expected:\n%s" % out.stdout)
    kbpk_kcv, link_kcv = check_values(keys)
    _report(_answer(out.stdout, "PROVISIONED"), kbpk_kcv, link_kcv, store, derive)
    return 0


WIPE_HELP = "erase a terminal's identity, keys and (settled) journals, authenticated"


def add_wipe_arguments(parser: argparse.ArgumentParser) -> None:
    add_target(parser, "terminal state folder")
    parser.add_argument("--keystore", help=KEYSTORE_HELP)


def _wipe_port(args: argparse.Namespace) -> int:
    from hostlib.terminal import connect

    with connect(args.port) as term:
        serial = term.identify()["serial"]
        if serial is None:
            raise ProvisionError("terminal is not provisioned: nothing to wipe")
        store = _open_store(args)
        keys = store.terminal(serial)
        challenge = term.wipe_challenge()
        try:
            done = term.wipe(wipe_token(keys["link_key"], serial, challenge))
        except PoskitError as exc:
            detail = getattr(exc, "detail", str(exc))
            raise ProvisionError("terminal refused the wipe: %s" % detail) from None
    store.mark_wiped(serial)
    store.save()
    print("%s %s" % (serial, done))
    return 0


def run_wipe(args: argparse.Namespace) -> int:
    if not args.state:
        return _wipe_port(args)
    state = TerminalState(args.state)
    serial = terminal_serial(state)
    if serial is None:
        raise ProvisionError("terminal is not provisioned: nothing to wipe")
    store = KeyStore.open(args.keystore or default_path(), passphrase_from_env_or_prompt())
    keys = store.terminal(serial)
    proc = state.popen(_WIPE)
    try:
        challenge = bytes.fromhex(_answer(proc.stdout.readline(), "CHALLENGE"))
        proc.stdin.write(wipe_token(keys["link_key"], serial, challenge).hex() + "\n")
        proc.stdin.flush()
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if proc.returncode != 0:
        raise ProvisionError("terminal failed during the wipe:\n%s%s" % (rest, err))
    if "WIPED " not in rest:
        raise ProvisionError("terminal refused the wipe: %s" % _answer(rest, "REFUSED"))
    store.mark_wiped(serial)
    store.save()
    print("%s %s" % (serial, _answer(rest, "WIPED")))
    return 0
