"""Switchable faults: what the simulator does wrong on purpose so that the terminal's error
paths (reversal, response validation, re-sign-on, batch upload) can be tested.

A fault is a row in the `faults` table: a kind, optional filters (terminal, request MTI,
message type name) and a count (one-shot by default, or persistent). Each matching request
consumes one use; several kinds can hit the same request (e.g. `late` and `bad_mac`).
Faults live in the database so another process can switch them on a running simulator.
"""

from __future__ import annotations

from dataclasses import dataclass

from hostlib.errors import PoskitError
from hostlib.hostsim import chip

# Transport faults: applied by the server to the framed reply.
NO_ANSWER = "no_answer"  # read the request, never answer it (connection stays open)
LATE = "late"  # answer after `delay` seconds
CLOSE = "close"  # close the connection instead of answering (the answer is lost)
DUPLICATE = "duplicate"  # send the answer twice
PARTIAL = "partial"  # send the first half of the answer's frame, then close
# Content faults: applied by the engine to the response message.
BAD_MAC = "bad_mac"  # response MAC corrupted (only responses that carry one)
WRONG_STAN = "wrong_stan"  # response field 11 = request STAN + 1
WRONG_AMOUNT = "wrong_amount"  # response field 4 = request amount + 1 fen
DECLINE = "decline"  # decline with `code` without processing the request
UNBALANCED = "unbalanced"  # settlement answers "unbalanced" (flag 2) whatever the totals
SETTLE_ERROR = "settle_error"  # settlement answers "error" (flag 3, 对账出错)
# Chip faults: applied to the field 55 the host answers an online chip request with.
BAD_ARPC = "bad_arpc"  # 91 with a corrupted ARPC (the card's issuer authentication fails)
NO_ARPC = "no_arpc"  # no 91 in the answer
ISSUER_SCRIPT = "issuer_script"  # an issuer script (71/72) in the answer, `script` says which
CHIP_DECLINE = "chip_decline"  # decline with `code` after a good ARQC, 91 with that ARC
BAD_CHECK = "bad_check"  # a CA key download (0800/370) carries a wrong check value (DF03)

KINDS = {
    NO_ANSWER: "read the request and never answer (connection stays open)",
    LATE: "answer after DELAY seconds",
    CLOSE: "close the connection instead of answering",
    DUPLICATE: "send the answer twice",
    PARTIAL: "send half of the answer's frame, then close",
    BAD_MAC: "corrupt the response MAC",
    WRONG_STAN: "answer with STAN + 1",
    WRONG_AMOUNT: "answer with amount + 0.01",
    DECLINE: "decline with CODE (default 05) without processing",
    UNBALANCED: "settle as unbalanced whatever the totals",
    SETTLE_ERROR: "settle with flag 3 (totals error) in the domestic section",
    BAD_ARPC: "answer a chip request with a corrupted ARPC in 91",
    NO_ARPC: "answer a chip request without 91",
    ISSUER_SCRIPT: "answer a chip request with the issuer script SCRIPT (default 72:block)",
    CHIP_DECLINE: "decline a chip request with CODE (default 05) after a good ARQC",
    BAD_CHECK: "send a CA key (0800/370) with a wrong check value (DF03)",
}
# The request MTIs this host answers: a fault for any other could never match.
REQUEST_MTIS = ("0100", "0200", "0220", "0221", "0320", "0400", "0500", "0620", "0800", "0820")
TRANSPORT = (NO_ANSWER, LATE, CLOSE, DUPLICATE, PARTIAL)
# Faults where the request may be lost before the host processes it (`process=False`).
LOSABLE = (NO_ANSWER, CLOSE)

# Faults that only match an online chip request (sale, pre-auth, balance with field 55).
CHIP = frozenset({BAD_ARPC, NO_ARPC, ISSUER_SCRIPT, CHIP_DECLINE})
DEFAULT_SCRIPT = "72:block"

# Requests whose responses carry a MAC or an amount; a fault of these kinds only matches
# them, so a one-shot `bad_mac` is not spent on a sign-on.
_MACED = frozenset({"0100", "0200", "0220", "0221", "0400", "0620"})
_ONLY = {
    BAD_MAC: _MACED,
    WRONG_AMOUNT: _MACED,
    UNBALANCED: frozenset({"0500"}),
    SETTLE_ERROR: frozenset({"0500"}),
}
# Faults that only match one message type (a 0800 is a sign-on or a download).
_ONLY_TXN = {BAD_CHECK: "capk_download"}


class FaultError(PoskitError):
    """A fault request the simulator cannot honour."""


@dataclass(frozen=True)
class Fault:
    id: int
    kind: str
    delay: float = 0.0
    code: str | None = None
    process: bool = True
    script: str | None = None  # issuer_script: what chip.Script.parse reads


def validate(
    kind: str,
    delay: float,
    code: str | None,
    mti: str | None = None,
    txn: str | None = None,
    script: str | None = None,
) -> None:
    """FaultError for a fault that cannot be: an unknown kind, a negative delay, a response
    code that is not 2 characters, an MTI this host never receives, an issuer script the
    host cannot write (or one given to another kind)."""
    if kind not in KINDS:
        raise FaultError(f"unknown fault {kind!r}: expected one of {', '.join(KINDS)}")
    if mti is not None and mti not in REQUEST_MTIS:
        raise FaultError(
            f"unknown request MTI {mti!r}: this host receives {', '.join(REQUEST_MTIS)}"
        )
    if delay < 0:
        raise FaultError("fault delay must not be negative")
    if code is not None and (len(code) != 2 or not code.isalnum()):
        raise FaultError(f"response code must be 2 letters or digits, got {code!r}")
    if script is not None:
        if kind != ISSUER_SCRIPT:
            raise FaultError(f"script= is for {ISSUER_SCRIPT}, not {kind}")
        try:
            chip.Script.parse(script)
        except ValueError as exc:
            raise FaultError(str(exc)) from None


def matches(row: dict, tid: str, mti: str, txn: str, online_chip: bool = False) -> bool:
    """Whether fault `row` hits this request; `online_chip`: a sale, pre-auth or balance
    inquiry with IC data (the only requests the chip faults hit)."""
    if row["kind"] in CHIP and not online_chip:
        return False
    if row["tid"] not in (None, tid) or row["mti"] not in (None, mti):
        return False
    want = row["txn"]
    if want is not None and want != txn and not txn.startswith(want + "/"):
        return False  # "reversal" matches every "reversal/<type>"
    only_txn = _ONLY_TXN.get(row["kind"])
    if only_txn is not None and txn != only_txn:
        return False
    only = _ONLY.get(row["kind"])
    return only is None or mti in only


def parse_spec(text: str) -> dict:
    """`KIND[:key=value,...]` from the command line -> keyword arguments of set_fault.

    Keys: tid, mti, txn, count (a number or `always`), delay, code, process (0/1),
    script (issuer_script: `72:block`, `71:ecash:100.00`...).
    """
    kind, _, rest = text.partition(":")
    out: dict = {"kind": kind.strip()}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise FaultError(f"fault option {item!r} is not key=value")
        if key in ("tid", "mti", "txn", "code", "script"):
            out[key] = value
        elif key == "count":
            out["count"] = None if value in ("always", "persistent") else _int(value, key)
        elif key == "delay":
            try:
                out["delay"] = float(value)
            except ValueError:
                raise FaultError(f"fault delay {value!r} is not a number") from None
        elif key == "process":
            out["process"] = value not in ("0", "no", "false")
        else:
            raise FaultError(f"unknown fault option {key!r}")
    return out


def _int(value: str, key: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise FaultError(f"fault {key} {value!r} is not a number") from None
    if n < 1:
        raise FaultError(f"fault {key} must be at least 1")
    return n
