"""The simulator's state in SQLite: terminals and their keys, test cards, transactions, batch
settlements and uploads, switchable faults.

One connection serves every server thread (the caller serialises access with a lock); a file
database can also be opened by a second process — `poskit hostsim --db FILE --fault …` sets a
fault in a running simulator that way — so writes are short transactions and the connection
waits for a busy database instead of failing.

TMKs and working keys are stored as clear hex: this is a test host. A real acquirer keeps
them inside an HSM and only ever handles them encrypted under the HSM's local master key.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS terminals (
    tid TEXT PRIMARY KEY,
    mid TEXT NOT NULL,
    merchant_name TEXT NOT NULL DEFAULT '',
    tmk TEXT NOT NULL,                      -- clear hex: test host only (real hosts: HSM)
    key_alg TEXT NOT NULL,                  -- DES, 3DES or SM4 (the TMK's algorithm)
    signon_mode TEXT,                       -- 001/003/004/006 the terminal must use; NULL any
    batch INTEGER NOT NULL DEFAULT 1,       -- the host's current batch for this terminal
    last_signon TEXT,
    signed_on INTEGER NOT NULL DEFAULT 0,
    proc_req TEXT NOT NULL DEFAULT '0',     -- header digit 6 for the next response
    proc_req_persistent INTEGER NOT NULL DEFAULT 0,
    strict_batch INTEGER NOT NULL DEFAULT 0,-- 1: a financial 60.2 other than `batch` -> 77
    -- The acquirer profile this terminal is set up for (docs/hostsim.md, "Profiles"):
    signon_layout TEXT,                     -- field 62 layout; NULL: the one of 60.3
    field60_length INTEGER,                 -- 8 or 14 digits in financial requests; NULL any
    field26 TEXT,                           -- 12 or 06 when a PIN is sent; NULL any
    mac_method TEXT NOT NULL DEFAULT 'cup', -- cup, x9.19, x9.19-hex
    lri INTEGER,                            -- 1 LRI header required, 0 refused, NULL either
    settle_empty_flag TEXT NOT NULL DEFAULT '1', -- 0510 flag of a section with nothing in it
    cryptogram_fail_code TEXT NOT NULL DEFAULT '05', -- 39 when an ARQC or TC does not verify
    capk_check TEXT,                        -- check value of the CA key set last downloaded
    aid_check TEXT,                         -- and of the IC parameter set; NULL: never
    black_check TEXT,                       -- and of the black list
    ctls_check TEXT                         -- and of the contactless parameters
);
CREATE TABLE IF NOT EXISTS working_keys (
    tid TEXT PRIMARY KEY REFERENCES terminals(tid),
    mode TEXT NOT NULL,
    family TEXT NOT NULL,                   -- DES (DES/3DES by key length) or SM4
    pik TEXT NOT NULL,
    mak TEXT NOT NULL,
    tdk TEXT,
    issued_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cards (
    pan TEXT PRIMARY KEY,
    expiry TEXT NOT NULL,                   -- YYMM
    track2 TEXT,
    pin TEXT,                               -- NULL: no PIN required
    balance INTEGER NOT NULL DEFAULT 0,     -- fen
    held INTEGER NOT NULL DEFAULT 0,        -- fen held by open pre-authorisations
    status TEXT NOT NULL DEFAULT 'active',  -- active, blocked, lost, stolen
    txn_limit INTEGER,                      -- fen per transaction; NULL no limit
    holder TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS transactions (
    id INTEGER PRIMARY KEY,
    tid TEXT NOT NULL,
    mid TEXT NOT NULL,
    batch INTEGER NOT NULL,
    stan INTEGER NOT NULL,
    type TEXT NOT NULL,
    mti TEXT NOT NULL,
    proc_code TEXT NOT NULL DEFAULT '',
    amount INTEGER NOT NULL DEFAULT 0,
    pan TEXT,
    rrn TEXT,
    auth_code TEXT,
    response_code TEXT NOT NULL,
    status TEXT NOT NULL,   -- approved declined voided reversed refunded completed
    date TEXT NOT NULL,     -- YYYYMMDD, host date
    time TEXT NOT NULL,     -- hhmmss
    orig_id INTEGER,        -- the transaction this one voids/refunds/completes/reverses
    refunded INTEGER NOT NULL DEFAULT 0,
    settled INTEGER NOT NULL DEFAULT 0,
    reason TEXT,            -- reversal: the terminal's 39
    psn TEXT,               -- chip: the PAN sequence number (23 or 5F34)
    icc_data TEXT,          -- chip: the request's field 55 (hex)
    icc_response TEXT,      -- chip: the answer's field 55 (hex: 91, scripts)
    script_result TEXT      -- chip: DF31/9F5B of the script result notice (hex)
);
CREATE INDEX IF NOT EXISTS txn_stan ON transactions (tid, batch, stan);
CREATE INDEX IF NOT EXISTS txn_rrn ON transactions (rrn);
CREATE TABLE IF NOT EXISTS settlements (
    tid TEXT NOT NULL,
    batch INTEGER NOT NULL,
    terminal_totals TEXT NOT NULL,          -- request field 48
    host_totals TEXT NOT NULL,              -- response field 48
    result TEXT NOT NULL,                   -- balanced, unbalanced
    upload_records INTEGER NOT NULL DEFAULT 0,
    upload_total INTEGER,                   -- 0320/202 field 48
    at TEXT NOT NULL,
    PRIMARY KEY (tid, batch)
);
CREATE TABLE IF NOT EXISTS batch_uploads (
    id INTEGER PRIMARY KEY,
    tid TEXT NOT NULL,
    batch INTEGER NOT NULL,
    stan INTEGER NOT NULL,
    card_class TEXT NOT NULL,
    pan TEXT NOT NULL,
    amount INTEGER NOT NULL,
    matched INTEGER NOT NULL,
    icc_data TEXT,                          -- 0320/203-206: field 55 (hex)
    cryptogram_ok INTEGER                   -- 0320/203-206: its 9F26 verifies (1) or not (0)
);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    tid TEXT,               -- NULL: every terminal
    mti TEXT,               -- request MTI; NULL: any
    txn TEXT,               -- message type name (sale, sign_on, ...); NULL: any
    remaining INTEGER,      -- NULL: persistent
    delay REAL NOT NULL DEFAULT 0,
    code TEXT,
    process INTEGER NOT NULL DEFAULT 1,
    script TEXT             -- issuer_script: which script (chip.Script)
);
CREATE TABLE IF NOT EXISTS ic_entries (   -- the IC sets downloaded at sign-on (icsets.py)
    kind TEXT NOT NULL,                     -- capk, aid, black or ctls
    position INTEGER NOT NULL,              -- download order
    key TEXT NOT NULL,                      -- RID+index or AID, hex; the black list's digits
    tlv TEXT NOT NULL,                      -- the entry as a 370/380/390/394 answer carries it
    PRIMARY KEY (kind, position)
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

# Columns added to a table after its first release: (table, column, definition). A database
# file made before them gets them on open, with their defaults.
_ADDED = (
    ("terminals", "signon_layout", "TEXT"),
    ("terminals", "field60_length", "INTEGER"),
    ("terminals", "field26", "TEXT"),
    ("terminals", "mac_method", "TEXT NOT NULL DEFAULT 'cup'"),
    ("terminals", "lri", "INTEGER"),
    ("terminals", "settle_empty_flag", "TEXT NOT NULL DEFAULT '1'"),
    ("terminals", "cryptogram_fail_code", "TEXT NOT NULL DEFAULT '05'"),
    ("transactions", "psn", "TEXT"),
    ("transactions", "icc_data", "TEXT"),
    ("transactions", "icc_response", "TEXT"),
    ("transactions", "script_result", "TEXT"),
    ("batch_uploads", "icc_data", "TEXT"),
    ("batch_uploads", "cryptogram_ok", "INTEGER"),
    ("faults", "script", "TEXT"),
    ("terminals", "capk_check", "TEXT"),
    ("terminals", "aid_check", "TEXT"),
    ("terminals", "black_check", "TEXT"),
    ("terminals", "ctls_check", "TEXT"),
)


class Store:
    """Thin data access over the SQLite file; every method returns plain dicts."""

    def __init__(self, path: str = ":memory:") -> None:
        # isolation_level=None: autocommit, with explicit BEGIN IMMEDIATE for a whole message
        # so a crash half-way through a transaction leaves no half-booked state.
        self.db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        if path != ":memory:":
            # WAL: a second process (setting a fault) never blocks the server for long;
            # NORMAL sync: a power cut may lose the last messages, never corrupt the file.
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        for table, column, definition in _ADDED:
            have = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
        self._depth = 0

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")
        finally:
            self._depth = 0

    # -- generic helpers ------------------------------------------------------------------

    def _one(self, sql: str, *args: Any) -> dict | None:
        row = self.db.execute(sql, args).fetchone()
        return dict(row) if row else None

    def _all(self, sql: str, *args: Any) -> list[dict]:
        return [dict(r) for r in self.db.execute(sql, args).fetchall()]

    def _update(self, table: str, key: str, value: Any, changes: dict) -> None:
        if not changes:
            return
        cols = ", ".join(f"{c} = ?" for c in changes)
        self.db.execute(f"UPDATE {table} SET {cols} WHERE {key} = ?", (*changes.values(), value))

    def next_seq(self, name: str) -> int:
        self.db.execute(
            "INSERT INTO meta (name, value) VALUES (?, 1) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1",
            (name,),
        )
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    # -- terminals and keys ---------------------------------------------------------------

    def put_terminal(self, **cols: Any) -> None:
        names = ", ".join(cols)
        marks = ", ".join("?" for _ in cols)
        self.db.execute(
            f"INSERT OR REPLACE INTO terminals ({names}) VALUES ({marks})", tuple(cols.values())
        )

    def terminal(self, tid: str) -> dict | None:
        return self._one("SELECT * FROM terminals WHERE tid = ?", tid)

    def terminals(self) -> list[dict]:
        return self._all("SELECT * FROM terminals ORDER BY tid")

    def update_terminal(self, tid: str, **changes: Any) -> None:
        self._update("terminals", "tid", tid, changes)

    def ic_entries(self, kind: str) -> list[dict]:
        """The entries of IC set `kind` (capk, aid) in download order: key, tlv (hex)."""
        return self._all("SELECT key, tlv FROM ic_entries WHERE kind = ? ORDER BY position", kind)

    def replace_ic_set(self, kind: str, entries: list[tuple[str, str]]) -> None:
        """Set `kind` becomes `entries`: (key, TLV hex) in download order."""
        self.db.execute("DELETE FROM ic_entries WHERE kind = ?", (kind,))
        self.db.executemany(
            "INSERT INTO ic_entries (kind, position, key, tlv) VALUES (?, ?, ?, ?)",
            [(kind, n, key, body) for n, (key, body) in enumerate(entries)],
        )

    def put_keys(self, tid: str, **cols: Any) -> None:
        cols["tid"] = tid
        names = ", ".join(cols)
        marks = ", ".join("?" for _ in cols)
        self.db.execute(
            f"INSERT OR REPLACE INTO working_keys ({names}) VALUES ({marks})",
            tuple(cols.values()),
        )

    def keys(self, tid: str) -> dict | None:
        return self._one("SELECT * FROM working_keys WHERE tid = ?", tid)

    def drop_keys(self, tid: str) -> None:
        self.db.execute("DELETE FROM working_keys WHERE tid = ?", (tid,))

    # -- cards ----------------------------------------------------------------------------

    def put_card(self, **cols: Any) -> None:
        names = ", ".join(cols)
        marks = ", ".join("?" for _ in cols)
        self.db.execute(
            f"INSERT OR REPLACE INTO cards ({names}) VALUES ({marks})", tuple(cols.values())
        )

    def card(self, pan: str) -> dict | None:
        return self._one("SELECT * FROM cards WHERE pan = ?", pan)

    def cards(self) -> list[dict]:
        return self._all("SELECT * FROM cards ORDER BY pan")

    def update_card(self, pan: str, **changes: Any) -> None:
        self._update("cards", "pan", pan, changes)

    def adjust_card(self, pan: str, balance: int = 0, held: int = 0) -> None:
        self.db.execute(
            "UPDATE cards SET balance = balance + ?, held = held + ? WHERE pan = ?",
            (balance, held, pan),
        )

    # -- transactions ---------------------------------------------------------------------

    def add_txn(self, **cols: Any) -> int:
        names = ", ".join(cols)
        marks = ", ".join("?" for _ in cols)
        cur = self.db.execute(
            f"INSERT INTO transactions ({names}) VALUES ({marks})", tuple(cols.values())
        )
        return int(cur.lastrowid or 0)

    def txn(self, txn_id: int) -> dict | None:
        return self._one("SELECT * FROM transactions WHERE id = ?", txn_id)

    def update_txn(self, txn_id: int, **changes: Any) -> None:
        self._update("transactions", "id", txn_id, changes)

    def find_txns(self, **where: Any) -> list[dict]:
        """Transactions matching every column = value (a tuple value means IN)."""
        clauses, args = [], []
        for col, value in where.items():
            if isinstance(value, tuple):
                clauses.append(f"{col} IN ({', '.join('?' for _ in value)})")
                args.extend(value)
            else:
                clauses.append(f"{col} = ?")
                args.append(value)
        sql = "SELECT * FROM transactions"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        return self._all(sql + " ORDER BY id", *args)

    def settle_batch(self, tid: str, batch: int) -> None:
        self.db.execute(
            "UPDATE transactions SET settled = 1 WHERE tid = ? AND batch = ?", (tid, batch)
        )

    # -- settlement and batch upload ------------------------------------------------------

    def put_settlement(self, **cols: Any) -> None:
        names = ", ".join(cols)
        marks = ", ".join("?" for _ in cols)
        self.db.execute(
            f"INSERT OR REPLACE INTO settlements ({names}) VALUES ({marks})",
            tuple(cols.values()),
        )

    def settlements(self, tid: str | None = None) -> list[dict]:
        if tid is None:
            return self._all("SELECT * FROM settlements ORDER BY at, tid, batch")
        return self._all("SELECT * FROM settlements WHERE tid = ? ORDER BY at, batch", tid)

    def update_settlement(self, tid: str, batch: int, **changes: Any) -> None:
        cols = ", ".join(f"{c} = ?" for c in changes)
        self.db.execute(
            f"UPDATE settlements SET {cols} WHERE tid = ? AND batch = ?",
            (*changes.values(), tid, batch),
        )

    def add_upload(self, **cols: Any) -> None:
        names = ", ".join(cols)
        marks = ", ".join("?" for _ in cols)
        self.db.execute(
            f"INSERT INTO batch_uploads ({names}) VALUES ({marks})", tuple(cols.values())
        )

    def uploads(self, tid: str, batch: int) -> list[dict]:
        return self._all(
            "SELECT * FROM batch_uploads WHERE tid = ? AND batch = ? ORDER BY id", tid, batch
        )

    # -- faults ---------------------------------------------------------------------------

    def add_fault(self, **cols: Any) -> int:
        names = ", ".join(cols)
        marks = ", ".join("?" for _ in cols)
        cur = self.db.execute(
            f"INSERT INTO faults ({names}) VALUES ({marks})", tuple(cols.values())
        )
        return int(cur.lastrowid or 0)

    def faults(self) -> list[dict]:
        return self._all("SELECT * FROM faults ORDER BY id")

    def clear_faults(self, tid: str | None = None) -> int:
        if tid is None:
            return self.db.execute("DELETE FROM faults").rowcount
        return self.db.execute("DELETE FROM faults WHERE tid = ?", (tid,)).rowcount

    def consume_fault(self, fault: dict) -> None:
        if fault["remaining"] is None:
            return
        if fault["remaining"] <= 1:
            self.db.execute("DELETE FROM faults WHERE id = ?", (fault["id"],))
        else:
            self.db.execute(
                "UPDATE faults SET remaining = remaining - 1 WHERE id = ?", (fault["id"],)
            )
