"""`poskit params`: build parameter packets from a job file, verify and show packets offline.

    poskit params build JOB.toml -o FILE [--serial S] [--link-key HEX] [--version N] [--app N]
    poskit params verify FILE [--serial S] [--link-key HEX] [--installed-version N] [--no-key]
    poskit params show FILE

`build` without --app writes one packet per parameter set: FILE for the terminal-wide set
and FILE with ".appN" before its suffix for application N. The link key comes from
--link-key, else from the host key store (by serial), so it need not be typed.

`verify` checks what the terminal checks, the MAC included: the link key comes from the key
store (the terminal the packet names) unless --link-key gives it. Only --no-key checks the
structure alone, and then says NOT AUTHENTICATED: anyone can make such a packet.
"""

import argparse
import binascii
import sys
from pathlib import Path

from hostlib import jobs, packets
from hostlib.errors import PoskitError
from hostlib.keystore import KeyStore, default_path, passphrase_from_env_or_prompt

HELP = "build parameter packets from a job file; verify and show packets offline"


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
        help="check a packet as the terminal would: structure, CRC, serial, MAC, version",
        description="Check a packet offline as the terminal does: structure and CRC; the "
        "MAC under the link key of the terminal it names, from the host key store (or "
        "--link-key); with --serial, that it is for that terminal; with "
        "--installed-version, that it is newer than what the terminal holds. --no-key "
        "checks the structure alone and says NOT AUTHENTICATED.",
    )
    p.add_argument("packet", help="packet file")
    p.add_argument("--serial", help="the terminal it must be for")
    p.add_argument(
        "--installed-version", type=int, help="version installed on the terminal (no rollback)"
    )
    _key_arguments(p)
    p.add_argument(
        "--no-key",
        action="store_true",
        help="no link key: check structure, CRC and values only (the packet is NOT AUTHENTICATED)",
    )

    p = sub.add_parser("show", help="print every field of a packet (passwords stay hashed)")
    p.add_argument("packet", help="packet file")


def _key_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--link-key", help="the terminal's link key, 64 hex digits (default: from the key store)"
    )
    parser.add_argument(
        "--keystore",
        help="host key store to take the link key from (default: $POSKIT_KEYSTORE, else "
        "~/.poskit/keystore.json)",
    )


def _given_link_key(text: str) -> bytes:
    try:
        key = binascii.unhexlify("".join(text.split()))
    except (binascii.Error, ValueError):
        raise PoskitError("--link-key is not hex") from None
    if len(key) != 32:
        raise PoskitError("--link-key must be 32 bytes (64 hex digits), got %d" % len(key))
    return key


def _open_store(args: argparse.Namespace, what: str) -> KeyStore:
    path = Path(args.keystore).expanduser() if args.keystore else default_path()
    if not path.exists():
        raise PoskitError("no key store at %s: %s" % (path, what))
    return KeyStore.open(path, passphrase_from_env_or_prompt())


def _link_key(args: argparse.Namespace, serial: str, hint: str = "") -> bytes:
    if args.link_key:
        return _given_link_key(args.link_key)
    store = _open_store(args, "give --link-key, or --keystore" + hint)
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
    output = Path(args.output)
    if output.is_dir() or args.output.endswith(("/", "\\")):
        raise PoskitError(
            "-o %s is a folder: give the packet file's name, e.g. %s"
            % (args.output, output / (Path(args.job).stem + ".bin"))
        )
    link_key = _link_key(args, serial)
    built = job.packets(serial, link_key, version, args.app)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PoskitError("cannot create %s: %s" % (output.parent, exc.strerror)) from None
    for app_index, data in built:
        path = _output_name(output, app_index) if args.app is None else output
        try:
            path.write_bytes(data)
        except OSError as exc:
            raise PoskitError("cannot write %s: %s" % (path, exc.strerror)) from None
        print(
            "wrote %s: parameters for %s, terminal %s, version %d, %d bytes"
            % (path, packets.scope_name(app_index), serial, version, len(data))
        )
    return 0


def _read(path: str) -> bytes:
    """The file, read no further than a packet can be long (/dev/zero has no end)."""
    try:
        with open(path, "rb") as f:
            data = f.read(packets.MAX_PACKET + 1)
    except OSError as exc:
        raise PoskitError("cannot read %s: %s" % (path, exc.strerror)) from None
    if len(data) > packets.MAX_PACKET:
        raise packets.PacketError(
            "oversized",
            "%s holds more than %d bytes, a packet's maximum" % (path, packets.MAX_PACKET),
        )
    return data


def _verify(args: argparse.Namespace) -> int:
    if args.no_key and (args.link_key or args.keystore):
        raise PoskitError("--no-key checks without a link key: leave out --link-key/--keystore")
    checked = ["structure", "CRC", "values"]
    left = []
    try:
        data = _read(args.packet)
        if args.no_key:
            link_key = None
        else:
            # The MAC is checked under the key of the terminal the packet names (or
            # --serial), which the key store must hold; a damaged packet is refused first.
            serial = args.serial or packets.parse(data).serial
            link_key = _link_key(args, serial, ", or --no-key to check the structure alone")
            checked.append(
                "MAC (%s)"
                % ("--link-key" if args.link_key else "link key of %s, key store" % serial)
            )
        packet = packets.verify(data, args.serial, link_key, args.installed_version)
    except packets.PacketError as exc:
        print("REFUSED (%s): %s" % (exc.reason, exc))
        return 1
    if args.no_key:
        left.append("MAC (--no-key: anyone could have made this packet)")
    if args.serial is not None:
        checked.append("serial")
    elif args.link_key or args.no_key:
        left.append("serial (give --serial)")
    if args.installed_version is not None:
        checked.append("version")
    else:
        left.append("version against the terminal's (give --installed-version N)")
    what = "%s for %s, terminal %s, version %d, %d bytes" % (
        packet.kind_name,
        packets.scope_name(packet.app_index),
        packet.serial,
        packet.version,
        packet.size,
    )
    if args.no_key:
        # Anyone can make a packet that passes these checks: never say OK for it.
        print("NOT AUTHENTICATED %s" % what)
    else:
        print("OK %s" % what)
    print("  checked: %s" % ", ".join(checked))
    if left:
        print("  not checked: %s" % "; ".join(left))
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
    try:
        packet = packets.parse(_read(args.packet))
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
