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
    6), set:N=TEXT (field N of the answer set to TEXT). Answers to MACed requests that approve
    or carry a balance (54) are MACed, as a host must. `on_request(mti, fields)` is called as
    each frame arrives, before the answer is made. `down = True`: connect fails.

    The acquirer profile it answers with: `field62` (the sign-on's key block, F62_004), `mak`
    (the MAK inside it, for its MACs), `mac_method` ("cup", "x9.19", "x9.19-hex"), `lri`
    (frames carry the 33-byte LRI header: it expects one and echoes it).
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
        if not self.connected:
            raise LinkDown("not connected")
        msg = unpack(bytes(frame), self.lri)
        fields = dict(msg.fields)
        self.requests.append((msg.mti, fields))
        self.headers.append(msg.header)
        if self.on_request is not None:
            self.on_request(msg.mti, fields)
        faults = self._take(msg.mti)
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
        if mti == "0800" and code60 != "360":
            resp[37] = "052010%06d" % self._serial
            resp[60] = "00%06d%s" % (self.batch, code60)
            resp[62] = self.field62
        elif mti == "0800":
            if self.field62_360:
                resp[62] = self.field62_360
        elif mti in ("0100", "0200", "0220", "0400"):
            resp[37] = "052010%06d" % self._serial
            resp[38] = req.get(38) or "%06d" % (100000 + self._serial)
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
            elif kind == "bad_cv":
                block = bytearray(F62_004)
                block[36] ^= 1
                resp[62] = bytes(block)
        resp_mti = "%04d" % (int(mti) + 10)
        sign = None
        if (
            (approved(resp[39]) or 54 in resp)
            and resp_mti in ("0110", "0210", "0230", "0410")
            and "no_mac" not in faults
        ):

            def sign(mab):
                code = self.mac(mab)
                if "bad_mac" in faults:
                    code = bytes((code[0] ^ 1,)) + code[1:]
                return code

        header = msg.header[:5] + str(processing) + msg.header[6:]
        frame = bytes(
            self._packer.pack(resp_mti, resp, reply_tpdu(msg.tpdu), header, sign, msg.lri)
        )
        if "garbage" in faults:
            frame = frame[:-3] + b"\x00\x00\x00\x00"  # LEN now lies: undecodable
        return frame

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
