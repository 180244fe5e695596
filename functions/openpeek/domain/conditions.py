"""A neutral condition tree over payload fields: what a filter means, whichever store evaluates it. domain/filters.py
translates the API's filter language into it; the vector store adapters translate it into their own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

@dataclass(frozen=True)
class MatchValue:
    """key == value (keyword, integer, bool, uuid). For an array field: any element equals value."""

    key: str
    value: str | int | bool


@dataclass(frozen=True)
class MatchAny:
    """key is one of values."""

    key: str
    values: tuple[str | int, ...]


@dataclass(frozen=True)
class MatchText:
    """Full-text match on a text-indexed field (needs a text payload index on Qdrant)."""

    key: str
    text: str


@dataclass(frozen=True)
class Range:
    """Numeric range on key; None bounds are open."""

    key: str
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


@dataclass(frozen=True)
class DatetimeRange:
    """Range on an RFC 3339 datetime field; bounds are RFC 3339 strings."""

    key: str
    gt: str | None = None
    gte: str | None = None
    lt: str | None = None
    lte: str | None = None


@dataclass(frozen=True)
class IsNull:
    key: str


@dataclass(frozen=True)
class IsEmpty:
    key: str


@dataclass(frozen=True)
class HasIds:
    """The point is one of these documents (document_ids, as given to upsert)."""

    ids: tuple[str, ...]


@dataclass(frozen=True)
class Filter:
    """must: all hold; should: at least one holds (when non-empty); must_not: none holds. Nests."""

    must: tuple["Condition", ...] = ()
    should: tuple["Condition", ...] = ()
    must_not: tuple["Condition", ...] = ()


Condition = Union[MatchValue, MatchAny, MatchText, Range, DatetimeRange, IsNull, IsEmpty, HasIds, Filter]
