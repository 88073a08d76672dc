"""The transaction engine of one acquirer application (docs/transactions.md; spec §3, §6).

    engine = Engine(1, store, storage_key, TcpBearer(host, port), events=show)
    result = engine.run(Request("sign_on"))
    result = engine.run(Request("sale", amount=1, card=Card(track2=t2), pin=pin_digits))
    original = engine.find_original(12)            # the UI shows it before the void
    result = engine.run(Request("sale_void", original_stan=12, supervisor_password=typed))
    result.approved, result.response_code, result.message_en, result.receipt_lines

Requests: sign_on, sign_off, echo, settlement, and the financial kinds of app.txn.messages
(balance, sale, sale_void, refund, preauth, preauth_cancel, completion, completion_notice,
completion_void). `run` never raises for anything the host or the line does: every outcome is
a Result, with `error` naming a terminal-side outcome (app.txn.respcodes.terminal) or
`response_code` the host's.

What the engine guarantees (spec §6):
- STAN and batch live in the record store ("countersN"); the STAN is incremented and saved
  before a request leaves, 999999 wraps to 000001; the batch comes from the host at sign-on
  (60.2) and advances after settlement. Where the pending reversal has its log in the
  journal region (app.txn.reversal), a reversal-triggering request's STAN is saved in its
  pre-send record instead, and the engine starts from the later of the two; sign-on,
  sign-off, settlement and its upload, a balance inquiry, a refund, a completion notice
  and everything in training still save the counters.
- A reversal-triggering request is preceded by its pending reversal's record on flash, the
  pre-send record (app.txn.reversal); no answer, a broken line or an invalid answer turn it
  to 98, a bad answer MAC to A0, a journal failure after an approval to 06; the approval's
  journal record ends it, and a decline (or any answer that owes nothing) writes an end
  record. It is sent before the next financial request and before settlement,
  `reversal_retries + 1` times, then dropped with a note ("reversal failed").
- A refund or completion notice (0220) is preceded by its advice record (app.txn.advice):
  kept while its answer is not journaled, sent again with its STAN (parameter
  advice_repeat: 0220, 0221, off) before the next financial request and before settlement,
  which it holds back ("advice_pending") until delivered; dropped once journaled or declined.
- Every answer is validated (app.txn.messages.check_response); an invalid one counts as none.
- After a sign-off (persisted, record "signoffN", before the 0820 leaves) nothing but a
  sign-on or an echo test goes until a sign-on succeeds.
- Nothing is sent when the request cannot be right: a keyed card number failing its Luhn
  check, keys that do not open with the storage key, a settlement of an empty batch the
  parameters do not allow.
- The acquirer profile (docs/iso8583.md §12) is read from the application's parameters:
  field 62 layout, field 60 length and IC digits, field 26, the MAC method, the LRI header
  on dial-up, the empty-batch and batch-end rules.
- The bearer is closed at the end of every run and after any failed exchange, so a late or
  duplicated answer can never be taken for the next one; a byte-identical copy of the
  previous answer on the same connection is skipped.
- CANCEL while dialling or waiting for the answer (the bearer's `cancel`, app.comm.frames)
  ends the run as the line failing would: nothing sent, nothing kept ("cancelled"); a
  request already sent is reversed (98, "cancelled_reversal").
- After out_of_service() (a failed power-up self-test) every request is refused.
- Training (`training=True`): every message's header says "test" (digit 5 = 1, spec §1);
  financial transactions go into a training journal and a training reversal record of their
  own, so that they never reach the real batch, its totals or its settlement; a training
  settlement clears the training journal and leaves the batch number as it is.

Memory: one Packer (1 KB) per engine, reused; the journal is streamed, never loaded whole.
"""

import binascii
import os
import struct

from app import message
from app.comm.frames import CommCancelled, CommError, CommTimeout, ConnectFailed
from app.crypto import pinblock
from app.crypto.mac import cup_mac, retail_mac_halves
from app.crypto.seal import SealError
from app.keys.slots import KeyCheckError, KeyStore, KeyStoreError, NoKeyError
from app.store.journal import TransactionJournal
from app.store.params import ParamStore
from app.txn import messages as txnmsg
from app.txn.api import (  # noqa: F401 (the engine's API)
    Card,
    EngineError,
    PinBlock,
    Request,
    Result,
    luhn,
)
from app.txn.clock import Clock
from app.txn.iso8583 import DecodeError, Packer, subfields, unpack
from app.txn.reversal import PendingReversal

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731


# Messages, numbered from 0 by _M_* and formatted by _text() (app.message: one literal, not a
# heap object per message: these were 1.2 KB of the module's heap on the 64-bit port).
_M_MISSING = const(0)
_M_NO_PARAMETERS = const(1)
_M_UNDECODABLE = const(2)
_M_DATE = const(3)
_M_TIME = const(4)
_M_UNKNOWN = const(5)
_M_NO_KEYS = const(6)
_M_BATCH_KEPT = const(7)
_M_DUE_FAILED = const(8)
_M_SIGNED_ON_AGAIN = const(9)
_M_SIGN_ON_DUE = const(10)
_M_HOST_PARAMS = const(11)
_M_DOWNLOAD = const(12)
_M_NOT_SUPPORTED = const(13)
_M_REQUEST_FAILED = const(14)
_M_REVERSAL_ACCEPTED = const(15)
_M_REVERSAL_REFUSED = const(16)
_M_REVERSAL_DROPPED = const(17)
_M_NEED_TRACE = const(18)
_M_ORIGINAL_IS = const(19)
_M_NEED_AUTH = const(20)
_M_NEED_RRN = const(21)
_M_NEED_DATE = const(22)
_M_AMOUNT = const(23)
_M_NEED_AMOUNT = const(24)
_M_NEED_CARD = const(25)
_M_PIN_NEEDS_CARD = const(26)
_M_SM4_PIN = const(27)
_M_QUEUED = const(28)
_M_NO_LRI = const(29)
_M_LRI = const(30)
_M_LUHN = const(31)
_M_ROOM = const(32)
_M_ADVICE_KEPT = const(33)
_M_BLACKLISTED = const(34)
_MESSAGES = (
    "|parameter %s is missing"  # _M_MISSING
    "|application %d has no parameters: load them first"  # _M_NO_PARAMETERS
    "|undecodable answer: %s"  # _M_UNDECODABLE
    "|%04d%02d%02d"  # _M_DATE
    "|%02d%02d%02d"  # _M_TIME
    "|unknown request %r"  # _M_UNKNOWN
    "|sign-on answer carries no keys (62)"  # _M_NO_KEYS
    "|host batch %s kept as %06d until settlement"  # _M_BATCH_KEPT
    "|the sign-on the host asked for failed: %s"  # _M_DUE_FAILED
    "|signed on again, as the host asked"  # _M_SIGNED_ON_AGAIN
    "|host asked for sign-on: done before the next transaction"  # _M_SIGN_ON_DUE
    "|hostparams%d"  # _M_HOST_PARAMS
    "|parameter download: %d bytes"  # _M_DOWNLOAD
    "|host processing requirement %d: not supported"  # _M_NOT_SUPPORTED
    "|host request %d failed: %s"  # _M_REQUEST_FAILED
    "|reversal of %06d (reason %s) accepted"  # _M_REVERSAL_ACCEPTED
    "|reversal of %06d refused by the host (%s)"  # _M_REVERSAL_REFUSED
    "|reversal of %06d failed after %d attempts: dropped"  # _M_REVERSAL_DROPPED
    "|the original's trace number is needed"  # _M_NEED_TRACE
    "|original is %s"  # _M_ORIGINAL_IS
    "|the pre-authorisation's auth code is needed"  # _M_NEED_AUTH
    "|the original's reference number is needed"  # _M_NEED_RRN
    "|the original's date (MMDD) is needed"  # _M_NEED_DATE
    "|amount must be above 0"  # _M_AMOUNT
    "|the pre-authorisation's amount is needed"  # _M_NEED_AMOUNT
    "|card data is needed"  # _M_NEED_CARD
    "|a PIN needs the card"  # _M_PIN_NEEDS_CARD
    "|no PIN block format for SM4 keys"  # _M_SM4_PIN
    "|reversal of %06d queued (%s)"  # _M_QUEUED
    "|answer has no LRI header: dialup.lri is on, the host sends none"  # _M_NO_LRI
    "|answer carries an LRI header: the host wants dialup.lri on"  # _M_LRI
    "|%s fails the Luhn check"  # _M_LUHN
    "|batch capacity or flash reached: the journal holds %d records"  # _M_ROOM
    "|%s %06d kept: sent again with its STAN before the next transaction"  # _M_ADVICE_KEPT
    "|card %s... is on the acquirer's black list: nothing sent"  # _M_BLACKLISTED
    "|"
)


def _text(number, args=None):
    return message(_MESSAGES, number, args)


# The batch capacity (docs/transactions.md, "Batch capacity"): records of the journal when
# the parameter batch_capacity is absent (about 280 KB of the ESP32's 1 MB partition), the
# last records kept for reversals (a pending one, and this transaction's own), and the flash
# blocks a transaction and a settlement need free (LittleFS gives each file written a block).
_CAPACITY = const(2000)
_RESERVE = const(2)
_FLASH_BLOCKS = const(4)
# The free blocks are counted (statvfs: LittleFS walks the whole filesystem, about an eighth
# of a sale's time) when first asked and after a settlement; between counts the engine keeps
# a bound, less _GROWTH blocks a request: the most one can keep for good (the journal's file
# into a new block, a reversal's or an advice's record left pending, a directory's metadata
# pair split in two). Counted again once the bound nears the reserve.
_GROWTH = const(4)


_out_of_service = None  # the self-test's failures, once out_of_service() was called


def out_of_service(reason):
    """Refuse every request from now on, until the terminal restarts: the power-up self-test
    failed (`reason` names the algorithms), and a terminal whose cryptography cannot be
    trusted must not transact (the UI says so on screen too)."""
    global _out_of_service
    _out_of_service = reason or "self-test failed"


def _closing(engine):
    # The name of the record of a settlement under way (app.txn.settlement).
    return ("trainclosing%d" if engine.training else "closing%d") % engine.app


def later(stan, other):
    """The later of two STANs (0: none), 999999 wrapping to 000001: a terminal never uses
    half a million between two saves of either."""
    if not stan or 0 < (other - stan) % 999999 < 500000:
        return other or stan
    return stan


def value_of(params, name):
    """A parameter that must be there (the parameter checks make sure it is)."""
    value = params[name]
    if value is None:
        raise ValueError(_text(_M_MISSING, name))
    return value


def _comm_reason(exc, result):
    if isinstance(exc, CommCancelled):
        return "cancelled_reversal" if result.reversal_note else "cancelled"
    if isinstance(exc, ConnectFailed):
        return "connect"
    if isinstance(exc, CommTimeout):
        return "timeout"
    return "link"


class Engine:
    """The transaction engine of acquirer application `app_index` (1..8).

    `store` (app.store.records.RecordStore) holds parameters, keys, counters and the pending
    reversal; the journal sits beside them. `storage_key` seals keys, card numbers and the
    reversal record. `bearer`: app.comm.frames interface. `clock`: app.txn.clock.Clock
    (default: one on `store`). `events(name, value)`: called with "connecting", "sending"
    (MTI), "received" (MTI), "duplicate" (MTI), "reversal" (STAN), "advice" (STAN),
    "signing_on", "uploading"
    (count) as the run goes. `receive_timeout_ms` overrides the parameter (tests, `poskit txn
    --timeout`). `training`: the terminal is in training mode (module docstring). ValueError
    if the application has no parameters.
    """

    def __init__(
        self,
        app_index,
        store,
        storage_key,
        bearer,
        *,
        clock=None,
        events=None,
        keys=None,
        receive_timeout_ms=None,
        training=False,
    ):
        params = ParamStore(store)
        term = params.load(0)
        app = params.load(app_index)
        if term is None or app is None:
            raise ValueError(_text(_M_NO_PARAMETERS, app_index))
        self.params = app
        self.app = app_index
        self.terminal_id = app["terminal_id"]
        self.merchant_id = app["merchant_id"]
        self._store = store
        self._bearer = bearer
        self._storage_key = storage_key
        self._own_keys = keys is None
        self.keys = keys or KeyStore(store, storage_key)
        self.training = training
        self.journal = TransactionJournal(
            store.root, app_index, storage_key, training, getattr(store, "journal_region", None)
        )
        self._reversal = PendingReversal(store, app_index, storage_key, training, self.journal)
        # The pending advice's record (app.txn.advice, imported only when there is one).
        self.advice_name = ("trainadv%d" if training else "advice%d") % app_index
        self.clock = clock or Clock(store)
        self._events = events
        self._packer = Packer()
        # The application's own bearer (app.comm.bearers.chosen), else the terminal's.
        kind = app["bearer"] or value_of(term, "bearer")
        tpdu = app["tpdu"] or value_of(term, kind + ".tpdu")
        self._tpdu = binascii.unhexlify(tpdu)
        # Header digit 5, the terminal status (spec §1): 0 normal, 1 test (training).
        status = "10" if training else "00"
        version, subversion = value_of(app, "header_version"), value_of(app, "header_subversion")
        self._header = version + status + subversion
        self._timeout = receive_timeout_ms or value_of(term, "receive_timeout") * 1000
        self._retries = value_of(term, "reversal_retries")
        # The 33-byte LRI dial header (spec §1): "LRI", the length of the rest (28), then
        # ANI, DNIS and trailer, which the dial-up access equipment fills in on the way (the
        # terminal knows neither number): zeros here. On every frame of a dial-up terminal
        # whose parameters ask for it, whatever carries it (`poskit txn --host` too).
        self._lri = None
        if kind == "dialup" and term["dialup.lri"]:
            self._lri = b"LRI\x00\x1c" + bytes(28)
        # The terminal-wide set is not kept (about 2 KB of heap): the supervisor password
        # check reads it again when a void or refund asks.
        term = None
        use_buffer = getattr(bearer, "use_buffer", None)
        if use_buffer is not None:
            # A request is sent before its answer is read: one buffer serves both.
            use_buffer(self._packer.buffer)
        self._counters = "counters%d" % app_index
        self.stan, self.batch = 0, 1
        record = store.load(self._counters)
        if record is not None:
            self.stan, self.batch = struct.unpack(">II", record[1])
        # A sale's STAN is saved in its pre-send record alone (app.txn.reversal): the last one
        # used is the later of that and the counters'. Training saves the counters every
        # time, but reads the application's own log for the sales made before it.
        log = PendingReversal(store, app_index, storage_key) if training else self._reversal
        self.stan = later(self.stan, log.stan())
        self._signoff = "signoff%d" % app_index
        self._signed_off = store.load(self._signoff) is not None
        self._open = False
        self._last_crc = None
        self._processing = 0
        self._sign_on_due = False
        # A settlement a power cut interrupted (app.txn.settlement, "closingN"): closed at the
        # first run if the host's verdict had arrived, else sent again before the next
        # financial request. One attribute (-1: not looked at yet): the SIM7600's heap margin
        # is about 1 KB.
        self.settle_due = -1
        self.free_bound = -1  # free flash blocks, at least (-1: to be counted; batch_warning)

    # --- small helpers ------------------------------------------------------------------------

    def _event(self, name, value=None):
        if self._events is not None:
            self._events(name, value)

    def _save_counters(self, stan, batch):
        self._store.save(self._counters, struct.pack(">II", stan, batch))
        self.stan, self.batch = stan, batch

    def _next_stan(self, save=True):
        # Saved before the request that uses it leaves: a STAN is never used twice. Not
        # saved (`save` False) only for a request whose pre-send record holds it (_presend).
        stan = txnmsg.next_number(self.stan)
        if save:
            self._save_counters(stan, self.batch)
        self.stan = stan
        return stan

    def _presend(self, mti, fields):
        # The pending reversal's record, before the request leaves. Now and then its log is
        # emptied first: the counters take the STAN it holds before it goes.
        reversal = self._reversal
        if reversal.full():
            self._save_counters(self.stan, self.batch)
            reversal.empty()
        reversal.save(mti, fields)

    def _connect(self):
        if not self._open:
            self._event("connecting")
            self._bearer.connect()
            self._open = True
            self._last_crc = None

    def _close(self):
        self._bearer.close()
        self._open = False
        self._last_crc = None

    def _exchange(self, mti, fields, maced=False, settlement=False):
        """Send one request and return its validated answer (app.txn.iso8583.Message). CommError
        or txnmsg.ResponseError otherwise, the bearer closed."""
        mac = self._mac_function() if maced else None
        self._connect()
        frame = self._packer.pack(mti, fields, self._tpdu, self._header, mac, self._lri)
        self._event("sending", mti)
        try:
            raw = self._bearer.exchange(frame, self._timeout)
            crc = binascii.crc32(raw)
            while crc == self._last_crc:  # the host sent its previous answer twice
                self._event("duplicate", mti)
                raw = self._bearer.receive(self._timeout)
                crc = binascii.crc32(raw)
            self._last_crc = crc
            try:
                msg = unpack(raw, self._lri is not None)
            except DecodeError as exc:
                if exc.reason == "lri":
                    detail = _text(_M_NO_LRI)
                elif bytes(raw[7:10]) == b"LRI":
                    detail = _text(_M_LRI)
                else:
                    detail = _text(_M_UNDECODABLE, exc)
                raise txnmsg.ResponseError("invalid", detail)
            self._event("received", msg.mti)
            txnmsg.check_response(mti, fields, msg, mac, settlement)
        except (CommError, txnmsg.ResponseError):
            self._close()
            raise
        if msg.processing:
            self._processing = msg.processing
        return msg

    def _mac_function(self):
        # The MAC of field 64 the parameter mac_method names (docs/iso8583.md §12): the CUP
        # "ECB" MAC (spec §4.1), or X9.19 (§4.2) as 8 bytes or as the hex of its first 4.
        method = self.params["mac_method"]
        if method is None or method == "cup":
            mak = self.keys.cipher(self.app, "MAK")
            return lambda mab: cup_mac(mak, mab)
        left, right = self.keys.halves(self.app, "MAK")
        if method == "x9.19":
            return lambda mab: retail_mac_halves(left, right, mab)
        return lambda mab: binascii.hexlify(retail_mac_halves(left, right, mab)[:4]).upper()

    def _mac_ready(self):
        # The MAK opens (signed on, sealed under this storage key) and fits the MAC method:
        # checked before anything is sent.
        try:
            self._mac_function()
        except NoKeyError as exc:
            raise EngineError("not_signed_on", str(exc))
        except ValueError as exc:
            raise EngineError("key_check", str(exc))

    def _date_time(self, fields):
        # The host's date and time (13, 12) when it sent them, else the terminal clock.
        # Each made in one piece: a str made on MicroPython is looked up in its string table
        # (app.txn.receipt says why), and a slice and a join were three more: 146,000
        # instructions, now 48,000 (callgrind, 64-bit unix port).
        now = self.clock.now()
        mmdd, hhmmss = fields.get(13), fields.get(12)
        date = "%04d%s" % (now[0], mmdd) if mmdd else _text(_M_DATE, now[:3])
        return date, hhmmss or _text(_M_TIME, now[3:6])

    # --- public API ---------------------------------------------------------------------------

    def find_original(self, stan, kind="sale_void"):
        """The journal Entry a void of `kind` (sale_void or completion_void) would cancel:
        trace number `stan` in the current batch, with its status, or None. The UI shows
        it (amount, masked card, date) before the cashier confirms."""
        kinds = (22,) if kind == "sale_void" else (20, 24)
        return self.journal.find(stan, self.batch, kinds)

    def pending_advice(self):
        """(STAN, kind name) of the refund or completion notice waiting to be sent again
        (app.txn.advice), or None."""
        if self._store.load(self.advice_name) is None:
            return None  # without the module's heap
        from app.txn.advice import PendingAdvice

        pending = PendingAdvice(self._store, self.advice_name, self._storage_key).load()
        if pending is None:
            return None
        fields = pending[1]
        return int(fields[11]), "completion_notice" if fields[60][:2] == "24" else "refund"

    def pending_reversal(self):
        """(original STAN, reason) of the reversal waiting to be sent, or None."""
        pending = self._reversal.load()
        if pending is None:
            return None
        return int(pending[2][11]), pending[0]

    def batch_warning(self):
        """What the UI shows on its idle screen and after a transaction, a name of
        app.txn.respcodes.terminal (its texts): "settle_first" when financial transactions
        are refused until a settlement (the journal holds its capacity less the records kept
        for reversals, or the flash is nearly full), "batch_near" from 90% of the capacity
        on, else None. `self.journal.count()` is the journal's record count; a pending
        advice counts as one more. The free flash is `free_bound`, counted only when it nears
        the reserve (flash written by anything else than this engine is counted by the
        next engine: the terminal makes one again after a packet or a key change)."""
        count = self.journal.count()
        if self._store.load(self.advice_name) is not None:
            count += 1  # the pending advice's record, journaled when its answer comes
        capacity = self.params["batch_capacity"] or _CAPACITY
        if self.free_bound < _FLASH_BLOCKS + _GROWTH:
            from app.store.records import free_blocks  # loaded already: no heap kept here

            self.free_bound = free_blocks(self._store.root)[0]
        if count + 1 + _RESERVE > capacity or self.free_bound < _FLASH_BLOCKS:
            return "settle_first"
        room = self.journal.room()  # a journal region's room (None: a file, counted above)
        if room is not None and room < 1 + _RESERVE:
            return "settle_first"
        return "batch_near" if count * 10 >= capacity * 9 else None

    def totals(self):
        """Current batch totals: (debit amount, count, credit amount, count), fen."""
        return self.journal.totals(self.batch)

    def receipt(self, stan=None, copy="merchant", reprint=True):
        """Slip lines of the transaction with trace number `stan` in the current batch (the
        last transaction if None), "merchant", "cardholder" or "bank" copy; None if not found."""
        from app.txn import receipt

        entry = self.journal.last() if stan is None else self.journal.find(stan, self.batch)
        if entry is None:
            return None
        return receipt.lines(entry, self.params, copy, reprint)

    def run(self, request):
        """Carry out `request` (a Request) online; returns its Result."""
        result = Result(request.kind)
        result.training = self.training
        self._processing = 0
        try:
            try:
                if _out_of_service is not None:
                    raise EngineError("out_of_service", _out_of_service)
                kind = txnmsg.kind(request.kind)
                if not request.pin and self._own_keys:
                    # The PIK stays open from one PIN to the next (a sale's time: §14 of
                    # docs/transactions.md); a request without one lets it go, its 0.9 KB off
                    # the heap's peaks (a void after a sale, a settlement).
                    self.keys.forget(self.app, "PIK")
                recover = request.kind == "recover"
                if self._signed_off and request.kind not in ("sign_on", "echo", "recover"):
                    raise EngineError("signed_off")
                if self.settle_due == -1:
                    # Before any transaction: a settlement a power cut interrupted (its slip
                    # in the result of the power-up's recovery).
                    record = self._store.load(_closing(self))
                    self.settle_due = None
                    if record is not None:
                        from app.txn import settlement

                        settlement.recover(self, record[1], result if recover else None)
                if self._sign_on_due and (kind is not None or request.kind == "settlement"):
                    self._due_sign_on(result, request.operator)
                if self.settle_due is not None and kind is not None:
                    from app.txn import settlement

                    self._mac_ready()
                    settlement.resume(self, result, self._operator(request.operator))
                if kind is not None:
                    self._financial(kind, request, result)
                elif request.kind == "sign_on":
                    self._sign_on(result, request.operator)
                elif request.kind == "sign_off":
                    # Persisted before the 0820 leaves: whatever comes back (or a power cut),
                    # the terminal transacts again only after a sign-on (the host drops the
                    # working keys).
                    self._mac_ready()
                    self._store.save(self._signoff, b"\x01")
                    self._signed_off = True
                    self._management(result, "0820", "002", True)
                elif request.kind == "echo":
                    self._management(result, "0820", "301", False)
                elif request.kind == "settlement":
                    self._settle(result, request.operator, request.confirmed)
                elif recover:
                    from app.txn import recovery

                    recovery.run(self, result, request.operator)
                else:
                    raise EngineError("input", _text(_M_UNKNOWN, request.kind))
                if request.kind == "sign_on" and self._processing == 3:
                    self._processing = 0  # just signed on
                if self._processing and result.error is None:
                    self._host_requests(result, request.operator)
            finally:
                self._close()
                if self.free_bound >= 0:
                    self.free_bound -= _GROWTH  # whatever this request left on flash
        except EngineError as exc:
            result.fail(exc.reason, exc.detail)
        except CommError as exc:
            result.fail(_comm_reason(exc, result), str(exc))
        except txnmsg.ResponseError as exc:
            result.fail(exc.reason, str(exc))
        except NoKeyError as exc:
            result.fail("not_signed_on", str(exc))
        except (KeyStoreError, SealError) as exc:  # KeyStoreError: an OSError, after CommError
            # Sealed keys, reversal or card numbers that do not open: another terminal's flash,
            # or a storage key replaced. Found before anything is sent (keys are opened first).
            result.fail("storage_key", str(exc))
        except OSError as exc:  # flash (record store, journal): after CommError
            result.fail("flash", str(exc))
        finally:
            pin = request.pin
            if isinstance(pin, bytearray):
                pinblock.wipe(pin)
        return result

    # --- management -----------------------------------------------------------------------------

    def _management_fields(self, stan, code, operator=None):
        return txnmsg.management_fields(
            stan, self.batch, code, self.terminal_id, self.merchant_id, operator
        )

    def _operator(self, operator):
        return (operator or "01")[:2] + " "  # field 63 of sign-on/settlement: "NN "

    def _management(self, result, mti, code, numbered):
        stan = self._next_stan() if numbered else 0
        msg = self._exchange(mti, self._management_fields(stan, code))
        result.stan = stan or None
        result.batch = self.batch
        result.code(msg.fields[39])

    def _sign_on(self, result, operator):
        self._sign_on_due = False
        mode = self.params["signon_mode"]
        slot = self.params["tmk_slot"]
        try:
            # Before anything leaves: a master key that is missing, or sealed under another
            # storage key (KeyStoreError), could not take the keys the host would send.
            self.keys.check_tmk(self.app, slot)
        except NoKeyError as exc:
            raise EngineError("no_tmk", str(exc))
        stan = self._next_stan()
        self._event("signing_on")
        fields = self._management_fields(stan, mode, self._operator(operator))
        msg = self._exchange("0800", fields)
        got = msg.fields
        result.stan = stan
        result.code(got[39])
        if not result.approved:
            return
        if 62 not in got:
            raise EngineError("key_check", _text(_M_NO_KEYS))
        if self._own_keys:
            # The keys as stored now, without the ciphers cached for the old keys: the heap
            # they hold is what a sign-on after a day's transactions runs short of. The new
            # keys are not cached either (PIK and MAK reopen on first use).
            self.keys.reload()
        try:
            layout = self.params["signon_layout"]
            checks = self.keys.load_working_keys(self.app, slot, got[62], mode, layout)
        except (KeyCheckError, NoKeyError, ValueError) as exc:
            raise EngineError("key_check", str(exc))
        if self._signed_off:
            self._store.delete(self._signoff)
            self._signed_off = False
        result.notes.append("keys " + " ".join("%s %s" % pair for pair in checks))
        result.pin_key = self._pin_key(got[62], mode, layout)
        if 13 in got and 12 in got:
            try:
                self.clock.set(got[13], got[12])
            except ValueError as exc:
                result.notes.append(str(exc))
        try:
            host_batch = subfields(60, got[60])[1] if 60 in got else None
        except ValueError:
            host_batch = None
        if host_batch is not None and int(host_batch) != self.batch and not self.training:
            if self.journal.is_empty():
                self._save_counters(self.stan, int(host_batch))
            else:
                # Adopting would orphan unsettled transactions: settle this batch first.
                result.notes.append(_text(_M_BATCH_KEPT, (host_batch, self.batch)))
        result.batch = self.batch

    def _pin_key(self, field62, mode, layout):
        # The PIN key as field 62 carried it (encrypted under the master key) with its check
        # value, for an external PIN pad that holds the same master key (DES/3DES only).
        if mode == "006":
            return None
        from app.keys.layout import parse

        for usage, offset, size, cv_offset, cv_size in parse(layout or mode)[1]:
            if usage == "PIK" and cv_size >= 4:
                return (
                    "DES" if size == 8 else "3DES",
                    bytes(field62[offset : offset + size]),
                    bytes(field62[cv_offset : cv_offset + 4]),
                )
        return None

    def _due_sign_on(self, result, operator):
        # The sign-on an answer's header asked for (digit 6 = 3), before this request.
        sign_on = Result("sign_on")
        self._sign_on(sign_on, operator)
        if not sign_on.approved:
            raise EngineError("not_signed_on", _text(_M_DUE_FAILED, sign_on.message_en))
        result.notes.append(_text(_M_SIGNED_ON_AGAIN))

    def _host_requests(self, result, operator):
        # Header digit 6 of an answer (spec §1): acted on after the transaction.
        need = self._processing
        self._processing = 0
        try:
            if need == 3:
                # Done at the start of the next transaction, not now: a sign-on on top of
                # this transaction's result would need more heap than the terminal has.
                self._sign_on_due = True
                result.notes.append(_text(_M_SIGN_ON_DUE))
            elif need == 1:
                msg = self._exchange("0800", self._management_fields(0, "360"))
                data = msg.fields.get(62)
                if msg.fields.get(39) == "00" and data:
                    # Kept as the host sent it: its layout is acquirer-specific.
                    self._store.save(_text(_M_HOST_PARAMS, self.app), data)
                result.notes.append(_text(_M_DOWNLOAD, len(data) if data else 0))
            elif need in (4, 5, 7, 9):
                # The CA keys (4), IC parameters (5), black list (7) or contactless
                # parameters (9) the host has changed: the answer to the end of one download
                # may ask for another, each once (app.txn.icdownload).
                from app.txn import icdownload

                done = []
                while need in (4, 5, 7, 9) and need not in done:
                    done.append(need)
                    icdownload.run(self, need, result)
                    need, self._processing = self._processing, 0
            else:
                result.notes.append(_text(_M_NOT_SUPPORTED, need))
        except (CommError, txnmsg.ResponseError, EngineError) as exc:
            result.notes.append(_text(_M_REQUEST_FAILED, (need, exc)))

    # --- reversal -----------------------------------------------------------------------------

    def _send_reversal(self, result):
        """Deliver the pending reversal, if any (spec §6). Raises EngineError (the current
        request must not go) when it cannot be delivered now or was given up."""
        pending = self._reversal.load()
        if pending is None:
            return
        reason, original_mti, fields = pending
        fields[39] = reason
        stan = int(fields[11])
        attempts = self._retries + 1
        for _ in range(attempts):
            self._event("reversal", stan)
            try:
                msg = self._exchange("0400", fields, True)
            except CommCancelled:
                raise  # the record stays for the next request
            except ConnectFailed as exc:
                # Nothing left the terminal: keep the record for the next request.
                raise EngineError("reversal_pending", str(exc))
            except (CommError, txnmsg.ResponseError):
                continue
            code = msg.fields[39]
            # Journal first, then forget the record: a power cut between the two sends the
            # reversal again, and the host answers "already reversed" (25).
            if code == "00":
                kind = int(fields[60][:2])
                date, time = self._date_time(msg.fields)
                batch = int(fields[60][2:8])
                self.journal.append(
                    0x80 | kind,
                    stan,
                    batch,
                    int(fields.get(4, "0")),
                    date,
                    time,
                    response_code=code,
                    reason=reason,
                )
                result.reversal_note = _text(_M_REVERSAL_ACCEPTED, (stan, reason))
            else:
                result.reversal_note = _text(_M_REVERSAL_REFUSED, (stan, code))
            self._reversal.end()
            return
        self._reversal.end()
        result.reversal_note = _text(_M_REVERSAL_DROPPED, (stan, attempts))
        raise EngineError("reversal", result.reversal_note)

    # --- advice (app.txn.advice) ---------------------------------------------------------------

    def _send_advice(self, result):
        # The pending advice, if any, goes after the reversal: EngineError "advice_pending"
        # if it cannot be delivered now. Its module is imported only when there is one.
        if self._store.load(self.advice_name) is not None:
            from app.txn.advice import deliver

            deliver(self, result)

    def _advice_kept(self, advice, stan, result):
        # The 0220 left and its answer did not come back valid (or was not journaled).
        if advice is not None:
            result.notes.append(_text(_M_ADVICE_KEPT, (result.kind, stan)))

    # --- financial transactions ---------------------------------------------------------------

    def listed(self, pan):
        """Whether card number `pan` is on the black list the host downloaded
        (app.store.blacklist): a request with it is refused before anything is sent, and
        the cashier's sale asks no PIN for it. The list's module is loaded only when the
        terminal has a list, and let go after."""
        try:
            os.stat(self._store.root + "/black.set")
        except OSError:
            return False
        from app import forget
        from app.store import blacklist

        found = blacklist.find(self._store.root, pan)
        forget("app.store.blacklist")
        return found is not None

    def _financial(self, k, request, result):
        """A financial request of Kind `k`: terminal checks, pending reversal, request,
        answer, journal. Outcomes go into `result`; EngineError, CommError, ResponseError
        end it."""
        app = self.params
        journal = self.journal
        card = request.card
        if card is not None and not card.track2 and not luhn(card.pan):
            # A keyed number with a slip of the finger: refused before anything is saved.
            raise EngineError("card_number", _text(_M_LUHN, card.pan[:6] + "..."))
        if card is not None and not k.has("T") and self.listed(card.pan):
            raise EngineError("blacklisted", _text(_M_BLACKLISTED, card.pan[:6]))
        self._mac_ready()
        if k.has("J") and self.batch_warning() == "settle_first":
            # Before anything is sent: a transaction whose record could not be journaled
            # would be approved by the host and then reversed by the terminal.
            raise EngineError("settle_first", _text(_M_ROOM, self.journal.count()))
        if k.has("S"):
            terminal = ParamStore(self._store).load(0)
            typed = request.supervisor_password or b""
            if terminal is None or not terminal.check_password("supervisor", typed):
                raise EngineError("password")
            terminal = None
        amount = request.amount
        original = None
        reference = None  # (batch, STAN, MMDD) for field 61
        rrn = auth_code = None
        if k.has("T"):
            if request.original_stan is None:
                raise EngineError("input", _text(_M_NEED_TRACE))
            original = self.find_original(request.original_stan, k.name)
            if original is None:
                raise EngineError("not_found")
            if original.status != "approved":
                raise EngineError("not_allowed", _text(_M_ORIGINAL_IS, original.status))
            if amount is None:
                amount = original.amount
            elif amount != original.amount:
                raise EngineError("amount")
            reference = (original.batch, original.stan, original.date[4:])
            rrn = original.rrn
            auth_code = original.auth_code
        elif k.has("U") or k.has("N"):
            if k.has("U"):
                auth_code = request.auth_code
                if not auth_code:
                    raise EngineError("input", _text(_M_NEED_AUTH))
                original = journal.find_auth(auth_code)
            else:
                rrn = request.rrn
                if not rrn:
                    raise EngineError("input", _text(_M_NEED_RRN))
                original = journal.find_rrn(rrn)
            date = request.original_date or (original.date[4:] if original else None)
            if not date or len(date) != 4 or not date.isdigit():
                raise EngineError("input", _text(_M_NEED_DATE))
            if original is not None:
                reference = (original.batch, original.stan, date)
            else:
                reference = (0, 0, date)
            if amount is None and original is not None and k.name == "preauth_cancel":
                amount = original.amount
        if k.has("A") and (amount is None or amount <= 0):
            raise EngineError("input", _text(_M_AMOUNT))
        if k.name == "preauth_cancel" and amount is None:
            raise EngineError("input", _text(_M_NEED_AMOUNT))
        result.original = original

        pan = expiry = None
        stored = journal.card(original) if original is not None else None
        if card is None:
            if k.has("C"):
                raise EngineError("input", _text(_M_NEED_CARD))
            if stored is not None:
                pan, expiry = stored
        else:
            pan, expiry = card.pan, card.expiry
            if stored is not None and k.has("T") and stored[0] != pan:
                raise EngineError("card")
        pin_block = security = None
        if request.pin:
            if pan is None:
                raise EngineError("input", _text(_M_PIN_NEEDS_CARD))
            pik = self.keys.cipher(self.app, "PIK")
            if pik.block_size != 8:
                raise EngineError("input", _text(_M_SM4_PIN))
            # 53: PIN format 2 (ISO 0 with PAN), algorithm 6 (3DES) or 0 (DES), tracks clear.
            security = "26" if pik.name == "3DES" else "20"
            security += "0" * 14
            try:
                if isinstance(request.pin, PinBlock):
                    # Made by the external PIN pad under the same PIK (loaded at sign-on).
                    pin_block = request.pin.block
                else:
                    pin_block = pinblock.encrypt(pik, request.pin, pan)
            except ValueError as exc:
                raise EngineError("input", str(exc))
            finally:
                # The PIK's schedule stays cached in the key store, as the MAK's does: opening
                # it (unseal, KCV check, 3DES key schedule) was a fifth of a sale's time, and
                # it keeps 0.9 KB on the ESP32's 32-bit port (docs/transactions.md §14). The
                # key store drops it whenever the keys change (sign-on, key packet, wipe),
                # and the next request without a PIN lets it go (run).
                pik = None

        # Field 60 after 60.1 + 60.2: nothing (8 digits), or 60.3 000 and the IC digits 60.4-60.6
        # (14 digits; by default 200: magnetic stripe only, no fallback, no partial approval).
        field60 = None
        if app["field60_length"] == "14":
            field60 = "000" + (app["field60_capability"] or "200")
        # A chip card (app.txn.chip.ChipCard) or the swipe after its chip failed: 55, 23,
        # 60.4 = 5 and 60.5 (the chip's module only then).
        # A tap (app.txn.tap.TapCard) the same way, with its own module.
        chip = None  # app.txn.chip (app.txn.tap) when the card is a chip card (a tap)
        if getattr(card, "tap", False):
            from app.txn import tap as chip

            field60 = chip.field60(app)
        elif card is not None and (getattr(card, "kernel", None) is not None or card.fallback):
            from app.txn import chip as ic

            field60 = ic.field60(app, card.fallback)
            if not card.fallback:
                chip = ic

        self._connect()
        self._send_reversal(result)
        self._send_advice(result)
        from app.txn import recovery  # what a chip card left: a script notice, IC details

        recovery.deliver(self, result)
        recovery = None  # deliver let its module go: off the heap through the request
        reversible = k.has("R")
        stan = self._next_stan(not (reversible and self._reversal.keeps_stan))
        fields = txnmsg.financial_fields(
            k,
            stan,
            self.batch,
            self.terminal_id,
            self.merchant_id,
            amount=amount,
            card=card,
            pan=None if card is not None else pan,
            expiry=expiry,
            pin_block=pin_block,
            security=security,
            rrn=rrn if k.has("T") or k.has("N") else None,
            auth_code=auth_code if not k.has("N") else None,
            original=reference,
            field60=field60,
            pin_capture=app["pin_capture_code"],
        )
        if chip is not None:
            chip.add_request_fields(fields, card, stan)
        result.stan, result.batch, result.amount = stan, self.batch, amount
        if reversible:
            self._presend(k.mti, fields if chip is None else chip.reversal_fields(fields, card))
        # A 0220 (refund, completion notice) is kept until its answer is journaled, to be sent
        # again if that answer is lost (app.txn.advice): no reversal exists for it.
        advice = None
        if k.mti == "0220" and app["advice_repeat"] != "off":
            from app.txn.advice import PendingAdvice

            advice = PendingAdvice(self._store, self.advice_name, self._storage_key)
            advice.save(fields, pan, expiry, request.operator)
        try:
            msg = self._exchange(k.mti, fields, True)
        except CommError as exc:
            if isinstance(exc, ConnectFailed) or (isinstance(exc, CommCancelled) and not exc.sent):
                if reversible:
                    self._reversal.end()  # the request never left
                if advice is not None:
                    advice.delete()
                raise
            if reversible:
                self._reversal.update("98")
                result.reversal_note = _text(_M_QUEUED, (stan, "98"))
            self._advice_kept(advice, stan, result)
            if chip is not None:
                chip.unable_online(card)
            raise
        except txnmsg.ResponseError as exc:
            if reversible:
                reason = "A0" if exc.reason == "mac" else "98"
                self._reversal.update(reason, exc.auth_code)
                result.reversal_note = _text(_M_QUEUED, (stan, reason))
            self._advice_kept(advice, stan, result)
            if chip is not None:
                chip.unable_online(card)
            raise
        got = msg.fields
        result.code(got[39], pin_block is not None)
        if chip is not None:
            chip.answered(self, result, k, card, fields, got)
        result.rrn = (got.get(37) or "").strip() or None
        result.auth_code = (got.get(38) or "").strip() or None
        if not result.approved:
            if reversible:
                self._reversal.end()
            if advice is not None:
                advice.delete()  # a definite decline: nothing to send again
            return
        if got[39] == "10" and 4 in got:
            amount = result.amount = int(got[4])  # partial approval
        result.balance = txnmsg.balance(got)  # checked with the answer: it parses
        result.date, result.time = self._date_time(got)
        if pan is not None:
            from app.store.journal import mask

            result.pan_masked = mask(pan)
        if not k.has("J"):
            return
        code = got[39]
        entry_mode = fields.get(22, "000")
        if card is not None and card.fallback:
            entry_mode += "1"  # the slip says so (app.store.journal)
        slip = chip.slip_data(card) if chip is not None else None  # the chip's slip lines
        # The request and the answer go before the journal's record is sealed and written:
        # they (2 KB on the 64-bit port) are the void's heap peak, the install cycle's.
        msg = got = fields = None
        try:
            entry = journal.append(
                int(k.type_code),
                stan,
                self.batch,
                amount or 0,
                result.date,
                result.time,
                rrn=result.rrn or "",
                auth_code=result.auth_code or "",
                response_code=code,
                entry_mode=entry_mode,
                pan=pan,
                expiry=expiry,
                original_stan=reference[1] if reference else 0,
                original_batch=reference[0] if reference else 0,
                original_date=reference[2] if reference else "0000",
                operator=(request.operator or "")[:2],
                ic_data=slip,
            )
        except (OSError, ValueError) as exc:
            result.approved = False
            if reversible:
                self._reversal.update("06", result.auth_code)
                result.reversal_note = _text(_M_QUEUED, (stan, "06"))
            self._advice_kept(advice, stan, result)
            raise EngineError("storage", str(exc))
        if reversible:
            self._reversal.committed()  # its record ended by the journal's, in the log
        if advice is not None:
            advice.delete()
        result.entry = entry
        if chip is not None:
            chip.keep(self, entry, card, result)
        from app.txn import receipt

        result.receipt_lines = receipt.lines(entry, app, "merchant")

    # --- settlement -----------------------------------------------------------------------------

    def _settle(self, result, operator, confirmed, resume=False):
        from app.txn.settlement import settle

        self._mac_ready()  # signed on, and the storage key opens the keys and the cards
        settle(self, result, self._operator(operator), confirmed, resume)
