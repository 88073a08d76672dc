"""Power-safe records and an append-only journal on LittleFS v2 (docs/storage.md).

A power cut at any flash write leaves every record and journal in its old or its new state,
never a corrupt one. Two mechanisms give that, one per kind of data:

- `RecordStore` keeps each named record (parameters, keys, identity) in two slots,
  `name.a` and `name.b`. `save` rewrites the slot holding the older copy whole, in place:
  LittleFS makes a file's new contents visible in one metadata commit, at close, so the slot
  holds the old or the new file, and the newer copy in the other slot is never touched. One
  commit a save (two for a slot's very first save: its creation is a commit of its own, and
  an empty slot file, which that cut leaves, reads as a missing copy).
- `Journal` is one file of records, each appended with a single write. LittleFS commits an
  append at close (copying the file's partly filled last block, never touching full ones), so
  earlier records are not rewritten; the framing still lets a torn tail be found, and it is
  cut off when the journal is opened.

Every record on flash is framed the same way::

    "PK"  format (1)  payload version (1)  length (2, big-endian)  sequence (4, big-endian)
    payload (length bytes)  CRC32 (4, big-endian, over everything before it)

A bad CRC means "use the other copy"; when no copy is good, `StoreError` is raised: a damaged
record never reads as "not saved" or as defaults.

Memory: records are checked in 128-byte pieces through a buffer each object allocates once;
only a payload that is returned or appended is held whole. CRCs are computed into 4 bytes and
compared as bytes (app.crypto.crc32), and sequence numbers stay small ints: on the ESP32 a value
at or above 2**30 is a heap object, and a CRC or a masked sum would be one three times in four. The
objects are not re-entrant (one asyncio application calls them; no method awaits).
"""

import errno
import os
import struct

from app import message
from app.crypto import crc32

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731


_MAGIC_P = const(0x50)  # "P"
_MAGIC_K = const(0x4B)  # "K"
_FORMAT = const(1)  # framing version: a reader refuses (treats as damaged) any other
_HEADER = const(10)
_TRAILER = const(4)
_OVERHEAD = const(14)  # header + CRC
_MAX_PAYLOAD = const(65535)  # the length field's 2 bytes
_SEQUENCE_LAST = const(0xFFFFFFFF)  # sequences count modulo 2**32
_SEQUENCE_HALF = const(0x80000000)
_CHUNK = const(128)  # LittleFS's cache on MicroPython is 4 x 32-byte reads: read the same
_MISSING = const(-1)
_SLOTS = (".a", ".b")
_ABSENT = const(-1)  # RecordStore._newest: no copy on flash (never saved, or deleted)
_DAMAGED = const(-2)
_JOURNAL_VERSION = const(1)  # payload version byte of journal records
_SCAN_PAYLOAD = const(
    160
)  # Journal.records(reuse=True)'s buffer: a transaction record with its sealed card

# Messages, numbered from 0 by _M_* and formatted by _text() (app.message: one literal, not a
# heap object per message).
_M_NAME = const(0)
_M_TOO_LONG = const(1)
_M_VERSION = const(2)
_M_DAMAGED = const(3)
_M_JOURNAL_DAMAGED = const(4)
_MESSAGES = (
    "|bad record name %r: must be non-empty, without '/' or '.'"  # _M_NAME
    "|payload of %d bytes is too long: at most 65535"  # _M_TOO_LONG
    "|payload version %d out of range 0-255"  # _M_VERSION
    "|record %r is damaged in every copy"  # _M_DAMAGED
    "|journal %s is damaged at byte %d, with records after it"  # _M_JOURNAL_DAMAGED
    "|"
)


def _text(number, args=None):
    return message(_MESSAGES, number, args)


def free_blocks(path):
    """(blocks free, block size in bytes) of the filesystem holding `path`, from os.statvfs.
    A full LittleFS can count more blocks in use than it has, and MicroPython's statvfs then
    wraps the free count (block count minus blocks used, unsigned): 4294967294 blocks on a
    64-bit port, -2 on the ESP32's 32-bit one. Either reads as 0 here, never as 16 TB free."""
    st = os.statvfs(path)
    free = st[4]  # f_bavail
    if free < 0 or free > st[2]:  # f_blocks
        free = 0
    return free, st[1]  # f_frsize


class StoreError(OSError):
    """Every copy of a record (or the middle of a journal) is damaged.

    Raised instead of returning "not saved" or defaults: the caller must tell the operator.
    """


def _check_name(name):
    if not name or "/" in name or "." in name:
        raise ValueError(_text(_M_NAME, (name,)))


def _check_payload(payload):
    length = len(payload)
    if length > _MAX_PAYLOAD:
        raise ValueError(_text(_M_TOO_LONG, length))
    return length


def _open_existing(path):
    """The file at `path` opened for reading, or None if there is none. Other errors
    propagate: an unreadable file must not pass for a missing one."""
    try:
        return open(path, "rb")
    except OSError as exc:
        if exc.args[0] == errno.ENOENT:
            return None
        raise


def _remove(path):
    try:
        os.remove(path)
    except OSError as exc:
        if exc.args[0] != errno.ENOENT:
            raise


def _open_for_writing(path, mode):
    # The directory is made on first use, so constructing a store never writes to flash.
    try:
        return open(path, mode)
    except OSError as exc:
        if exc.args[0] != errno.ENOENT:
            raise
    os.mkdir(path[: path.rfind("/")])
    return open(path, mode)


def _write_all(f, data):
    if f.write(data) != len(data):
        raise OSError(errno.EIO)


def _newer(a, b):
    """Whether sequence `a` follows `b`, counting modulo 2**32 (RFC 1982 serial numbers): the
    two slots of a record always hold neighbouring sequences, so wrapping is harmless.
    Compared, not masked: `(a - b) & 0xFFFFFFFF` is a heap object on the ESP32."""
    if a > b:
        return a - b < _SEQUENCE_HALF
    return b - a > _SEQUENCE_HALF


def _following(sequence):
    """The sequence after `sequence`, modulo 2**32."""
    return sequence + 1 if sequence != _SEQUENCE_LAST else 0


def _pack_header(buf, version, length, sequence):
    buf[0] = _MAGIC_P
    buf[1] = _MAGIC_K
    struct.pack_into(">BBHI", buf, 2, _FORMAT, version, length, sequence)


def _word(buf, i):
    # Big-endian 32-bit word without struct.unpack_from's tuple (a small int for every
    # sequence below 2**30).
    return buf[i] << 24 | buf[i + 1] << 16 | buf[i + 2] << 8 | buf[i + 3]


class _Reader:
    """Checks records through a 128-byte buffer made once: a record is read header, payload
    in pieces, CRC, and nothing is kept but the payload `read` returns. After a successful
    `header`, `scan` or `read`, `version`, `length` and `sequence` describe the record.
    `crc` holds the CRC computed (and, in `save`, the one written)."""

    def __init__(self):
        self.buf = bytearray(_CHUNK)
        self.mv = memoryview(self.buf)
        self.head = self.mv[:_HEADER]
        self.tail = self.mv[:_TRAILER]
        self.crc = bytearray(_TRAILER)
        self.version = 0
        self.length = 0
        self.sequence = 0

    def header(self, f, available):
        """Read the header at `f`'s position: whether it is one, for a record that fits in
        the `available` bytes left in the file."""
        buf = self.buf
        if available < _OVERHEAD or f.readinto(self.head) != _HEADER:
            return False
        if buf[0] != _MAGIC_P or buf[1] != _MAGIC_K or buf[2] != _FORMAT:
            return False
        self.version = buf[3]
        self.length = buf[4] << 8 | buf[5]
        self.sequence = _word(buf, 6)
        return _OVERHEAD + self.length <= available

    def scan(self, f, available):
        """Check the record at `f`'s position without keeping its payload; if it is valid,
        `f` is left just after it."""
        if not self.header(f, available):
            return False
        buf, crc = self.buf, self.crc
        crc32.start(crc, buf, _HEADER)
        left = self.length
        while left >= _CHUNK:
            if f.readinto(self.mv) != _CHUNK:
                return False
            crc32.update(crc, buf, _CHUNK)
            left -= _CHUNK
        if left:
            if f.readinto(self.mv[:left]) != left:
                return False
            crc32.update(crc, buf, left)
        return f.readinto(self.tail) == _TRAILER and crc == self.tail

    def read(self, f, available, into=None):
        """The payload of the record at `f`'s position if it is valid, else None. With
        `into` (a memoryview) a payload that fits is read into it and a view of it returned,
        valid until the next read: nothing allocated but that view."""
        if not self.header(f, available):
            return None
        crc = self.crc
        crc32.start(crc, self.buf, _HEADER)
        length = self.length
        if into is not None and length <= len(into):
            payload = into[:length]
            if f.readinto(payload) != length:
                return None
        else:
            payload = f.read(length)
            if len(payload) != length:
                return None
        crc32.update(crc, payload)
        if f.readinto(self.tail) != _TRAILER or crc != self.tail:
            return None
        return payload


def _size(f):
    size = f.seek(0, 2)  # no os.stat: its 10-field tuple is the biggest allocation here
    f.seek(0)
    return size


class RecordStore:
    """Named records in `root`, each replaced atomically and kept in two copies.

    Names are plain words ("terminal", "app1", "keys"): no "/" or ".". A payload is bytes of
    at most 65535 bytes; `version` (0-255) is the payload's own format version, returned by
    `load` so a reader can refuse or convert an old layout.
    """

    def __init__(self, root="/data"):
        self.root = root
        # The journals' own flash region (app.store.logregion.Region), set by whoever mounts
        # the flash when the board has one; None: journals are files in `root`.
        self.journal_region: object = None
        self._reader = _Reader()
        # name -> what the last save, load or delete of it found, so that a save need not read
        # the slots first: `sequence << 2 | other << 1 | slot` of its newest valid copy (slot
        # 0: .a, 1: .b; other: 1 if the other slot is known to have no file), or _ABSENT (no
        # copy on flash), or None (or no entry): not known, read the slots. The store is the
        # only writer of `root` (one per terminal). An int, not a tuple: nothing allocated a
        # save (a small int below 2**28 saves of a name).
        self._newest = {}

    def _path(self, name, slot):
        return self.root + "/" + name + slot

    def _slot(self, path):
        """Sequence of the valid record in `path`, or _MISSING (an empty file too: a first
        save cut between the slot's creation and its close), or _DAMAGED."""
        f = _open_existing(path)
        if f is None:
            return _MISSING
        reader = self._reader
        with f:
            size = _size(f)
            if not size:
                return _MISSING
            if reader.scan(f, size) and _OVERHEAD + reader.length == size:
                return reader.sequence
        return _DAMAGED

    def save(self, name, payload, version=1):
        """Store `payload` as record `name`; returns its sequence number.

        Atomic: after a power cut at any point, `load` returns the previous payload or this
        one. The copy overwritten is a missing or damaged one if there is one, else the older:
        what the last `save`, `load` or `delete` of `name` found is remembered, so only the
        first save of a name after boot reads its slots.
        """
        _check_name(name)
        length = _check_payload(payload)
        if not 0 <= version <= 255:
            raise ValueError(_text(_M_VERSION, version))
        newest = self._newest.get(name)
        other = 0  # 2: the slot not written has no file
        if newest == _ABSENT:
            slot, sequence, other = 0, 1, 2
        elif newest is not None:
            # The newest copy is in slot newest & 1: the other one is older, missing or damaged.
            slot, sequence = 1 - (newest & 1), _following(newest >> 2)
        else:
            seq_a = self._slot(self._path(name, ".a"))
            seq_b = self._slot(self._path(name, ".b"))
            if seq_a < 0 and seq_b < 0:
                slot, sequence = 0, 1
                if seq_b == _MISSING:
                    other = 2
            elif seq_b < 0 or (seq_a >= 0 and not _newer(seq_b, seq_a)):
                # a holds the newest copy: keep it.
                slot, sequence = 1, _following(seq_a)
            else:
                slot, sequence = 0, _following(seq_b)
        reader = self._reader
        _pack_header(reader.buf, version, length, sequence)
        # The older slot rewritten whole. Three writes, no joined copy of the payload:
        # LittleFS makes nothing of them visible before the close, which commits them at once.
        # A failure part-way leaves the slot damaged at worst, the newest copy untouched; it is
        # forgotten, so the next save reads both slots again.
        self._newest[name] = None
        f = _open_for_writing(self._path(name, _SLOTS[slot]), "wb")
        try:
            _write_all(f, reader.head)
            _write_all(f, payload)
            crc32.start(reader.crc, reader.buf, _HEADER)
            crc32.update(reader.crc, payload)
            _write_all(f, reader.crc)
        finally:
            f.close()
        self._newest[name] = sequence << 2 | other | slot
        return sequence

    def load(self, name):
        """(version, payload) of the newest valid copy of record `name`, or None if it was
        never saved (or was deleted). Raises StoreError if copies exist but none is valid."""
        _check_name(name)
        newest = self._newest
        known = newest.get(name)
        if known == _ABSENT:
            return None  # deleted, or found missing, since: no need to look
        if known is not None:
            newest[name] = None
        reader = self._reader
        found = False
        first = second = None  # paths of copies whose header looks right, newest first
        first_sequence = 0
        for slot in _SLOTS:
            path = self._path(name, slot)
            f = _open_existing(path)
            if f is None:
                continue
            with f:
                size = _size(f)
                found = found or size > 0  # empty: a first save cut before its close
                looks_right = reader.header(f, size) and _OVERHEAD + reader.length == size
            # Closed, but its object (1.2 KB with LittleFS's cache) must not stay referenced
            # while the other slot opens: two at once are a heap peak of their own.
            f = None
            if not looks_right:
                continue
            if first is None:
                first, first_sequence = path, reader.sequence
            elif _newer(reader.sequence, first_sequence):
                first, second = path, first
            else:
                second = path
        for path in (first, second):
            if path is None:
                continue
            with open(path, "rb") as f:
                payload = reader.read(f, _size(f))
            if payload is not None:
                newest[name] = reader.sequence << 2 | (path[-1] == "b")
                return reader.version, payload
        if found:
            raise StoreError(_text(_M_DAMAGED, (name,)))
        newest[name] = _ABSENT
        return None

    def delete(self, name):
        """Remove record `name`. A power cut part-way leaves the record as it was before:
        the newest copy is removed last."""
        _check_name(name)
        newest = self._newest.get(name)
        if newest == _ABSENT:
            return  # nothing on flash: a pending reversal's usual case
        self._newest[name] = None
        path_a = self._path(name, ".a")
        path_b = self._path(name, ".b")
        if newest is None:
            seq_a = self._slot(path_a)
            seq_b = self._slot(path_b)
            newest = 0 if seq_a >= 0 and (seq_b < 0 or not _newer(seq_b, seq_a)) else 1
        if newest & 1 == 0:
            path_a, path_b = path_b, path_a
        if not newest & 2:
            _remove(path_a)  # the older copy first
        _remove(path_b)
        self._newest[name] = _ABSENT

    def recover(self):
        """At boot: remove the temporary files a power cut left in `root` (a journal's
        `.tmp`; a `slot.tmp` of the earlier layout, which saved through one and a rename).
        Returns how many were removed."""
        try:
            names = os.listdir(self.root)
        except OSError as exc:
            if exc.args[0] == errno.ENOENT:
                return 0
            raise
        removed = 0
        for entry in names:
            if entry.endswith(".tmp"):
                os.remove(self.root + "/" + entry)
                removed += 1
        return removed


class Journal:
    """An append-only file of records at `path`, e.g. one application's transactions.

    Opening it is the recovery step: a torn record at the tail (a cut in the middle of an
    append, on a filesystem that lets one show) is cut off by rewriting the valid records to
    `path.tmp` and renaming it over the journal. Damage with valid records after it is not a
    torn tail: StoreError is raised and nothing is cut off. Sequence numbers count from 1
    after each `clear`.
    """

    def __init__(self, path):
        self.path = path
        self._reader = _Reader()
        self._payload = None  # records(reuse=True)'s buffer, made on first use
        self._end = 0  # bytes of valid records; None after a failed append, until recovered
        self._next = 1
        self._recover()

    def _recover(self):
        _remove(self.path + ".tmp")  # an interrupted repair or clear: the journal is intact
        reader = self._reader
        end = size = 0
        last = 0
        f = _open_existing(self.path)
        if f is not None:
            with f:
                size = _size(f)
                while reader.scan(f, size - end):
                    end += _OVERHEAD + reader.length
                    last = reader.sequence
                if end < size and self._record_after(f, end, size):
                    raise StoreError(_text(_M_JOURNAL_DAMAGED, (self.path, end)))
        if end < size:
            self._rewrite(end)
        self._end = end
        self._next = _following(last)
        return end

    def _record_after(self, f, start, size):
        """Whether a valid record starts anywhere in start+1..size (error path only)."""
        reader = self._reader
        position = start + 1
        while position + _OVERHEAD <= size:
            f.seek(position)
            count = f.readinto(reader.mv)
            index = reader.buf.find(b"PK", 0, count)
            if index < 0:
                position += count - 1  # "P" may end this piece and "K" start the next
                continue
            f.seek(position + index)
            if reader.scan(f, size - position - index):
                return True
            position += index + 1
        return False

    def _rewrite(self, end):
        # Copy the first `end` bytes to path.tmp and rename it over the journal: the torn
        # bytes go away in one atomic commit, and appends never see them.
        tmp = self.path + ".tmp"
        mv = self._reader.mv
        with open(self.path, "rb") as source:
            target = _open_for_writing(tmp, "wb")
            try:
                left = end
                while left:
                    piece = mv[: min(left, _CHUNK)]
                    if source.readinto(piece) != len(piece):
                        raise OSError(errno.EIO)
                    _write_all(target, piece)
                    left -= len(piece)
            finally:
                target.close()
        os.rename(tmp, self.path)

    def append(self, payload):
        """Append `payload` (at most 65535 bytes) as one record, in a single write; returns
        its sequence number. Earlier records are never rewritten."""
        length = _check_payload(payload)
        end = self._end
        if end is None:
            end = self._recover()  # an earlier append failed part-way: cut off what it left
        sequence = self._next
        frame = bytearray(_OVERHEAD + length)
        _pack_header(frame, _JOURNAL_VERSION, length, sequence)
        frame[_HEADER : _HEADER + length] = payload
        crc = self._reader.crc
        crc32.start(crc, frame, _HEADER + length)
        frame[_HEADER + length :] = crc
        self._end = None
        f = _open_for_writing(self.path, "ab")
        try:
            _write_all(f, frame)
        finally:
            f.close()
        self._end = end + len(frame)
        self._next = _following(sequence)
        return sequence

    def records(self, reuse=False):
        """Iterate over (sequence, payload) of the records in order. Stops at the first
        damaged or torn record (only ever the tail, once the journal has been opened).

        `reuse`: each payload of up to 160 bytes is a memoryview of one buffer the journal
        made once, overwritten by the next record (a reader that keeps one copies it): a pass
        over thousands of records leaves nothing behind that could fragment the heap."""
        into = None
        if reuse:
            if self._payload is None:
                self._payload = memoryview(bytearray(_SCAN_PAYLOAD))
            into = self._payload
        f = _open_existing(self.path)
        if f is None:
            return
        reader = self._reader
        with f:
            left = _size(f)
            while True:
                payload = reader.read(f, left, into)
                if payload is None:
                    return
                left -= _OVERHEAD + reader.length
                yield reader.sequence, payload

    def count(self):
        """How many records the journal holds, without reading it (sequences count from 1
        after `clear`, one a record)."""
        return self._next - 1

    def clear(self):
        """Replace the journal with an empty one, atomically (after settlement)."""
        tmp = self.path + ".tmp"
        _open_for_writing(tmp, "wb").close()
        os.rename(tmp, self.path)
        self._end = 0
        self._next = 1
