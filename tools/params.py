"""`poskit params`: build parameter packets from a job file, verify and show packets offline.

    poskit params build JOB.toml -o FILE [--serial S] [--link-key HEX] [--version N] [--app N]
    poskit params verify FILE [--serial S] [--link-key HEX] [--installed-version N]
    poskit params show FILE

`build` without --app writes one packet per parameter set: FILE for the terminal-wide set
and FILE with ".appN" before its suffix for application N. The link key comes from
--link-key, else from the host key store (by serial), so it need not be typed.
"""

import argparse
import binascii
import os
import sys
from pathlib import Path

from hostlib import jobs, packets
from hostlib.errors import PoskitError

HELP = "build parameter packets from a job file; verify and show packets offline"

DEFAULT_KEYSTORE = os.environ.get("POSKIT_KEYSTORE", "~/.poskit/keystore.json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="params_command", metavar="ACTION", required=True)

    p = sub.add_parser(
        "build",
        help="make the parameter packets of a job file (TOML)",
        description="Check a job file with the terminal's rules and write its parameter "
        "packets, bound to one terminal's serial and authenticated with its link key.",
    )
    p.add_argument("job", help="job file (TOML), e.g. docs/examples/job.toml")
    p.add_argument("-o", "--output", required=True, help="packet file to write")
    p.add_argument("--serial", help="terminal serial (default: [job] serial)")
    p.add_argument("--version", type=int, help="packet version (default: [job] version)")
    p.add_argument(
        "--app",
        type=int,
        help="only this parameter set: 0 = terminal, N = application N (default: all)",
    )
    _key_arguments(p)

    p = sub.add_parser(
        "verify",
        help="check a packet as the terminal would",
        description="Check a packet offline as the terminal does. Without --serial, "
        "--link-key (or the key store) or --installed-version those checks are skipped.",
    )
    p.add_argument("packet", help="packet file")
    p.add_argument("--serial", help="the terminal it must be for")
    p.add_argument(
        "--installed-version", type=int, help="version installed on the terminal (no rollback)"
    )
    _key_arguments(p, lookup_by_default=False)

    p = sub.add_parser("show", help="print every field of a packet (passwords stay hashed)")
    p.add_argument("packet", help="packet file")


def _key_arguments(parser: argparse.ArgumentParser, lookup_by_default: bool = True) -> None:
    parser.add_argument(
        "--link-key", help="the terminal's link key, 64 hex digits (default: from the key store)"
    )
    parser.add_argument(
        "--keystore",
        default=DEFAULT_KEYSTORE if lookup_by_default else None,
        help="host key store to take the link key from%s"
        % (" (default: $POSKIT_KEYSTORE or %(default)s)" if lookup_by_default else ""),
    )


def _link_key(args: argparse.Namespace, serial: str | None) -> bytes | None:
    if args.link_key:
        try:
            key = binascii.unhexlify("".join(args.link_key.split()))
        except (binascii.Error, ValueError):
            raise PoskitError("--link-key is not hex") from None
        if len(key) != 32:
            raise PoskitError("--link-key must be 32 bytes (64 hex digits), got %d" % len(key))
        return key
    if not args.keystore:
        return None
    if serial is None:
        raise PoskitError("give --serial to take the link key from the key store")
    from hostlib.keystore import KeyStore, passphrase_from_env_or_prompt

    path = Path(args.keystore).expanduser()
    if not path.exists():
        raise PoskitError("no key store at %s: give --link-key" % path)
    store = KeyStore.open(path, passphrase_from_env_or_prompt())
    return store.terminal(serial)["link_key"]


def _output_name(output: Path, app_index: int) -> Path:
    if app_index == 0:
        return output
    return output.with_name("%s.app%d%s" % (output.stem, app_index, output.suffix))


def _build(args: argparse.Namespace) -> int:
    job = jobs.load(args.job)
    serial = args.serial or job.serial
    if serial is None:
        raise PoskitError("no terminal serial: give --serial or set [job] serial")
    version = args.version if args.version is not None else job.version
    if version is None:
        raise PoskitError("no packet version: give --version or set [job] version")
    link_key = _link_key(args, serial)
    built = job.packets(serial, link_key, version, args.app)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    for app_index, data in built:
        path = _output_name(output, app_index) if args.app is None else output
        path.write_bytes(data)
        print(
            "wrote %s: parameters for %s, terminal %s, version %d, %d bytes"
            % (path, packets.scope_name(app_index), serial, version, len(data))
        )
    return 0


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise PoskitError("cannot read %s: %s" % (path, exc.strerror)) from None


def _verify(args: argparse.Namespace) -> int:
    data = _read(args.packet)
    try:
        link_key = _link_key(args, args.serial)
        packet = packets.verify(data, args.serial, link_key, args.installed_version)
    except packets.PacketError as exc:
        print("REFUSED (%s): %s" % (exc.reason, exc))
        return 1
    skipped = [
        what
        for what, done in (
            ("serial", packet.serial_checked),
            ("MAC", packet.mac_checked),
            ("version", args.installed_version is not None),
        )
        if not done
    ]
    print(
        "OK %s for %s, terminal %s, version %d, %d bytes%s"
        % (
            packet.kind_name,
            packets.scope_name(packet.app_index),
            packet.serial,
            packet.version,
            packet.size,
            "; not checked: " + ", ".join(skipped) if skipped else "",
        )
    )
    return 0


def _show_value(name: str, value) -> str:
    if name.endswith("_password"):
        return "(hashed)"
    if name == "merchant_name":
        return "%s  [GB18030 %s]" % (value, value.encode("gb18030").hex().upper())
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _show(args: argparse.Namespace) -> int:
    data = _read(args.packet)
    try:
        packet = packets.parse(data)
    except packets.PacketError as exc:
        print("REFUSED (%s): %s" % (exc.reason, exc))
        return 1
    print("packet     %s, format %d, %d bytes" % (packet.kind_name, packets.FORMAT, packet.size))
    print("terminal   %s" % packet.serial)
    print("for        %s" % packets.scope_name(packet.app_index))
    print("version    %d" % packet.version)
    print("crc        %08X (good)" % packet.crc)
    print("mac        %s (not checked here: `poskit params verify`)" % packet.mac.hex().upper())
    if packet.params is not None:
        width = max(len(name) for name in packet.params)
        for name, value in packet.params.items():
            tag = next(f.tag for f in packets.fields(packet.app_index) if f.name == name)
            print("  %02X %-*s  %s" % (tag, width, name, _show_value(name, value)))
        for tag, _, raw in packet.items:
            if tag not in packets.BY_TAG:
                print("  %02X (unknown optional tag, %d bytes, ignored)" % (tag, len(raw)))
    else:
        for entry in packet.entries:
            kcv = " kcv %s" % entry.kcv.hex().upper() if entry.kcv else ""
            print("  slot %02d%s  %s" % (entry.slot, kcv, entry.key_block))
    return 0


def run(args: argparse.Namespace) -> int:
    action = {"build": _build, "verify": _verify, "show": _show}[args.params_command]
    return action(args)


if __name__ == "__main__":  # pragma: no cover - `poskit params` is the way in
    parser = argparse.ArgumentParser(prog="poskit params", description=HELP)
    add_arguments(parser)
    try:
        sys.exit(run(parser.parse_args()))
    except PoskitError as exc:
        print("poskit: %s" % exc, file=sys.stderr)
        sys.exit(1)
