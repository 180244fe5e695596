"""The filter languages of the API, translated into the vector store's neutral condition tree, and evaluated in Python
where a stage filters candidates it already holds.

Two shapes are accepted wherever a filter is:
- Qdrant's (seed 002): `{"must": [...], "should": [...], "must_not": [...]}` of `{"key", "match": {"value" | "any" |
  "except" | "text"}}`, `{"key", "range": {"gt", "gte", "lt", "lte"}}`, `{"is_null": {"key"}}`, `{"is_empty": {"key"}}`,
  `{"has_id": [...]}` and nested filters;
- the LogicalOperator of seed 004: `{"AND": [...], "OR": [...], "NOT": [...]}` of `{"field", "operator", "value"}`
  conditions (FilterOperator: eq ne gt lt gte lte in nin contains starts_with ends_with regex exists is_null text
  phrase) and nested operators.

starts_with, ends_with and regex have no vector-store equivalent: a filter using them is evaluated in Python
(`needs_python`), on candidates fetched without it.

Text matching (`text`, `phrase`, `match.text`, and `contains` with a string) is the store's full-text match: every
word of the query appears as a word of the field, case-insensitively ("kit" finds "Camera Kit", "Head" does not find
"Headphones"; use starts_with or regex for fragments). `contains` on an array field means "has this element".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable

from openpeek.domain.clock import parse as parse_datetime
from openpeek.domain.errors import BadRequest
from openpeek.domain.conditions import (Condition, DatetimeRange, Filter, HasIds, IsEmpty, IsNull, MatchAny, MatchText,
                                        MatchValue, Range)

OPERATORS = ("eq", "ne", "gt", "lt", "gte", "lte", "in", "nin", "contains", "starts_with", "ends_with", "regex",
             "exists", "is_null", "text", "phrase")
MAX_DEPTH = 16
MAX_CONDITIONS = 256
MAX_REGEX_SUBJECT = 65_536
"""The `regex` operator looks at most at this many characters of a field: with a linear-time engine that bounds
the time one value can cost."""

RegexCompiler = Callable[[str], Callable[[str], Any]]
"""pattern → its search function; raises ValueError for a pattern the engine refuses."""


def _stdlib_regex(pattern: str) -> Callable[[str], Any]:
    try:
        return re.compile(pattern).search
    except re.error as error:
        raise ValueError(str(error)) from None


_regex_engine: RegexCompiler = _stdlib_regex


def use_regex_engine(compile_pattern: RegexCompiler) -> None:
    """The engine of the `regex` operator. The runtime installs a linear-time one (adapters/re2_regex.py): Python's
    backtracking `re`, the default of this pure module, lets one hostile pattern hold the interpreter for seconds."""
    global _regex_engine
    _regex_engine = compile_pattern


@dataclass(frozen=True)
class PythonOnly:
    """A condition the vector store cannot evaluate (starts_with, ends_with, regex)."""

    key: str
    operator: str
    value: str


def _bad(message: str, **details: Any) -> BadRequest:
    return BadRequest(f"Invalid filter: {message}", code="invalid_filter", details=details or None)


_PATH_SEGMENT = r'(?:[\w-]+|"[^"]+")(?:\[\d*\])*'
FIELD_PATH = re.compile(rf"{_PATH_SEGMENT}(?:\.{_PATH_SEGMENT})*")
"""A payload path the vector store can address: dot-separated keys of letters, digits, '_' and '-' (or a "quoted"
key), each optionally followed by [] or [N]. Anything else (`*`, `[`, `a..b`, spaces) the store rejects, so it is a
400 here, before any store sees it."""


def is_field_path(key: Any) -> bool:
    return isinstance(key, str) and 0 < len(key) <= 512 and FIELD_PATH.fullmatch(key) is not None


def stored_key(key: Any) -> str:
    """The payload path a user key names: `metadata.x` lives under `_internal.metadata.x` (domain/documents.py)."""
    if not isinstance(key, str) or not key.strip() or len(key) > 512:
        raise _bad("a field name must be a non-empty string of at most 512 characters", field=key)
    if not is_field_path(key):
        raise _bad(f"'{key[:100]}' is not a field path: use dot-separated names of letters, digits, '_' or '-', "
                   "each optionally followed by [] or [N]", field=key[:100])
    if key == "metadata" or key.startswith("metadata."):
        return "_internal." + key
    return key


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    def tick(self) -> None:
        self.count += 1
        if self.count > MAX_CONDITIONS:
            raise _bad(f"at most {MAX_CONDITIONS} conditions")


def parse_filter(spec: Any) -> Filter | None:
    """Either language → Filter (None for an empty filter). Malformed input → 400 invalid_filter naming the part."""
    if spec is None or spec == {}:
        return None
    if not isinstance(spec, dict):
        raise _bad("a filter must be an object")
    return _parse(spec, 0, _Counter())


def _parse(spec: dict, depth: int, counter: _Counter) -> Filter:
    if depth > MAX_DEPTH:
        raise _bad(f"filters nest at most {MAX_DEPTH} levels")
    logical = {"AND", "OR", "NOT"} & set(spec)
    qdrant = {"must", "should", "must_not"} & set(spec)
    if logical and qdrant:
        raise _bad("use either AND/OR/NOT or must/should/must_not in one filter, not both")
    if logical:
        unknown = set(spec) - {"AND", "OR", "NOT", "case_sensitive"}
        if unknown:
            raise _bad(f"unknown keys {sorted(unknown)} beside AND/OR/NOT")
        case_sensitive = _case_sensitivity(spec)
        return Filter(
            must=tuple(_logical_items(_inherit(spec.get("AND"), case_sensitive), "AND", depth, counter)),
            should=tuple(_logical_items(_inherit(spec.get("OR"), case_sensitive), "OR", depth, counter)),
            must_not=tuple(_logical_items(_inherit(spec.get("NOT"), case_sensitive), "NOT", depth, counter)),
        )
    if qdrant:
        unknown = set(spec) - {"must", "should", "must_not", "min_should"}
        if unknown:
            raise _bad(f"unknown keys {sorted(unknown)} beside must/should/must_not")
        return Filter(
            must=tuple(_qdrant_items(spec.get("must"), "must", depth, counter)),
            should=tuple(_qdrant_items(spec.get("should"), "should", depth, counter)),
            must_not=tuple(_qdrant_items(spec.get("must_not"), "must_not", depth, counter)),
        )
    shorthand = _shorthand(spec) if depth == 0 and not {"field", "key", "is_null", "is_empty", "has_id"} & set(spec) \
        else None
    if shorthand is not None:
        return shorthand
    # A lone condition of either language is a filter of one.
    return Filter(must=(_condition(spec, depth, counter),))


def _case_sensitivity(spec: dict) -> bool | None:
    value = spec.get("case_sensitive")
    if value is not None and not isinstance(value, bool):
        raise _bad("case_sensitive takes true or false")
    return value


def _inherit(items: Any, case_sensitive: bool | None) -> Any:
    """A LogicalOperator's case_sensitive holds for the conditions under it that do not say otherwise."""
    if case_sensitive is None:
        return items
    listed = [items] if isinstance(items, dict) else items
    if not isinstance(listed, list):
        return items
    return [{**item, "case_sensitive": item.get("case_sensitive", case_sensitive)}
            if isinstance(item, dict) and ("field" in item or {"AND", "OR", "NOT"} & set(item)) else item
            for item in listed]


def _shorthand(item: dict) -> Filter | None:
    """Seed 004's shorthand, `{"metadata.title": "x", "price": 5}`: equality on each named field (a list: any of)."""
    if not item or not all(is_field_path(key) for key in item):
        return None
    if len(item) > MAX_CONDITIONS:
        raise _bad(f"at most {MAX_CONDITIONS} conditions")
    conditions = []
    for key, value in item.items():
        if isinstance(value, list):
            if not value:
                raise _bad(f"'{key}': a shorthand list needs at least one value", field=key)
            conditions.append(MatchAny(stored_key(key), tuple(_scalar(v, key) for v in value)))
        else:
            conditions.append(MatchValue(stored_key(key), _scalar(value, key)))
    return Filter(must=tuple(conditions))


def _as_list(items: Any, where: str) -> list:
    if items is None:
        return []
    if isinstance(items, dict):
        return [items]
    if not isinstance(items, list):
        raise _bad(f"{where} must be a list of conditions")
    return items


def _logical_items(items: Any, where: str, depth: int, counter: _Counter) -> Iterable[Condition]:
    for item in _as_list(items, where):
        if not isinstance(item, dict):
            raise _bad(f"every entry of {where} must be an object")
        yield _condition(item, depth + 1, counter)


def _qdrant_items(items: Any, where: str, depth: int, counter: _Counter) -> Iterable[Condition]:
    for item in _as_list(items, where):
        if not isinstance(item, dict):
            raise _bad(f"every entry of {where} must be an object")
        yield _condition(item, depth + 1, counter)


def _condition(item: dict, depth: int, counter: _Counter) -> Condition:
    counter.tick()
    if {"AND", "OR", "NOT", "must", "should", "must_not"} & set(item):
        return _parse(item, depth, counter)
    if "field" in item:
        return _operator_condition(item)
    if "key" in item:
        return _qdrant_condition(item)
    if "is_null" in item or "is_empty" in item:
        which = "is_null" if "is_null" in item else "is_empty"
        target = item[which]
        key = target.get("key") if isinstance(target, dict) else None
        return IsNull(stored_key(key)) if which == "is_null" else IsEmpty(stored_key(key))
    if "has_id" in item:
        ids = item["has_id"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise _bad("has_id must be a list of document ids")
        return HasIds(tuple(ids))
    raise _bad("a condition needs 'field' and 'operator' (AND/OR/NOT style) or 'key' with 'match' or 'range'",
               condition=item)


# The vector store keeps integer payloads as 64-bit signed integers: a match value outside that range can match
# nothing, and the store's client cannot even encode it.
INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1


def _scalar(value: Any, key: str) -> str | int | bool:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise _bad(f"'{key}': integer match values must fit in 64 bits (±9.2e18)", field=key)
        return value
    raise _bad(f"'{key}': match values are strings, integers or booleans (use a range for decimals)", field=key)


def _number(value: Any, key: str, bound: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(f"'{key}': {bound} must be a number or an RFC 3339 datetime", field=key)
    return value


def _range(key: str, bounds: dict) -> Range | DatetimeRange:
    if not isinstance(bounds, dict) or not bounds or set(bounds) - {"gt", "gte", "lt", "lte"}:
        raise _bad(f"'{key}': range takes gt, gte, lt and lte", field=key)
    values = [value for value in bounds.values() if value is not None]
    if values and all(isinstance(value, str) for value in values):
        for value in values:
            try:
                parse_datetime(value)
            except ValueError:
                raise _bad(f"'{key}': '{value}' is not an RFC 3339 datetime", field=key) from None
        return DatetimeRange(key, **{name: bounds.get(name) for name in ("gt", "gte", "lt", "lte")})
    return Range(key, **{name: (None if bounds.get(name) is None else _number(bounds[name], key, name))
                         for name in ("gt", "gte", "lt", "lte")})


def _qdrant_condition(item: dict) -> Condition:
    key = stored_key(item["key"])
    if "match" in item:
        match = item["match"]
        if not isinstance(match, dict) or len(match) != 1:
            raise _bad(f"'{key}': match takes exactly one of value, any, except, text", field=key)
        (kind, value), = match.items()
        if kind == "value":
            return MatchValue(key, _scalar(value, key))
        if kind in ("any", "except"):
            if not isinstance(value, list) or not value:
                raise _bad(f"'{key}': match.{kind} must be a non-empty list", field=key)
            values = MatchAny(key, tuple(_scalar(v, key) for v in value))
            return values if kind == "any" else Filter(must_not=(values,))
        if kind in ("text", "phrase"):
            if not isinstance(value, str) or not value:
                raise _bad(f"'{key}': match.{kind} must be a non-empty string", field=key)
            return MatchText(key, value)
        raise _bad(f"'{key}': unknown match kind '{kind}'", field=key)
    if "range" in item:
        return _range(key, item["range"])
    raise _bad(f"'{key}': a condition with 'key' needs 'match' or 'range'", field=key)


def _operator_condition(item: dict) -> Condition | PythonOnly:
    unknown = set(item) - {"field", "operator", "value", "case_sensitive"}
    if unknown:
        raise _bad(f"unknown keys {sorted(unknown)} in a condition", condition=item)
    key = stored_key(item["field"])
    operator = item.get("operator", "eq")
    if operator not in OPERATORS:
        raise _bad(f"'{key}': unknown operator '{operator}'; use one of {', '.join(OPERATORS)}", field=key)
    if "value" not in item and operator not in ("exists", "is_null"):
        raise _bad(f"'{key}': operator '{operator}' needs a value", field=key)
    value = item.get("value")
    case_sensitive = _case_sensitivity(item)
    if case_sensitive is False and operator in ("eq", "ne") and isinstance(value, str):
        # Case-insensitive equality has no vector-store equivalent: evaluated in Python, like starts_with.
        folded = PythonOnly(key, "eq_ci", value)
        return folded if operator == "eq" else Filter(must_not=(folded,))
    if case_sensitive is False and operator in ("in", "nin", "contains") and (
            isinstance(value, str) or (isinstance(value, list) and any(isinstance(v, str) for v in value))):
        raise _bad(f"'{key}': operator '{operator}' on strings is not available case-insensitively; use eq, "
                   "starts_with, ends_with or regex with case_sensitive false", field=key)
    if operator == "eq":
        return MatchValue(key, _scalar(value, key)) if not isinstance(value, float) or value.is_integer() \
            else Range(key, gte=value, lte=value)
    if operator == "ne":
        return Filter(must_not=(_operator_condition({**item, "operator": "eq"}),))
    if operator in ("gt", "gte", "lt", "lte"):
        return _range(key, {operator: value})
    if operator in ("in", "nin"):
        if not isinstance(value, list) or not value:
            raise _bad(f"'{key}': operator '{operator}' needs a non-empty list", field=key)
        values = MatchAny(key, tuple(_scalar(v, key) for v in value))
        return values if operator == "in" else Filter(must_not=(values,))
    if operator == "contains":
        # An array field contains an element equal to value; a string field contains value as a substring.
        if isinstance(value, str):
            return Filter(should=(MatchValue(key, value), MatchText(key, value)))
        return MatchValue(key, _scalar(value, key))
    if operator in ("text", "phrase"):
        if not isinstance(value, str) or not value:
            raise _bad(f"'{key}': operator '{operator}' needs a non-empty string", field=key)
        return MatchText(key, value)
    if operator == "exists":
        present = True if value is None else value
        if not isinstance(present, bool):
            raise _bad(f"'{key}': exists takes true or false", field=key)
        return Filter(must_not=(IsEmpty(key),)) if present else IsEmpty(key)
    if operator == "is_null":
        null = True if value is None else value
        if not isinstance(null, bool):
            raise _bad(f"'{key}': is_null takes true or false", field=key)
        return IsNull(key) if null else Filter(must_not=(IsNull(key),))
    # starts_with, ends_with, regex
    if not isinstance(value, str) or not value or len(value) > 512:
        raise _bad(f"'{key}': operator '{operator}' needs a string of 1-512 characters", field=key)
    if operator == "regex":
        try:
            _regex_engine(value)
        except (ValueError, UnicodeError) as error:
            raise _bad(f"'{key}': invalid regular expression: {error}", field=key) from None
    return PythonOnly(key, operator + "_ci" if case_sensitive is False else operator, value)


def needs_python(condition: Any) -> bool:
    if isinstance(condition, PythonOnly):
        return True
    if isinstance(condition, Filter):
        return any(needs_python(c) for c in (*condition.must, *condition.should, *condition.must_not))
    return False


def combine(*filters: Filter | None) -> Filter | None:
    """All of the given filters (AND)."""
    present = tuple(f for f in filters if f is not None)
    if not present:
        return None
    return present[0] if len(present) == 1 else Filter(must=present)


# -- evaluation in Python ---------------------------------------------------------------------------------------


_MISSING = object()


def _lookup(payload: dict, key: str) -> Any:
    value: Any = payload
    for part in key.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def _values(found: Any) -> list:
    return found if isinstance(found, list) else [found]


def matches(condition: Any, payload: dict, document_id: str) -> bool:
    """What the vector store would answer for this condition on this payload (for attribute_filter and for the
    operators only Python can evaluate)."""
    if isinstance(condition, Filter):
        if not all(matches(c, payload, document_id) for c in condition.must):
            return False
        if condition.should and not any(matches(c, payload, document_id) for c in condition.should):
            return False
        return not any(matches(c, payload, document_id) for c in condition.must_not)
    if isinstance(condition, HasIds):
        return document_id in condition.ids
    found = _lookup(payload, condition.key)
    if isinstance(condition, IsEmpty):
        return found is _MISSING or found is None or found == []
    if isinstance(condition, IsNull):
        return found is None
    if found is _MISSING or found is None:
        return False
    if isinstance(condition, MatchValue):
        return any(_equal(v, condition.value) for v in _values(found))
    if isinstance(condition, MatchAny):
        return any(_equal(v, wanted) for v in _values(found) for wanted in condition.values)
    if isinstance(condition, MatchText):
        wanted = _words(condition.text)
        return bool(wanted) and any(isinstance(v, str) and wanted <= _words(v) for v in _values(found))
    if isinstance(condition, Range):
        return any(_in_range(v, condition) for v in _values(found)
                   if isinstance(v, (int, float)) and not isinstance(v, bool))
    if isinstance(condition, DatetimeRange):
        return any(_in_datetime_range(v, condition) for v in _values(found) if isinstance(v, str))
    if isinstance(condition, PythonOnly):
        strings = [v for v in _values(found) if isinstance(v, str)]
        if condition.operator.endswith("_ci"):
            return _matches_folded(condition.operator[:-3], condition.value, strings)
        if condition.operator == "starts_with":
            return any(v.startswith(condition.value) for v in strings)
        if condition.operator == "ends_with":
            return any(v.endswith(condition.value) for v in strings)
        return any(_regex_found(condition.value, v) for v in strings)
    raise TypeError(f"unknown condition {condition!r}")


def compiled(condition: Any) -> Callable[[dict, str], bool]:
    """`matches` for one condition, worked out once for a whole working set (attribute_filter): the tree is walked
    and each key split here, not per document; the comparisons are matches' own, so every answer is the same."""
    if isinstance(condition, Filter):
        must = [compiled(c) for c in condition.must]
        should = [compiled(c) for c in condition.should]
        must_not = [compiled(c) for c in condition.must_not]
        if len(must) == 1 and not should and not must_not:
            return must[0]

        def all_hold(payload: dict, document_id: str) -> bool:
            for test in must:
                if not test(payload, document_id):
                    return False
            if should and not any(test(payload, document_id) for test in should):
                return False
            for test in must_not:
                if test(payload, document_id):
                    return False
            return True
        return all_hold
    compare = _COMPARISONS.get(type(condition))
    if compare is not None:
        parts = condition.key.split(".")

        def holds(payload: dict, document_id: str) -> bool:
            found: Any = payload
            for part in parts:
                if isinstance(found, dict) and part in found:
                    found = found[part]
                else:
                    return False
            return found is not None and compare(condition, found)
        return holds
    return lambda payload, document_id: matches(condition, payload, document_id)


_COMPARISONS: dict[type, Callable[[Any, Any], bool]] = {
    Range: lambda condition, found: _in_range(found, condition) if type(found) in (int, float) else any(
        _in_range(v, condition) for v in _values(found) if isinstance(v, (int, float)) and not isinstance(v, bool)),
    MatchValue: lambda condition, found: any(_equal(v, condition.value) for v in _values(found)),
    MatchAny: lambda condition, found: any(_equal(v, wanted) for v in _values(found) for wanted in condition.values),
}


def _matches_folded(operator: str, wanted: str, strings: list[str]) -> bool:
    """case_sensitive false: the comparison on case-folded text ("Straße" equals "STRASSE")."""
    if operator == "regex":
        return any(_regex_found("(?i)" + wanted, v) for v in strings)
    folded = wanted.casefold()
    if operator == "eq":
        return any(v.casefold() == folded for v in strings)
    if operator == "starts_with":
        return any(v.casefold().startswith(folded) for v in strings)
    return any(v.casefold().endswith(folded) for v in strings)


def _regex_found(pattern: str, value: str) -> bool:
    try:
        return _regex_engine(pattern)(value[:MAX_REGEX_SUBJECT]) is not None
    except (ValueError, UnicodeError):  # a value the engine cannot read (a lone surrogate) does not match
        return False


_WORD = re.compile(r"[^\W_]+")


def _words(text: str) -> set[str]:
    """The tokens of Qdrant's word tokenizer (lower-cased; split on whitespace, punctuation and '_'): a text match
    holds when every word of the query is a word of the value, in any order."""
    return set(_WORD.findall(text.lower()))


def _equal(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored == wanted
    return stored == wanted


def _in_range(value: float, bounds: Range) -> bool:
    return ((bounds.gt is None or value > bounds.gt) and (bounds.gte is None or value >= bounds.gte)
            and (bounds.lt is None or value < bounds.lt) and (bounds.lte is None or value <= bounds.lte))


def _in_datetime_range(value: str, bounds: DatetimeRange) -> bool:
    try:
        moment = parse_datetime(value)
    except ValueError:
        return False

    def at(bound: str | None) -> datetime | None:
        return None if bound is None else parse_datetime(bound)

    gt, gte, lt, lte = at(bounds.gt), at(bounds.gte), at(bounds.lt), at(bounds.lte)
    return ((gt is None or moment > gt) and (gte is None or moment >= gte)
            and (lt is None or moment < lt) and (lte is None or moment <= lte))


def strip_python_only(condition: Any) -> Any:
    """The filter without Python-only conditions, when dropping them only widens the match (they sit in `must`
    lists all the way up); otherwise None: the store then searches unfiltered and Python filters everything."""
    if isinstance(condition, PythonOnly):
        return None
    if not isinstance(condition, Filter):
        return condition
    if any(needs_python(c) for c in (*condition.should, *condition.must_not)):
        return None
    must = []
    for c in condition.must:
        stripped = strip_python_only(c)
        if stripped is None and needs_python(c):
            continue
        must.append(stripped)
    return Filter(must=tuple(must), should=condition.should, must_not=condition.must_not)


def keys_read(condition: Any, *, python_only: bool = True) -> set[str]:
    """Every payload key evaluating the filter reads; without those of conditions only Python evaluates where
    python_only is false."""
    if condition is None or (not python_only and isinstance(condition, PythonOnly)):
        return set()
    if isinstance(condition, Filter):
        return set().union(*(keys_read(c, python_only=python_only)
                             for c in (*condition.must, *condition.should, *condition.must_not)))
    key = getattr(condition, "key", None)
    return {key} if isinstance(key, str) else set()


def filter_keys(condition: Any) -> set[str]:
    """The payload keys a filter tests in the vector store (what the auto-indexer counts)."""
    return keys_read(condition, python_only=False)
