"""The maintenance scheduler's heartbeat: one item, `SCHEDULER` / `HEARTBEAT`, rewritten each time the scheduler's
heartbeat job runs, with the period it runs at (so a reader knows how old is too old)."""

from __future__ import annotations

from dataclasses import dataclass

from openpeek.ports import Table

_PK, _SK = "SCHEDULER", "HEARTBEAT"
_PROBE_PK = "HEALTH"


@dataclass(frozen=True)
class Heartbeat:
    last_tick: str  # ISO 8601, UTC
    every_s: int
    runtime: str


class HeartbeatRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def record(self, heartbeat: Heartbeat) -> None:
        self._table.put({"pk": _PK, "sk": _SK, "last_tick": heartbeat.last_tick, "every_s": heartbeat.every_s,
                         "runtime": heartbeat.runtime})

    def latest(self) -> Heartbeat | None:
        item = self._table.get(_PK, _SK)
        if item is None:
            return None
        return Heartbeat(item["last_tick"], int(item["every_s"]), item.get("runtime", ""))

    def probe_read(self) -> None:
        """One read of the table (an item that never exists): proves the table answers."""
        self._table.get(_PROBE_PK, "PROBE")

    def probe_write(self, token: str) -> None:
        """A write, a read back and a delete of one probe item: proves the table takes writes."""
        self._table.put({"pk": _PROBE_PK, "sk": f"PROBE#{token}", "token": token})
        try:
            item = self._table.get(_PROBE_PK, f"PROBE#{token}")
            if item is None or item.get("token") != token:
                raise RuntimeError("the probe item written was not read back")
        finally:
            self._table.delete(_PROBE_PK, f"PROBE#{token}")
