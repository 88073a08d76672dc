"""Installation job files: one terminal's parameters in TOML, turned into parameter sets.

A job file (docs/examples/job.toml, explained in docs/packets.md) has the tables:

    [job]            reference (work order), serial, version (packet version)
    [merchant]       the application form: kept for the register, never sent to the terminal
    [terminal]       terminal-wide parameters, with [terminal.dialup] / .gprs / .ethernet
    [[application]]  one per acquirer application, in index order (or with `index = N`)
    [install]        what `poskit install` checks the terminal against (model, firmware);
                     never sent (docs/install.md)

Values use the parameter names of docs/packets.md. Where the installer usually leaves a
value as the operator's procedure sets it, the job may leave it out and gets the default
below; nothing else is invented. Every value is checked here with the terminal's rules
(hostlib.packets), so a bad job fails before any packet is built, with the file, the table
and the field in the message:

    job.toml: [[application]] 1 (CUP): merchant_id: must be 15 digits, got 14
"""

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from hostlib import packets
from hostlib.errors import PoskitError

TERMINAL_DEFAULTS = {
    "language": "zh",
    "receipt_copies": 2,
    "external_pinpad": False,
    "key_algorithm": "3DES",
    "connect_timeout": 30,
    "send_timeout": 30,
    "receive_timeout": 60,
    "reversal_retries": 3,
    "host_select": "primary",
}
BEARER_DEFAULTS = {
    "dialup": {"prefix": "", "line": "direct", "lri": False},
    "gprs": {"access_number": "*99#"},
    "ethernet": {},
}
# The sign-on (field 60.3) that goes with a key algorithm when the job names none.
SIGNON_FOR_ALGORITHM = {"DES": "001", "3DES": "004", "SM4": "006"}
APPLICATION_DEFAULTS = {"header_version": "6031", "header_subversion": "000000"}
_TABLES = ("job", "merchant", "terminal", "application", "install")


class JobError(PoskitError):
    """A job file that cannot become packets; the message names file, table and field."""


@dataclass
class Job:
    """A loaded job: parameter sets ready for hostlib.packets (flat names, defaults in)."""

    path: Path
    reference: str | None = None
    serial: str | None = None
    version: int | None = None
    merchant: dict = field(default_factory=dict)
    install: dict = field(default_factory=dict)
    terminal: dict = field(default_factory=dict)
    applications: dict = field(default_factory=dict)  # index -> parameters

    def parameter_sets(self) -> list[tuple[int, dict]]:
        """(application index, parameters): the terminal (0) first, then each application."""
        return [(0, self.terminal)] + sorted(self.applications.items())

    def packets(
        self, serial: str, link_key: bytes, version: int, app_index: int | None = None
    ) -> list[tuple[int, bytes]]:
        """Parameter packets for `serial`: every set, or only `app_index`."""
        sets = self.parameter_sets()
        if app_index is not None:
            sets = [(i, v) for i, v in sets if i == app_index]
            if not sets:
                raise JobError(
                    "%s: no application %d in the job (it has %s)"
                    % (self.path.name, app_index, _indexes(self))
                )
        return [
            (i, packets.build_parameter_packet(v, serial, link_key, version, i)) for i, v in sets
        ]


def _indexes(job: Job) -> str:
    return ", ".join(["0 (terminal)"] + [str(i) for i in sorted(job.applications)])


def _tpdu(value):
    # People write TPDUs grouped ("60 0003 0000") and in either case.
    return "".join(value.split()).upper() if isinstance(value, str) else value


def terminal_parameters(table: dict, reference: str | None = None) -> dict:
    """Flat terminal parameters from a [terminal] table, defaults filled in."""
    values = dict(TERMINAL_DEFAULTS)
    for key, value in table.items():
        if key in BEARER_DEFAULTS and isinstance(value, dict):
            group = dict(BEARER_DEFAULTS[key])
            if key == "ethernet":
                group["dhcp"] = "ip" not in value
            group.update(value)
            for name, item in group.items():
                values[key + "." + name] = _tpdu(item) if name == "tpdu" else item
        else:
            values[key] = value
    if reference is not None and "job_reference" not in values:
        values["job_reference"] = reference
    return values


def application_parameters(table: dict, terminal: dict) -> dict:
    """Flat application parameters from an [[application]] table, defaults filled in."""
    values = dict(APPLICATION_DEFAULTS)
    values.update({k: v for k, v in table.items() if k != "index"})
    values.setdefault("key_algorithm", terminal.get("key_algorithm"))
    if values.get("signon_mode") == "SM4":
        values["signon_mode"] = "006"
    if "signon_mode" not in values and values["key_algorithm"] in SIGNON_FOR_ALGORITHM:
        values["signon_mode"] = SIGNON_FOR_ALGORITHM[values["key_algorithm"]]
    if "tpdu" in values:
        values["tpdu"] = _tpdu(values["tpdu"])
    # Numbers written as numbers (the acquirer's documents, an amount in yuan), carried as
    # text: the text of a choice, or of digits.
    for name, form in (
        ("field60_length", "%d"),
        ("pin_capture_code", "%02d"),
        ("max_amount", "%d"),
    ):
        value = values.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            values[name] = form % value
    return values


def loads(text: str, name: str = "job.toml") -> Job:
    """A Job from TOML text (`name` is used in messages)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise JobError("%s: not valid TOML: %s" % (name, exc)) from None
    for key in doc:
        if key not in _TABLES:
            raise JobError(
                "%s: unknown table [%s]; a job has [%s]" % (name, key, "], [".join(_TABLES))
            )
    head = doc.get("job", {})
    for key in head:
        if key not in ("reference", "serial", "version"):
            raise JobError("%s: [job] %s: unknown; use reference, serial, version" % (name, key))
    job = Job(
        Path(name),
        reference=head.get("reference"),
        serial=head.get("serial"),
        version=head.get("version"),
        merchant=dict(doc.get("merchant", {})),
        install=dict(doc.get("install", {})),
    )
    if job.serial is not None:
        try:
            packets.check_serial(job.serial)
        except packets.PacketError as exc:
            raise JobError("%s: [job] serial: %s" % (name, exc)) from None
    if job.version is not None and (
        not isinstance(job.version, int) or not 1 <= job.version <= 0xFFFFFFFF
    ):
        raise JobError("%s: [job] version: must be 1 to 4294967295, got %r" % (name, job.version))
    if "terminal" not in doc:
        raise JobError("%s: no [terminal] table" % name)
    job.terminal = terminal_parameters(doc["terminal"], job.reference)
    _check(name, "[terminal]", job.terminal, 0)
    apps = doc.get("application", [])
    if not apps:
        raise JobError("%s: no [[application]]: a terminal needs at least one acquirer" % name)
    for position, table in enumerate(apps, 1):
        index = table.get("index", position)
        label = "[[application]] %s (%s)" % (index, table.get("name", "unnamed"))
        if not isinstance(index, int) or not 1 <= index <= packets.MAX_APPLICATIONS:
            raise JobError(
                "%s: %s: index must be 1 to %d" % (name, label, packets.MAX_APPLICATIONS)
            )
        if index in job.applications:
            raise JobError("%s: %s: index %d is used twice" % (name, label, index))
        values = application_parameters(table, job.terminal)
        _check(name, label, values, index)
        bearer = values.get("bearer")
        if bearer is not None and not any(key.startswith(bearer + ".") for key in job.terminal):
            # The terminal refuses the packet too (docs/packets.md): said here, in job terms.
            raise JobError(
                "%s: %s: bearer: %s needs a [terminal.%s] section" % (name, label, bearer, bearer)
            )
        job.applications[index] = values
    return job


def decode(raw: bytes, name: str = "job.toml") -> str:
    """A job file's text: UTF-8 (TOML's only encoding), with or without the byte order mark
    Windows editors put first. Anything else (a file saved as GBK, say) is refused with the
    line it fails on: guessing the encoding could put a wrong merchant name on every slip."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise JobError(
            "%s: line %d is not UTF-8 (byte %02X): save the file as UTF-8 (an editor's "
            '"Save as", encoding UTF-8); GBK or GB18030 text reads wrongly'
            % (name, line, raw[exc.start])
        ) from None


def load(path: str | Path) -> Job:
    """Read and check a job file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise JobError("cannot read job file %s: %s" % (path, exc.strerror)) from None
    job = loads(decode(raw, path.name), path.name)
    job.path = path
    return job


def _check(name: str, label: str, values: dict, app_index: int) -> None:
    try:
        packets.encode_parameters(values, app_index)
    except packets.PacketError as exc:
        raise JobError("%s: %s: %s" % (name, label, exc)) from None
