"""Append-only journals in a raw flash region of their own (docs/storage.md, "Journal region").

    region = Region(board.journal_device())   # once, after the flash is mounted
    journal = region.journal(1)                # owner 1-255: app.store.journal picks them
    journal.append(b"...")                     # the same API as app.store.records.Journal
    for sequence, payload in journal.records(True): ...
    journal.clear()                            # after settlement

The rule it keeps: an append programs the record's own bytes and nothing else, and a power cut
at any byte of any write leaves the journal as it was before the write or after it. A record
on LittleFS cost its 140 bytes plus the copy of the file's partly filled last block (up to
4 KB, one block erase per append); here it is the record, padded to 16 bytes.

Why it holds:
- Each block of the region starts with a 16-byte header: magic "PJ", format 1, the owner (which
  journal), the owner's epoch, the block's place in the journal (ordinal), CRC32. A block whose
  header does not check, or whose epoch is not its owner's newest, is free; a free block is
  erased just before it is given a header, so a cut in the erase or the header leaves it free.
- Records are framed as app.store.records frames them (magic, length, sequence, CRC32) and
  start at 16-byte boundaries (the ESP32's flash encryption writes 16-byte pieces); each is one
  program of fresh, erased flash after the last record. A record torn at any byte fails its CRC
  and reads as absent; opening the journal finds it, and the next append starts a new block
  (erased NOR flash cannot be programmed twice).
- `clear` gives the owner a new epoch in one header write (a fresh block, ordinal 0): a cut
  before it leaves the whole journal, after it an empty one. The old epoch's blocks are free
  from then on: they are erased only when given out again, after the settlement that cleared
  them.
- An append never takes the last free block: it is kept for the next `clear`. `room()`
  counts without it and one more (a pending reversal's log, app.txn.reversal, may take it),
  and the engine refuses a transaction it could not journal (docs/transactions.md, "Batch
  capacity").

The region's device has the extended block protocol (readblocks/writeblocks with an offset,
ioctl 4/5/6): esp32.Partition on the terminal, a file on the virtual terminal, RAM in tests.
"""

import errno
import struct

from app.crypto import crc32
from app.store import records

try:
    from micropython import const
except ImportError:  # CPython host tests
    const = lambda value: value  # noqa: E731

_MAGIC_P = const(0x50)  # "P"
_MAGIC_J = const(0x4A)  # "J"
_FORMAT = const(1)
_HEADER = const(16)  # block header; records start on 16-byte boundaries after it
_ALIGN = const(16)
_OVERHEAD = const(14)  # a record's framing (app.store.records)
_SCAN_PAYLOAD = const(160)  # records(reuse=True)'s buffer, as app.store.records.Journal's
# A journal record's frame at most, padded: what room() counts in. A chip sale's record with
# its slip lines (app.store.journal's IC data) is the largest of the ordinary ones, up to 192
# bytes of payload; an offline sale's is larger, and app.txn.offline asks for more room.
_LARGEST = const(208)
_SPARE = const(2)  # free blocks room() leaves out
_NONE = const(0)  # owner of a block with no valid header
_ENOSPC = const(28)  # not in MicroPython's errno module
_ERASED = b"\xff" * _ALIGN


def _word(buf, i):
    return buf[i] << 24 | buf[i + 1] << 16 | buf[i + 2] << 8 | buf[i + 3]


def _padded(n):
    return (n + _ALIGN - 1) & ~(_ALIGN - 1)


def _check(result):
    # A RAM test device returns -EIO; esp32.Partition and files raise or return None.
    if result:
        raise OSError(errno.EIO)


class _Cursor:
    """A file-like window on one block of the device, for app.store.records._Reader."""

    def __init__(self, device, block_size):
        self._device = device
        self._size = block_size
        self.block = 0
        self.position = 0

    def at(self, block, position):
        self.block = block
        self.position = position
        return self

    def readinto(self, buf):
        n = min(len(buf), self._size - self.position)
        if n <= 0:
            return 0
        if n < len(buf):
            buf = memoryview(buf)[:n]
        _check(self._device.readblocks(self.block, buf, self.position))
        self.position += n
        return n

    def read(self, n):
        buf = bytearray(n)
        return bytes(buf[: self.readinto(buf)])


class Region:
    """The journals kept on block device `device`. Reads every block's header once, here;
    afterwards it alone writes the device (one Region a device)."""

    def __init__(self, device):
        self.device = device
        self.block_size = device.ioctl(5, 0)
        count = device.ioctl(4, 0)
        self.block_count = count
        # Per block: the owner whose current journal (newest epoch) it holds, _NONE if it is
        # free. Epochs and ordinals stay in the headers, read again where a journal is
        # opened: a table of them would keep 1 KB of an ESP32's heap for the region's life.
        self._owner = bytearray(count)
        self._cursor = _Cursor(device, self.block_size)
        self._reader = records._Reader()
        self._next_free = 0  # where the search for a free block starts: wear goes round
        self._newest = {}  # owner -> its newest epoch on the device
        self._free = -1  # free blocks, counted again after each allocation
        self._journals = {}  # owner -> its RegionJournal: one writer a journal
        head = bytearray(_HEADER)
        for block in range(count):
            owner = self._header(block, head)
            if owner and _word(head, 4) > self._newest.get(owner, 0):
                self._newest[owner] = _word(head, 4)
        for block in range(count):
            owner = self._header(block, head)
            if owner and _word(head, 4) == self._newest[owner]:
                self._owner[block] = owner

    def _header(self, block, head):
        """Read `block`'s header into `head`; its owner, or _NONE if it does not check."""
        _check(self.device.readblocks(block, head, 0))
        if head[0] != _MAGIC_P or head[1] != _MAGIC_J or head[2] != _FORMAT:
            return _NONE
        crc = bytearray(4)
        crc32.start(crc, head, 12)
        return head[3] if crc == head[12:16] else _NONE

    def journal(self, owner):
        """The journal of `owner` (1-255), recovered (see RegionJournal) when first asked
        for; the same object afterwards, so that two engines never append from two ends."""
        if not 0 < owner < 256:
            raise ValueError("journal owner %r out of range 1-255" % (owner,))
        journal = self._journals.get(owner)
        if journal is None:
            journal = self._journals[owner] = RegionJournal(self, owner)
        return journal

    def owners(self):
        """The owners with a journal on the device (a block of their newest epoch)."""
        return sorted(self._newest)

    def epoch(self, owner):
        """The owner's newest epoch on the device, 0 if it has no block."""
        return self._newest.get(owner, 0)

    def blocks(self, owner):
        """The owner's blocks of its newest epoch, in journal order (their headers say it)."""
        head = bytearray(_HEADER)
        found = []
        for block in range(self.block_count):
            if self._owner[block] == owner:
                self._header(block, head)
                found.append((_word(head, 8), block))
        found.sort()
        return [block for _, block in found]

    def free(self):
        """How many blocks hold no journal's current records."""
        if self._free < 0:
            self._free = sum(1 for owner in self._owner if owner == _NONE)
        return self._free

    def allocate(self, owner, epoch, ordinal, keep=1):
        """Erase a free block and write its header; returns the block. OSError(ENOSPC) when
        no more than `keep` blocks are free (an append keeps one for the next clear)."""
        if self.free() <= keep:
            raise OSError(_ENOSPC)
        count = self.block_count
        for i in range(count):
            block = (self._next_free + i) % count
            if self._owner[block] == _NONE:
                break
        else:
            raise OSError(_ENOSPC)
        _check(self.device.ioctl(6, block))
        head = bytearray(_HEADER)
        head[0] = _MAGIC_P
        head[1] = _MAGIC_J
        head[2] = _FORMAT
        head[3] = owner
        struct.pack_into(">II", head, 4, epoch, ordinal)
        crc = bytearray(4)
        crc32.start(crc, head, 12)
        head[12:16] = crc
        _check(self.device.writeblocks(block, head, 0))
        if epoch > self._newest.get(owner, 0):
            # A new epoch (a clear): the owner's older blocks are free from this write on.
            for other in range(count):
                if self._owner[other] == owner:
                    self._owner[other] = _NONE
            self._newest[owner] = epoch
        self._owner[block] = owner
        self._free = -1
        self._next_free = (block + 1) % count
        return block

    def erased(self, block, position):
        """Whether the block reads erased (0xFF) from `position` to its end."""
        piece = bytearray(_ALIGN)
        while position < self.block_size:
            _check(self.device.readblocks(block, piece, position))
            if piece != _ERASED:
                return False
            position += _ALIGN
        return True


class RegionJournal:
    """One owner's journal in a Region: app.store.records.Journal's API and meaning (records
    framed alike, sequences from 1 after `clear`, `records()` stops at a torn record), plus
    `room()`. Opening it is its recovery: the records of each block are checked up to the
    first that does not, and when the last block has anything but erased flash after its
    records (a torn append), appends go on in a fresh block."""

    def __init__(self, region, owner):
        self.region = region
        self.owner = owner
        self.path = "journal region, owner %d" % owner  # what errors and tools print
        self._payload = None  # records(reuse=True)'s buffer, made on first use
        self.version = 0  # the payload version of the record records() gave last
        self._recover()

    def _recover(self):
        region = self.region
        self._epoch = region.epoch(self.owner)
        self._blocks = region.blocks(self.owner)
        self._end = region.block_size  # where the next record goes in the last block
        last = 0
        cursor, reader = region._cursor, region._reader
        for block in self._blocks:
            position = _HEADER
            while reader.scan(cursor.at(block, position), region.block_size - position):
                position = _padded(position + _OVERHEAD + reader.length)
                last = reader.sequence
            self._end = position
        if self._blocks and not region.erased(self._blocks[-1], self._end):
            self._end = region.block_size  # a torn append: the next one starts a new block
        self._next = last + 1
        return self._end

    def append(self, payload, version=1):
        """Append `payload` as one record, in one program of erased flash; returns its
        sequence number. Earlier records are never rewritten. `version` (1-255): the
        payload's layout, in the record's frame (`records` tells it again)."""
        region = self.region
        length = len(payload)
        size = _padded(_OVERHEAD + length)
        if _HEADER + size > region.block_size:
            raise ValueError("journal record of %d bytes does not fit a flash block" % length)
        end = self._end
        if end is None:
            end = self._recover()  # an earlier append failed part-way
        self._end = None
        if end + size > region.block_size:
            epoch = self._epoch or 1
            block = region.allocate(self.owner, epoch, len(self._blocks))
            self._epoch = epoch
            self._blocks.append(block)
            end = _HEADER
        sequence = self._next
        frame = bytearray(size)
        records._pack_header(frame, version, length, sequence)
        frame[10 : 10 + length] = payload
        crc = bytearray(4)
        crc32.start(crc, frame, 10 + length)
        frame[10 + length : 14 + length] = crc
        _check(region.device.writeblocks(self._blocks[-1], frame, end))
        self._end = end + size
        self._next = sequence + 1
        return sequence

    def records(self, reuse=False):
        """Iterate over (sequence, payload), oldest first; as Journal.records. `version` holds
        the payload version of the record just given."""
        into = None
        if reuse:
            if self._payload is None:
                self._payload = memoryview(bytearray(_SCAN_PAYLOAD))
            into = self._payload
        region = self.region
        cursor, reader = region._cursor, region._reader
        for block in list(self._blocks):
            position = _HEADER
            while True:
                payload = reader.read(
                    cursor.at(block, position), region.block_size - position, into
                )
                if payload is None:
                    break
                position = _padded(position + _OVERHEAD + reader.length)
                self.version = reader.version
                yield reader.sequence, payload

    def count(self):
        """How many records the journal holds, without reading it."""
        return self._next - 1

    def epoch(self):
        """The journal's generation: 1 until its first `clear`, one more after each (its first
        block's header, given out by its first append, says 1 too)."""
        return self._epoch or 1

    def room(self):
        """How many more records of the largest kind the journal can take for sure: the
        current block's rest and the free blocks, less _SPARE (the block an append never
        takes, kept for `clear`, and one for a pending reversal's log, app.txn.reversal)."""
        region = self.region
        per_block = (region.block_size - _HEADER) // _LARGEST
        left = 0
        if self._blocks and self._end is not None:
            left = (region.block_size - self._end) // _LARGEST
        return left + max(region.free() - _SPARE, 0) * per_block

    def clear(self, keep=0):
        """Empty the journal in one header write (a new epoch); after settlement. `keep`: as
        Region.allocate's (a log emptied on the way keeps the block for a settlement's)."""
        if self._next == 1 and len(self._blocks) <= 1 and self._end is not None:
            if not self._blocks or self._end == _HEADER:
                return  # empty already, nothing torn in it
        epoch = self._epoch + 1
        self._end = None
        block = self.region.allocate(self.owner, epoch, 0, keep)
        self._epoch = epoch
        self._blocks = [block]
        self._end = _HEADER
        self._next = 1


def for_board(board):
    """The Region on `board.journal_device()`, or None where the board has none (journals
    are then LittleFS files, app.store.records.Journal). Whoever mounts the flash sets it as
    the record store's `journal_region`, so every engine on the store uses it."""
    make = getattr(board, "journal_device", None)
    device = make() if make is not None else None
    return Region(device) if device is not None else None
