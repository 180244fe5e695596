"""A search interaction: one user's action (view, click, purchase, feedback...) on one result of a retriever
execution, kept for analytics and for training rankers. The rules here hold whatever stores it.

Pure: no I/O. repositories/interactions.py stores interactions, services/interactions.py records and lists them."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from openpeek.domain.clock import isoformat

INTERACTION_TYPES = (
    "impression", "view", "click", "dwell", "positive_feedback", "negative_feedback", "purchase", "add_to_cart",
    "wishlist", "long_view", "share", "bookmark", "query_refinement", "zero_results", "filter_toggle", "skip",
    "return_to_results", "play", "download", "save", "add_to_project", "rating",
)
"""The SDK's InteractionType values."""

QUERY_LEVEL_TYPES = frozenset({"zero_results", "query_refinement", "filter_toggle"})
"""Types about the query rather than one result: an interaction of only these names no document that must exist."""

DEDUP_WINDOW_S = 300
"""The same (execution, document, types) recorded again within this many seconds is dropped (the SDK's 5 minutes)."""

MAX_BULK = 1000
MAX_PUBLIC_BATCH = 100

FIELDS = ("feature_id", "interaction_type", "position", "metadata", "user_id", "session_id", "execution_id",
          "retriever_id", "query_snapshot", "document_score", "result_set_size", "feature_uri", "occurred_at")
"""What a caller states (the SDK's SearchInteraction); the service adds interaction_id and timestamp."""


def names_a_document(interaction_types: list[str]) -> bool:
    return not set(interaction_types) <= QUERY_LEVEL_TYPES


def occurred_at(value: datetime | None, now: datetime) -> str:
    """When it happened, as ISO 8601 UTC: now when not given; a naive time is UTC; a future one is now."""
    if value is None:
        return isoformat(now)
    moment = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return isoformat(min(moment, now))


def dedup_key(execution_id: str, feature_id: str, interaction_types: list[str]) -> str:
    """A fixed-length name for (execution, document, types): the types in any order are the same interaction."""
    stated = json.dumps([execution_id, feature_id, sorted(set(interaction_types))], separators=(",", ":"))
    return hashlib.sha256(stated.encode()).hexdigest()[:32]


def matches_simple(record: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """The list request's plain filters: each given field equals the record's (interaction_type: one of its types)."""
    for field, value in wanted.items():
        if value is None:
            continue
        if field == "interaction_type":
            if str(value).lower() not in record.get("interaction_type", []):
                return False
        elif record.get(field) != value:
            return False
    return True


def mentions(record: dict[str, Any], text: str) -> bool:
    """`search`: the text, case-folded, appears in the interaction's metadata (its keys or values)."""
    metadata = record.get("metadata")
    if not metadata:
        return False
    return text.casefold() in json.dumps(metadata, ensure_ascii=False, default=str).casefold()


def sorted_records(records: list[dict[str, Any]], field: str, descending: bool) -> list[dict[str, Any]]:
    """Stable order by one field; records without it last, whatever the direction."""
    present = [record for record in records if record.get(field) is not None]
    absent = [record for record in records if record.get(field) is None]
    present.sort(key=lambda record: (record[field] if isinstance(record[field], (int, float))
                                     and not isinstance(record[field], bool) else str(record[field])),
                 reverse=descending)
    return present + absent
