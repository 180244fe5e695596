"""Selecting a page's worth of named resources (buckets, collections) the way the list routes describe it: oldest
first, `search` in name, id and description, the API's filter language over the resource's record, then the sorts."""

from __future__ import annotations

from typing import Any, Callable, Sequence, TypeVar

from openpeek.domain import filters as filter_rules
from openpeek.domain.errors import BadRequest

Resource = TypeVar("Resource")


def select(found: Sequence[Resource], *, name: Callable[[Resource], str], identifier: Callable[[Resource], str],
           description: Callable[[Resource], str | None], record: Callable[[Resource], dict[str, Any]],
           created_at: Callable[[Resource], str], search: str | None, case_sensitive: bool, filters: Any,
           sorts: Sequence[Any] | None) -> list[Resource]:
    wanted = filter_rules.parse_filter(filters)
    chosen = sorted(found, key=lambda item: (created_at(item), identifier(item)))
    if search:
        fold = (lambda text: text) if case_sensitive else str.lower
        needle = fold(search)
        chosen = [item for item in chosen if needle in fold(name(item)) or needle in fold(identifier(item))
                  or needle in fold(description(item) or "")]
    if wanted is not None:
        chosen = [item for item in chosen if filter_rules.matches(wanted, record(item), identifier(item))]
    for order in reversed(sorts or []):
        chosen = sorted_by(chosen, order, record)
    return chosen


def sorted_by(found: list[Resource], order: Any, record: Callable[[Resource], dict[str, Any]]) -> list[Resource]:
    """One sort key; resources without the field come last either way."""
    field = order.get("field") if isinstance(order, dict) else None
    direction = (order.get("direction") or "asc") if isinstance(order, dict) else None
    if not isinstance(field, str) or not isinstance(direction, str) or direction.lower() not in ("asc", "desc"):
        raise BadRequest("a sort is {field, direction: asc|desc}", code="invalid_sort", details={"sort": order})
    keyed = [(record(item).get(field), item) for item in found]
    present = [(value, item) for value, item in keyed if value is not None]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v, _ in present)
    present.sort(key=lambda pair: pair[0] if numbers else str(pair[0]), reverse=direction.lower() == "desc")
    return [item for _, item in present] + [item for value, item in keyed if value is None]
