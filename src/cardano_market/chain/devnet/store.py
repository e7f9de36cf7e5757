"""The devnet's state in one SQLite file (stdlib sqlite3, WAL): UTxOs, transactions, blocks.

Unspent outputs are keyed by (tx id, index) and hold the output's exact CBOR, so what a wallet or
builder reads back is byte-identical to what the transaction wrote. Writes go through `write()`,
an IMMEDIATE transaction: a validation and the state change it leads to are atomic, also when the
CLI and the service share the file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ...domain.cbor import encode_head
from ...domain.cip30 import OutRef, Utxo

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS utxos (
    tx_id BLOB NOT NULL,
    ix INTEGER NOT NULL,
    address BLOB NOT NULL,
    output BLOB NOT NULL,
    PRIMARY KEY (tx_id, ix)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS utxos_by_address ON utxos (address);
CREATE TABLE IF NOT EXISTS transactions (
    tx_id BLOB PRIMARY KEY,
    cbor BLOB NOT NULL,
    slot INTEGER NOT NULL,
    block INTEGER,
    is_valid INTEGER NOT NULL DEFAULT 1,
    fee INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS transactions_in_mempool ON transactions (block) WHERE block IS NULL;
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY,
    slot INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class TxRecord:
    tx_id: bytes
    cbor: bytes
    slot: int
    block: int | None  # None while in the mempool
    is_valid: bool  # False: a phase-2 failure that consumed its collateral
    fee: int


class Store:
    """A connection to the devnet file; thread-safe (one lock), shareable between processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        self._depth = 0
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def write(self) -> Iterator[None]:
        """An IMMEDIATE transaction (re-entrant): committed on success, rolled back on error."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    # -- meta -------------------------------------------------------------------------------------

    def meta(self, key: str) -> int | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else int(row[0])

    def set_meta(self, key: str, value: int) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- UTxOs ------------------------------------------------------------------------------------

    def utxo(self, ref: OutRef) -> Utxo | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT output FROM utxos WHERE tx_id = ? AND ix = ?", ref
            ).fetchone()
        return None if row is None else _utxo(ref[0], ref[1], row[0])

    def utxos_at(self, address: bytes) -> list[Utxo]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT tx_id, ix, output FROM utxos WHERE address = ? ORDER BY tx_id, ix",
                (address,),
            ).fetchall()
        return [_utxo(tx_id, ix, output) for tx_id, ix, output in rows]

    def utxo_count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM utxos").fetchone()[0])

    def spend(self, refs: Iterable[OutRef]) -> None:
        with self._lock:
            self._conn.executemany("DELETE FROM utxos WHERE tx_id = ? AND ix = ?", list(refs))

    def add_utxos(self, utxos: Iterable[Utxo]) -> None:
        with self._lock:
            self._conn.executemany(
                "INSERT INTO utxos (tx_id, ix, address, output) VALUES (?, ?, ?, ?)",
                [(u.tx_hash, u.index, u.address, u.output_cbor) for u in utxos],
            )

    # -- transactions and blocks ------------------------------------------------------------------

    def transaction(self, tx_id: bytes) -> TxRecord | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT tx_id, cbor, slot, block, is_valid, fee FROM transactions WHERE tx_id = ?",
                (tx_id,),
            ).fetchone()
        if row is None:
            return None
        return TxRecord(row[0], row[1], row[2], row[3], bool(row[4]), row[5])

    def add_transaction(
        self, tx_id: bytes, cbor: bytes, slot: int, block: int | None, *, is_valid: bool, fee: int
    ) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO transactions (tx_id, cbor, slot, block, is_valid, fee) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (tx_id, cbor, slot, block, int(is_valid), fee),
            )

    def last_block(self) -> tuple[int, int]:
        """(height, slot) of the newest block; (0, -1) before the first."""
        with self._lock:
            row = self._conn.execute(
                "SELECT height, slot FROM blocks ORDER BY height DESC LIMIT 1"
            ).fetchone()
        return (0, -1) if row is None else (int(row[0]), int(row[1]))

    def add_block(self, slot: int) -> int:
        """A new block at `slot` holding every transaction in the mempool; its height."""
        with self._lock:
            height = self.last_block()[0] + 1
            self._conn.execute("INSERT INTO blocks (height, slot) VALUES (?, ?)", (height, slot))
            self._conn.execute("UPDATE transactions SET block = ? WHERE block IS NULL", (height,))
        return height

    def clear(self) -> None:
        """Forget everything (the schema stays)."""
        with self.write():
            for table in ("utxos", "transactions", "blocks", "meta"):
                self._conn.execute(f"DELETE FROM {table}")


def _utxo(tx_id: bytes, ix: int, output: bytes) -> Utxo:
    prefix = b"\x82\x82\x58\x20" + tx_id + encode_head(0, ix)
    return Utxo.from_cbor(prefix + output, check_duplicates=False)
