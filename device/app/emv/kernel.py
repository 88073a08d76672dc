"""The contact PBOC 3.0 kernel: one chip transaction on a card reader (EMV 4.3 Books 1 and 3,
PBOC 3.0 JR/T 0025 parts 5 and 6).

    from app.emv import kernel, terminal

    term = terminal.TerminalData(amount, clock.now(), terminal_id=..., merchant_name=...)
    k = kernel.Kernel(reader, term, aids, ca_key, choose=ui_choose, pin=ui_pin)
    k.start()          # power-up to the first GENERATE AC: k.result is ONLINE, APPROVED,
                       # DECLINED, FALLBACK or TERMINATED (k.reason names why)
    k.field55(tags)    # the ARQC's data for the host (field 55)
    k.complete(host55, "00")   # the host's answer: issuer authentication, scripts, second AC
    k.complete(None)           # the host could not be reached: the default action codes

`reader`: a drivers.cardchannel.CardChannel (power_up, transmit -> (data, sw), power_off).
`aids`: [(AID bytes, {tag: value} of its IC parameters)] -- the AID download's list
(app.store.icsets: aid_list and aid). `ca_key(rid, index)`: an app.emv.oda.CaKey or None
(icsets.ca_key through `ca_key_from`). `choose(labels) -> index or None` asks the cardholder
to pick (or confirm) an application; `pin() -> True/False/None` asks for the online PIN
(entered / bypassed / no PIN pad): the PIN itself goes the magnetic stripe's way (the PIN
pad's block, field 52), not through the card.

Outcomes (`result`): ONLINE (the card asks for an ARQC: send field 55 to the host), APPROVED
(TC), DECLINED (AAC), FALLBACK (the chip cannot be used: swipe the stripe, fields 22 and
60.5 mark it), TERMINATED (stop; `reason`: card_removed, card_mute, reader, card_blocked,
card_data, card_status, cancelled, blacklisted; host_data: the host's 55 is not TLV). After an
approval by the host, DECLINED with `reason` "card_declined" (or TERMINATED) means the host's
approval must be reversed.

Every card error ends in an outcome, never an exception: drivers.cardchannel.CardError,
tlv.TlvError, dol.DolError and unexpected status words are named. What the card gave is kept
as its R-APDUs copied once (bounded: _MAX_RECORDS records, _MAX_DATA bytes).
"""

from app.emv import checks, dol, tlv
from app.emv import terminal as t
from drivers.cardchannel import (
    CardError,
    CardMute,
    CardProtocolError,
    CardRemoved,
    FrameError,
    NoCard,
)

# app.emv.select and app.emv.oda are imported by the steps that use them, before the first
# GENERATE AC: the caller can let them go (app.forget, SELECTION_MODULES) while the card
# waits for the host's answer, the online exchange's heap peak.

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

ONLINE = "online"
APPROVED = "approved"
DECLINED = "declined"
FALLBACK = "fallback"
TERMINATED = "terminated"

_MAX_RECORDS = const(24)  # AFL records read at most
_MAX_DATA = const(4096)  # bytes of records kept at most
_MAX_SELECTIONS = const(4)  # final selections tried (each refused one leaves the list)
_MAX_SCRIPTS = const(8)  # issuer scripts run per transaction (DF31 holds 5 bytes each)
_P1 = {"AAC": 0x00, "TC": 0x40, "ARQC": 0x80}
_CID = {0x00: "AAC", 0x40: "TC", 0x80: "ARQC"}
_RANK = {"AAC": 0, "ARQC": 1, "TC": 2}  # a card may answer lower than asked, never higher
# The modules the kernel needs only up to its first GENERATE AC (see the imports above).
SELECTION_MODULES = ("app.emv.select", "app.emv.oda")
_AIP_SDA, _AIP_DDA, _AIP_CVM, _AIP_TRM, _AIP_ISSUER_AUTH = 0x40, 0x20, 0x10, 0x08, 0x04


class _Stop(Exception):
    # Ends the transaction with an outcome: raised inside, caught by start/complete.
    def __init__(self, result, reason, detail=""):
        super().__init__(reason)
        self.result = result
        self.reason = reason
        self.detail = detail


def ca_key_from(sets):
    """`ca_key(rid, index)` for the Kernel from an app.store.icsets.ICSets."""

    def ca_key(rid, index):
        from app.emv import oda

        entry = sets.ca_key(rid, index)
        if entry is None:
            return None
        return oda.CaKey(rid, index, entry[0xDF02], entry[0xDF04], entry.get(0xDF03))

    return ca_key


def aids_from(sets):
    """The Kernel's `aids` from an app.store.icsets.ICSets: each AID with its parameters."""
    return [(aid, sets.aid(aid) or {}) for aid in sets.aid_list()]


class Kernel:
    """One contact chip transaction (module docstring). `offline_allowed`: the terminal may
    approve offline (ask a TC) when the action codes allow; else every approval is online.
    `timeout_ms`: each card command's. `listed(pan) -> bool`: whether the card's number is on
    the acquirer's black list, asked once the records are read (before ODA and the PIN): a
    listed card ends TERMINATED, `reason` "blacklisted"."""

    def __init__(
        self,
        reader,
        term,
        aids,
        ca_key,
        choose=None,
        pin=None,
        offline_allowed=False,
        timeout_ms=5000,
        listed=None,
    ):
        self.reader = reader
        self.term = term
        self.aids = aids
        self.ca_key = ca_key
        self.choose = choose
        self.pin = pin
        self.offline_allowed = offline_allowed
        self.timeout_ms = timeout_ms
        self.listed = listed
        self.result = None
        self.reason = None
        self.detail = ""
        self.card = {}  # {tag: memoryview} of the GPO answer and the records
        term.card = self.card
        self.ac = {}  # the last GENERATE AC's 9F27, 9F36, 9F26, 9F10
        self.aid = None  # the selected application's DF name (84)
        self.label = ""
        self.cvm = None  # "online_pin", "signature", "none", "failed"
        self.oda = None  # "SDA", "DDA" or None (not performed)
        self.oda_failure = None  # why it failed (app.emv.oda.OdaError's reason)
        self.scripts = bytearray()  # DF31: 5 bytes a script
        self._records = []  # the R-APDUs the card dict's values point into
        self._static = []  # (SFI, record) of the records ODA covers

    # --- commands ------------------------------------------------------------------------------

    def _send(self, apdu):
        # One command: (a copy of the data, sw). Reader and card failures end the transaction.
        try:
            data, sw = self.reader.transmit(apdu, self.timeout_ms)
        except CardRemoved as exc:
            raise _Stop(TERMINATED, "card_removed", str(exc))
        except NoCard as exc:
            raise _Stop(TERMINATED, "card_removed", str(exc))
        except CardMute as exc:
            raise _Stop(TERMINATED, "card_mute", str(exc))
        except CardError as exc:
            raise _Stop(TERMINATED, "reader", str(exc))
        return bytes(data), sw

    def _command(self, header, data):
        # CLA INS P1 P2, Lc, data, Le 00 (a case 4 command).
        apdu = bytearray(6 + len(data))
        apdu[0:4] = header
        apdu[4] = len(data)
        apdu[5 : 5 + len(data)] = data
        return self._send(apdu)

    def _answer(self, answer, sw, name):
        # The (tag, value) of a GPO or GENERATE AC answer: one template, 80 or 77 (Book 3
        # 6.5.5, 6.5.8); the answer kept, as the card dict's values point into it.
        if sw != 0x9000:
            raise _Stop(TERMINATED, "card_status", "%s %04X" % (name, sw))
        self._records.append(answer)
        top = tlv.parse(answer)
        if len(top) != 1:
            raise _Stop(TERMINATED, "card_data", name + " answer")
        return top[0]

    def _run(self, step, *args):
        # Run `step`; its _Stop, or a malformed answer, becomes the outcome.
        try:
            step(*args)
        except _Stop as stop:
            self._end(stop.result, stop.reason, stop.detail)
        except (tlv.TlvError, dol.DolError) as exc:
            self._end(TERMINATED, "card_data", str(exc))
        return self.result

    def _end(self, result, reason=None, detail=""):
        self.result, self.reason, self.detail = result, reason, detail

    # --- the transaction -----------------------------------------------------------------------

    def start(self):
        """Power-up to the first GENERATE AC; returns `result`."""
        return self._run(self._start)

    def _start(self):
        try:
            atr = self.reader.power_up(self.timeout_ms)
        except NoCard as exc:
            raise _Stop(TERMINATED, "card_removed", str(exc))
        except (CardMute, FrameError, CardProtocolError) as exc:
            # Book 4 11.2 / CUP: a chip that gives no usable answer to reset (none, or one the
            # reader cannot frame) falls back to the stripe.
            raise _Stop(FALLBACK, "card_mute", str(exc))
        except CardError as exc:
            raise _Stop(TERMINATED, "reader", str(exc))
        if not atr:
            raise _Stop(FALLBACK, "card_mute", "no ATR")
        self._select_and_initiate()
        self.aids = ()  # the AID list's parameters (about 1 KB): the chosen one is in term
        self._read_application_data()
        if self.listed is not None and self.listed(self.pan()):
            raise _Stop(TERMINATED, "blacklisted", self.pan()[:6])
        self.listed = None
        self._authenticate()
        # Not kept through the online exchange: the signed records' list, the CA keys' reader
        # (ca_key_from's holds the IC sets' module, which the caller lets go).
        self._static = []
        self.ca_key = _no_ca_key
        checks.restrictions(self.card, self.term)
        if self.card[0x82][0] & _AIP_CVM:
            self.cvm = checks.cardholder_verification(self.card, self.term, self.pin)
        else:
            self.term.set(0x9F34, b"\x3f\x00\x00")
            self.cvm = "none"
        if self.card[0x82][0] & _AIP_TRM:
            checks.risk_management(self.card, self.term, self._send)
        wanted = checks.action_analysis(self.card, self.term, self.offline_allowed)
        got = self._generate_ac(wanted, 0x8C)
        self._end({"ARQC": ONLINE, "TC": APPROVED, "AAC": DECLINED}[got])

    def _select_and_initiate(self):
        # Book 1 12 (selection) and Book 3 10.1 (GET PROCESSING OPTIONS): a GPO refused with
        # 6985 drops the application and selection starts over with the rest (Book 3 10.1).
        from app.emv import select

        aids = [
            (aid, (params or {}).get(0xDF01, b"\x00")[:1] == b"\x00") for aid, params in self.aids
        ]
        try:
            candidates = select.candidates(self._send, aids)
        except select.SelectionError as exc:
            raise _Stop(TERMINATED, exc.reason, str(exc))
        except _Stop as stop:
            if stop.reason == "card_removed":
                raise
            raise _Stop(FALLBACK, stop.reason, stop.detail)  # the chip cannot be read
        for _ in range(_MAX_SELECTIONS):
            if not candidates:
                raise _Stop(FALLBACK, "no_application", "no application in common")
            index = 0
            if len(candidates) > 1 or candidates[0].confirm:
                # Book 1 12.4: the cardholder chooses (or confirms the only one).
                if self.choose is None:
                    if candidates[0].confirm and len(candidates) == 1:
                        raise _Stop(TERMINATED, "cancelled", "confirmation needed")
                else:
                    index = self.choose([c.label or _hex(c.aid) for c in candidates])
                    if index is None or not 0 <= index < len(candidates):
                        raise _Stop(TERMINATED, "cancelled", "no application chosen")
            chosen = candidates.pop(index)
            fci = select.final(self._send, chosen)
            if fci is None:
                continue
            self.aid, self.label = chosen.aid, chosen.label
            params = {}
            for aid, entry in self.aids:
                if aid == chosen.terminal_aid:
                    params = entry or {}
            self.term.application(chosen.aid, params)
            self.term.set(0x84, chosen.aid)
            if self._processing_options(fci.get(0x9F38)):
                return
        raise _Stop(FALLBACK, "no_application", "every application refused")

    def _processing_options(self, pdol):
        # Book 3 10.1: GPO with the PDOL's data in template 83. False: 6985, try another.
        data = dol.build(pdol, self.term) if pdol else b""
        answer, sw = self._command(b"\x80\xa8\x00\x00", tlv.build(0x83, data))
        if sw == 0x6985:
            return False
        tag, value = self._answer(answer, sw, "GPO")
        if tag == 0x80:  # format 1: AIP and AFL
            if len(value) < 6 or (len(value) - 2) % 4:
                raise _Stop(TERMINATED, "card_data", "GPO format 1")
            self.card[0x82] = value[:2]
            self.card[0x94] = value[2:]
        elif tag == 0x77:
            tlv.collect(value, self.card)
        else:
            raise _Stop(TERMINATED, "card_data", "GPO template %X" % tag)
        aip, afl = self.card.get(0x82), self.card.get(0x94)
        if aip is None or len(aip) != 2 or afl is None or not afl or len(afl) % 4:
            raise _Stop(TERMINATED, "card_data", "AIP or AFL missing")
        return True

    def _read_application_data(self):
        # Book 3 10.2: READ RECORD of each AFL entry; records that ODA covers kept in order.
        afl = bytes(self.card[0x94])
        count = size = 0
        for i in range(0, len(afl), 4):
            sfi, first, last, signed = afl[i] >> 3, afl[i + 1], afl[i + 2], afl[i + 3]
            if not 1 <= sfi <= 30 or first == 0 or last < first or signed > last - first + 1:
                raise _Stop(TERMINATED, "card_data", "AFL entry %d" % (i // 4))
            for number in range(first, last + 1):
                record, sw = self._send(bytes((0x00, 0xB2, number, sfi << 3 | 4, 0x00)))
                if sw != 0x9000:
                    raise _Stop(TERMINATED, "card_status", "READ RECORD %04X" % sw)
                count += 1
                size += len(record)
                if count > _MAX_RECORDS or size > _MAX_DATA:
                    raise _Stop(TERMINATED, "card_data", "records over the terminal's bound")
                top = tlv.parse(record)
                if sfi <= 10 and (len(top) != 1 or top[0][0] != 0x70):
                    raise _Stop(TERMINATED, "card_data", "record %d of SFI %d" % (number, sfi))
                self._records.append(record)
                if sfi <= 10:
                    tlv.collect(top[0][1], self.card)
                if number < first + signed:
                    self._static.append((sfi, record))
        for tag in (0x5A, 0x5F24, 0x8C, 0x8D):  # mandatory (Book 3 7.2)
            if tag not in self.card:
                self.term.set_tvr(t.ICC_DATA_MISSING)
                raise _Stop(TERMINATED, "card_data", "no %X" % tag)

    def _authenticate(self):
        # Book 3 10.3: DDA when card and terminal both support it, else SDA; CDA is not
        # offered (9F33), so a CDA card authenticates by DDA.
        from app.emv import oda

        aip = self.card[0x82][0]
        mine = self.term.tags[0x9F33][2]
        if aip & _AIP_DDA and mine & 0x40:
            method = oda.DDA
        elif aip & _AIP_SDA and mine & 0x80:
            method = oda.SDA
        else:
            self.term.set_tvr(t.ODA_NOT_PERFORMED)
            return
        self.term.set_tsi(t.TSI_ODA)
        self.oda = "DDA" if method == oda.DDA else "SDA"
        if method == oda.SDA:
            self.term.set_tvr(t.SDA_SELECTED)
        today = self.term.tags[0x9A]
        rid = (self.aid or b"")[:5]
        index = self.card.get(0x8F)
        key = self.ca_key(rid, index[0]) if index is not None and len(index) == 1 else None
        try:
            static = oda.static_data(self._static, self.card[0x82], self.card.get(0x9F4A), method)
            issuer = oda.issuer_key(self.card, [key] if key else [], rid, today, method)
            if method == oda.SDA:
                self.term.set(0x9F45, oda.verify_sda(self.card, issuer, static))
                return
            icc = oda.icc_key(self.card, issuer, static, today)
            static = issuer = None
            ddol = self.card.get(0x9F49) or self.term.params.get(0xDF14)
            if ddol is None:
                raise oda.OdaError(oda.OdaError.DATA_MISSING, method)
            data = dol.build(ddol, self.term)
            answer, sw = self._command(b"\x00\x88\x00\x00", data)
            if sw != 0x9000:
                raise _Stop(TERMINATED, "card_status", "INTERNAL AUTHENTICATE %04X" % sw)
            top = tlv.parse(answer)
            signed = top[0][1] if top and top[0][0] == 0x80 else tlv.find(answer, 0x9F4B)
            self.term.set(0x9F4C, oda.verify_dda(icc, signed, data))
        except oda.OdaError as exc:
            self.term.tvr[0] |= exc.tvr  # the method's "failed" bit (and "data missing")
            self.oda_failure = exc.reason

    # --- GENERATE AC ---------------------------------------------------------------------------

    def _generate_ac(self, wanted, cdol_tag):
        # Book 3 9.3 / 6.5.5: GENERATE AC with CDOL1 (8C) or CDOL2 (8D); the answer's format 1
        # (80: CID ATC AC IAD) or 2 (77) read into self.ac. Returns what the card gave.
        data = dol.build(self.card[cdol_tag], self.term)
        answer, sw = self._command(bytes((0x80, 0xAE, _P1[wanted], 0x00)), data)
        tag, value = self._answer(answer, sw, "GENERATE AC")
        ac = {}
        if tag == 0x80:
            if len(value) < 11:
                raise _Stop(TERMINATED, "card_data", "GENERATE AC format 1")
            ac[0x9F27], ac[0x9F36], ac[0x9F26] = value[0:1], value[1:3], value[3:11]
            if len(value) > 11:
                ac[0x9F10] = value[11:]
        elif tag == 0x77:
            tlv.collect(value, ac)
        else:
            raise _Stop(TERMINATED, "card_data", "GENERATE AC template %X" % tag)
        for tag in (0x9F27, 0x9F36, 0x9F26):
            if tag not in ac:
                raise _Stop(TERMINATED, "card_data", "GENERATE AC without %X" % tag)
        self.ac = ac
        self.term.set_tsi(t.TSI_CARD_RISK)
        got = _CID.get(ac[0x9F27][0] & 0xC0)
        if got is None or _RANK[got] > _RANK[wanted] or (cdol_tag == 0x8D and got == "ARQC"):
            raise _Stop(TERMINATED, "card_data", "cryptogram %02X to %s" % (ac[0x9F27][0], wanted))
        return got

    # --- after the host ------------------------------------------------------------------------

    def complete(self, host55=None, response_code=None):
        """The host's answer (Book 3 10.9-10.10): `host55` its field 55 (bytes; 91, 71, 72)
        and `response_code` field 39; both None when the host could not be reached. Issuer
        authentication, scripts 71, the second GENERATE AC (8A the response code), scripts
        72. Returns `result`: APPROVED (TC) or DECLINED (AAC; `reason` "card_declined" when
        the host had approved, "host_declined" when it had not, "unable_online" when unable
        to go online: an AAC, unless `offline_allowed` and the default codes allow a TC)."""
        if self.result != ONLINE:
            return self.result
        return self._run(self._complete, host55, response_code)

    def _complete(self, host55, response_code):
        scripts = []
        issuer_data = None
        try:
            parsed = tlv.parse(host55) if host55 else ()
        except tlv.TlvError as exc:
            # The host's field 55 is not TLV: nothing of it can go to the card.
            raise _Stop(TERMINATED, "host_data", str(exc))
        if parsed:
            for tag, value in parsed:
                if tag == 0x91:
                    issuer_data = bytes(value)
                elif tag in (0x71, 0x72) and len(scripts) < _MAX_SCRIPTS:
                    scripts.append((tag, bytes(value)))
        if response_code is None:
            # Book 3 10.7: unable to go online, the default action codes decide -- when the
            # terminal may approve offline at all; else the card is told the decline.
            wanted = "AAC"
            if self.offline_allowed:
                wanted = checks.default_action(self.card, self.term)
            self.term.set(0x8A, b"Y3" if wanted == "TC" else b"Z3")
            host_approved = None
        else:
            self.term.set(0x8A, response_code.encode())
            host_approved = response_code in ("00", "10", "11")
            wanted = "TC" if host_approved else "AAC"
            if issuer_data is not None:
                self.term.set(0x91, issuer_data)
                self._issuer_authentication(issuer_data)
        self._scripts(scripts, 0x71)
        self.term.new_unpredictable_number()
        got = self._generate_ac(wanted, 0x8D)
        self._scripts(scripts, 0x72)
        if got == "TC":
            self._end(APPROVED)
        elif host_approved:
            self._end(DECLINED, "card_declined")
        elif host_approved is None:
            self._end(DECLINED, "unable_online")
        else:
            self._end(DECLINED, "host_declined")

    def _issuer_authentication(self, issuer_data):
        # Book 3 10.9: when the AIP says the card does it, and CDOL2 does not carry 91 to the
        # card, EXTERNAL AUTHENTICATE; a refusal sets "issuer authentication failed".
        if not self.card[0x82][0] & _AIP_ISSUER_AUTH:
            return
        for tag, _ in dol.entries(self.card[0x8D]):
            if tag == 0x91:
                return  # the card checks it inside the second GENERATE AC
        self.term.set_tsi(t.TSI_ISSUER_AUTH)
        _, sw = self._command(b"\x00\x82\x00\x00", issuer_data)
        if sw != 0x9000:
            self.term.set_tvr(t.ISSUER_AUTH_FAILED)

    def _scripts(self, scripts, kind):
        # Book 3 10.10: each issuer script command (86) in order; one refused stops its
        # script. DF31 gets a result byte (2x done, 1n failed at command n) and the script ID.
        for tag, script in scripts:
            if tag != kind:
                continue
            self.term.set_tsi(t.TSI_SCRIPT)
            ident = bytes(4)
            status = 0x20
            number = 0
            for inner, value in tlv.iterate(script):
                if inner == 0x9F18 and len(value) == 4:
                    ident = bytes(value)
                elif inner == 0x86:
                    number += 1
                    _, sw = self._send(bytes(value))
                    if sw >> 8 not in (0x90, 0x62, 0x63):
                        status = 0x10 | min(number, 15)
                        self.term.set_tvr(
                            t.SCRIPT_FAILED_BEFORE if kind == 0x71 else t.SCRIPT_FAILED_AFTER
                        )
                        break
            if len(self.scripts) < 5 * _MAX_SCRIPTS:
                self.scripts.append(status)
                self.scripts.extend(ident)

    def finish(self):
        """Power the card off (the UI then asks for it to be removed)."""
        try:
            self.reader.power_off()
        except CardError:
            pass

    # --- what the engine reads -----------------------------------------------------------------

    def value(self, tag):
        """The value of `tag` for field 55 or a receipt: the last GENERATE AC's, the
        terminal's, or the card's; None when none has it."""
        value = self.ac.get(tag)
        if value is None:
            value = self.term.get(tag)
        return value

    def field55(self, tags):
        """Field 55: each of `tags` that has a value, as TLV, in order."""
        out = bytearray()
        for tag in tags:
            value = self.value(tag)
            if value is not None:
                out.extend(tlv.build(tag, value))
        return bytes(out)

    def pan(self):
        return _hex(self.card[0x5A]).rstrip("F")

    def expiry(self):
        """YYMM of 5F24."""
        return _hex(self.card[0x5F24])[:4]

    def psn(self):
        """The PAN sequence number (5F34) as an int, or None."""
        value = self.card.get(0x5F34)
        return checks.bcd_number(value) if value is not None and len(value) else None

    def track2(self):
        """The track 2 equivalent data (57) as "PAN=YYMM...", or None."""
        value = self.card.get(0x57)
        if value is None:
            return None
        return _hex(value).rstrip("F").replace("D", "=")


def _no_ca_key(rid, index):
    return None


def _hex(data):
    out = []
    for byte in bytes(data):
        out.append("%02X" % byte)
    return "".join(out)
