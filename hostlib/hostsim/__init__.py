"""Acquirer host simulator: a CUP POSP (spec/cup-pos-8583.md) on CPython for testing the
terminal, built on pyiso8583, pycryptodome, gmssl and psec — independent of device/.

    with HostSimulator() as host:           # :memory: database, default seed, port 0
        host.set_fault("late", mti="0200", delay=3)
        ... connect the terminal to host.address ...
        host.transactions(tid="12345678")

docs/hostsim.md describes the behaviour, the seeded test data and the faults.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from hostlib import packets
from hostlib.card import profiles
from hostlib.errors import PoskitError
from hostlib.hostsim import crypto, faults, icsets, seed
from hostlib.hostsim.engine import MESSAGE_NAMES, SIGNON_MODES, Engine, Outcome, mask_pan
from hostlib.hostsim.faults import KINDS as FAULT_KINDS
from hostlib.hostsim.faults import FaultError
from hostlib.hostsim.server import Server
from hostlib.hostsim.store import Store
from hostlib.hostsim.wire import WireError

__all__ = [
    "FAULT_KINDS",
    "check_fault",
    "PROFILE_DEFAULTS",
    "FaultError",
    "HostSimError",
    "HostSimulator",
    "WireError",
    "icsets",
    "mask_pan",
]

_CARD_STATUSES = ("active", "blocked", "lost", "stolen")


class HostSimError(PoskitError):
    """A simulator set-up request that cannot be done (bad key, unknown terminal...)."""


def _hex_key(text: str, what: str, lengths: tuple[int, ...]) -> str:
    cleaned = "".join(text.split()).upper()
    try:
        raw = bytes.fromhex(cleaned)
    except ValueError:
        raise HostSimError(f"{what} is not hex") from None
    if len(raw) not in lengths:
        raise HostSimError(
            f"{what} must be {' or '.join(str(n) for n in lengths)} bytes, got {len(raw)}"
        )
    return cleaned


def check_fault(kind: str, **options: Any) -> None:
    """FaultError for a fault `set_fault` would refuse with these options (an unknown kind,
    request MTI or message type, a bad count, delay or code): the command line checks before
    it opens a database, so a mistake changes nothing."""
    mti, txn = options.get("mti"), options.get("txn")
    count, delay, code = options.get("count", 1), options.get("delay", 0.0), options.get("code")
    faults.validate(kind, delay, code, mti, script=options.get("script"))
    if txn is not None and txn not in MESSAGE_NAMES and txn != "reversal":
        raise FaultError(
            f"unknown message type {txn!r}: this host knows {', '.join(MESSAGE_NAMES)}"
        )
    if count is not None and count < 1:
        raise FaultError("fault count must be at least 1 (None: persistent)")


PROFILE_DEFAULTS: dict[str, Any] = {
    "signon_layout": None,
    "field60_length": None,
    "field26": None,
    "mac_method": "cup",
    "lri": None,
    "settle_empty_flag": "1",
    "cryptogram_fail_code": "05",
}


def _profile(profile: dict, key_alg: str, partial: bool = False) -> dict:
    """The terminals-table columns of a profile, every value checked (HostSimError)."""
    unknown = set(profile) - set(PROFILE_DEFAULTS)
    if unknown:
        raise HostSimError(
            f"no profile setting {', '.join(sorted(unknown))}: "
            f"the profile has {', '.join(PROFILE_DEFAULTS)}"
        )
    values = dict(profile) if partial else {**PROFILE_DEFAULTS, **profile}
    if values.get("signon_layout") is not None:
        try:
            packets.key_layout(values["signon_layout"], sm4=key_alg == crypto.SM4_ALG)
        except ValueError as exc:
            raise HostSimError(f"signon_layout: {exc}") from None
    if values.get("field60_length") not in (None, 8, 14):
        raise HostSimError("field60_length must be 8 or 14 (or None: any)")
    if values.get("field26") not in (None, "12", "06"):
        raise HostSimError("field26 must be 12 or 06 (or None: any)")
    method = values.get("mac_method", "cup")
    if method not in crypto.MAC_METHODS:
        raise HostSimError(f"mac_method must be one of {', '.join(crypto.MAC_METHODS)}")
    if method != "cup" and key_alg == crypto.SM4_ALG:
        raise HostSimError(f"mac_method {method} is a DES MAC: an SM4 terminal uses cup")
    if "lri" in values and values["lri"] not in (None, True, False):
        raise HostSimError("lri must be True, False or None (either)")
    flag = values.get("settle_empty_flag", "1")
    if not isinstance(flag, str) or len(flag) != 1 or not flag.isdigit():
        raise HostSimError("settle_empty_flag must be one digit")
    code = values.get("cryptogram_fail_code", "05")
    if not isinstance(code, str) or len(code) != 2 or not code.isalnum():
        raise HostSimError("cryptogram_fail_code must be 2 letters or digits (a 39 code)")
    if "lri" in values and values["lri"] is not None:
        values["lri"] = int(values["lri"])
    return values


def _digits(value: str, what: str, lengths: tuple[int, ...]) -> str:
    if not value.isdigit() or len(value) not in lengths:
        raise HostSimError(f"{what} must be {'/'.join(map(str, lengths))} digits: {value!r}")
    return value


class HostSimulator:
    """The simulator: SQLite state, the message engine and (after start()) a TCP server.

    `db_path` is a file or ":memory:"; `seed` adds the default terminal and test cards where
    they are missing (existing rows are left alone, so a file keeps its balances). `clock`
    gives the host's local time (tests pin it). Connections idle for `idle_timeout` seconds
    are closed.
    """

    def __init__(
        self,
        db_path: str = ":memory:",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: bool = True,
        clock: Callable[[], datetime] = datetime.now,
        idle_timeout: float = 60.0,
    ) -> None:
        self.store = Store(db_path)
        self.engine = Engine(self.store, clock=clock)
        self._lock = threading.RLock()  # seed() nests add_terminal()
        self._server = Server(self._handle, host, port, idle_timeout)
        self._started = False
        self.messages = 0  # requests handled (over TCP or handle())
        if seed:
            self.seed()

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> HostSimulator:
        """Listen; returns self. `address` is then the (host, port) actually bound."""
        if not self._started:
            try:
                self._server.start()
            except OSError as exc:
                raise HostSimError(f"cannot listen on {self._server.address}: {exc}") from None
            self._started = True
        return self

    def stop(self) -> None:
        """Stop listening, close every connection, wait for the threads; idempotent."""
        if self._started:
            self._server.stop()
            self._started = False

    def close(self) -> None:
        self.stop()
        self.store.close()

    def __enter__(self) -> HostSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def address(self) -> tuple[str, int]:
        return self._server.address

    def _handle(self, payload: bytes) -> Outcome:
        with self._lock:
            self.messages += 1
            return self.engine.handle(payload)

    def handle(self, payload: bytes) -> bytes | None:
        """Process one request in-process (the bytes after the 2-byte length prefix) and
        return the response payload, or None. Transport faults do not apply here."""
        return self._handle(payload).payload

    # -- set-up ---------------------------------------------------------------------------

    def seed(self) -> None:
        """Add the default terminal and test cards (docs/hostsim.md) where missing."""
        with self._lock, self.store.transaction():
            t = seed.DEFAULT_TERMINAL
            if self.store.terminal(t["tid"]) is None:
                self.add_terminal(t["tid"], t["mid"], t["tmk"], name=t["name"])
            # The emulated chip cards' accounts (hostlib.card), so a chip card is known.
            for card in seed.TEST_CARDS + profiles.host_accounts():
                if self.store.card(card["pan"]) is None:
                    self.add_card(**card)
            # The IC sets terminals download at sign-on (docs/hostsim.md, "IC sets").
            for kind, entries in (
                (icsets.CAPK, icsets.default_capks),
                (icsets.AID, icsets.default_aids),
            ):
                if not self.store.ic_entries(kind):
                    self.set_ic_set(kind, entries())

    # -- the IC sets ------------------------------------------------------------------------

    def ic_set(self, kind: str) -> list[icsets.Entry]:
        """The entries of set `kind` ("capk", "aid", "black", "ctls") in download order."""
        self._ic_kind(kind)
        with self._lock:
            rows = self.store.ic_entries(kind)
        return [icsets.Entry(row["key"], bytes.fromhex(row["tlv"])) for row in rows]

    def ic_check(self, kind: str) -> str:
        """The check value of IC set `kind` (8 hex digits): the version a terminal shows once
        it has downloaded the set."""
        return icsets.set_check([entry.tlv for entry in self.ic_set(kind)])

    def set_ic_set(self, kind: str, entries: list[icsets.Entry]) -> None:
        """Replace set `kind`: every terminal whose last download differs from it is asked
        (header 4, 5, 7 or 9) at its next sign-on. Each entry must parse and name its key:
        CA keys and AIDs as TLV with 9F06, black list entries as icsets.black_entry makes them
        (one layout, at most icsets.MAX_BLACKLIST), the contactless set one entry at most."""
        self._ic_kind(kind)
        keys = set()
        for entry in entries:
            _check_entry(kind, entry)
            if entry.key in keys:
                raise HostSimError(f"IC entry {entry.key} is there twice")
            keys.add(entry.key)
        if kind == icsets.BLACK:
            if len(entries) > icsets.MAX_BLACKLIST:
                raise HostSimError(
                    f"black list of {len(entries)}: terminals take {icsets.MAX_BLACKLIST}"
                )
            if len({icsets.black_layout([e]) for e in entries}) > 1:
                raise HostSimError("black list entries in two layouts: one list, one layout")
        elif kind == icsets.CTLS and len(entries) > 1:
            raise HostSimError("the contactless parameters are one entry")
        with self._lock, self.store.transaction():
            self.store.replace_ic_set(kind, [(e.key, e.tlv.hex().upper()) for e in entries])

    @staticmethod
    def _ic_kind(kind: str) -> None:
        if kind not in icsets.KINDS:
            raise HostSimError(f"IC set {kind!r}: capk, aid, black or ctls")

    def add_terminal(
        self,
        tid: str,
        mid: str,
        tmk: str,
        *,
        name: str = "",
        key_alg: str | None = None,
        signon_mode: str | None = None,
        batch: int = 1,
        strict_batch: bool = False,
        **profile: Any,
    ) -> None:
        """Register (or replace) a terminal. `tmk` is hex: 8 bytes (DES), 16/24 (3DES) or
        16 with key_alg="SM4". `signon_mode` 001/003/004/006 restricts sign-on to that mode
        (default: any mode the TMK fits). `strict_batch` answers 77 to a financial request
        whose 60.2 is not the host's batch. `profile`: the acquirer profile it is set up
        for, as `set_profile` takes it."""
        if len(tid) != 8 or len(mid) != 15:
            raise HostSimError("a terminal id is 8 characters and a merchant id 15")
        if key_alg == crypto.SM4_ALG:
            tmk = _hex_key(tmk, "SM4 TMK", (16,))
        elif key_alg in (None, crypto.DES_ALG, crypto.TDES_ALG):
            tmk = _hex_key(tmk, "TMK", (8, 16, 24))
            key_alg = crypto.DES_ALG if len(tmk) == 16 else crypto.TDES_ALG
        else:
            raise HostSimError(f"key algorithm must be DES, 3DES or SM4, not {key_alg!r}")
        if signon_mode is not None and signon_mode not in SIGNON_MODES:
            raise HostSimError(f"sign-on mode must be one of {', '.join(SIGNON_MODES)}")
        if not 1 <= batch <= 999_999:
            raise HostSimError("batch must be 1..999999")
        columns = _profile(profile, key_alg)
        with self._lock, self.store.transaction():
            self.store.put_terminal(
                tid=tid,
                mid=mid,
                merchant_name=name,
                tmk=tmk,
                key_alg=key_alg,
                signon_mode=signon_mode,
                batch=batch,
                strict_batch=int(strict_batch),
                **columns,
            )
            self.store.drop_keys(tid)

    def set_profile(self, tid: str, **profile: Any) -> None:
        """Change the acquirer profile terminal `tid` is set up for (docs/hostsim.md,
        "Profiles"); what is not named stays. signon_layout (a 60.3 code or a layout as
        docs/keys.md describes it; None: the one of 60.3), field60_length (8, 14; None: any),
        field26 ("12", "06"; None: any), mac_method ("cup", "x9.19", "x9.19-hex"), lri (True:
        its frames carry the LRI header, False: they must not, None: either),
        settle_empty_flag (the 0510 flag of a section with no transactions, "1" or "0"...),
        cryptogram_fail_code (39 when an ARQC or TC does not verify: the spec names no code;
        "05" by default)."""
        term = self.terminal(tid)
        columns = _profile(profile, term["key_alg"], partial=True)
        with self._lock, self.store.transaction():
            self.store.update_terminal(tid, **columns)

    def terminal(self, tid: str) -> dict:
        """The terminal's row (TMK included: this is a test host)."""
        with self._lock:
            row = self.store.terminal(tid)
        if row is None:
            raise HostSimError(f"no terminal {tid!r}")
        return row

    def working_keys(self, tid: str) -> dict | None:
        """The clear working keys issued at the last sign-on (hex), or None."""
        with self._lock:
            return self.store.keys(tid)

    def add_card(
        self,
        pan: str,
        *,
        expiry: str,
        pin: str | None = None,
        balance: int = 0,
        track2: str | None = None,
        status: str = "active",
        txn_limit: int | None = None,
        holder: str = "",
    ) -> None:
        """Add (or replace) a test card. Amounts in fen; `expiry` YYMM; `pin` None means
        no PIN is required; `status` active, blocked (57), lost (41) or stolen (43)."""
        _digits(pan, "PAN", tuple(range(13, 20)))
        _digits(expiry, "expiry (YYMM)", (4,))
        if pin is not None:
            _digits(pin, "PIN", tuple(range(4, 13)))
        if status not in _CARD_STATUSES:
            raise HostSimError(f"card status must be one of {', '.join(_CARD_STATUSES)}")
        if track2 is not None and not track2.startswith(pan):
            raise HostSimError("track 2 must start with the PAN")
        with self._lock, self.store.transaction():
            self.store.put_card(
                pan=pan,
                expiry=expiry,
                track2=track2 or f"{pan}={expiry}201",
                pin=pin,
                balance=balance,
                held=0,
                status=status,
                txn_limit=txn_limit,
                holder=holder,
            )

    def card(self, pan: str) -> dict:
        with self._lock:
            row = self.store.card(pan)
        if row is None:
            raise HostSimError(f"no card {mask_pan(pan)}")
        return row

    def set_card(self, pan: str, **changes: Any) -> None:
        """Change a card's balance, held, status, pin, expiry or txn_limit."""
        allowed = {"balance", "held", "status", "pin", "expiry", "txn_limit", "holder"}
        unknown = set(changes) - allowed
        if unknown:
            raise HostSimError(f"cannot set {', '.join(sorted(unknown))} on a card")
        if "status" in changes and changes["status"] not in _CARD_STATUSES:
            raise HostSimError(f"card status must be one of {', '.join(_CARD_STATUSES)}")
        self.card(pan)
        with self._lock, self.store.transaction():
            self.store.update_card(pan, **changes)

    def set_processing_requirement(
        self, tid: str, digit: str, *, persistent: bool = False
    ) -> None:
        """Header digit 6 of the next response to `tid` (spec §1: 1 parameter download,
        3 re-sign-on, ...); persistent keeps sending it until set back to "0"."""
        if len(digit) != 1 or digit not in "0123456789":
            raise HostSimError("processing requirement is one digit 0-9")
        self.terminal(tid)
        with self._lock, self.store.transaction():
            self.store.update_terminal(tid, proc_req=digit, proc_req_persistent=int(persistent))

    # -- faults ---------------------------------------------------------------------------

    def set_fault(
        self,
        kind: str,
        *,
        tid: str | None = None,
        mti: str | None = None,
        txn: str | None = None,
        count: int | None = 1,
        delay: float = 0.0,
        code: str | None = None,
        process: bool = True,
        script: str | None = None,
    ) -> int:
        """Switch a fault on; returns its id. `tid`/`mti`/`txn` narrow it to one terminal,
        request MTI ("0200") or message type name ("sale", "sign_on", "reversal/sale"...);
        `count` uses (None: persistent). `delay` for late, `code` for decline; `process`
        False makes no_answer/close lose the request before the host books it. `script` for
        issuer_script: `[71:|72:]block`, `unblock`, `pin_unblock`, `card_block` or
        `ecash:YUAN` (default 72:block)."""
        check_fault(kind, mti=mti, txn=txn, count=count, delay=delay, code=code, script=script)
        with self._lock, self.store.transaction():
            return self.store.add_fault(
                kind=kind,
                tid=tid,
                mti=mti,
                txn=txn,
                remaining=count,
                delay=delay,
                code=code,
                process=int(process),
                script=script,
            )

    def clear_faults(self, tid: str | None = None) -> int:
        """Remove the faults (of one terminal's, or all); returns how many."""
        with self._lock, self.store.transaction():
            return self.store.clear_faults(tid)

    def faults(self) -> list[dict]:
        with self._lock:
            return self.store.faults()

    # -- what happened --------------------------------------------------------------------

    def transactions(self, tid: str | None = None, batch: int | None = None) -> list[dict]:
        """Booked transactions (oldest first), optionally of one terminal / batch."""
        where: dict[str, Any] = {}
        if tid is not None:
            where["tid"] = tid
        if batch is not None:
            where["batch"] = batch
        with self._lock:
            return self.store.find_txns(**where)

    def totals(self, tid: str, batch: int | None = None) -> dict[str, int]:
        """Host totals of a batch (default: the host's current batch for the terminal):
        debit_amount/debit_count (sales and completions still standing), credit_amount/
        credit_count (refunds), in fen."""
        if batch is None:
            batch = self.terminal(tid)["batch"]
        with self._lock:
            return self.engine.totals(tid, batch)

    def settlements(self, tid: str | None = None) -> list[dict]:
        with self._lock:
            return self.store.settlements(tid)

    def uploads(self, tid: str, batch: int) -> list[dict]:
        """Batch upload records (0320/201) received for a batch."""
        with self._lock:
            return self.store.uploads(tid, batch)


def _check_entry(kind: str, entry: icsets.Entry) -> None:
    # HostSimError (or icsets.ICSetError) unless `entry` is one of set `kind`.
    if kind == icsets.BLACK:
        layout = icsets.black_layout([entry])
        if icsets.black_entry(entry.key, layout).tlv != entry.tlv:
            raise HostSimError(f"black list entry {entry.key}: not what its digits make")
        return
    fields = entry.fields  # ICSetError when it does not parse
    if kind == icsets.CTLS:
        if not any(tag in fields for tag in icsets.CONTACTLESS_TAGS):
            raise HostSimError("contactless parameters: none of DF19, DF20, DF21, 9F7B")
    elif 0x9F06 not in fields or (kind == icsets.CAPK and 0x9F22 not in fields):
        raise HostSimError(f"IC entry {entry.key}: 9F06 (and a CA key's 9F22) missing")
