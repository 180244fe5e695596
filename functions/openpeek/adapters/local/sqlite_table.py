"""Table on a SQLite file: the embedded runtime's stand-in for the DynamoDB single table.

The key model is DynamoDB's (`pk`/`sk` strings, bytewise sort-key order, optional `version` and `expires_at`), so the
repositories cannot tell which adapter runs them. Each item is one row whose `body` is the item's JSON; `version` and
`expires_at` are copied into columns so conditions and a TTL sweep can read them without parsing JSON.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any, Sequence

from openpeek.domain.failures import ConditionFailed, DependencyUnavailable
from openpeek.domain.records import Delete, Item, Put

_MAX_TRANSACTION_OPERATIONS = 100  # DynamoDB's TransactWriteItems limit; keeping it here keeps both runtimes alike
_BUSY_TIMEOUT_S = 5.0  # how long a call waits for another writer's lock before it fails as unavailable
_MAX_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)  # not encodable as UTF-8, so never part of a stored key
_INDEX_NAME = re.compile(r"^gsi[0-9]{1,2}$")  # the DynamoDB adapter's convention: index gsiN keys on gsiNpk/gsiNsk

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    body TEXT NOT NULL,
    version INTEGER NULL,
    expires_at INTEGER NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID
"""


def _check_key(pk: Any, sk: Any) -> None:
    # DynamoDB refuses empty key strings; refusing them here too keeps a bug from passing only in the embedded runtime.
    if not isinstance(pk, str) or not pk or not isinstance(sk, str) or not sk:
        raise ValueError(f"item key must be two non-empty strings, got pk={pk!r} sk={sk!r}")


def _check_index(index: str) -> None:
    if not isinstance(index, str) or not _INDEX_NAME.match(index):
        raise ValueError(f"index must be named like 'gsi1', got {index!r}")


def _optional_int(item: Item, name: str) -> int | None:
    value = item.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"item attribute {name!r} must be an int, got {value!r}")
    return value


def _encode(item: Item) -> str:
    try:
        # NaN and infinities are not JSON; DynamoDB cannot store them either.
        return json.dumps(item, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"item {item.get('pk')!r}/{item.get('sk')!r} is not JSON-compatible: {error}") from error


def _prefix_upper_bound(prefix: str) -> str | None:
    """The least string greater than every string starting with prefix (code-point order is UTF-8 byte order, which
    is how SQLite's BINARY collation compares TEXT), or None when no such string exists."""
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if code in _SURROGATES:
            code = _SURROGATES.stop
        if code <= _MAX_CODE_POINT:
            return "".join(chars) + chr(code)
    return None


class SqliteTable:
    """Table on one SQLite file in WAL mode.

    Each thread gets its own connection, so reads (every request's `get`) run in parallel instead of queueing on a
    lock; writes serialise on SQLite's own write lock, taken up front with BEGIN IMMEDIATE so the condition check and
    the write see the same state and two conditional writers can never both succeed.
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = _BUSY_TIMEOUT_S) -> None:
        self._path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            # Readable by its owner only (it keeps webhook signing secrets and namespace credentials); SQLite gives
            # its -wal and -shm files the database file's permissions.
            os.close(os.open(self._path, os.O_CREAT | os.O_RDWR, 0o600))
            os.chmod(self._path, 0o600)
            connection = self._connection()
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(_SCHEMA)
        except (sqlite3.Error, OSError) as error:
            raise DependencyUnavailable(f"cannot open table {self._path}: {error}") from error

    @property
    def path(self) -> Path:
        return self._path

    def close(self) -> None:
        """Close every thread's connection; the table cannot be used afterwards."""
        with self._connections_lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()

    def get(self, pk: str, sk: str) -> Item | None:
        try:
            row = self._connection().execute("SELECT body FROM items WHERE pk = ? AND sk = ?", (pk, sk)).fetchone()
        except sqlite3.Error as error:
            raise DependencyUnavailable(f"SQLite get failed: {error}") from error
        return None if row is None else json.loads(row[0])

    def put(self, item: Item, *, if_absent: bool = False, if_version: int | None = None) -> None:
        self._write([Put(item, if_absent=if_absent, if_version=if_version)])

    def delete(self, pk: str, sk: str, *, if_exists: bool = False, if_version: int | None = None) -> None:
        self._write([Delete(pk, sk, if_exists=if_exists, if_version=if_version)])

    def query(
        self,
        pk: str,
        sk_prefix: str = "",
        *,
        limit: int | None = None,
        start_after: str | None = None,
        descending: bool = False,
    ) -> list[Item]:
        if limit is not None and limit < 0:
            raise ValueError(f"query limit must not be negative, got {limit}")
        if limit == 0:
            return []
        clauses = ["pk = ?"]
        params: list[Any] = [pk]
        if sk_prefix:
            clauses.append("sk >= ?")
            params.append(sk_prefix)
            upper = _prefix_upper_bound(sk_prefix)
            if upper is not None:
                clauses.append("sk < ?")
                params.append(upper)
        if start_after is not None:
            clauses.append("sk < ?" if descending else "sk > ?")
            params.append(start_after)
        sql = f"SELECT body FROM items WHERE {' AND '.join(clauses)} ORDER BY sk {'DESC' if descending else 'ASC'}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        try:
            rows = self._connection().execute(sql, params).fetchall()
        except sqlite3.Error as error:
            raise DependencyUnavailable(f"SQLite query failed: {error}") from error
        return [json.loads(body) for (body,) in rows]

    def query_index(self, index: str, pk: str, *, sk_below: str | None = None, limit: int | None = None) -> list[Item]:
        _check_index(index)
        if limit is not None and limit < 0:
            raise ValueError(f"query limit must not be negative, got {limit}")
        if limit == 0:
            return []
        # The index name is checked above, so formatting it into the JSON path is safe; the expression matches the
        # expression index created on first use, so SQLite reads the index instead of the whole table.
        pk_path, sk_path = f"json_extract(body, '$.{index}pk')", f"json_extract(body, '$.{index}sk')"
        clauses = [f"{pk_path} = ?", f"typeof({sk_path}) = 'text'", f"{sk_path} != ''"]
        params: list[Any] = [pk]
        if sk_below is not None:
            clauses.append(f"{sk_path} < ?")
            params.append(sk_below)
        sql = f"SELECT body FROM items WHERE {' AND '.join(clauses)} ORDER BY {sk_path}, pk, sk"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        try:
            connection = self._connection()
            connection.execute(f"CREATE INDEX IF NOT EXISTS items_{index} ON items ({pk_path}, {sk_path})")
            rows = connection.execute(sql, params).fetchall()
        except sqlite3.Error as error:
            raise DependencyUnavailable(f"SQLite index query failed: {error}") from error
        return [json.loads(body) for (body,) in rows]

    def transact_write(self, operations: Sequence[Put | Delete]) -> None:
        if len(operations) > _MAX_TRANSACTION_OPERATIONS:
            raise ValueError(f"a transaction takes at most {_MAX_TRANSACTION_OPERATIONS} operations")
        keys = [(op.item.get("pk"), op.item.get("sk")) if isinstance(op, Put) else (op.pk, op.sk) for op in operations]
        if len(set(keys)) != len(keys):
            raise ValueError("a transaction may touch each key at most once")
        self._write(operations)

    # ---------------------------------------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None and not self._closed:
            return connection
        with self._connections_lock:
            if self._closed:
                raise DependencyUnavailable(f"table {self._path} is closed")
            # check_same_thread=False only so close() may close it from another thread; one thread ever uses it.
            connection = sqlite3.connect(
                self._path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA synchronous=NORMAL")
            self._connections.append(connection)
        self._local.connection = connection
        return connection

    def _write(self, operations: Sequence[Put | Delete]) -> None:
        """Check every condition and apply every operation in one write transaction, or none of them."""
        rows = [self._row(op) for op in operations]
        if not operations:
            return
        connection = self._connection()
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise DependencyUnavailable(f"SQLite write failed: {error}") from error
        try:
            for operation in operations:
                self._check(connection, operation)
            for operation, row in zip(operations, rows):
                if row is None:
                    connection.execute("DELETE FROM items WHERE pk = ? AND sk = ?", (operation.pk, operation.sk))
                else:
                    connection.execute(
                        "INSERT OR REPLACE INTO items (pk, sk, body, version, expires_at) VALUES (?, ?, ?, ?, ?)", row
                    )
            connection.execute("COMMIT")
        except BaseException as error:
            try:
                connection.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite already rolled back (it does on some I/O errors); the original error is what matters
            if isinstance(error, sqlite3.Error):
                raise DependencyUnavailable(f"SQLite write failed: {error}") from error
            raise

    @staticmethod
    def _row(operation: Put | Delete) -> tuple[str, str, str, int | None, int | None] | None:
        """The row a Put writes (validated before the transaction starts), or None for a Delete."""
        if isinstance(operation, Delete):
            _check_key(operation.pk, operation.sk)
            return None
        item = operation.item
        _check_key(item.get("pk"), item.get("sk"))
        return item["pk"], item["sk"], _encode(item), _optional_int(item, "version"), _optional_int(item, "expires_at")

    @staticmethod
    def _check(connection: sqlite3.Connection, operation: Put | Delete) -> None:
        if isinstance(operation, Put):
            pk, sk = operation.item["pk"], operation.item["sk"]
            must_be_absent, must_exist = operation.if_absent, False
        else:
            pk, sk = operation.pk, operation.sk
            must_be_absent, must_exist = False, operation.if_exists
        expected_version = operation.if_version
        if not (must_be_absent or must_exist or expected_version is not None):
            return
        row = connection.execute("SELECT version FROM items WHERE pk = ? AND sk = ?", (pk, sk)).fetchone()
        if must_be_absent and row is not None:
            raise ConditionFailed(f"item {pk!r}/{sk!r} already exists")
        if must_exist and row is None:
            raise ConditionFailed(f"item {pk!r}/{sk!r} does not exist")
        if expected_version is not None and (row is None or row[0] != expected_version):
            found = "no item" if row is None else f"version {row[0]!r}"
            raise ConditionFailed(f"item {pk!r}/{sk!r}: expected version {expected_version}, found {found}")
