"""The acquirer host's message processing: one request payload in, one response payload out
(or none), with the bookkeeping of spec §3 and the host rules of spec §6.

Checks run in the order a POSP runs them: format (30), terminal (97/03), request MAC (A0),
transaction type (40/12), duplicate STAN (94), the card (14/57/41/43/54), the PIN (55/99),
amounts (13/61/51), then the per-type rules (original found 25, amount 64, same card 14).
Every financial request that gets past the MAC is booked in `transactions` — declines too, so
a repeated STAN is caught — except reversals, which are booked as their own rows. An advice
(refund, completion notice: 0220, or 0221 its repeat) sent again with the batch, STAN and
amount of one already answered gets that answer again and is not booked twice; a repeat of
one never received is booked as new.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from hostlib import packets
from hostlib.hostsim import chip, crypto, faults, icsets, wire
from hostlib.hostsim.store import Store

log = logging.getLogger("poskit.hostsim")

ACQUIRER_ID = "00010000"  # field 32 (n..11), spec §7.3/§7.4
ISSUER_ID = "01020000"  # issuer institution in field 44 (the test cards' issuer)
CURRENCY = "156"
COMPLETION_TOLERANCE = 15  # percent a completion may exceed its pre-authorisation [UNCONFIRMED]
MAX_AMOUNT = 99_999_999  # fen (999,999.99 CNY): host-wide single transaction limit -> 61

# Spec §3.1: (MTI, F3[0:2], F25, 60.1) -> message type name.
CLASSIFY = {
    ("0200", "31", "00", "01"): "balance",
    ("0100", "03", "06", "10"): "preauth",
    ("0100", "20", "06", "11"): "preauth_cancel",
    ("0200", "00", "06", "20"): "completion",
    ("0200", "20", "06", "21"): "completion_void",
    ("0200", "00", "00", "22"): "sale",
    ("0200", "20", "00", "23"): "sale_void",
    ("0220", "00", "06", "24"): "completion_notice",
    ("0220", "20", "00", "25"): "refund",
    ("0200", "00", "00", "36"): "ic_offline_sale",  # an IC card's offline TC, uploaded
}
# 60.1 of the types spec §3.1 lists that this host does not process (offline uploads etc.).
UNSUPPORTED_601 = {
    "30": "offline_settlement",
    "32": "settle_adjust",
    "34": "tip_adjust",
}
# Reversible types (spec §3.1 "reversal?" column), by 60.1: a reversal carries MTI 0400 and
# the original's 3/25/60.
REVERSIBLE = {
    "22": "sale",
    "23": "sale_void",
    "10": "preauth",
    "11": "preauth_cancel",
    "20": "completion",
    "21": "completion_void",
}
# type -> (F3[0:2], F25), to check that a reversal's fields describe its 60.1.
_SIGNATURE = {name: (key[1], key[2]) for key, name in CLASSIFY.items()}
SIGNON_MODES = {"001": "DES", "003": "3DES", "004": "3DES", "006": "SM4"}
MGMT_0800 = {
    "360": "param_download",
    "370": "capk_download",
    "371": "capk_end",
    "380": "aid_download",
    "381": "aid_end",
    "390": "blacklist_download",
    "391": "blacklist_end",
    "394": "contactless_download",
    "395": "contactless_end",
}
MGMT_0820 = {
    "002": "sign_off",
    "301": "echo",
    "362": "status_upload",
    "372": "capk_query",
    "382": "aid_query",
}
# The IC downloads (icsets.py): 60.3 -> (set, step); header digit 6 asking for each set.
IC_CODES = {
    "372": (icsets.CAPK, "query"),
    "370": (icsets.CAPK, "download"),
    "371": (icsets.CAPK, "end"),
    "382": (icsets.AID, "query"),
    "380": (icsets.AID, "download"),
    "381": (icsets.AID, "end"),
    "390": (icsets.BLACK, "page"),
    "391": (icsets.BLACK, "end"),
    "394": (icsets.CTLS, "download"),
    "395": (icsets.CTLS, "end"),
}
IC_PROCESSING = {icsets.CAPK: "4", icsets.AID: "5", icsets.BLACK: "7", icsets.CTLS: "9"}
IC_PAGE = 8  # entries a query's answer lists (8 CA keys: 185 bytes of field 62)
BLACK_PAGE = 20  # black list entries an answer carries (20 ranges of 19 digits: 801 bytes)

# Every message type name the host gives a request (the `txn` of a fault, the log's names).
MESSAGE_NAMES = (
    tuple(CLASSIFY.values())
    + tuple("reversal/" + name for name in REVERSIBLE.values())
    + ("sign_on", "sign_off", "echo", "status_upload", "param_download", "settlement")
    + tuple(MGMT_0800.values())[1:]
    + tuple(MGMT_0820.values())[3:]
    + ("batch_upload", "batch_end", "ic_upload", "script_notice")
    + tuple(UNSUPPORTED_601.values())
)

# Chip (spec §2 field 22 = 05x contact, 07x contactless): the types a card authorises online
# with an ARQC, which the host checks and answers with 91 (docs/hostsim.md, "Chip cards").
CHIP_ENTRY = ("05", "07")
CHIP_ONLINE = ("sale", "preauth", "balance")
# A refund, void or cancel read by chip carries an ARQC too: checked and answered alike (the
# card's second GENERATE AC does not decide those: the host does).
CHIP_READ = CHIP_ONLINE + ("refund", "sale_void", "preauth_cancel", "completion_void")
# 9C each type's cryptogram must cover (PBOC part 5 Annex A): anything else is 20.
EMV_TYPES = {"sale": "00", "preauth": "03", "balance": "31", "ic_offline_sale": "00"}
# 60.3 of the IC transaction detail uploads at settlement (spec §3.2): 203/205 online
# (balanced/unbalanced), 204 failed, 206 offline ([1]: handled alike).
IC_UPLOADS = ("203", "204", "205", "206")
SCRIPT_NOTICE = "951"  # 60.3 of the 0620 script result notice

# Statuses that still count in the batch totals (spec §3.4: "debit" = sales/completions,
# "credit" = refunds; a voided or reversed transaction and its void count in neither).
DEBIT_TYPES = ("sale", "completion", "completion_notice", "ic_offline_sale")
# The advices (0220, spec §3.1): no reversal undoes them, so a terminal that never got the
# answer sends them again with their STAN (0220 again, or 0221) and gets the first answer.
ADVICES = ("refund", "completion_notice", "ic_offline_sale")
LIVE = ("approved", "refunded")


class Decline(Exception):
    """Ends processing of a request with a response code (not an error of the host)."""

    def __init__(self, code: str, why: str = "") -> None:
        super().__init__(code, why)
        self.code = code
        self.why = why


@dataclass
class Outcome:
    """What to send back: the payload (without length prefix) or None, and the transport
    faults the server must apply."""

    payload: bytes | None
    transport: list[faults.Fault] = field(default_factory=list)
    summary: str = ""


@dataclass
class _Ctx:
    frame: wire.Frame
    req: dict[str, str]
    name: str = "?"
    term: dict | None = None
    keys: dict | None = None
    faults: dict[str, faults.Fault] = field(default_factory=dict)
    now: datetime = field(default_factory=datetime.now)
    pan: str | None = None
    why: str = ""
    icc: dict[int, bytes] | None = None  # field 55's objects, when the request has one
    chip: tuple[str, str] | None = None  # (PAN, PSN) whose ARQC verified: answer with 91
    booked: int | None = None  # the row of the financial request booked
    icc_note: str = ""  # what the host made of field 55, for the log
    processing: str = "0"  # header digit 6 the host asks with (the IC downloads)


def next_batch(batch: int) -> int:
    return 1 if batch >= 999_999 else batch + 1


def mask_pan(pan: str | None) -> str:
    if not pan:
        return "-"
    return pan[:6] + "*" * max(len(pan) - 10, 0) + pan[-4:] if len(pan) > 10 else "*" * len(pan)


def _ahead(new: int, old: int) -> bool:
    """True if batch `new` comes after `old` on the 000001..999999 wheel."""
    return 0 < (new - old) % 999_999 < 500_000


class Engine:
    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime] = datetime.now,
        acquirer_id: str = ACQUIRER_ID,
    ) -> None:
        self.store = store
        self.clock = clock
        self.acquirer_id = acquirer_id
        self.ic_page = IC_PAGE
        self.black_page = BLACK_PAGE

    # -- entry point ----------------------------------------------------------------------

    def handle(self, payload: bytes) -> Outcome:
        """Process one request payload (the bytes after the length prefix)."""
        try:
            frame = wire.parse(payload)
        except wire.WireError as exc:
            return self._unparsable(payload, str(exc))
        ctx = _Ctx(frame=frame, req=frame.fields, now=self.clock())
        ctx.name = self._name(ctx.req)
        try:
            with self.store.transaction():
                active = self._take_faults(ctx)
                ctx.faults = {f.kind: f for f in active}
                lost = [f for f in active if f.kind in faults.LOSABLE and not f.process]
                if lost:
                    return Outcome(None, lost, self._summary(ctx, None, "request lost"))
                resp = self._respond(ctx)
                payload_out = self._encode(ctx, resp)
        except Exception:
            # A bug or a request nobody foresaw: everything it did is rolled back and the
            # terminal gets 96 (system malfunction) instead of a silent connection.
            log.exception("request could not be processed")
            ctx.faults = {}
            resp = {"t": _resp_mti(frame.mti), "39": "96"}
            for name in ("3", "4", "11", "41", "42"):
                if name in ctx.req:
                    resp[name] = ctx.req[name]
            ctx.term = ctx.keys = None
            return Outcome(self._encode(ctx, resp), [], self._summary(ctx, resp, "host error"))
        transport = [f for f in active if f.kind in faults.TRANSPORT]
        return Outcome(payload_out, transport, self._summary(ctx, resp, ctx.why))

    # -- helpers around the response ------------------------------------------------------

    def _name(self, req: dict[str, str]) -> str:
        mti = req["t"]
        f60 = req.get("60", "")
        code = f60[8:11]
        if mti == "0800":
            return "sign_on" if code in SIGNON_MODES else MGMT_0800.get(code, "mgmt_" + code)
        if mti == "0820":
            return MGMT_0820.get(code, "mgmt_" + code)
        if mti == "0500":
            return "settlement"
        if mti == "0320":
            return {"201": "batch_upload", "202": "batch_end", "207": "batch_end"}.get(
                code, "ic_upload"
            )
        if mti == "0400":
            return "reversal/" + REVERSIBLE.get(f60[:2], "unknown")
        if mti == "0620":
            return "script_notice"
        # An advice repeat (0221) is the advice (0220) it repeats.
        key = ("0220" if mti == "0221" else mti, req.get("3", "")[:2], req.get("25", ""), f60[:2])
        return CLASSIFY.get(key) or UNSUPPORTED_601.get(f60[:2], "unknown")

    def _take_faults(self, ctx: _Ctx) -> list[faults.Fault]:
        tid = ctx.req.get("41", "").strip()
        taken: dict[str, faults.Fault] = {}
        online_chip = ctx.name in CHIP_ONLINE and _is_chip(ctx.req)
        for row in self.store.faults():
            if row["kind"] in taken or not faults.matches(
                row, tid, ctx.req["t"], ctx.name, online_chip
            ):
                continue
            self.store.consume_fault(row)
            taken[row["kind"]] = faults.Fault(
                id=row["id"],
                kind=row["kind"],
                delay=row["delay"],
                code=row["code"],
                process=bool(row["process"]),
                script=row["script"],
            )
        return list(taken.values())

    def _unparsable(self, payload: bytes, why: str) -> Outcome:
        # Answer 30 (format error) if at least the envelope and MTI are readable, so the
        # terminal is not left waiting; otherwise say nothing.
        offset = 5 + (wire.LRI_LEN if payload[5:10] == wire.LRI_MAGIC else 0)
        mti_bytes = payload[offset + 6 : offset + 8]
        mti = mti_bytes.hex()
        if len(mti_bytes) < 2 or not mti.isdigit() or mti[2] not in "0246":
            return Outcome(None, [], f"undecodable request ({why}), no answer")
        header = payload[offset : offset + 6]
        if not header.hex().isdigit():
            header = bytes.fromhex("603100310000")
        try:
            out = wire.encode(
                {"t": _resp_mti(mti), "39": "30"},
                wire.reply_tpdu(payload[:5]),
                header,
                payload[5:offset],
            )
        except wire.WireError:
            return Outcome(None, [], f"undecodable request ({why}), no answer")
        return Outcome(out, [], f"{mti} undecodable ({why}) -> 30")

    def _encode(self, ctx: _Ctx, resp: dict[str, str]) -> bytes:
        term = ctx.term
        digit = ctx.processing
        if term is not None and term["proc_req"] != "0":
            digit = term["proc_req"]
            if not term["proc_req_persistent"]:
                self.store.update_terminal(term["tid"], proc_req="0")
        fault = ctx.faults
        if faults.WRONG_STAN in fault and "11" in resp:
            resp["11"] = "%06d" % ((int(resp["11"]) + 1) % 1_000_000)
        if faults.WRONG_AMOUNT in fault and resp["t"] in ("0110", "0210", "0230", "0410", "0630"):
            resp["4"] = "%012d" % (int(resp.get("4", "0")) + 1)
        macs = resp.get("39") == "00" and resp["t"] in ("0110", "0210", "0230", "0410", "0630")
        keys = ctx.keys
        sign = None
        if macs and keys is not None:

            def sign(mab: bytes) -> bytes:
                mac = self._mac(ctx, mab)
                if faults.BAD_MAC in fault:
                    mac = bytes([mac[0] ^ 0x01]) + mac[1:]
                return mac

        frame = ctx.frame
        header = wire.with_processing_requirement(frame.header, digit)
        return wire.encode(resp, wire.reply_tpdu(frame.tpdu), header, frame.lri, sign)

    def _summary(self, ctx: _Ctx, resp: dict[str, str] | None, why: str) -> str:
        req = ctx.req
        parts = [
            req["t"],
            req.get("3", "------"),
            "stan " + req.get("11", "------"),
            "tid " + req.get("41", "-").strip(),
            ctx.name,
        ]
        if "4" in req:
            parts.append("amt %d.%02d" % divmod(int(req["4"]), 100))
        if ctx.pan:
            parts.append("pan " + mask_pan(ctx.pan))
        if ctx.icc_note:
            parts.append("icc " + ctx.icc_note)
        parts.append("-> " + (resp.get("39", "--") if resp else "no answer"))
        if why:
            parts.append("(" + why + ")")
        if ctx.faults:
            parts.append("[fault " + " ".join(sorted(ctx.faults)) + "]")
        return " ".join(parts)

    def _mac(self, ctx: _Ctx, mab: bytes) -> bytes:
        keys = ctx.keys
        assert keys is not None
        method = ctx.term["mac_method"] if ctx.term else "cup"
        return crypto.field64(method, bytes.fromhex(keys["mak"]), mab, keys["family"])

    def _rrn_auth(self, now: datetime) -> tuple[str, str]:
        seq = self.store.next_seq("rrn")
        rrn = now.strftime("%m%d") + "%08d" % (seq % 100_000_000)
        # 7919 is prime to 10^6, so a million consecutive sequence numbers give distinct
        # codes that do not look like a counter.
        auth = "%06d" % ((seq * 7919 + 104_729) % 1_000_000)
        return rrn, auth

    # -- dispatch -------------------------------------------------------------------------

    def _respond(self, ctx: _Ctx) -> dict[str, str]:
        req = ctx.req
        mti = req["t"]
        resp: dict[str, str] = {"t": _resp_mti(mti)}
        for name in ("2", "3", "4", "11", "14", "22", "23", "25", "41", "42", "49", "60", "61"):
            if name in req:
                resp[name] = req[name]
        if mti[2] not in "0246" or mti == "0600":
            resp["39"] = "30"
            ctx.why = "not a request MTI"
            return resp
        try:
            self._check_terminal(ctx)
            if mti in ("0100", "0200", "0220", "0221", "0400", "0620"):
                self._verify_mac(ctx)
            if mti in ("0100", "0200", "0220", "0221", "0400"):
                self._check_profile(ctx)
            if "55" in req:
                try:
                    ctx.icc = chip.parse(req["55"])
                except chip.IccError as exc:
                    raise Decline("30", str(exc)) from None
                ctx.icc_note = chip.describe(ctx.icc)
            decline = ctx.faults.get(faults.DECLINE)
            if decline is not None:
                self._declined_by_fault(ctx, decline.code or "05")
            handler = {
                "0800": self._mgmt_0800,
                "0820": self._mgmt_0820,
                "0500": self._settlement,
                "0320": self._batch_upload,
                "0400": self._reversal,
                "0620": self._script_notice,
            }.get(mti, self._financial)
            handler(ctx, resp)
        except Decline as d:
            resp["39"] = d.code
            ctx.why = d.why
            resp.pop("62", None)
        if ctx.chip is not None:
            self._chip_answer(ctx, resp)
        if mti in ("0100", "0200", "0220", "0221", "0400"):
            resp.setdefault("12", ctx.now.strftime("%H%M%S"))
            resp.setdefault("13", ctx.now.strftime("%m%d"))
            resp.setdefault("32", self.acquirer_id)
        return resp

    def _check_terminal(self, ctx: _Ctx) -> None:
        tid = ctx.req.get("41", "").strip()
        term = self.store.terminal(tid) if tid else None
        if term is None:
            raise Decline("97", "terminal not registered")
        if ctx.req.get("42", "").strip() != term["mid"]:
            raise Decline("03", "merchant id does not match the terminal")
        ctx.term = term
        ctx.keys = self.store.keys(tid)
        # The frame as this terminal's profile says it comes (docs/hostsim.md, "Profiles").
        lri = term["lri"]
        if lri is not None and bool(ctx.frame.lri) != bool(lri):
            raise Decline(
                "30",
                "no LRI dial header: this terminal's frames carry one"
                if lri
                else "an LRI dial header from a terminal set up without one",
            )

    def _check_profile(self, ctx: _Ctx) -> None:
        """Field 60's length and field 26 of a financial request, as the profile says."""
        req, term = ctx.req, ctx.term
        assert term is not None
        want = term["field60_length"]
        if want is not None and len(req.get("60", "")) != want:
            raise Decline(
                "30", f"field 60 is {len(req.get('60', ''))} digits; the profile says {want}"
            )
        want = term["field26"]
        if want is not None and "26" in req and req["26"] != want:
            raise Decline("30", f"field 26 is {req['26']}; the profile says {want}")

    def _verify_mac(self, ctx: _Ctx) -> None:
        if ctx.keys is None:
            raise Decline("A0", "terminal not signed on: no MAK")
        if "64" not in ctx.req:
            raise Decline("A0", "request carries no MAC")
        if self._mac(ctx, ctx.frame.mab) != ctx.frame.mac:
            raise Decline("A0", "request MAC does not verify")

    def _declined_by_fault(self, ctx: _Ctx, code: str) -> None:
        if ctx.req["t"] in ("0100", "0200", "0220", "0221"):
            try:
                presented = self._presented(ctx)  # for the log and the booking only
            except Decline:
                presented = None
            ctx.pan = presented[0] if presented else None
            self._book(ctx, ctx.name, code, "declined", amount=int(ctx.req.get("4", "0")))
        raise Decline(code, "decline fault")

    # -- management -----------------------------------------------------------------------

    def _mgmt_0800(self, ctx: _Ctx, resp: dict[str, str]) -> None:
        req, term = ctx.req, ctx.term
        assert term is not None
        code = req.get("60", "")[8:11]
        now = ctx.now
        resp["12"] = now.strftime("%H%M%S")
        resp["13"] = now.strftime("%m%d")
        if code in IC_CODES:
            self._ic(ctx, resp, code)
            return
        if code not in SIGNON_MODES:
            if code == "360":
                # No parameters to deliver: this host keeps none for terminals.
                resp["39"] = "00"
                return
            raise Decline("40", f"0800 with 60.3 {code or '?'} is not supported")
        self._sign_on(ctx, resp, code)

    def _sign_on(self, ctx: _Ctx, resp: dict[str, str], mode: str) -> None:
        req, term = ctx.req, ctx.term
        assert term is not None
        if term["signon_mode"] and term["signon_mode"] != mode:
            raise Decline("40", f"terminal is set up for sign-on {term['signon_mode']}")
        sm4 = SIGNON_MODES[mode] == "SM4"
        if sm4 != (term["key_alg"] == "SM4"):
            raise Decline(
                "40", f"sign-on {mode} does not fit the terminal's {term['key_alg']} TMK"
            )
        tmk = bytes.fromhex(term["tmk"])
        tmk_alg = crypto.SM4_ALG if sm4 else crypto.key_algorithm(tmk)
        family = crypto.SM4_ALG if sm4 else crypto.DES_ALG
        # The layout of 60.3 (spec §3.3), or the one this terminal's profile describes (an
        # acquirer's own: spec §7.3's 61 bytes for 003, say). The 004 MAK's filler is zeros.
        length, layout = packets.key_layout(term["signon_layout"] or mode, sm4)
        out = bytearray(length)
        issued: dict[str, bytes] = {}
        for usage, offset, size, cv_offset, cv_size in layout:
            key = crypto.random_key(size, crypto.SM4_ALG if sm4 else crypto.TDES_ALG)
            issued[usage] = key
            out[offset : offset + size] = crypto.ecb_encrypt(tmk, key, tmk_alg)
            cv = crypto.check_value(key, crypto.key_algorithm(key, family), cv_size)
            out[cv_offset : cv_offset + cv_size] = cv
        pik, mak, tdk = issued["PIK"], issued["MAK"], issued.get("TDK")
        self.store.put_keys(
            term["tid"],
            mode=mode,
            family=family,
            pik=pik.hex().upper(),
            mak=mak.hex().upper(),
            tdk=tdk.hex().upper() if tdk else None,
            issued_at=ctx.now.isoformat(timespec="seconds"),
        )
        batch = term["batch"]
        f60 = req.get("60", "")
        if f60[2:8].isdigit() and _ahead(int(f60[2:8]), batch):
            # The terminal settled and advanced its batch without a sign-off: adopt it.
            batch = int(f60[2:8])
        self.store.update_terminal(
            term["tid"], batch=batch, signed_on=1, last_signon=ctx.now.isoformat()
        )
        rrn, _ = self._rrn_auth(ctx.now)
        resp.update(
            {
                "32": self.acquirer_id,
                "37": rrn,
                "39": "00",
                "60": f60[:2].ljust(2, "0") + "%06d" % batch + mode,
                "62": out.hex().upper(),
            }
        )
        ctx.processing = self._ic_due(term)

    # -- the IC downloads (icsets.py) ------------------------------------------------------

    def _ic_due(self, term: dict, done: str | None = None) -> str:
        """Header digit 6 asking for the first set this terminal lacks (4 CA keys, 5 IC
        parameters, 7 black list, 9 contactless parameters), "0" when it has them all;
        `done`: the set it has just completed."""
        for kind, digit in IC_PROCESSING.items():
            if kind == done:
                continue
            tlvs = [bytes.fromhex(e["tlv"]) for e in self.store.ic_entries(kind)]
            # An emptied black list or contactless set goes to a terminal that has one.
            emptied = kind in (icsets.BLACK, icsets.CTLS) and term[kind + "_check"]
            if (tlvs or emptied) and term[kind + "_check"] != icsets.set_check(tlvs):
                return digit
        return "0"

    def _ic(self, ctx: _Ctx, resp: dict[str, str], code: str) -> None:
        term = ctx.term
        assert term is not None
        kind, step = IC_CODES[code]
        entries = self.store.ic_entries(kind)
        resp["39"] = "00"
        if step == "end":
            check = icsets.set_check([bytes.fromhex(e["tlv"]) for e in entries])
            self.store.update_terminal(term["tid"], **{kind + "_check": check})
            ctx.why = f"{kind} set {check} downloaded"
            ctx.processing = self._ic_due(term, done=kind)
            return
        data = bytes.fromhex(ctx.req.get("62", ""))
        if step == "page":
            # The black list: 62 = "1" + how many entries the terminal has (3 digits).
            start, page, control = _page(code, data, 3, entries, self.black_page)
            resp["62"] = (control + b"".join(bytes.fromhex(e["tlv"]) for e in page)).hex().upper()
            ctx.why = f"black list {start + 1}-{start + len(page)} of {len(entries)}"
            return
        if kind == icsets.CTLS:
            body = b"1" + bytes.fromhex(entries[0]["tlv"]) if entries else b"0"
            resp["62"] = body.hex().upper()
            ctx.why = "contactless parameters" if entries else "no contactless parameters"
            return
        if step == "query":
            # 62 = "1" + how many the terminal has received (2 digits).
            start, page, control = _page(code, data, 2, entries, self.ic_page)
            listed = b"".join(
                icsets.Entry(e["key"], bytes.fromhex(e["tlv"])).listing() for e in page
            )
            resp["62"] = (control + listed).hex().upper()
            ctx.why = f"{kind} list {start + 1}-{start + len(page)} of {len(entries)}"
            return
        try:
            asked = dict(icsets.parse(data))
        except icsets.ICSetError as exc:
            raise Decline("30", f"{code}: field 62: {exc}") from None
        key = asked.get(0x9F06, b"").hex().upper()
        if kind == icsets.CAPK:
            key += asked.get(0x9F22, b"").hex().upper()
        found = next((e for e in entries if e["key"] == key), None)
        if found is None:
            resp["62"] = "30"  # "0": not in the host's set
            ctx.why = f"{kind} {key or '?'} is not in the host's set"
            return
        body = bytes.fromhex(found["tlv"])
        if faults.BAD_CHECK in ctx.faults and kind == icsets.CAPK:
            body = body[:-1] + bytes([body[-1] ^ 0x01])  # DF03 comes last
        resp["62"] = (b"1" + body).hex().upper()
        ctx.why = f"{kind} {key}"

    def _mgmt_0820(self, ctx: _Ctx, resp: dict[str, str]) -> None:
        term = ctx.term
        assert term is not None
        code = ctx.req.get("60", "")[8:11]
        resp["12"] = ctx.now.strftime("%H%M%S")
        resp["13"] = ctx.now.strftime("%m%d")
        if code == "002":
            # Sign-off: the working keys die, and (S2) the host's batch moves on — unless
            # nothing was booked in it, so repeated sign-on/sign-off does not burn numbers.
            self.store.drop_keys(term["tid"])
            used = self.store.find_txns(tid=term["tid"], batch=term["batch"])
            batch = next_batch(term["batch"]) if used else term["batch"]
            self.store.update_terminal(term["tid"], signed_on=0, batch=batch)
        elif code in IC_CODES:
            self._ic(ctx, resp, code)
            return
        elif code not in ("301", "362"):
            raise Decline("40", f"0820 with 60.3 {code or '?'} is not supported")
        resp["39"] = "00"

    # -- financial requests ---------------------------------------------------------------

    def _financial(self, ctx: _Ctx, resp: dict[str, str]) -> None:
        req, term = ctx.req, ctx.term
        assert term is not None
        name = ctx.name
        if name in UNSUPPORTED_601.values():
            raise Decline("40", f"{name} is not supported by this host")
        if name == "unknown":
            raise Decline("12", "unknown combination of MTI, 3, 25 and 60.1")
        batch, stan = self._batch_stan(ctx)
        used = [
            t
            for t in self.store.find_txns(tid=term["tid"], batch=batch, stan=stan)
            if t["type"] != "reversal"
        ]
        if used and name in ADVICES and self._repeat(ctx, resp, used[0]):
            return
        if used:
            raise Decline("94", f"STAN {stan:06d} already used in batch {batch:06d}")
        if req.get("49", CURRENCY) != CURRENCY:
            raise Decline("A1", "currency is not CNY (156)")
        amount = int(req.get("4", "0"))
        rrn, auth = self._rrn_auth(ctx.now)
        resp["37"] = rrn
        resp["15"] = ctx.now.strftime("%m%d")
        try:
            if name in CHIP_READ and _is_chip(req):
                ctx.chip = self._verify_chip(ctx, "ARQC")
                fault = ctx.faults.get(faults.CHIP_DECLINE)
                if fault is not None:
                    raise Decline(fault.code or "05", "chip_decline fault, after a good ARQC")
            result = getattr(self, "_do_" + name)(ctx, resp, amount)
        except Decline as d:
            ctx.booked = self._book(ctx, name, d.code, "declined", amount=amount, rrn=rrn)
            raise
        orig_id, auth_code = result
        auth_code = auth_code or auth
        ctx.booked = self._book(
            ctx, name, "00", "approved", amount=amount, rrn=rrn, auth=auth_code, orig=orig_id
        )
        resp["38"] = auth_code
        resp["39"] = "00"
        resp["44"] = ISSUER_ID.ljust(11) + self.acquirer_id.ljust(11)
        resp["63"] = "CUP"

    def _repeat(self, ctx: _Ctx, resp: dict[str, str], first: dict) -> bool:
        """An advice (0220, or its repeat 0221) with the terminal, batch, STAN, type and
        amount of one already answered: the terminal never got that answer (a line that
        dropped, a power cut) and sends it again. Answered as the first time (its code, RRN
        and auth code), not booked twice. False when it is not the same advice (94)."""
        if first["type"] != ctx.name or first["amount"] != int(ctx.req.get("4", "0")):
            return False
        ctx.pan = first["pan"]
        resp["39"] = first["response_code"]
        if first["rrn"]:
            resp["37"] = first["rrn"]
        if first["status"] != "declined":
            resp["38"] = first["auth_code"] or ""
            resp["15"] = first["date"][4:]
            resp["44"] = ISSUER_ID.ljust(11) + self.acquirer_id.ljust(11)
            resp["63"] = "CUP"
        ctx.why = "advice repeat, answered as the first: booked once"
        return True

    def _batch_stan(self, ctx: _Ctx) -> tuple[int, int]:
        req, term = ctx.req, ctx.term
        assert term is not None
        f60, f11 = req.get("60", ""), req.get("11", "")
        if len(f60) < 8 or not f11:
            raise Decline("30", "field 11 or 60.2 missing")
        batch = int(f60[2:8])
        if term["strict_batch"] and batch != term["batch"]:
            raise Decline("77", f"batch {batch:06d} is not the host's {term['batch']:06d}")
        return batch, int(f11)

    def _book(
        self,
        ctx: _Ctx,
        type_: str,
        code: str,
        status: str,
        amount: int = 0,
        rrn: str | None = None,
        auth: str | None = None,
        orig: int | None = None,
        reason: str | None = None,
    ) -> int:
        req, term = ctx.req, ctx.term
        assert term is not None
        f60 = req.get("60", "")
        return self.store.add_txn(
            tid=term["tid"],
            mid=term["mid"],
            batch=int(f60[2:8]) if f60[2:8].isdigit() else 0,
            stan=int(req.get("11", "0") or 0),
            type=type_,
            mti=req["t"],
            proc_code=req.get("3", ""),
            amount=amount,
            pan=ctx.pan,
            rrn=rrn,
            auth_code=auth,
            response_code=code,
            status=status,
            date=ctx.now.strftime("%Y%m%d"),
            time=ctx.now.strftime("%H%M%S"),
            orig_id=orig,
            reason=reason,
            psn=chip.psn(req.get("23"), ctx.icc) if ctx.icc is not None else None,
            icc_data=req.get("55"),
        )

    # card, PIN and amount checks ----------------------------------------------------------

    def _presented(self, ctx: _Ctx) -> tuple[str, str | None] | None:
        """(PAN, expiry YYMM or None) from track 2 (decrypted with the TDK when 53.3 = 1)
        or from fields 2/14; None when the request carries no card."""
        req = ctx.req
        track = req.get("35")
        if track:
            sec = req.get("53", "")
            if len(sec) >= 3 and sec[2] == "1":
                keys = ctx.keys
                if keys is None or not keys["tdk"] or keys["family"] == crypto.SM4_ALG:
                    raise Decline("30", "encrypted track but no TDK to decrypt it")
                try:
                    track = crypto.decrypt_track(track, bytes.fromhex(keys["tdk"]))
                except ValueError:
                    raise Decline("30", "encrypted track cannot be decrypted") from None
            pan, sep, rest = track.upper().partition("D")
            if not sep or not pan.isdigit() or not rest[:4].isdigit():
                raise Decline("14", "track 2 does not parse")
            if "2" in req and req["2"] != pan:
                raise Decline("14", "field 2 and track 2 are different cards")
            return pan, rest[:4]
        if "2" in req:
            return req["2"], req.get("14")
        if ctx.icc is not None:
            # A chip request may name its card only in field 55: 57, or 5A (and 5F24).
            track = chip.track2(ctx.icc) or ""
            pan, sep, rest = track.partition("D")
            if sep and pan.isdigit() and rest[:4].isdigit():
                return pan, rest[:4]
            pan = chip.card_pan(ctx.icc)
            if pan and pan.isdigit():
                expiry = ctx.icc.get(0x5F24, b"").hex()[:4]
                return pan, expiry if len(expiry) == 4 and expiry.isdigit() else None
        return None

    def _card(self, ctx: _Ctx, required: bool = True, checks: bool = True) -> dict | None:
        presented = self._presented(ctx)
        if presented is None:
            if required:
                raise Decline("14", "no card data")
            return None
        pan, expiry = presented
        ctx.pan = pan
        card = self.store.card(pan)
        if card is None:
            raise Decline("14", "unknown card")
        if checks:
            status = card["status"]
            if status != "active":
                code = {"lost": "41", "stolen": "43"}.get(status, "57")
                raise Decline(code, f"card is {status}")
            today = ctx.now.strftime("%y%m")
            if card["expiry"] < today or (expiry is not None and expiry < today):
                raise Decline("54", "card expired")
        return card

    def _check_pin(self, ctx: _Ctx, card: dict, required: bool) -> None:
        req = ctx.req
        if "52" not in req:
            if required and card["pin"]:
                raise Decline("55", "PIN required")
            return
        keys = ctx.keys
        assert keys is not None
        sec = req.get("53", "2")
        pan = None if sec[:1] == "1" else card["pan"]
        pik = bytes.fromhex(keys["pik"])
        try:
            pin = crypto.clear_pin(
                bytes.fromhex(req["52"]), pik, pan, crypto.key_algorithm(pik, keys["family"])
            )
        except crypto.PinBlockError:
            raise Decline("99", "PIN block does not decode") from None
        if card["pin"] is None or pin != card["pin"]:
            raise Decline("55", "wrong PIN")

    # chip ----------------------------------------------------------------------------------

    def _verify_chip(self, ctx: _Ctx, want: str) -> tuple[str, str]:
        """The card's cryptogram in field 55 checked (docs/hostsim.md, "Chip cards"):
        `want` is the one the request must carry (ARQC online, TC in an offline upload).
        Returns (PAN, PSN) for the answer's 91; Decline 30 for a 55 that cannot be checked,
        14 for another card's 55, the profile's cryptogram_fail_code when it does not
        verify."""
        req, tags, term = ctx.req, ctx.icc, ctx.term
        assert term is not None
        if tags is None:
            raise Decline("30", f"{ctx.name} with IC entry mode (22 = 05x/07x) but no field 55")
        presented = self._presented(ctx)
        if presented is None:
            raise Decline("14", "no card data")
        pan = presented[0]
        ctx.pan = pan
        wrong = chip.check_pan(pan, tags)
        if wrong:
            raise Decline("14", wrong)
        gone = chip.missing(tags)
        if gone:
            raise Decline("30", "field 55 lacks " + " ".join(gone))
        kind = chip.cryptogram_type(tags)
        if kind is not None and kind != want:
            raise Decline("30", f"9F27 says {kind}: {ctx.name} needs {want}")
        want_type = EMV_TYPES.get(ctx.name, "20")
        if 0x9C in tags and tags[0x9C].hex() != want_type:
            raise Decline("30", f"9C is {tags[0x9C].hex()}: a {ctx.name} is {want_type}")
        signed = tags.get(0x9F02, b"").hex()
        if signed.isdigit() and "4" in req and int(signed) != int(req["4"]):
            raise Decline("30", "field 4 is not the amount the card signed (9F02)")
        psn = chip.psn(req.get("23"), tags)
        why = chip.check(pan, psn, tags)
        if why:
            ctx.icc_note += " does not verify"
            raise Decline(term["cryptogram_fail_code"], why)
        ctx.icc_note += " verified"
        return pan, psn

    def _chip_answer(self, ctx: _Ctx, resp: dict[str, str]) -> None:
        """Field 55 of the answer to a verified ARQC: 91 with the ARC of 39 (so a decline
        reaches the card as one too), and the faults' doing (bad or no ARPC, a script)."""
        assert ctx.chip is not None and ctx.icc is not None
        pan, psn = ctx.chip
        hit = ctx.faults
        script = None
        if faults.ISSUER_SCRIPT in hit:
            text = hit[faults.ISSUER_SCRIPT].script or faults.DEFAULT_SCRIPT
            script = chip.Script.parse(text)
        arpc = faults.NO_ARPC not in hit
        bad = faults.BAD_ARPC in hit
        data = chip.answer(
            pan, psn, ctx.icc, resp.get("39", "96"), arpc=arpc, bad_arpc=bad, script=script
        )
        notes = ["91 with a bad ARPC" if bad else "91"] if arpc else ["no 91"]
        if script is not None:
            notes.append(f"script {script}")
        ctx.icc_note += ", " + ", ".join(notes)
        if data:
            resp["55"] = data.hex().upper()
            if ctx.booked is not None:
                self.store.update_txn(ctx.booked, icc_response=resp["55"])

    def _check_amount(self, card: dict, amount: int) -> None:
        if amount <= 0:
            raise Decline("13", "amount must be positive")
        if amount > MAX_AMOUNT or (card["txn_limit"] is not None and amount > card["txn_limit"]):
            raise Decline("61", "amount over the limit")

    @staticmethod
    def _available(card: dict) -> int:
        return card["balance"] - card["held"]

    # originals ------------------------------------------------------------------------------

    def _original_in_batch(self, ctx: _Ctx, types: tuple[str, ...]) -> dict:
        """Void rules (spec §6): found by terminal + batch + STAN from 61, same batch as the
        void, not settled, still approved, and the 37/38 the terminal echoes must fit."""
        req, term = ctx.req, ctx.term
        assert term is not None
        f61 = req.get("61", "")
        if len(f61) < 12:
            raise Decline("30", "field 61 (original batch and STAN) missing")
        batch, stan = int(f61[:6]), int(f61[6:12])
        found = [
            t
            for t in self.store.find_txns(tid=term["tid"], batch=batch, stan=stan, type=types)
            if t["status"] != "declined"
        ]
        if not found:
            raise Decline("25", "original not found")
        orig = found[-1]
        if batch != int(req["60"][2:8]) or orig["settled"]:
            raise Decline("25", "original is not in the current batch")
        if orig["date"] != ctx.now.strftime("%Y%m%d"):
            raise Decline("25", "no cross-day void")
        if orig["status"] != "approved" or orig["refunded"]:
            raise Decline("25", f"original is {orig['status']}")
        if "37" in req and req["37"].strip() != (orig["rrn"] or ""):
            raise Decline("25", "RRN does not match the original")
        if "38" in req and req["38"].strip() != (orig["auth_code"] or ""):
            raise Decline("25", "auth code does not match the original")
        return orig

    def _open_preauth(self, ctx: _Ctx) -> dict:
        """Pre-auth cancel/completion (spec §6): the original is found by auth code (38) and
        original date (61.3) within the merchant, and must still be open."""
        req, term = ctx.req, ctx.term
        assert term is not None
        auth = req.get("38", "").strip()
        f61 = req.get("61", "")
        if not auth or len(f61) < 16:
            raise Decline("30", "auth code (38) or original date (61.3) missing")
        mmdd = f61[12:16]
        found = [
            t
            for t in self.store.find_txns(mid=term["mid"], type="preauth", auth_code=auth)
            if t["date"][4:] == mmdd
        ]
        if not found:
            raise Decline("25", "pre-authorisation not found")
        orig = found[-1]
        if orig["status"] != "approved":
            raise Decline("25", f"pre-authorisation is {orig['status']}")
        return orig

    def _same_card(self, ctx: _Ctx, orig: dict) -> dict:
        card = self._card(ctx, required=False, checks=False)
        if card is not None and card["pan"] != orig["pan"]:
            raise Decline("14", "card does not match the original")
        # A chip original: the PAN sequence number of the void or cancel (23, or 5F34 of its
        # 55) must be the original's -- another card with the same number is another card.
        given = ctx.req.get("23") or (ctx.icc or {}).get(0x5F34)
        if given and orig["psn"] and chip.psn(ctx.req.get("23"), ctx.icc or {}) != orig["psn"]:
            raise Decline("14", "card sequence number does not match the original")
        ctx.pan = orig["pan"]
        card = self.store.card(orig["pan"])
        if card is None:
            raise Decline("14", "the original's card is gone")
        return card

    # per type: each returns (original id or None, auth code to answer or None) ------------

    def _do_balance(self, ctx: _Ctx, resp: dict[str, str], amount: int) -> tuple:
        card = self._card(ctx)
        assert card is not None
        self._check_pin(ctx, card, required=True)
        available = self._available(card)
        sign = "C" if available >= 0 else "D"
        # 54: account type 10, amount type 02 (available), currency, C/D, amount n12.
        resp["54"] = "1002" + CURRENCY + sign + "%012d" % abs(available)
        return None, None

    def _do_sale(self, ctx: _Ctx, resp: dict[str, str], amount: int) -> tuple:
        card = self._card(ctx)
        assert card is not None
        self._check_pin(ctx, card, required=True)
        self._check_amount(card, amount)
        if self._available(card) < amount:
            raise Decline("51", "insufficient funds")
        self.store.adjust_card(card["pan"], balance=-amount)
        return None, None

    def _do_preauth(self, ctx: _Ctx, resp: dict[str, str], amount: int) -> tuple:
        card = self._card(ctx)
        assert card is not None
        self._check_pin(ctx, card, required=True)
        self._check_amount(card, amount)
        if self._available(card) < amount:
            raise Decline("51", "insufficient funds")
        self.store.adjust_card(card["pan"], held=amount)
        return None, None

    def _do_sale_void(self, ctx: _Ctx, resp: dict[str, str], amount: int) -> tuple:
        orig = self._original_in_batch(ctx, ("sale",))
        card = self._same_card(ctx, orig)
        self._check_pin(ctx, card, required=False)
        if amount != orig["amount"]:
            raise Decline("64", "void amount differs from the original")
        self.store.adjust_card(card["pan"], balance=orig["amount"])
        self.store.update_txn(orig["id"], status="voided")
        # The void gets its own RRN and answers with the original's auth code.
        return orig["id"], orig["auth_code"]

    def _do_refund(self, ctx: _Ctx, resp: dict[str, str], amount: int) -> tuple:
        req, term = ctx.req, ctx.term
        assert term is not None
        rrn = req.get("37", "").strip()
        if not rrn:
            raise Decline("30", "refund without the original RRN (37)")
        f61 = req.get("61", "")
        found = [
            t
            for t in self.store.find_txns(mid=term["mid"], rrn=rrn, type=DEBIT_TYPES)
            if t["status"] != "declined" and (len(f61) < 16 or t["date"][4:] == f61[12:16])
        ]
        if not found:
            raise Decline("25", "original not found by RRN and date")
        orig = found[-1]
        if orig["status"] not in LIVE:
            raise Decline("25", f"original is {orig['status']}")
        card = self._card(ctx, required=False, checks=False)
        if card is not None:
            if card["pan"] != orig["pan"]:
                raise Decline("14", "card does not match the original")
            if card["status"] != "active":
                raise Decline("57", f"card is {card['status']}")
        ctx.pan = orig["pan"]
        if amount <= 0:
            raise Decline("13", "amount must be positive")
        if amount > orig["amount"] - orig["refunded"]:
            raise Decline("64", "refund exceeds what is left of the original")
        refunded = orig["refunded"] + amount
        self.store.update_txn(
            orig["id"],
            refunded=refunded,
            status="refunded" if refunded == orig["amount"] else orig["status"],
        )
        self.store.adjust_card(orig["pan"], balance=amount)
        return orig["id"], None

    def _do_preauth_cancel(self, ctx: _Ctx, resp: dict[str, str], amount: int) -> tuple:
        orig = self._open_preauth(ctx)
        card = self._same_card(ctx, orig)
        self._check_pin(ctx, card, required=False)
        if amount != orig["amount"]:
            raise Decline("64", "cancel amount differs from the pre-authorisation")
        self.store.adjust_card(card["pan"], held=-orig["amount"])
        self.store.update_txn(orig["id"], status="voided")
        return orig["id"], orig["auth_code"]

    def _do_completion(self, ctx: _Ctx, resp: dict[str, str], amount: int) -> tuple:
        orig = self._open_preauth(ctx)
        card = self._same_card(ctx, orig)
        self._check_pin(ctx, card, required=False)
        if amount <= 0:
            raise Decline("13", "amount must be positive")
        if amount * 100 > orig["amount"] * (100 + COMPLETION_TOLERANCE):
            raise Decline("64", "completion exceeds the pre-authorisation")
        if self._available(card) + orig["amount"] < amount:
            raise Decline("51", "insufficient funds")
        self.store.adjust_card(card["pan"], balance=-amount, held=-orig["amount"])
        self.store.update_txn(orig["id"], status="completed")
        return orig["id"], orig["auth_code"]

    _do_completion_notice = _do_completion

    def _do_ic_offline_sale(self, ctx: _Ctx, resp: dict[str, str], amount: int) -> tuple:
        """An IC card's offline approval (TC) uploaded (spec §3.1, 60.1 = 36): the money is
        spent already, so no PIN, funds or limit check -- the TC must verify, and the same
        card transaction (PAN, PSN, ATC) is taken once."""
        card = self._card(ctx, checks=False)
        assert card is not None
        pan, psn = self._verify_chip(ctx, "TC")
        assert ctx.icc is not None
        atc = ctx.icc[0x9F36]
        for t in self.store.find_txns(pan=pan, type="ic_offline_sale", status="approved"):
            if t["psn"] == psn and _atc(t) == atc:
                raise Decline(
                    "94", f"offline sale ATC {atc.hex()} already uploaded (STAN {t['stan']:06d})"
                )
        if amount <= 0:
            raise Decline("13", "amount must be positive")
        # One balance per account: what the card spent offline comes off it.
        self.store.adjust_card(card["pan"], balance=-amount)
        return None, None

    def _do_completion_void(self, ctx: _Ctx, resp: dict[str, str], amount: int) -> tuple:
        orig = self._original_in_batch(ctx, ("completion", "completion_notice"))
        card = self._same_card(ctx, orig)
        self._check_pin(ctx, card, required=False)
        if amount != orig["amount"]:
            raise Decline("64", "void amount differs from the completion")
        pre = self.store.txn(orig["orig_id"]) if orig["orig_id"] else None
        # The completion is undone and its pre-authorisation is open (held) again.
        self.store.adjust_card(
            card["pan"], balance=orig["amount"], held=pre["amount"] if pre else 0
        )
        self.store.update_txn(orig["id"], status="voided")
        if pre is not None:
            self.store.update_txn(pre["id"], status="approved")
        return orig["id"], orig["auth_code"]

    # -- reversal -------------------------------------------------------------------------

    def _reversal(self, ctx: _Ctx, resp: dict[str, str]) -> None:
        """Spec §6 host rules: match terminal (41+42) + original type + batch + STAN; already
        reversed 25, amount mismatch 64, not found 00 (so the terminal stops retrying)."""
        req, term = ctx.req, ctx.term
        assert term is not None
        f60 = req.get("60", "")
        type_ = REVERSIBLE.get(f60[:2])
        if type_ is None or _SIGNATURE[type_] != (req.get("3", "")[:2], req.get("25", "")):
            raise Decline("12", "not a reversible transaction type")
        batch, stan = self._batch_stan(ctx)
        reason = req.get("39")
        candidates = self.store.find_txns(tid=term["tid"], batch=batch, stan=stan, type=type_)
        f61 = req.get("61", "")
        if not candidates and len(f61) >= 12 and f61[:6].isdigit():
            # S2 matches void types on 61.1; the original void's 60.2 is normally the same.
            candidates = self.store.find_txns(
                tid=term["tid"], batch=int(f61[:6]), stan=stan, type=type_
            )
        amount = int(req.get("4", "0"))
        resp["15"] = ctx.now.strftime("%m%d")
        if not candidates:
            self._book(ctx, "reversal", "00", "approved", amount=amount, reason=reason)
            resp["39"] = "00"
            ctx.why = "original not found: nothing to undo"
            return
        orig = candidates[-1]
        ctx.pan = orig["pan"]
        if orig["status"] == "reversed":
            raise Decline("25", "already reversed")
        if orig["date"] != ctx.now.strftime("%Y%m%d"):
            raise Decline("25", "no cross-day reversal")
        if "4" in req and amount != orig["amount"]:
            raise Decline("64", "amount differs from the original")
        if orig["status"] == "declined":
            self._book(ctx, "reversal", "00", "approved", amount, orig=orig["id"], reason=reason)
            resp["39"] = "00"
            ctx.why = "original was declined: nothing to undo"
            return
        if orig["status"] != "approved" or orig["settled"] or orig["refunded"]:
            raise Decline("25", f"original is {orig['status']} and cannot be reversed")
        self._undo(orig)
        self.store.update_txn(orig["id"], status="reversed")
        self._book(ctx, "reversal", "00", "approved", amount, orig=orig["id"], reason=reason)
        if orig["rrn"]:
            resp["37"] = orig["rrn"]
        resp["39"] = "00"

    def _undo(self, orig: dict) -> None:
        """Take back the balance effect of an approved transaction being reversed."""
        pan, amount, type_ = orig["pan"], orig["amount"], orig["type"]
        parent = self.store.txn(orig["orig_id"]) if orig["orig_id"] else None
        adjust = self.store.adjust_card
        if type_ == "sale":
            adjust(pan, balance=amount)
        elif type_ == "preauth":
            adjust(pan, held=-amount)
        elif type_ == "sale_void" and parent:
            adjust(pan, balance=-parent["amount"])
            self.store.update_txn(parent["id"], status="approved")
        elif type_ == "preauth_cancel" and parent:
            adjust(pan, held=parent["amount"])
            self.store.update_txn(parent["id"], status="approved")
        elif type_ == "completion" and parent:
            adjust(pan, balance=amount, held=parent["amount"])
            self.store.update_txn(parent["id"], status="approved")
        elif type_ == "completion_void" and parent:
            pre = self.store.txn(parent["orig_id"]) if parent["orig_id"] else None
            adjust(pan, balance=-parent["amount"], held=-pre["amount"] if pre else 0)
            self.store.update_txn(parent["id"], status="approved")
            if pre is not None:
                self.store.update_txn(pre["id"], status="completed")

    def _script_notice(self, ctx: _Ctx, resp: dict[str, str]) -> None:
        """0620 (60.3 = 951): the card's issuer script results (DF31 or 9F5B in 55) for the
        transaction 61 names (batch + STAN), kept on it; booked as its own row, and
        acknowledged even when the original is unknown (an advice: no retries wanted)."""
        req, term, tags = ctx.req, ctx.term, ctx.icc
        assert term is not None
        code = req.get("60", "")[8:11]
        if code != SCRIPT_NOTICE:
            raise Decline("40", f"0620 with 60.3 {code or '?'} is not supported")
        words = chip.script_results(tags) if tags is not None else ""
        if tags is None or not words:
            raise Decline("30", "script result notice without DF31/9F5B in field 55")
        f61 = req.get("61", "")
        if len(f61) < 12 or not f61[:12].isdigit():
            raise Decline("30", "field 61 (original batch and STAN) missing")
        batch, stan = int(f61[:6]), int(f61[6:12])
        f11 = req.get("11", "")
        if f11.isdigit():
            notice_batch = int(req.get("60", "00000000")[2:8] or 0)
            for t in self.store.find_txns(
                tid=term["tid"], batch=notice_batch, stan=int(f11), type="script_notice"
            ):
                if t["icc_data"] != req.get("55"):
                    raise Decline("94", f"STAN {int(f11):06d} already used by another notice")
                # Sent again with its STAN (a lost answer, a power cut): booked once.
                resp["39"] = "00"
                ctx.pan = t["pan"]
                ctx.why = "script result notice repeated: booked once"
                return
        found = self.store.find_txns(tid=term["tid"], batch=batch, stan=stan, type=CHIP_ONLINE)
        orig = found[-1] if found else None
        results = (tags.get(0xDF31) or tags.get(0x9F5B) or b"").hex().upper()
        if orig is not None:
            self.store.update_txn(orig["id"], script_result=results)
            ctx.pan = orig["pan"]
        amount = int(req.get("4", "0") or 0)
        self._book(
            ctx, "script_notice", "00", "approved", amount, orig=orig["id"] if orig else None
        )
        ctx.why = f"script results: {words}" + ("" if orig else "; original not found")
        resp["39"] = "00"

    # -- settlement and batch upload ------------------------------------------------------

    def totals(self, tid: str, batch: int) -> dict[str, int]:
        """Host totals of one terminal's batch (spec §3.4 membership, see DEBIT_TYPES)."""
        rows = self.store.find_txns(tid=tid, batch=batch)
        debit = [t["amount"] for t in rows if t["type"] in DEBIT_TYPES and t["status"] in LIVE]
        credit = [t["amount"] for t in rows if t["type"] == "refund" and t["status"] in LIVE]
        return {
            "debit_amount": sum(debit),
            "debit_count": len(debit),
            "credit_amount": sum(credit),
            "credit_count": len(credit),
        }

    def _settlement(self, ctx: _Ctx, resp: dict[str, str]) -> None:
        req, term = ctx.req, ctx.term
        assert term is not None
        f48, f60 = req.get("48", ""), req.get("60", "")
        if len(f48) < 31 or len(f60) < 8:
            raise Decline("30", "settlement without 31+ digits of 48 or 60.2")
        batch = int(f60[2:8])
        t = self.totals(term["tid"], batch)
        host_dom = "%012d%03d%012d%03d" % (
            t["debit_amount"],
            t["debit_count"] % 1000,
            t["credit_amount"],
            t["credit_count"] % 1000,
        )
        host_foreign = "0" * 30  # every test card is domestic
        req_dom = f48[:30]
        req_foreign = f48[31:61].ljust(30, "0")
        dom_ok = req_dom == host_dom and faults.UNBALANCED not in ctx.faults
        foreign_ok = req_foreign == host_foreign
        empty = term["settle_empty_flag"]  # S2 answers 1 where there is nothing; some 0

        def flag(ok: bool, ours: str, theirs: str) -> str:
            if not ok:
                return "2"
            return empty if ours == theirs == "0" * 30 else "1"

        dom_flag = flag(dom_ok, host_dom, req_dom)
        if faults.SETTLE_ERROR in ctx.faults:
            dom_flag = "3"
        foreign_flag = flag(foreign_ok, host_foreign, req_foreign)
        if dom_flag != "2" and foreign_ok and faults.SETTLE_ERROR not in ctx.faults:
            out = req_dom + dom_flag + req_foreign + foreign_flag
        else:
            # S2: an unbalanced answer carries the host's own totals with flag 2.
            out = host_dom + dom_flag + host_foreign + foreign_flag
        result = {"1": "balanced", "3": "error"}.get(dom_flag, "balanced")
        if dom_flag == "2" or not foreign_ok:
            result = "unbalanced"
        self.store.put_settlement(
            tid=term["tid"],
            batch=batch,
            terminal_totals=f48,
            host_totals=out,
            result=result,
            at=ctx.now.isoformat(timespec="seconds"),
        )
        self.store.settle_batch(term["tid"], batch)
        if batch == term["batch"]:
            self.store.update_terminal(term["tid"], batch=next_batch(batch))
        ctx.why = result
        resp.update(
            {
                "12": ctx.now.strftime("%H%M%S"),
                "13": ctx.now.strftime("%m%d"),
                "15": ctx.now.strftime("%m%d"),
                "39": "00",
                "48": out,
                "49": CURRENCY,
            }
        )
        if "63" in req:
            resp["63"] = req["63"]

    def _batch_upload(self, ctx: _Ctx, resp: dict[str, str]) -> None:
        req, term = ctx.req, ctx.term
        assert term is not None
        f48, f60 = req.get("48", ""), req.get("60", "")
        if len(f60) < 11:
            raise Decline("30", "batch upload without 60.3")
        batch, code = int(f60[2:8]), f60[8:11]
        if code == "201":
            if len(f48) < 2 or len(f48) != 2 + 40 * int(f48[:2]):
                raise Decline("30", "48 is not NN + NN x 40-digit records")
            ours = {
                (t["stan"], t["amount"])
                for t in self.store.find_txns(tid=term["tid"], batch=batch)
                if t["status"] in LIVE
            }
            for i in range(int(f48[:2])):
                rec = f48[2 + 40 * i : 42 + 40 * i]
                stan, amount = int(rec[2:8]), int(rec[28:40])
                self.store.add_upload(
                    tid=term["tid"],
                    batch=batch,
                    stan=stan,
                    card_class=rec[:2],
                    pan=rec[8:28].lstrip("0"),
                    amount=amount,
                    matched=int((stan, amount) in ours),
                )
            n = len(self.store.uploads(term["tid"], batch))
            self.store.update_settlement(term["tid"], batch, upload_records=n)
            ctx.why = f"{int(f48[:2])} records"
        elif code in ("202", "207"):
            if not f48.isdigit():
                raise Decline("30", "batch end without a total in 48")
            self.store.update_settlement(term["tid"], batch, upload_total=int(f48))
            ctx.why = f"end, total {int(f48)}"
        elif code in IC_UPLOADS:
            self._ic_detail(ctx, batch, code)
        else:
            raise Decline("40", f"0320 with 60.3 {code} is not supported")
        resp["39"] = "00"

    def _settled_flag(self, tid: str, batch: int) -> str | None:
        """The 60.3 an IC detail of `batch` should carry by its settlement's result: 203
        balanced, 205 not; None before the batch is settled."""
        for row in self.store.settlements(tid):
            if row["batch"] == batch:
                return "203" if row["result"] == "balanced" else "205"
        return None

    def _ic_detail(self, ctx: _Ctx, batch: int, code: str) -> None:
        """0320/203-206: one IC transaction's detail (2, 4, 23, 55 with its final
        cryptogram). Kept as an upload record, matched to the booked chip transaction of the
        batch by PAN, amount and ATC (9F36) -- the one key every layout carries -- and
        counted as matched when its cryptogram verifies too."""
        req, term, tags = ctx.req, ctx.term, ctx.icc
        assert term is not None
        if tags is None:
            raise Decline("30", f"0320/{code} without field 55")
        presented = self._presented(ctx)
        if presented is None or not req.get("4", "").isdigit():
            raise Decline("30", f"0320/{code} without the PAN (2 or 57) or the amount (4)")
        pan, amount = presented[0], int(req["4"])
        ctx.pan = pan
        psn = chip.psn(req.get("23"), tags)
        why = chip.check_pan(pan, tags) or chip.check(pan, psn, tags)
        atc = tags.get(0x9F36)
        found = None
        for t in self.store.find_txns(tid=term["tid"], batch=batch, pan=pan, amount=amount):
            # The transaction itself: its reversal and its script notice carry its ATC too.
            if (
                atc is not None
                and t["type"] not in ("reversal", "script_notice")
                and _atc(t) == atc
            ):
                found = t
        for up in self.store.uploads(term["tid"], batch):
            if up["icc_data"] == req["55"] and up["pan"] == pan and up["amount"] == amount:
                # The terminal sends a detail again when a power cut or a lost answer left
                # it unsure the host had it: the same detail is kept once.
                ctx.why = "IC detail sent again: kept once"
                return
        flag = self._settled_flag(term["tid"], batch)
        if flag is not None and code in ("203", "205") and code != flag:
            said = "unbalanced" if flag == "205" else "balanced"
            ctx.why = f"60.3 {code} but the settlement was {said}; "
        self.store.add_upload(
            tid=term["tid"],
            batch=batch,
            stan=found["stan"] if found else int(req.get("11", "0") or 0),
            card_class="00",
            pan=pan,
            amount=amount,
            matched=int(found is not None and not why),
            icc_data=req["55"],
            cryptogram_ok=int(not why),
        )
        n = len(self.store.uploads(term["tid"], batch))
        self.store.update_settlement(term["tid"], batch, upload_records=n)
        ctx.icc_note += " does not verify" if why else " verified"
        ctx.why += (
            f"IC detail of {found['type']} STAN {found['stan']:06d}"
            if found
            else "IC detail matches no transaction of the batch"
        ) + (f"; {why}" if why else "")


def _atc(row: dict) -> bytes | None:
    """The ATC (9F36) in a booked transaction's field 55, or None."""
    try:
        return chip.parse(row["icc_data"]).get(0x9F36) if row["icc_data"] else None
    except chip.IccError:
        return None


def _is_chip(req: dict[str, str]) -> bool:
    """A request from a chip read: IC entry mode in 22 (05x, 07x), or field 55."""
    return req.get("22", "")[:2] in CHIP_ENTRY or "55" in req


def _resp_mti(mti: str) -> str:
    # A repeat (0221) is answered as the first would be: 0230.
    return "%04d" % (int(mti) + 10 - (mti[3] == "1"))


def _page(code: str, data: bytes, digits: int, entries: list, size: int):
    """(first index, the entries, control byte) of the page field 62 of a request asks for:
    "1" + `digits` digits, the entries the terminal has received; Decline 30 otherwise. The
    control byte: "2" more pages, "1" the last, "0" none at all."""
    if len(data) != 1 + digits or data[:1] != b"1" or not data[1:].isdigit():
        raise Decline("30", f"{code}: field 62 is not '1' + {digits} digits")
    start = int(data[1:])
    page = entries[start : start + size]
    more = start + len(page) < len(entries)
    return start, page, b"2" if more else (b"1" if entries else b"0")
