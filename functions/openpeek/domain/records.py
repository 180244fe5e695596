"""The table's vocabulary: an item, and the conditional writes repositories build for one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Item = dict[str, Any]
"""An item: `pk` and `sk` strings plus JSON-compatible attributes (str, int, float, bool, None, list, dict).

`version` (int) carries the optimistic-concurrency counter of mutable items; `expires_at` (epoch seconds, int) is the
table's TTL attribute. Adapters return items exactly as they were put (same types, same nesting)."""


@dataclass(frozen=True)
class Put:
    """Write a whole item. `if_absent`: only when no item has this key. `if_version`: only when the stored item's
    `version` equals this number (the caller puts the incremented version in `item`)."""

    item: Item
    if_absent: bool = False
    if_version: int | None = None


@dataclass(frozen=True)
class Delete:
    """Remove an item. `if_exists`: fail when there is none. `if_version`: only when the stored version matches."""

    pk: str
    sk: str
    if_exists: bool = False
    if_version: int | None = None
