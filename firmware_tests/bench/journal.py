# Journal lookups with thousands of records, for `make bench`: a void's lookup (find) and the
# settlement totals of app.store.journal beside the replay the journal had before (a set and a
# dict of every cancelled STAN, then a second pass; kept below as the reference), on a 1 MB
# LittleFS image file as on the terminal. Prints one JSON object per line:
#   {"name": "find" | "find_before" | "totals" | "totals_before", "records", "us" (best of 3),
#    "heap" (bytes allocated by one operation, garbage included)}
# Run by tools/bench.py (MicroPython, the default 2 MB heap); needs firmware_tests/mpy on the
# path, which it adds itself when run as a file.
import gc
import json
import sys
import time

_HERE = __file__.rpartition("/")[0]
sys.path.append((_HERE + "/" if _HERE else "") + "../mpy")

from test_journal_heap import ROOT, Flash, fill  # noqa: E402

from app.store import journal as jmod  # noqa: E402
from app.store.journal import SALE, TransactionJournal  # noqa: E402

gc.threshold(-1)  # the code's own time, without the terminal's collection policy
KEY = b"fedcba9876543210"
_VOIDS = (jmod.SALE_VOID, jmod.COMPLETION_VOID, jmod.PREAUTH_CANCEL)


def _n(p, at, size):
    return jmod._number(p, at, size)


class Before:
    """The replay as it was: every reversed STAN in a set, every void in a dict, built in a
    first pass over the whole journal; then a second pass over the batch's records."""

    def __init__(self, journal):
        self._journal = journal._journal

    def _cancelled(self, batch):
        reversed_ = set()
        voids = {}
        for _, p in self._journal.records():
            if p[0] != 1:
                continue
            kind = p[1]
            if kind & 0x80:
                if _n(p, 5, 3) == batch:
                    reversed_.add(_n(p, 2, 3))
            elif kind in _VOIDS:
                if _n(p, 52, 3) == batch and _n(p, 5, 3) == batch:
                    voids[_n(p, 49, 3)] = _n(p, 2, 3)
        return reversed_, voids

    @staticmethod
    def _status(stan, reversed_, voids):
        if stan in reversed_:
            return "reversed"
        void = voids.get(stan)
        if void is not None and void not in reversed_:
            return "voided"
        return "approved"

    def find(self, stan, batch, kinds=None):
        reversed_, voids = self._cancelled(batch)
        found = None
        for sequence, p in self._journal.records():
            if p[0] != 1 or p[1] & 0x80 or _n(p, 5, 3) != batch:
                continue
            entry = jmod.Entry(p, sequence)
            entry.status = self._status(entry.stan, reversed_, voids)
            if entry.stan == stan and (kinds is None or entry.kind in kinds):
                found = entry
        return found

    def totals(self, batch):
        reversed_, voids = self._cancelled(batch)
        debit = debit_count = credit = credit_count = 0
        for _, p in self._journal.records():
            if p[0] != 1 or _n(p, 5, 3) != batch:
                continue
            kind = p[1]
            if kind not in (22, 20, 24, 25):
                continue
            if self._status(_n(p, 2, 3), reversed_, voids) != "approved":
                continue
            if kind == 25:
                credit += _n(p, 8, 6)
                credit_count += 1
            else:
                debit += _n(p, 8, 6)
                debit_count += 1
        return debit, debit_count, credit, credit_count


def measure(name, records, fn):
    best = None
    heap = 0
    for _ in range(3):
        gc.collect()
        before = gc.mem_alloc()
        start = time.ticks_us()
        fn()
        us = time.ticks_diff(time.ticks_us(), start)
        heap = gc.mem_alloc() - before
        best = us if best is None or us < best else best
    print(json.dumps({"name": name, "records": records, "us": best, "heap": heap}))


def main():
    for records in (100, 3000):
        flash = Flash()
        try:
            journal = TransactionJournal(ROOT, 1, KEY)
            fill(journal, records)
            before = Before(journal)
            stan = records - 1  # a void looks up a recent sale
            assert journal.find(stan, 1, (SALE,)).stan == before.find(stan, 1, (SALE,)).stan
            assert journal.totals(1) == before.totals(1)
            for name, lookups in (("", journal), ("_before", before)):
                measure("find" + name, records, lambda j=lookups, s=stan: j.find(s, 1, (SALE,)))
                measure("totals" + name, records, lambda j=lookups: j.totals(1))
        finally:
            flash.close()


main()
