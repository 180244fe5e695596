"""Retriever definitions: create, read, list, patch, delete within the caller's namespace (X-Namespace)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from openpeek.domain import filters as filter_rules
from openpeek.domain import retrievers as rules
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.errors import BadRequest, Conflict, NotFound
from openpeek.domain.ids import new_id
from openpeek.domain.namespace import Namespace
from openpeek.domain.retrievers import Retriever
from openpeek.domain.events import DomainEvent
from openpeek.ports import EventBus
from openpeek.repositories.optimistic import retry_on_conflict
from openpeek.repositories.retrievers import RetrieverNameTaken, RetrieverRepository

PATCH_ATTEMPTS = 16
_STORED_FIELDS = ("description", "tags", "metadata", "display_config", "budget_limits", "collection_identifiers",
                  "visibility")


def _name_taken(name: str) -> Conflict:
    return Conflict(f"A retriever named '{name}' exists already in this namespace", code="retriever_name_taken",
                    details={"retriever_name": name})


class RetrieverService:
    def __init__(self, repository: RetrieverRepository, events: EventBus, stages: rules.StageCatalogue) -> None:
        self._repository = repository
        self._events = events
        self._stages = stages  # the stage catalogue (services/stages/registry.py) that checks stage parameters
        self._deletion_listeners: list[Callable[[Namespace, Retriever], None]] = []
        self._published_ids: Callable[[Namespace], set[str]] = lambda namespace: set()

    def on_delete(self, listener: Callable[[Namespace, Retriever], None]) -> None:
        """Register what else goes with a deleted retriever (its publication): called after the delete."""
        self._deletion_listeners.append(listener)

    def use_publications(self, published_ids: Callable[[Namespace], set[str]]) -> None:
        """How to learn which of a namespace's retrievers are published (services/publications.py), for describe and
        list to say so."""
        self._published_ids = published_ids

    def check_stages(self, namespace: Namespace, stages: list[dict[str, Any]],
                     input_schema: dict[str, Any]) -> list[dict[str, Any]]:
        return rules.check_stages(namespace, stages, input_schema, self._stages)

    def create(self, namespace: Namespace, request: dict[str, Any]) -> Retriever:
        name = rules.check_name(request["retriever_name"])
        schema = rules.check_input_schema(request.get("input_schema") or {})
        stages = self.check_stages(namespace, request["stages"], schema)
        now = isoformat(utcnow())
        retriever = Retriever(
            retriever_id=new_id("ret"), namespace_id=namespace.namespace_id, retriever_name=name,
            stages=tuple(stages), input_schema=schema, created_at=now, updated_at=now,
            **{key: (tuple(request[key]) if key in ("tags", "collection_identifiers") else request[key])
               for key in _STORED_FIELDS if request.get(key) is not None},
        )
        try:
            self._repository.create(retriever)
        except RetrieverNameTaken:
            raise _name_taken(name) from None
        self._publish("retriever.created", namespace, retriever)
        return retriever

    def get(self, namespace: Namespace, identifier: str) -> Retriever:
        found = self._repository.find(namespace.namespace_id, identifier)
        if found is None:
            raise NotFound("retriever", identifier)
        return found

    def describe(self, namespace: Namespace, identifier: str) -> Retriever:
        """The retriever as the API shows it: with whether it is published (one more read; executions use get)."""
        found = self.get(namespace, identifier)
        return replace(found, published=found.retriever_id in self._published_ids(namespace))

    def list(self, namespace: Namespace, *, search: str | None = None, case_sensitive: bool = False,
             filters: dict[str, Any] | None = None, sorts: list[dict[str, Any]] | None = None) -> list[Retriever]:
        """Oldest first unless `sorts` ({field, direction}) says otherwise; `search` looks in name, id and
        description; `filters` is the same filter language as everywhere, over the retriever's fields."""
        wanted = filter_rules.parse_filter(filters)
        found = sorted(self._repository.list(namespace.namespace_id), key=lambda r: (r.created_at, r.retriever_id))
        if search:
            fold = (lambda text: text) if case_sensitive else str.lower
            needle = fold(search)
            found = [r for r in found if needle in fold(r.retriever_name) or needle in fold(r.retriever_id)
                     or needle in fold(r.description or "")]
        if wanted is not None:
            found = [r for r in found if filter_rules.matches(wanted, _listing_view(r), r.retriever_id)]
        for order in reversed(sorts or []):  # stable sorts, last key first
            found = _sorted_by(found, order)
        published = self._published_ids(namespace) if found else set()
        return [replace(r, published=True) if r.retriever_id in published else r for r in found]

    def patch(self, namespace: Namespace, identifier: str, changes: dict[str, Any]) -> Retriever:
        """Absent or null fields are left alone. Concurrent patches are retried on a fresh read, so none is lost."""
        def attempt() -> Retriever:
            current = self.get(namespace, identifier)
            updates: dict[str, Any] = {key: value for key, value in changes.items()
                                       if value is not None and key in (*_STORED_FIELDS, "retriever_name")}
            if "retriever_name" in updates:
                rules.check_name(updates["retriever_name"])
            schema = current.input_schema
            if changes.get("input_schema") is not None:
                schema = rules.check_input_schema(changes["input_schema"])
                updates["input_schema"] = schema
            stages = changes.get("stages") if changes.get("stages") is not None else list(current.stages)
            if changes.get("stages") is not None or "input_schema" in updates:
                updates["stages"] = self.check_stages(namespace, stages, schema)
            updates["updated_at"] = isoformat(utcnow())
            try:
                saved = self._repository.save(current.with_changes(updates), current)
            except RetrieverNameTaken:
                raise _name_taken(updates["retriever_name"]) from None
            self._publish("retriever.updated", namespace, saved)
            return saved

        return retry_on_conflict(attempt, attempts=PATCH_ATTEMPTS, gave_up=lambda: Conflict(
            "The retriever kept changing while this request was applied; try again", code="concurrent_modification"))

    def clone(self, namespace: Namespace, identifier: str, overrides: dict[str, Any]) -> Retriever:
        """A new retriever from an existing one: every field copied unless `overrides` gives it (stage configs
        unchanged), checked as at creation; the source is untouched."""
        source = self.get(namespace, identifier)
        record = source.to_record()
        request = {key: record[key] for key in ("stages", "input_schema", *_STORED_FIELDS) if record.get(key)
                   is not None}
        request.update({key: value for key, value in overrides.items() if value is not None})
        return self.create(namespace, request)

    def delete(self, namespace: Namespace, identifier: str) -> Retriever:
        retriever = self.get(namespace, identifier)
        self._repository.delete(retriever)
        for listener in self._deletion_listeners:
            listener(namespace, retriever)
        self._publish("retriever.deleted", namespace, retriever)
        return retriever

    def _publish(self, event_type: str, namespace: Namespace, retriever: Retriever) -> None:
        self._events.publish(DomainEvent(
            type=event_type, org_id=namespace.org_id, namespace_id=namespace.namespace_id,
            data={"retriever_id": retriever.retriever_id, "retriever_name": retriever.retriever_name},
            occurred_at=isoformat(utcnow()),
        ))


def _listing_view(retriever: Retriever) -> dict[str, Any]:
    return {**retriever.to_record(), "version": retriever.version}


def _sorted_by(found: list[Retriever], order: Any) -> list[Retriever]:
    """One sort key; retrievers without the field come last either way."""
    field = order.get("field") if isinstance(order, dict) else None
    direction = (order.get("direction") or "asc") if isinstance(order, dict) else None
    if not isinstance(field, str) or not isinstance(direction, str) or direction.lower() not in ("asc", "desc"):
        raise BadRequest("a sort is {field, direction: asc|desc}", code="invalid_sort", details={"sort": order})
    keyed = [(_listing_view(r).get(field), r) for r in found]
    present = [(value, r) for value, r in keyed if value is not None]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v, _ in present)
    present.sort(key=lambda pair: pair[0] if numbers else str(pair[0]), reverse=direction.lower() == "desc")
    return [r for _, r in present] + [r for value, r in keyed if value is None]
