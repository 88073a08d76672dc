"""The sets the acquirer's host downloads at sign-on (docs/iso8583.md §13, app.txn.icdownload):
the CA public keys (CAPK), the IC application (AID) parameters, the card black list
(BLACKLIST, read by app.store.blacklist) and the contactless parameters (CONTACTLESS).

    sets = ICSets(store.root)
    key = sets.ca_key(b"\\xa0\\x00\\x00\\x03\\x33", 0x08)   # {tag: value} or None
    key[0xDF02], key[0xDF04]                             # modulus, exponent
    sets.aid_list()                                      # [AID bytes, ...]
    params = sets.aid(b"\\xa0\\x00\\x00\\x03\\x33\\x01\\x01\\x01")  # {tag: value} or None
    sets.summary(CAPK)                                   # (count, check, date) or None

    writer = sets.writer(CAPK)      # a download: one entry at a time, straight to flash
    writer.add(tlv)                 # each entry's TLV as the host sent it
    writer.commit("20261207190500") # the new set replaces the old one, at once

The rule it keeps: a set on flash is the old one or the new one whole, never a mix, and a
download cut off (a broken line, a power cut) leaves the old one. Each set is one file of
framed records (app.store.records.Journal's framing: magic, sequence, CRC32), one record an
entry, then a summary record; a download writes `NAME.tmp` an entry at a time and renames it
over `NAME.set` after its summary: the rename is one LittleFS commit. A `.tmp` a power cut
left is removed by the record store's recovery at boot, or by the next download.

Why a file of records and not a RecordStore record: ten CA keys of 248-byte moduli are about
3 KB, which the terminal's heap at idle does not have to spare; a record is saved whole from
one buffer, this file an entry at a time (about 300 bytes each).

Entries are kept as the host sent them: TLV (tags as EMV and the CUP terminal specification
number them, docs/iso8583.md §13), read back as {tag (int): value (bytes)}; a black list
entry as its digits. The set's check value is the first 4 bytes of SHA-1 over its entries
in download order, so the installer can compare the terminal's with the host's (`poskit
hostsim ic-sets`).
"""

import binascii
import hashlib
import os

from app.emv import tlv as _tlv
from app.emv.tlv import TlvError  # noqa: F401 (raised by items and tlv)
from app.store.records import Journal

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

CAPK = const(4)  # the host's processing requirement digit that asks for each set (spec §1)
AID = const(5)
BLACKLIST = const(7)  # the card black list (app.store.blacklist reads it)
CONTACTLESS = const(9)  # the contactless (qPBOC) parameters: one entry, over every AID's
_NAMES = {CAPK: "capk", AID: "aid", BLACKLIST: "black", CONTACTLESS: "ctls"}
_SUMMARY = const(0x3D)  # "=": a summary record (an entry starts with its first tag, 9F06)
_SUMMARY_SIZE = const(20)  # "=" + count (1) + check (4) + date and time (14 digits)
MAX_ENTRIES = const(32)  # more than any acquirer sends (about 10 keys, a handful of AIDs)
MAX_BLACKLIST = const(200)  # black list entries: about 8 KB of flash at most
# The contactless parameters an entry of set CONTACTLESS sets over each AID's (app.emv.qpboc):
# DF19 offline floor limit, DF20 transaction limit, DF21 CVM limit, 9F7B e-cash limit.
CONTACTLESS_TAGS = (0xDF19, 0xDF20, 0xDF21, 0x9F7B)

TAG_AID = const(0x9F06)  # the RID of a CA key, the AID of an AID entry
TAG_INDEX = const(0x9F22)  # CA public key index
TAG_MODULUS = const(0xDF02)
TAG_CHECK = const(0xDF03)
TAG_EXPONENT = const(0xDF04)


def items(data):
    """Iterate over (tag, value) of the BER-TLV `data` in order (app.emv.tlv's reading:
    tags of up to three bytes, lengths of up to two after 81/82, 00/FF padding skipped; values
    are memoryview slices of `data`). TlvError where it does not parse. One level only: the
    DF tags of these sets have the "constructed" bit of their first byte set but hold plain
    values (a modulus, a limit)."""
    view = memoryview(data)
    for tag, first, last in _tlv.items(view, 0, len(view)):
        yield tag, view[first:last]


def tlv(data):
    """{tag: value (bytes)} of the BER-TLV `data` (see items). TlvError if it does not
    parse to its end."""
    out = {}
    for tag, value in items(data):
        out[tag] = bytes(value)
    return out


def _hex(data):
    return binascii.hexlify(data).decode().upper()


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


class ICSets:
    """The CAPK and AID sets in folder `root` (the record store's)."""

    def __init__(self, root):
        self.root = root

    def _path(self, kind, suffix):
        return "%s/%s.%s" % (self.root, _NAMES[kind], suffix)

    def _entries(self, kind):
        # The entries' payloads in order, then the summary's (None: no set).
        try:
            os.stat(self._path(kind, "set"))
        except OSError:
            return None
        return Journal(self._path(kind, "set")).records()

    def payloads(self, kind):
        """Iterate over each entry of set `kind` as the host sent it (bytes)."""
        records = self._entries(kind)
        if records is None:
            return
        for _, payload in records:
            if payload[0] != _SUMMARY:
                yield payload

    def entries(self, kind):
        """Iterate over {tag: value} of each entry of set `kind` (CAPK, AID, CONTACTLESS)."""
        for payload in self.payloads(kind):
            yield tlv(payload)

    def summary(self, kind):
        """(count, check value as 8 hex digits, date and time YYYYMMDDhhmmss of the download)
        of set `kind`, or None when the terminal has none."""
        last = None
        records = self._entries(kind)
        if records is None:
            return None
        for _, payload in records:
            last = payload
        if last is None or last[0] != _SUMMARY or len(last) != _SUMMARY_SIZE:
            return None
        return last[1], _hex(last[2:6]), bytes(last[6:]).decode()

    def ca_key(self, rid, index):
        """{tag: value} of CA public key `index` (int) of `rid` (5 bytes), or None: 9F06 RID,
        9F22 index, DF05 expiry, DF06 hash and DF07 key algorithm, DF02 modulus, DF04
        exponent, DF03 check value (verified at the download)."""
        want = bytes((index,))
        for entry in self.entries(CAPK):
            if entry.get(TAG_AID) == rid and entry.get(TAG_INDEX) == want:
                return entry
        return None

    def aid_list(self):
        """The AIDs of the AID set, in the host's order."""
        return [entry[TAG_AID] for entry in self.entries(AID) if TAG_AID in entry]

    def aid(self, aid):
        """{tag: value} of the parameters of `aid` (bytes), or None. The contactless
        parameters the host downloaded (set CONTACTLESS) replace the AID's own
        CONTACTLESS_TAGS: they are the acquirer's newer word on its quick-pass limits."""
        for entry in self.entries(AID):
            if entry.get(TAG_AID) == aid:
                for extra in self.entries(CONTACTLESS):
                    for tag in CONTACTLESS_TAGS:
                        if tag in extra:
                            entry[tag] = extra[tag]
                return entry
        return None

    def writer(self, kind):
        """A SetWriter for a download of set `kind`: the old set stays until its commit."""
        writer = SetWriter(self._path(kind, "tmp"), self._path(kind, "set"))
        if kind == BLACKLIST:
            writer.limit = MAX_BLACKLIST
        return writer


class SetWriter:
    """A set being downloaded: `add` each entry (written to flash at once), `commit` when the
    last is in; `discard` (or nothing: the next download or the boot removes it) otherwise."""

    def __init__(self, staging, final):
        self._staging = staging
        self._final = final
        _remove(staging)  # a download a power cut or a broken line left
        self._journal = Journal(staging)
        self._hash = hashlib.sha1()
        self.count = 0
        self.limit = MAX_ENTRIES

    def add(self, entry):
        """Append one entry (bytes: a TLV, or a black list entry). ValueError beyond
        MAX_ENTRIES (MAX_BLACKLIST for the black list)."""
        if self.count >= self.limit:
            raise ValueError("more than %d entries" % self.limit)
        self._journal.append(entry)
        self._hash.update(entry)
        self.count += 1

    def commit(self, when):
        """Write the summary (`when`: YYYYMMDDhhmmss) and put the set in place of the old.
        Returns the set's check value (8 hex digits)."""
        summary = bytearray(_SUMMARY_SIZE)
        summary[0] = _SUMMARY
        summary[1] = self.count
        summary[2:6] = self._hash.digest()[:4]  # once: MicroPython's hash ends at digest()
        summary[6:] = when.encode()
        self._journal.append(summary)
        os.rename(self._staging, self._final)
        return _hex(summary[2:6])

    def discard(self):
        _remove(self._staging)
