"""Which payload fields a retriever's stages read, so that a search fetches only those for its hundreds of
candidates, and the whole payloads of the page it finally returns merged back in.

A projection is a set of top-level payload keys (a stage reading `metadata.color` needs `_internal`, where metadata
is stored); None means the whole payload."""

from __future__ import annotations

from typing import Any, Iterable

from openpeek.domain.errors import BadRequest
from openpeek.domain.filters import stored_key

CANDIDATE_FIELDS = frozenset({"score", "document_id"})  # a candidate's own, not read from its payload


def top_level_keys(paths: Iterable[str]) -> frozenset[str] | None:
    """The top-level payload keys that hold these user field paths; None (the whole payload) when a path is not a
    plain dotted one (a template, a quoted segment)."""
    keys = set()
    for path in paths:
        if path in CANDIDATE_FIELDS:
            continue
        try:
            stored = stored_key(path)
        except BadRequest:  # not a field path (a template such as {{INPUT.field}})
            return None
        head = stored.split(".", 1)[0].split("[", 1)[0]
        if not head or '"' in head:
            return None
        keys.add(head)
    return frozenset(keys)


def union(projections: Iterable[frozenset[str] | None]) -> frozenset[str] | None:
    """What several stages read together: None as soon as one of them reads the whole payload."""
    keys: set[str] = set()
    for projection in projections:
        if projection is None:
            return None
        keys |= projection
    return frozenset(keys)


def completed(stored: dict[str, Any], partial: dict[str, Any]) -> dict[str, Any]:
    """A candidate's whole payload: the stored one with what the stages wrote into its partial payload on top (nested
    dicts merged, so a stage writing `scores.mmr` keeps a stored `scores.other`). The partial payload's projected
    fields are the stored values, so they change nothing."""
    merged = dict(stored)
    for key, value in partial.items():
        current = merged.get(key)
        merged[key] = completed(current, value) if isinstance(current, dict) and isinstance(value, dict) else value
    return merged
