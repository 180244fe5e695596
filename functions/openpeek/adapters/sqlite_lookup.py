"""sql_lookup's databases when embedded: SQLite files the operator names (OPENPEEK_SQL_LOOKUP_CONNECTIONS, a JSON
object connection name → file path), opened read-only (`mode=ro` URI, `query_only`), with an authorizer that allows
reading only, statements run with bound parameters only, a row limit and a deadline (a progress handler interrupts
a query past its timeout)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any, Mapping

from openpeek.domain.failures import DependencyUnavailable

_READS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, getattr(sqlite3, "SQLITE_RECURSIVE", 33)}


def _reads_only(action: int, *_: Any) -> int:
    return sqlite3.SQLITE_OK if action in _READS else sqlite3.SQLITE_DENY


class ReadOnlySqlite:
    def __init__(self, connections: Mapping[str, str]) -> None:
        self._paths = {name: Path(path) for name, path in connections.items()}

    def has(self, connection_id: str) -> bool:
        return connection_id in self._paths

    def names(self) -> list[str]:
        return sorted(self._paths)

    def select(self, connection_id: str, sql: str, parameters: Mapping[str, Any], *, timeout_s: float,
               max_rows: int) -> list[dict[str, Any]]:
        """Rows as dicts (at most max_rows + 1, so a caller can tell there were more). Any failure — the file
        missing, a write attempted, the deadline passed, a parameter unbound — raises DependencyUnavailable naming
        the connection, never the parameters' values."""
        path = self._paths[connection_id]
        if not path.is_file():
            raise DependencyUnavailable(f"connection '{connection_id}': its database file is missing")
        deadline = time.monotonic() + timeout_s
        try:
            connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout_s,
                                         check_same_thread=False)
        except sqlite3.Error as error:
            raise DependencyUnavailable(f"connection '{connection_id}': {error}") from None
        try:
            connection.execute("PRAGMA query_only = 1")
            connection.set_authorizer(_reads_only)
            connection.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
            cursor = connection.execute(sql, dict(parameters))
            names = [column[0] for column in cursor.description or ()]
            return [dict(zip(names, row)) for row in cursor.fetchmany(max_rows + 1)]
        except sqlite3.OperationalError as error:
            if "interrupted" in str(error):
                raise DependencyUnavailable(f"connection '{connection_id}': the query ran past {timeout_s:g} s") from None
            raise DependencyUnavailable(f"connection '{connection_id}': {error}") from None
        except (sqlite3.Error, ValueError) as error:
            raise DependencyUnavailable(f"connection '{connection_id}': {type(error).__name__}: {error}") from None
        finally:
            connection.close()
