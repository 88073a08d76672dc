# A fake acquirer host behind the bearer interface of app.comm.frames, for the engine's device
# tests (MicroPython). It decodes every frame the engine sends with app.txn.iso8583 and answers
# with real frames built the same way: MACs with the spec's MAK, the sign-on's field 62 the spec's
# synthetic 004 block (spec §7: TMK 70F2...B923 -> PIK 0123...3210, MAK C24A8FB57AA20123).
from binascii import hexlify
from binascii import unhexlify as h

from app.comm.frames import CommTimeout, ConnectFailed, LinkDown
from app.crypto import cipher, mac
from app.txn.iso8583 import Packer, reply_tpdu, unpack
from app.txn.respcodes import approved

MAK = h("C24A8FB57AA20123")
PIK = h("0123456789ABCDEFFEDCBA9876543210")
F62_004 = h(
    "4C555721128EF42B482EF01EB4BA66AF08D7B4FB"
    "96D605EA176B7E9E00000000000000000547DB3E"
    "3C16484E68C96499F51E7191F2F7040BD2B91CC5"
)
# The 003 block under the same TMK (built with pycryptodome, as in test_keys.py): the same
# PIK, a double-length MAK for X9.19.
F62_003 = h("4C555721128EF42B482EF01EB4BA66AF08D7B4FB96D605EA176B7E9EEAEEDC7392D2BE60A0D0F5B7")
MAK_003 = h("C24A8FB57AA201239876FEDCBA012345")
# Fields a response echoes from its request.
_ECHO = (2, 3, 4, 11, 14, 22, 23, 25, 41, 42, 49, 60, 61)


class FakeHost:
    """A bearer (connect, send, receive, exchange, close) answering as a CUP host.

    `requests`: (MTI, fields) of every frame received, in order; `headers` their headers.
    `fault(kind, mti=None, count=1)` spoils the answers to the next `count` requests of `mti`
    (any if None): no_answer, close (LinkDown), garbage (an undecodable frame), bad_mac,
    no_mac, wrong_mti, wrong_3, wrong_4, wrong_11, wrong_41, wrong_42, duplicate, decline:CODE,
    partial:AMOUNT (39 = 10 with that amount), unbalanced (0500), flags:XY (0500: the two flags
    of 48 as given), bad_cv (0800: a check value off by one bit), processing:N (header digit
    6), set:N=TEXT (field N of the answer set to TEXT), drop:N (field N left out). Answers to
    MACed requests that approve or carry a balance (54) are MACed, as a host must.
    `on_request(mti, fields)` is called as each frame arrives, before the answer is made.
    `down = True`: connect fails. `extra`: {field: value} added to the answers of 0100 and
    0200 (field 55 of an issuer's answer to a chip card).

    The acquirer profile it answers with: `field62` (the sign-on's key block, F62_004), `mak`
    (the MAK inside it, for its MACs), `mac_method` ("cup", "x9.19", "x9.19-hex"), `lri`
    (frames carry the 33-byte LRI header: it expects one and echoes it).

    `book`: a HostBook, for a host that remembers (STANs, approvals, settled batches) and
    answers by it. `power`: a callable that is False once the terminal's power is off: a
    frame it would send then raises PowerOff (a terminal without power sends nothing).
    """

    def __init__(self):
        self.requests = []
        self.headers = []  # the 12-digit message header of each request, in order
        self.cancel = None  # what the terminal's watch() gave (this host never waits)
        self.on_request = None
        self.down = False
        self.connects = 0
        self.connected = False
        self.batch = 1
        self.field62_360 = None
        self._faults = []
        self._queue = []
        self._serial = 0
        self._packer = Packer()
        self.field62 = F62_004
        self.mak = MAK
        self.mac_method = "cup"
        self.lri = False
        self.book = None
        self.power = None
        self.extra = {}  # fields added to the answer of a financial request (55: a chip's)
        # The IC sets it downloads (0820/0800 372/370/371, 382/380/381, docs/iso8583.md §13):
        # each entry's TLV; `ic_page` entries a query's answer; `ic_after_capk`: the header
        # digit 6 of the answer to the CA keys' end (5: the IC parameters next).
        self.capks = []
        self.aids = []
        self.ic_page = 4
        self.ic_after_capk = 0
        # The black list (0800 390/391): its entries as sent (b"06622202"), `ic_page` an
        # answer; the contactless parameters (0800 394/395): one entry's TLV, or None.
        # `after_end`: the header digit 6 of the answer to an end (60.3 -> digit).
        self.blacklist = []
        self.contactless = None
        self.after_end = {}

    def fault(self, kind, mti=None, count=1):
        self._faults.append([kind, mti, count])

    def _take(self, mti):
        taken = []
        for item in self._faults:
            if item[2] and (item[1] is None or item[1] == mti):
                item[2] -= 1
                taken.append(item[0])
        return taken

    # --- bearer interface -------------------------------------------------------------------

    def connect(self):
        if self.down:
            raise ConnectFailed("host down")
        if not self.connected:
            self.connects += 1
        self.connected = True

    def close(self):
        self.connected = False
        self._queue = []

    def watch(self, cancel):
        self.cancel = cancel

    def send(self, frame):
        if self.power is not None and not self.power():
            raise PowerOff()
        if not self.connected:
            raise LinkDown("not connected")
        msg = unpack(bytes(frame), self.lri)
        fields = dict(msg.fields)
        self.requests.append((msg.mti, fields))
        self.headers.append(msg.header)
        if self.on_request is not None:
            self.on_request(msg.mti, fields)
        faults = self._take(msg.mti)
        if self.book is not None:
            faults.extend(self.book.decide(msg.mti, fields))
        answer = self._answer(msg, fields, faults)
        if "no_answer" in faults:
            return
        if "close" in faults:
            self.connected = False
            return
        self._queue.append(answer)
        if "duplicate" in faults:
            self._queue.append(answer)

    def receive(self, timeout_ms):
        if self._queue:
            return self._queue.pop(0)
        if not self.connected:
            raise LinkDown("connection closed by the host")
        raise CommTimeout("no answer")

    def exchange(self, frame, timeout_ms):
        self.send(frame)
        return self.receive(timeout_ms)

    # --- answers ----------------------------------------------------------------------------

    def _answer(self, msg, req, faults):
        mti = msg.mti
        resp = {}
        for n in _ECHO:
            if n in req:
                resp[n] = req[n]
        self._serial += 1
        resp[12] = "103015"
        resp[13] = "0520"
        resp[39] = "00"
        code60 = req.get(60, "")[8:11]
        processing = 0
        if code60[:2] in ("37", "38"):
            processing = self._ic(code60, req, resp)
        elif code60 in ("390", "391", "394", "395"):
            processing = self._downloads(code60, req, resp)
        elif mti == "0800" and code60 != "360":
            resp[37] = "052010%06d" % self._serial
            resp[60] = "00%06d%s" % (self.batch, code60)
            resp[62] = self.field62
        elif mti == "0800":
            if self.field62_360:
                resp[62] = self.field62_360
        elif mti in ("0100", "0200", "0220", "0221", "0400"):
            resp[37] = "052010%06d" % self._serial
            resp[38] = req.get(38) or "%06d" % (100000 + self._serial)
            if mti in ("0100", "0200"):
                resp.update(self.extra)
            if req.get(3) == "310000":
                resp[54] = "1002156C000000123456"
        elif mti == "0500":
            totals = req[48]
            flags = "21" if "unbalanced" in faults else "11"
            for kind in faults:
                if kind.startswith("flags:"):
                    flags = kind[6:]
            resp[48] = totals[:30] + flags[0] + totals[31:61] + flags[1]
        for kind in faults:
            if kind.startswith("decline:"):
                resp[39] = kind[8:]
                resp.pop(38, None)
            elif kind.startswith("partial:"):
                resp[39] = "10"
                resp[4] = "%012d" % int(kind[8:])
            elif kind.startswith("processing:"):
                processing = int(kind[11:])
            elif kind.startswith("wrong_"):
                number = kind[6:]
                if number == "mti":
                    mti = "%04d" % (int(mti) + 20)
                elif number in ("41", "42"):
                    resp[int(number)] = "99999999" if number == "41" else "999999999999999"
                else:
                    resp[int(number)] = "%0*d" % (len(req[int(number)]), int(req[int(number)]) + 1)
            elif kind.startswith("set:"):
                number, _, text = kind[4:].partition("=")
                resp[int(number)] = text
            elif kind.startswith("drop:"):
                resp.pop(int(kind[5:]), None)
            elif kind == "bad_cv":
                block = bytearray(F62_004)
                block[36] ^= 1
                resp[62] = bytes(block)
        # A repeat (0221) is answered as the first was: 0230.
        resp_mti = "%04d" % (int(mti) + 10 - (mti[3] == "1"))
        sign = None
        if (
            (approved(resp[39]) or 54 in resp)
            and resp_mti in ("0110", "0210", "0230", "0410", "0630")
            and "no_mac" not in faults
        ):

            def sign(mab):
                code = self.mac(mab)
                if "bad_mac" in faults:
                    code = bytes((code[0] ^ 1,)) + code[1:]
                return code

        header = msg.header[:5] + str(processing) + msg.header[6:]
        if self.book is not None:
            self.book.answered(mti, req, resp)
        frame = bytes(
            self._packer.pack(resp_mti, resp, reply_tpdu(msg.tpdu), header, sign, msg.lri)
        )
        if "garbage" in faults:
            frame = frame[:-3] + b"\x00\x00\x00\x00"  # LEN now lies: undecodable
        return frame

    def _ic(self, code60, req, resp):
        # The IC downloads: the list a page at a time, one entry, the end.
        entries = self.capks if code60[:2] == "37" else self.aids
        if code60[2] == "2":
            start = int(req[62][1:3])
            page = entries[start : start + self.ic_page]
            more = start + len(page) < len(entries)
            listed = bytearray(b"2" if more else b"1")
            for entry in page:
                found = _tlv_items(entry)
                listed += _tlv(0x9F06, found[0x9F06])
                if 0x9F22 in found:
                    listed += _tlv(0x9F22, found[0x9F22]) + _tlv(0xDF05, found[0xDF05])
            resp[62] = bytes(listed)
        elif code60[2] == "0":
            asked = _tlv_items(req[62])
            resp[62] = b"0"
            for entry in entries:
                found = _tlv_items(entry)
                if found[0x9F06] == asked[0x9F06] and found.get(0x9F22) == asked.get(0x9F22):
                    resp[62] = b"1" + entry
        elif code60 == "371":
            return self.ic_after_capk
        return self.after_end.get(code60, 0)

    def _downloads(self, code60, req, resp):
        # The black list a page at a time, the contactless parameters, their ends.
        if code60 == "390":
            start = int(req[62][1:4])
            page = self.blacklist[start : start + self.ic_page]
            more = start + len(page) < len(self.blacklist)
            resp[62] = (b"2" if more else b"1" if self.blacklist else b"0") + b"".join(page)
        elif code60 == "394":
            resp[62] = b"0" if self.contactless is None else b"1" + self.contactless
        return self.after_end.get(code60, 0)

    def mac(self, mab):
        """The MAC over `mab` the host computes (its mac_method, its MAK)."""
        if self.mac_method == "cup":
            return mac.cup_mac(cipher.new("DES" if len(self.mak) == 8 else "3DES", self.mak), mab)
        key = self.mak if len(self.mak) == 16 else self.mak + self.mak
        code = mac.retail_mac(key, mab)
        return hexlify(code[:4]).upper() if self.mac_method == "x9.19-hex" else code

    def of(self, mti):
        """Fields of the requests of `mti` received so far."""
        return [fields for m, fields in self.requests if m == mti]


def _tlv(tag, value):
    return (
        (bytes((tag >> 8, tag & 0xFF)) if tag > 0xFF else bytes((tag,)))
        + (bytes((len(value),)) if len(value) < 0x80 else bytes((0x81, len(value))))
        + value
    )


def _tlv_items(data):
    from app.store.icsets import tlv

    return tlv(data)


def capk(rid, index, modulus, exponent=b"\x03", expiry=b"20301231", check=None):
    """A CA key entry's TLV as a host sends it (DF03: its SHA-1 check value, or `check`)."""
    from app.txn.icdownload import ca_check_value

    if check is None:
        check = ca_check_value(rid, index, modulus, exponent)
    return b"".join(
        (
            _tlv(0x9F06, rid),
            _tlv(0x9F22, bytes((index,))),
            _tlv(0xDF05, expiry),
            _tlv(0xDF06, b"\x01"),
            _tlv(0xDF07, b"\x01"),
            _tlv(0xDF02, modulus),
            _tlv(0xDF04, exponent),
            _tlv(0xDF03, check),
        )
    )


def aid_entry(aid, floor_limit=b"\x00\x00\x00\x00"):
    """An AID entry's TLV (a few of its parameters: 9F09, 9F1B, DF18)."""
    return b"".join(
        (
            _tlv(0x9F06, aid),
            _tlv(0x9F09, b"\x00\x30"),
            _tlv(0x9F1B, floor_limit),
            _tlv(0xDF18, b"\x01"),
        )
    )


def black_entries(*texts):
    """Black list entries as a host sends them (layout prefix): LL + the digits."""
    return [b"%02d%s" % (len(text), text) for text in texts]


def contactless_limits(floor=50000, limit=500000, cvm=100000):
    """The contactless parameters' TLV: DF19, DF20, DF21 (fen) as 12 BCD digits."""

    def bcd(fen):
        return bytes(int(("%012d" % fen)[i : i + 2], 16) for i in range(0, 12, 2))

    return _tlv(0xDF19, bcd(floor)) + _tlv(0xDF20, bcd(limit)) + _tlv(0xDF21, bcd(cvm))


class PowerOff(Exception):
    """The terminal's power went off: what it was about to send never leaves."""


# Kinds (60.1) whose field 61 names a transaction they cancel (spec §3.1): sale void,
# pre-auth cancel, completion void.
_CANCELS = (23, 11, 21)
# Sale, completion, completion notice, offline chip sale (app.store.journal's totals).
_DEBITS = (22, 20, 24, 36)
_OFFLINE = 36  # an offline chip sale's upload (0200, 60.1 = 36)
_REFUND = 25


class HostBook:
    """What an acquirer host remembers of one terminal, for FakeHost.book: the STANs it
    received, each financial approval and what became of it, the batches it settled. It
    answers as a host that keeps books (the rules of tools' host simulator, in small):

    - a STAN received twice (field 11 of anything but an 0400): 94, and noted in `reused`;
      but an offline sale's upload (0200, 60.1 36) repeated with the batch, STAN and amount
      of one it booked gets the first answer (00), booked once and counted in `repeats`
      (tools' host simulator does the same; 94 is its answer to the same card transaction
      under another STAN);
      but an advice (0220, 0221) repeated with the batch, STAN and amount of one it answered
      is answered as the first time (the same code, RRN and auth code), booked once and
      counted in `repeats`; a repeat (0221) of an advice it never saw is booked as new;
      and a script result notice (0620) repeated with its STAN for the same transaction
      (61) is answered 00, counted in `repeats`;
    - `ic_details` counts each IC detail (0320, 60.3 203/205) by its field 55, `notices`
      keeps each script result notice's 61 and STAN;
    - a financial request in a batch already settled: 77; a cancel (sale void, pre-auth
      cancel, completion void) of a transaction not approved in an open batch: 25;
    - an 0400 reverses the approval it names (a cancel's original is standing again): 00;
      already reversed, or in a settled batch: 25; unknown: 00 (nothing to undo);
    - an 0500 closes its batch: flag 1 when the terminal's totals are the host's, else 2 with
      the host's own (spec §3.4); `unbalanced = True` answers 2 once whatever the totals.

    `txns`: {(batch, STAN): [kind, amount, status]} with status "approved", "cancelled" or
    "reversed"; `settled`: {batch: field 48 answered}. `copy()` for a snapshot. The book
    decides before FakeHost.fault's faults are applied and does not see them: a request the
    host answers with a decline fault is booked approved all the same."""

    def __init__(self):
        self.txns = {}
        self.refs = {}  # (batch, STAN) of a cancel -> (batch, STAN) of what it cancelled
        self.settled = {}
        self.stans = {}
        self.reused = []
        self.unbalanced = False
        self.advices = {}  # (batch, STAN) -> [amount, 39, 37, 38] of the answer given
        self.repeats = 0
        self.ic_details = {}  # field 55 of each IC detail (0320, 60.3 203/205) -> times sent
        self.notices = {}  # field 61 of each script result notice (0620) -> its STAN

    def copy(self):
        other = HostBook()
        other.txns = {key: list(value) for key, value in self.txns.items()}
        other.refs = dict(self.refs)
        other.settled = dict(self.settled)
        other.stans = dict(self.stans)
        other.reused = list(self.reused)
        other.unbalanced = self.unbalanced
        other.advices = {key: list(value) for key, value in self.advices.items()}
        other.repeats = self.repeats
        other.ic_details = dict(self.ic_details)
        other.notices = dict(self.notices)
        return other

    def totals(self, batch):
        """(debit amount, count, credit amount, count) of `batch` as the host has it."""
        debit = debit_count = credit = credit_count = 0
        for (b, _), (kind, amount, status) in self.txns.items():
            if b != batch or status != "approved":
                continue
            if kind in _DEBITS:
                debit += amount
                debit_count += 1
            elif kind == _REFUND:
                credit += amount
                credit_count += 1
        return debit, debit_count, credit, credit_count

    def approvals(self):
        """(batch, STAN) of every approval standing or cancelled in a batch not settled: what
        the terminal must have journaled (or be about to reverse)."""
        return [
            key
            for key, value in self.txns.items()
            if key[0] not in self.settled and value[2] != "reversed"
        ]

    def decide(self, mti, req):
        """The faults (FakeHost.fault's words) that make the answer to `mti` what this host
        says."""
        stan = req.get(11)
        f60 = req.get(60, "")
        batch = int(f60[2:8]) if len(f60) >= 8 else 0
        if mti in ("0220", "0221") and stan is not None:
            first = self.advices.get((batch, int(stan)))
            if first is not None and first[0] == int(req.get(4, "0")):
                self.repeats += 1
                same = ["set:39=" + first[1]]
                for number, value in ((37, first[2]), (38, first[3])):
                    same.append("set:%d=%s" % (number, value) if value else "drop:%d" % number)
                return same
            if mti == "0221" and first is None:
                mti = "0220"  # the first never arrived: booked as new
        if mti == "0320" and f60[8:11] in ("203", "205"):
            field55 = bytes(req[55])
            self.ic_details[field55] = self.ic_details.get(field55, 0) + 1
        if mti == "0620" and self.notices.get(req.get(61)) == stan:
            self.repeats += 1  # sent again with its STAN: answered, kept once
            return []
        if mti == "0620":
            self.notices[req.get(61)] = stan
        if mti == "0200" and f60[:2] == "36" and stan is not None:
            first = self.txns.get((batch, int(stan)))
            if first is not None and first[0] == _OFFLINE and first[1] == int(req.get(4, "0")):
                self.repeats += 1
                return []
        if stan is not None and mti != "0400":
            if stan in self.stans:
                self.reused.append(int(stan))
                return ["decline:94"]
            self.stans[stan] = mti
        if mti == "0500":
            return self._settle(batch, req[48])
        if mti == "0400":
            return self._reverse((batch, int(stan)))
        if mti not in ("0100", "0200", "0220") or req.get(3) == "310000":
            return []
        if batch in self.settled:
            return ["decline:77"]
        kind = int(f60[:2])
        key = (batch, int(stan))
        if kind in _CANCELS:
            f61 = req.get(61, "")
            original = (int(f61[:6]), int(f61[6:12]))
            entry = self.txns.get(original)
            if entry is None or entry[2] != "approved" or original[0] in self.settled:
                return ["decline:25"]
            entry[2] = "cancelled"
            self.refs[key] = original
        self.txns[key] = [kind, int(req.get(4, "0")), "approved"]
        return []

    def answered(self, mti, req, resp):
        """The answer FakeHost made to `mti` with fields `req`: an advice's is remembered, so
        that a repeat gets the same."""
        if mti in ("0220", "0221") and 11 in req:
            f60 = req.get(60, "")
            key = (int(f60[2:8]), int(req[11]))
            if key not in self.advices:
                self.advices[key] = [
                    int(req.get(4, "0")),
                    resp[39],
                    resp.get(37, ""),
                    resp.get(38, ""),
                ]

    def _reverse(self, key):
        entry = self.txns.get(key)
        if entry is None:
            return []
        if entry[2] == "reversed" or key[0] in self.settled:
            return ["decline:25"]
        entry[2] = "reversed"
        original = self.refs.get(key)
        if original is not None:
            self.txns[original][2] = "approved"
        return []

    def _settle(self, batch, field48):
        ours = "%012d%03d%012d%03d" % self.totals(batch)
        flag = "1"
        if field48[:30] != ours or self.unbalanced:
            flag = "2"
            self.unbalanced = False
        self.settled[batch] = answer = ours + flag + "0" * 30 + "1"
        return ["set:48=" + answer]
