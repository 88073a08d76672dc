# Power cuts at every flash write of a whole transaction flow (MicroPython): the engine on
# LittleFS over blockdev's RAM flash, against fakehost.FakeHost keeping books (HostBook).
# Used by test_txn_cuts.py (a sample, in `make test`) and tools/cuts.py (every cut point,
# `make cuts`, the "Power cuts" section of docs/benchmarks.md).
"""Whole-flow power-cut campaigns.

    figures = campaign("sale", 4096, tears=(False, True))
    figures["points"], figures["recovered"], figures["lost"], figures["problems"]

A flow is one thing the cashier or the installer does (a sale, a void, a settlement...), run
on a terminal that has signed on and done a small day's business. The campaign runs it once
to count its flash writes (programs and erases, blockdev.RAMBlockDevice), then, from the same
flash and the same host books each time, again with the power cut at each write (clean, or
torn: the write half done); the host hears nothing the terminal would send after the cut.
Then the terminal restarts (a remount, the record store's recovery, a new Engine: its own
recovery) and must show, before anything else:

- every approval the host gave in a batch it has not settled is in the journal, or is the
  pending reversal or the pending advice (a refund, a completion notice) the terminal will
  send;
then
- the next sale is approved, in a batch the host has not settled;
- the terminal's totals of its batch are the host's;
- a settlement then balances;
- and no STAN reached the host twice (reversals repeat their original's, by the spec).

The installer's flows (a parameter packet, a key packet, provisioning, a wipe) must besides
leave the old or the new state, and apply again when they did not finish. After a key packet
or a wipe the terminal has no working keys: it signs on before its next sale (with a host
holding the new master key), so the sale and the settlement are not tried.

A cut point that shows all of it is "recovered"; any other is "lost", with the reasons.
"""

import gc

import blockdev
from fakehost import FakeHost, HostBook, PowerOff
from test_packet import KEY, LINK_KEY, SERIAL, pack
from test_txn import APP, OTHER, STORAGE_KEY, TERMINAL, TMK, TRACK, tlv

from app.keys.slots import KeyStore
from app.store.logregion import Region
from app.store.params import Params, ParamStore
from app.store.records import RecordStore
from app.txn.engine import Card, Engine, Request

MOUNT = "/cutflash"
ROOT = MOUNT + "/data"
SUPERVISOR = b"123456"

# Flash geometry per erase block size: LittleFS blocks enough for every record's two copies
# plus a save's third, and the journal region's blocks (app.store.logregion: the day's
# journal, a block for the clear at settlement), at the ESP32's 4 KB blocks and at 512 bytes.
GEOMETRY = {4096: 24, 512: 160}
LOG_BLOCKS = {4096: 8, 512: 24}
_IMAGE = 32 * 4096

FLOWS = (
    "sale",
    "sale void",
    "refund",
    "pre-auth",
    "pre-auth cancel",
    "completion",
    "completion void",
    "completion notice",
    "reversal delivery",
    "sign-on",
    "ic download",
    "list downloads",
    "settlement",
    "settlement with upload",
    "offline sale",
    "settlement with offline upload",
    "settlement with IC details",
    "script notice",
    "parameter packet",
    "key packet",
    "provision",
    "wipe",
)

_BUFFERS = []


def _buffers():
    # One image and one snapshot for every campaign of the process, made while the heap is
    # in one piece.
    if not _BUFFERS:
        _BUFFERS.append(bytearray(_IMAGE))
        _BUFFERS.append(bytearray(_IMAGE))
    return _BUFFERS


def _sale(eng, amount, track=TRACK):
    return eng.run(
        Request("sale", amount=amount, card=Card(track2=track), pin=bytearray(b"123456"))
    )


class World:
    """The terminal's flash and the host, with a snapshot of both to start every cut from."""

    def __init__(self, block_size):
        image, saved = _buffers()
        self.flash = blockdev.Flash(
            MOUNT,
            block_size,
            GEOMETRY[block_size] + LOG_BLOCKS[block_size],
            image=image,
            saved=saved,
            log_blocks=LOG_BLOCKS[block_size],
        )
        self.host = FakeHost()
        self.host.book = HostBook()
        self.host.power = lambda: not self.flash.dev.dead
        self._book = None
        self.day = {}  # what the day left that flows refer to: STANs, RRNs, auth codes

    def provision(self):
        store = RecordStore(ROOT)
        params = ParamStore(store)
        params.save(0, Params.from_tlv(tlv(TERMINAL), 0), 1)
        params.save(1, Params.from_tlv(tlv(APP), 1), 1)
        KeyStore(store, STORAGE_KEY).set_tmk(1, 1, TMK, "3DES")

    def store(self):
        """The record store as the terminal makes it: its journals in the region."""
        store = RecordStore(ROOT)
        store.journal_region = Region(self.flash.log)
        return store

    def boot(self):
        """The terminal starting: the store's recovery, then the engine (and its own)."""
        store = self.store()
        store.recover()
        self.host.close()
        return Engine(1, store, STORAGE_KEY, self.host)

    def snapshot(self):
        self.flash.snapshot()
        self._book = self.host.book.copy()

    def restore(self):
        self.flash.restore()
        self.host.book = self._book.copy()
        self.host._faults = []
        self.host.requests = []
        self.host.headers = []

    def journal_empty(self):
        return not any(True for _ in Region(self.flash.log).journal(1).records())

    def close(self):
        self.flash.close()


def _prepare(world, flow):
    """Sign on and do a small day (sales, a pre-auth and its completion), then what `flow`
    needs besides; snapshot."""
    world.provision()
    eng = world.boot()
    day = world.day
    assert eng.run(Request("sign_on")).approved
    day["sale"] = _sale(eng, 100).stan
    rrn_sale = _sale(eng, 200)
    day["rrn"], day["rrn_date"] = rrn_sale.rrn, rrn_sale.date[4:]
    pre = eng.run(Request("preauth", amount=500, card=Card(track2=OTHER)))
    day["auth"] = pre.auth_code
    pre2 = eng.run(Request("preauth", amount=600, card=Card(track2=OTHER)))
    done = eng.run(Request("completion", amount=600, auth_code=pre2.auth_code))
    assert pre.approved and pre2.approved and done.approved
    day["completion"] = done.stan
    if flow == "reversal delivery":
        world.host.fault("no_answer", "0200")
        assert _sale(eng, 400).reversal_note
        assert eng.pending_reversal() is not None
    if flow == "ic download":
        # Yesterday's CA keys and IC parameters, then the host's new ones (app.txn.icdownload).
        _ic_sets(world.host, 0)
        world.host.fault("processing:4", "0800")
        assert "CA keys: 2 loaded" in " ".join(eng.run(Request("sign_on")).notes)
        _ic_sets(world.host, 1)
    if flow == "list downloads":
        # Yesterday's black list and contactless parameters, then the host's new ones.
        _lists(world.host, 0)
        world.host.fault("processing:7", "0800")
        assert "Contactless parameters: 1 loaded" in " ".join(eng.run(Request("sign_on")).notes)
        _lists(world.host, 1)
    if flow == "settlement with offline upload":
        _offline_sale(eng, 800)
    if flow == "settlement with IC details":
        # The IC records of two chip sales (app.txn.chip.keep), uploaded after the 0510.
        from app.txn import icdata

        day["ic"] = []
        for amount in (900, 1100):
            result = _sale(eng, amount)
            field55 = _tc(result.stan)
            icdata.keep(eng, result.stan, 1, field55, PAN, amount, "051")
            day["ic"].append(field55)
    if flow == "script notice":
        # A chip sale whose issuer script ran; its notice (0620) kept, the line gone since.
        from test_txn_chipsettle import notice_after

        from app.txn import scriptnotice

        result = _sale(eng, 900)
        assert notice_after(eng, result)
        day["notice"] = scriptnotice.load(eng)[61]
    if flow == "wipe":
        # A wipe is refused while a journal holds transactions: the day is settled first.
        assert eng.run(Request("settlement")).approved
        _identity(eng._store).provision(SERIAL, KBPK, LINK_KEY)
    world.snapshot()


def _run(world, eng, flow):
    # The flow itself: what the cashier or installer asks for.
    day = world.day
    if flow in ("sale", "reversal delivery"):
        return _sale(eng, 300)
    if flow == "sale void":
        return eng.run(
            Request("sale_void", original_stan=day["sale"], supervisor_password=SUPERVISOR)
        )
    if flow == "refund":
        return eng.run(
            Request(
                "refund",
                amount=150,
                card=Card(track2=TRACK),
                rrn=day["rrn"],
                original_date=day["rrn_date"],
                supervisor_password=SUPERVISOR,
            )
        )
    if flow == "pre-auth":
        return eng.run(Request("preauth", amount=700, card=Card(track2=OTHER)))
    if flow == "pre-auth cancel":
        return eng.run(Request("preauth_cancel", auth_code=day["auth"]))
    if flow == "completion":
        return eng.run(Request("completion", amount=500, auth_code=day["auth"]))
    if flow == "completion void":
        return eng.run(
            Request(
                "completion_void",
                original_stan=day["completion"],
                supervisor_password=SUPERVISOR,
            )
        )
    if flow == "completion notice":
        return eng.run(Request("completion_notice", amount=500, auth_code=day["auth"]))
    if flow == "sign-on":
        return eng.run(Request("sign_on"))
    if flow == "ic download":
        return _downloading_sign_on(world, eng, 4, "IC parameters: 3 loaded")
    if flow == "list downloads":
        return _downloading_sign_on(world, eng, 7, "Contactless parameters: 1 loaded")
    if flow == "parameter packet":
        return _apply_parameters(eng._store)
    if flow == "key packet":
        return _apply_keys(eng._store)
    if flow == "provision":
        _identity(eng._store).provision(SERIAL, KBPK, LINK_KEY)
        return True
    if flow == "wipe":
        return _wipe(eng._store)
    if flow == "offline sale":
        return _offline_sale(eng, 300) is not None
    if flow == "script notice":
        return _sale(eng, 300)  # the notice goes first
    if flow == "settlement with upload":
        world.host.book.unbalanced = True
    return eng.run(Request("settlement"))


def _downloading_sign_on(world, eng, processing, last):
    # A sign-on whose answer asks for download `processing`: the result fails ("flash")
    # unless its notes say the last download, `last`, was loaded.
    world.host.fault("processing:%d" % processing, "0800")
    result = eng.run(Request("sign_on"))
    if result.approved and not any(last in n for n in result.notes):
        result.fail("flash", " ".join(result.notes))
    return result


PAN = "6224242900000113"  # TRACK's


def _tc(atc):
    # Field 55 of a chip sale's TC: 9F27 40 and an ATC of its own.
    return b"\x9f\x26\x08" + bytes(8) + b"\x9f\x27\x01\x40\x9f\x36\x02" + bytes((0, atc % 256))


def _offline_sale(eng, amount):
    # A contactless tap the card approved offline (app.emv.qpboc's outcome, as test_qpboc's
    # card gives it), journaled as the terminal does before printing the slip.
    from app.emv import qpboc
    from app.txn import offline

    outcome = qpboc.Outcome(qpboc.APPROVED)
    outcome.amount = amount
    outcome.pan, outcome.psn, outcome.expiry = "6224242900001038", "01", "3012"
    outcome.field55 = b"\x9f\x26\x08" + bytes(8) + b"\x9f\x27\x01\x40"
    return offline.approve(eng, outcome)


# The application's parameters again, with another merchant name, as a version 4 packet.
_NAME = 0x43
_PACKET_VERSION = 4


def _apply_parameters(store):
    # What the terminal does with a parameter packet the installer sends (docs/packets.md).
    from app.store.packet import PARAMETERS, Versions, apply_parameters, verify

    items = dict(APP)
    items[_NAME] = b"POSKIT NEW"
    data = pack(tlv(sorted(items.items())), PARAMETERS, 1, _PACKET_VERSION)
    versions = Versions(store)
    apply_parameters(verify(data, SERIAL, LINK_KEY, versions), ParamStore(store), versions)
    return True


def _check_parameters(problems):
    # Old or new parameters with the version that goes with them; the packet applies again
    # when it did not before (app.store.packet.apply_parameters).
    from app.store.packet import PARAMETERS, Versions

    store = RecordStore(ROOT)
    params = ParamStore(store).load(1)
    version = Versions(store).get(PARAMETERS, 1)
    if params.packet_version != version:
        problems.append("parameters of version %d, %d recorded" % (params.packet_version, version))
    if version != _PACKET_VERSION:
        try:
            _apply_parameters(store)
        except Exception as exc:  # noqa: BLE001 (any refusal is what is reported)
            problems.append("the packet does not apply again: %r" % exc)
    elif ParamStore(store).load(1)["merchant_name"] != b"POSKIT NEW":
        problems.append("version %d recorded without its parameters" % version)


KBPK = bytes(range(0x40, 0x50))
# firmware_tests/vectors/key_packet_v1.json: its KBPK, and the check value of the master key
# it loads into slot 1 of application 1, as version 2.
PACKET_KBPK = bytes.fromhex("89E88CF7931444F334BD7547FC3F380C")
PACKET_TMK = (1, "3DES", "47F816")


def _apply_keys(store):
    from app.store.packet import Versions, apply_keys, verify

    versions = Versions(store)
    keys = KeyStore(store, STORAGE_KEY)
    apply_keys(verify(KEY, SERIAL, LINK_KEY, versions), keys, PACKET_KBPK, versions)
    return True


def _check_keys(problems):
    # The new master key recorded with its version, or neither; the packet applies again.
    from app.store.packet import KEYS, Versions

    store = RecordStore(ROOT)
    version = Versions(store).get(KEYS, 1)
    loaded = PACKET_TMK in KeyStore(store, STORAGE_KEY).tmk_slots(1)
    if version == 2 and not loaded:
        problems.append("key packet version 2 recorded without its master key")
    if version != 2:
        try:
            _apply_keys(store)
        except Exception as exc:  # noqa: BLE001 (any refusal is what is reported)
            problems.append("the key packet does not apply again: %r" % exc)


def _ic_sets(host, day):
    # Day 0: two CA keys and two AIDs; day 1: three of each (the host's sets changed).
    from fakehost import aid_entry, capk

    rid = b"\xa0\x00\x00\x03\x33"
    host.capks = [capk(rid, index, bytes(range(day, day + 176))) for index in range(2 + day)]
    host.aids = [aid_entry(rid + bytes((1, 1, n))) for n in range(1, 3 + day)]
    host.ic_page = 2
    host.ic_after_capk = 5


def _check_ic(world, problems):
    # Each set is yesterday's or the new one, whole (its entries agree with its summary);
    # when it is yesterday's, the next sign-on the host asks again loads the new one.
    from app.store.icsets import AID, CAPK, ICSets

    sets = ICSets(ROOT)
    for kind, entries in ((CAPK, world.host.capks), (AID, world.host.aids)):
        summary = sets.summary(kind)
        count = len(list(sets.entries(kind)))
        if summary is None or summary[0] != count or count not in (len(entries) - 1, len(entries)):
            problems.append("set %d: %r with %d entries" % (kind, summary, count))
    eng = world.boot()
    world.host.fault("processing:4", "0800")
    eng.run(Request("sign_on"))
    if [sets.summary(kind)[0] for kind in (CAPK, AID)] != [3, 3]:
        problems.append("the next sign-on does not load the new sets")


def _lists(host, day):
    # Day 0: a black list of two entries and contactless limits; day 1: three, new limits.
    # Never the sale's card (test_txn.TRACK): the check's next sale must go.
    from fakehost import black_entries, contactless_limits

    host.blacklist = black_entries(*("62220%d" % n for n in range(2 + day)))
    host.contactless = contactless_limits(floor=20000 + day)
    host.ic_page = 2
    host.after_end = {"391": 9}


def _check_lists(world, problems):
    # Each set yesterday's or the new one, whole; the next sign-on the host asks again loads
    # the new ones; the sale's card is on neither list.
    from app.store.icsets import BLACKLIST, CONTACTLESS, ICSets

    sets = ICSets(ROOT)
    for kind, sizes in ((BLACKLIST, (2, 3)), (CONTACTLESS, (1,))):
        summary = sets.summary(kind)
        count = len(list(sets.payloads(kind)))
        if summary is None or summary[0] != count or count not in sizes:
            problems.append("set %d: %r with %d entries" % (kind, summary, count))
    eng = world.boot()
    world.host.fault("processing:7", "0800")
    eng.run(Request("sign_on"))
    limits = [bytes(p) for p in sets.payloads(CONTACTLESS)]
    if sets.summary(BLACKLIST)[0] != 3 or limits != [world.host.contactless]:
        problems.append("the next sign-on does not load the new black list and limits")


def _identity(store):
    from app.keys.identity import Identity

    return Identity(store, STORAGE_KEY)


def _wipe(store):
    # `poskit wipe`'s steps on the terminal: a challenge, the token made from it with the
    # link key, the wipe (journals, keys, identity).
    from app.keys.identity import wipe_token

    identity = _identity(store)
    token = wipe_token(LINK_KEY, SERIAL, identity.wipe_challenge())
    identity.wipe(token, [store.journal_region.journal(1)])
    return True


def _check_identity(world, flow, problems):
    # Provision: the identity whole or absent, and then it provisions. Wipe: while the
    # identity is there the wipe can be done again; once it is gone, the keys are gone.
    store = world.store()
    identity = _identity(store)
    serial = identity.serial()
    try:
        if serial is None and flow == "provision":
            identity.provision(SERIAL, KBPK, LINK_KEY)
        elif serial is not None and flow == "wipe":
            _wipe(store)
    except Exception as exc:  # noqa: BLE001 (any refusal is what is reported)
        problems.append("%s again: %r" % (flow, exc))
        return
    serial = identity.serial()
    if flow == "provision" and (serial != SERIAL or identity.kbpk() != KBPK):
        problems.append("identity %r after provisioning" % serial)
    if flow == "wipe" and (serial is not None or store.load("keys") is not None):
        problems.append("identity %r or keys left after the wipe" % serial)


def check(world, flow=None):
    """What the terminal shows after the restart (the module docstring): [] when all is
    well, else what is wrong."""
    book = world.host.book
    book.unbalanced = False  # a settlement with upload the cut stopped before its 0500
    problems = []
    if flow == "parameter packet":
        _check_parameters(problems)
    if flow == "key packet":
        _check_keys(problems)
    if flow in ("provision", "wipe"):
        _check_identity(world, flow, problems)
    if flow == "ic download":
        _check_ic(world, problems)
    if flow == "list downloads":
        _check_lists(world, problems)
    eng = world.boot()
    pending = eng.pending_reversal()
    advice = eng.pending_advice()
    journaled = {(e.batch, e.stan) for e in eng.journal.records() if not e.reversal}
    for key in book.approvals():
        if key in journaled or (pending is not None and pending[0] == key[1]):
            continue
        if advice is None or advice[0] != key[1]:
            problems.append("host approval %06d/%06d neither journaled nor reversing" % key)
    if flow in ("key packet", "wipe"):
        # No working keys now: the terminal signs on (after a wipe, is set up anew) before its
        # next sale, with a host holding the new master key (not this one's key block).
        if book.reused:
            problems.append("STANs reused: %r" % book.reused)
        return problems
    result = _sale(eng, 1)
    if not result.approved:
        problems.append(
            "next sale refused: %s %s %s" % (result.error, result.response_code, result.detail)
        )
    if eng.batch in book.settled:
        problems.append("terminal batch %06d already settled at the host" % eng.batch)
    # The terminal's totals count its offline sales at once; the host's, once uploaded (at
    # the settlement below). One the host took whose record of it the cut lost is in both.
    totals = list(eng.totals())
    for entry in eng.journal.to_upload(eng.batch):
        if (entry.batch, entry.stan) not in book.txns:
            totals[0] -= entry.amount
            totals[1] -= 1
        from app.txn.offline import ic_fields

        if not ic_fields(entry)[1]:
            problems.append("offline sale %06d without its field 55" % entry.stan)
    if tuple(totals) != book.totals(eng.batch):
        problems.append("totals: terminal %r, host %r" % (tuple(totals), book.totals(eng.batch)))
    settled = eng.run(Request("settlement"))
    if not settled.approved:
        problems.append("settlement after: %s %s" % (settled.error, settled.response_code))
    elif not settled.settlement["balanced"]:
        problems.append("settlement after: flags %s" % settled.settlement["flags"])
    if book.reused:
        problems.append("STANs reused: %r" % book.reused)
    # What a chip card left for the host reached it, whatever the cut: each IC detail at
    # least once (a record sent again is the host's to keep once), the script notice too.
    for field55 in world.day.get("ic", ()):
        if field55 not in book.ic_details:
            problems.append("IC detail %s never uploaded" % field55[-2:].hex())
    notice = world.day.get("notice")
    if notice is not None and notice not in book.notices:
        problems.append("script result notice of %s never sent" % notice)
    return problems


def campaign(flow, block_size, tears=(False, True), every=1):
    """Cut `flow` at every `every`-th flash write (1: every one), clean and/or torn, at
    `block_size`-byte erase blocks. Returns {"writes", "points", "recovered", "lost",
    "problems": [(cut, torn, [what])]}."""
    # The terminal's heap policy (a collection every 4 KB allocated, app/__init__.py) keeps
    # 110 KB from fragmenting; in this test's large heap it would be most of the run's time.
    gc.threshold(-1)
    world = World(block_size)
    try:
        _prepare(world, flow)
        world.restore()
        eng = world.boot()
        world.flash.dev.reset_counters()
        clean = _run(world, eng, flow)
        writes = world.flash.dev.writes
        assert clean is True or clean.approved, (flow, clean.error, clean.detail)
        figures = {"writes": writes, "points": 0, "recovered": 0, "lost": 0, "problems": []}
        for tear in tears:
            for n in range(1, writes + 1, every):
                world.restore()
                eng = world.boot()
                world.flash.dev.cut(n, tear)
                try:
                    _run(world, eng, flow)
                except (PowerOff, OSError):  # what the terminal did not live to see
                    pass
                assert world.flash.dev.dead, (flow, n)
                eng = None
                world.flash.reboot()
                problems = check(world, flow)
                figures["points"] += 1
                if problems:
                    figures["lost"] += 1
                    figures["problems"].append((n, tear, problems))
                else:
                    figures["recovered"] += 1
        return figures
    finally:
        world.close()


def report(flow, block_size, figures):
    """One line of figures and one per cut point lost, for a person to read."""
    lines = [
        "%s, %d-byte blocks: %d writes, %d cut points, %d recovered, %d lost"
        % (
            flow,
            block_size,
            figures["writes"],
            figures["points"],
            figures["recovered"],
            figures["lost"],
        )
    ]
    for n, tear, problems in figures["problems"]:
        lines.append(
            "  cut at write %d%s: %s" % (n, " (torn)" if tear else "", "; ".join(problems))
        )
    return "\n".join(lines)
