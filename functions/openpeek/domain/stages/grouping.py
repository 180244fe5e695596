"""Grouping and aggregation over a working set (group_by and aggregate stages): groups keep the order in which their
first member appears, members are ranked by score; aggregation functions are the SDK's."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from typing import Any, Sequence

NUMERIC_FUNCTIONS = frozenset({"sum", "avg", "min", "max", "percentile", "stddev", "variance"})
FIELD_FUNCTIONS = NUMERIC_FUNCTIONS | {"count_distinct", "first", "last", "collect", "collect_distinct", "frequency"}
PAIR_FUNCTIONS = frozenset({"co_occurrence", "correlation"})
FUNCTIONS = FIELD_FUNCTIONS | PAIR_FUNCTIONS | {"count"}


def hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, hashable(v)) for k, v in value.items()))
    return value


def group_indexes(keys: Sequence[Any]) -> dict[Any, list[int]]:
    groups: dict[Any, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(hashable(key), []).append(index)
    return groups


def _numbers(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]


def _percentile(values: list[float], wanted: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * wanted / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def aggregate(function: str, values: Sequence[Any], second: Sequence[Any] = (), *, percentile: float = 50,
              top_k: int = 10) -> Any:
    """One aggregation over a group's values (None where a field was missing). Empty numeric input gives None."""
    present = [v for v in values if v is not None]
    if function == "count":
        return len(values)
    if function == "count_distinct":
        return len({hashable(v) for v in present})
    if function == "first":
        return present[0] if present else None
    if function == "last":
        return present[-1] if present else None
    if function == "collect":
        return present
    if function == "collect_distinct":
        seen: dict = {}
        for value in present:
            seen.setdefault(hashable(value), value)
        return list(seen.values())
    if function == "frequency":
        counts = Counter(hashable(v) for v in present)
        return [{"value": value, "count": count} for value, count in counts.most_common(top_k)]
    if function == "co_occurrence":
        pairs = Counter((hashable(a), hashable(b)) for a, b in zip(values, second) if a is not None and b is not None)
        return [{"value": a, "value_b": b, "count": count} for (a, b), count in pairs.most_common(top_k)]
    if function == "correlation":
        pairs = [(float(a), float(b)) for a, b in zip(values, second)
                 if _numbers([a]) and _numbers([b])]
        if len(pairs) < 2:
            return None
        xs, ys = zip(*pairs)
        try:
            return statistics.correlation(xs, ys)
        except statistics.StatisticsError:  # a constant column
            return None
    numbers = _numbers(present)
    if not numbers:
        return None
    if function == "sum":
        return sum(numbers)
    if function == "avg":
        return sum(numbers) / len(numbers)
    if function == "min":
        return min(numbers)
    if function == "max":
        return max(numbers)
    if function == "percentile":
        return _percentile(numbers, percentile)
    if function == "stddev":
        return statistics.pstdev(numbers)
    if function == "variance":
        return statistics.pvariance(numbers)
    raise ValueError(f"unknown aggregation function {function}")
