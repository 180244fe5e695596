"""Collections: create, read, list, patch, delete within the caller's namespace (X-Namespace), and the extractor
catalogue this deployment can run.

Creation checks the source (buckets or an upstream collection, no cycles) and the extractor configuration against the
source schema, then brings the namespace's vector store in line (the extractor's vector index, the output fields'
payload indexes) before the collection item is written: a refused request changes nothing, and a failure after the
store step leaves only idempotent indexes behind."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol

from openpeek.domain import collections as rules
from openpeek.domain import listing
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.collections import Collection, CollectionSource, ExtractorSpec
from openpeek.domain.errors import BadRequest, Conflict, NotFound
from openpeek.domain.ids import new_id
from openpeek.domain.namespace import ExtractorRef, Namespace, VectorConfig
from openpeek.domain.conditions import Filter, MatchValue
from openpeek.domain.events import DomainEvent
from openpeek.domain.failures import CollectionNotFound, ConditionFailed
from openpeek.domain.vectors import PayloadIndexSpec
from openpeek.ports import EventBus, InferenceRegistry, VectorStore
from openpeek.repositories.buckets import BucketRepository
from openpeek.repositories.collections import CollectionNameTaken, CollectionRepository
from openpeek.services.namespaces import NamespaceService

PATCH_ATTEMPTS = 16
_PATCHABLE = ("collection_name", "description", "metadata", "enabled", "source")


def documents_of(collection_id: str) -> Filter:
    """The vector-store filter that selects one collection's documents."""
    return Filter(must=(MatchValue("collection_id", collection_id),))


@dataclass(frozen=True)
class CollectionView:
    """A collection with its live document count, as the API presents it."""

    collection: Collection
    document_count: int
    tiering: dict[str, Any] | None = None  # the effective tiering policy and where each part comes from


@dataclass(frozen=True)
class CatalogueEntry:
    """An extractor of the catalogue and whether this deployment can run it (and, if not, what enables it)."""

    spec: ExtractorSpec
    available: bool
    how_to_enable: str | None


class TieringPolicies(Protocol):
    def set_override(self, namespace: Namespace, collection: Collection, spec: dict[str, Any]) -> None:
        """Check and keep the collection's `tiering` override ({} clears it)."""

    def effective(self, namespace: Namespace, collection: Collection) -> dict[str, Any]:
        """The policy in force (TieringOverride) with `inherited_from` naming each part's source."""


class CollectionService:
    def __init__(self, repository: CollectionRepository, buckets: BucketRepository, namespaces: NamespaceService,
                 vectors: VectorStore, inference: InferenceRegistry, events: EventBus) -> None:
        self._repository = repository
        self._buckets = buckets
        self._namespaces = namespaces
        self._vectors = vectors
        self._inference = inference
        self._events = events
        self._content_removers: list[Callable[[Namespace, Collection], None]] = []
        self._tiering: TieringPolicies | None = None

    def use_tiering(self, policies: "TieringPolicies") -> None:
        """Where a collection's `tiering` override is kept and its effective policy computed (services/tiering)."""
        self._tiering = policies

    def _view(self, namespace: Namespace, collection: Collection, document_count: int) -> CollectionView:
        tiering = self._tiering.effective(namespace, collection) if self._tiering is not None else None
        return CollectionView(collection, document_count, tiering)

    def remove_content_with(self, remover: Callable[[Namespace, Collection], None]) -> None:
        """Register content kept outside the vector store (a cold copy, an archive) that deleting a collection must
        remove; it runs before the collection's item goes, so a failed delete can be sent again."""
        self._content_removers.append(remover)

    # -- the catalogue --------------------------------------------------------------------------------------------

    def catalogue(self) -> list[CatalogueEntry]:
        services = {service.name: service for service in self._inference.services()}
        entries = []
        for spec in rules.EXTRACTORS:
            # The first model this deployment can call runs the extractor; the entry shows that model's vectors.
            usable_model = next((model for model in (spec.requires, *spec.alternatives)
                                 if model is not None and model in services and services[model].usable), None)
            service = services.get(spec.requires) if spec.requires else None
            if spec.requires is None:
                entries.append(CatalogueEntry(spec, True, None))
            elif usable_model is not None:
                entries.append(CatalogueEntry(rules.on_model(spec, usable_model), True, None))
            elif service is None:
                entries.append(CatalogueEntry(spec, False, f"no inference service '{spec.requires}' is registered; "
                                                           f"enabled by {spec.enabled_by}"))
            else:
                how = None if service.usable else f"{service.how_to_enable}; enabled by {spec.enabled_by}"
                entries.append(CatalogueEntry(spec, service.usable, how))
        return entries

    def _on_usable_model(self, spec: ExtractorSpec) -> ExtractorSpec:
        """The extractor on the model this deployment runs it with (what the catalogue shows)."""
        return next((entry.spec for entry in self.catalogue()
                     if entry.available and entry.spec.feature_extractor_id == spec.feature_extractor_id), spec)

    @staticmethod
    def _spec_of(collection: Collection) -> ExtractorSpec | None:
        """The extractor on the model the collection was created with: its indexes keep their model for good."""
        config = collection.feature_extractor
        spec = rules.extractor_spec(config.feature_extractor_name, config.version)
        if spec is None:
            return None
        for index in collection.vector_indexes:
            if index.inference_service in spec.alternatives:
                return rules.on_model(spec, index.inference_service)
        return spec

    def _runnable(self) -> Callable[[ExtractorSpec], bool]:
        usable = {entry.spec.feature_extractor_id for entry in self.catalogue() if entry.available}
        return lambda spec: spec.feature_extractor_id in usable

    # -- create ---------------------------------------------------------------------------------------------------

    def create(self, namespace: Namespace, request: dict[str, Any]) -> CollectionView:
        name = rules.check_name(request.get("collection_name"))
        source, properties = self._source(namespace, request.get("source") or {}, collection_id=None)
        extractor, config = rules.parse_extractor(request.get("feature_extractor"), request.get("features"),
                                                  self._runnable())
        extractor = self._on_usable_model(extractor)
        design = rules.design(extractor, config, properties)
        if self._repository.find_in(namespace.namespace_id, name) is not None:
            raise _name_taken(name)
        self._prepare_store(namespace, extractor, design)
        now = isoformat(utcnow())
        collection = Collection(
            collection_id=new_id("col"), collection_name=name, namespace_id=namespace.namespace_id, source=source,
            feature_extractor=design.extractor, input_schema=design.input_schema, output_schema=design.output_schema,
            vector_indexes=design.vector_indexes, payload_indexes=design.payload_indexes,
            description=request.get("description"), metadata=request.get("metadata"),
            enabled=request.get("enabled", True) is not False, created_at=now, updated_at=now,
        )
        try:
            self._repository.create(collection)
        except CollectionNameTaken:
            raise _name_taken(name) from None
        self._publish("collection.created", namespace, collection)
        return self._view(namespace, collection, 0)

    def clone(self, namespace: Namespace, identifier: str, overrides: dict[str, Any]) -> tuple[CollectionView, str]:
        """A new collection (new id, the given name) from an existing one: every field the request leaves out is
        copied (description, source, feature extractor, enabled, metadata, the tiering override), and the whole is
        checked as at creation. The documents are not copied: the clone fills when its source is processed. Returns
        the clone and the source's id."""
        source = self.get(namespace, identifier)
        if overrides.get("taxonomy_applications"):
            raise BadRequest("taxonomies are not supported by this deployment", code="unsupported_field",
                             details={"field": "taxonomy_applications"})
        request: dict[str, Any] = {
            "description": source.description, "source": source.source.public(),
            "feature_extractor": source.feature_extractor.public(), "enabled": source.enabled,
            "metadata": source.metadata,
        }
        request.update({key: value for key, value in overrides.items()
                        if value is not None and key != "taxonomy_applications"})
        view = self.create(namespace, request)
        own = _own_tiering(self._tiering.effective(namespace, source)) if self._tiering is not None else {}
        if own and self._tiering is not None:
            self._tiering.set_override(namespace, view.collection, own)
            view = self._view(namespace, view.collection, 0)
        return view, source.collection_id

    def check_extractor(self, spec: dict[str, Any] | None, features: list[str] | None) -> None:
        """The extractor a request names is known and runs here (400 naming those that do)."""
        rules.parse_extractor(spec, features, self._runnable())

    def preview_extractor(self, namespace: Namespace, request: dict[str, Any]) -> dict[str, Any]:
        """The extractor configuration creation would store for this request, without storing anything."""
        _, properties = self._source(namespace, request.get("source") or {}, collection_id=None)
        extractor, config = rules.parse_extractor(request.get("feature_extractor"), request.get("features"),
                                                  self._runnable())
        return rules.design(self._on_usable_model(extractor), config, properties).extractor.public()

    def _source(self, namespace: Namespace, spec: dict[str, Any],
                collection_id: str | None) -> tuple[CollectionSource, dict[str, Any]]:
        """The source with its identifiers resolved to ids, and the schema properties it feeds the extractor."""
        source = CollectionSource.parse(spec)
        if source.type == "bucket":
            properties: dict[str, Any] = {}
            bucket_ids = []
            for identifier in source.bucket_ids:
                bucket = self._buckets.get(namespace.org_id, namespace.namespace_id, identifier)
                if bucket is None:
                    raise NotFound("bucket", identifier)
                bucket_ids.append(bucket.bucket_id)
                for prop, schema in bucket.properties.items():
                    if prop in properties and properties[prop].get("type") != schema.get("type"):
                        raise BadRequest(
                            f"source buckets disagree on property '{prop}' ({properties[prop].get('type')} vs "
                            f"{schema.get('type')})", code="incompatible_source_schemas",
                            details={"property": prop, "bucket_id": bucket.bucket_id})
                    properties.setdefault(prop, schema)
            return replace(source, bucket_ids=tuple(bucket_ids)), properties
        upstream = self._repository.find_in(namespace.namespace_id, source.collection_id or "")
        if upstream is None:
            raise NotFound("collection", source.collection_id or "")
        if collection_id is not None:
            rules.check_no_cycle(collection_id, upstream.collection_id, self._upstream_of(namespace))
        properties = dict(upstream.output_schema.get("properties") or {})
        return replace(source, collection_id=upstream.collection_id), properties

    def _upstream_of(self, namespace: Namespace) -> Callable[[str], str | None]:
        def upstream_of(collection_id: str) -> str | None:
            found = self._repository.find_in(namespace.namespace_id, collection_id)
            return found.source.collection_id if found is not None and found.source.type == "collection" else None

        return upstream_of

    def _prepare_store(self, namespace: Namespace, extractor: ExtractorSpec, design: rules.Design) -> None:
        """The extractor's vectors in the namespace's store (a builtin joins the namespace's extractors; rows that
        bring their own vectors get bring-your-own indexes), and a payload index per scalar output field."""
        if extractor.requires is not None:
            self._namespaces.ensure_extractors(
                namespace, [ExtractorRef(extractor.name, extractor.version, model=rules.model_of(extractor))])
        else:
            existing = {spec.name: spec for spec in namespace.vector_indexes()}
            configs = []
            for index in design.vector_indexes:
                present = existing.get(index.vector_name)
                if present is not None and (present.dimension, present.metric) != (index.dimension, index.metric):
                    raise BadRequest(
                        f"vector_fields '{index.vector_name}' is {index.dimension}-d {index.metric}, but this "
                        f"namespace already has that index as {present.dimension}-d {present.metric}",
                        code="vector_index_conflict", details={"name": index.vector_name})
                if present is None:
                    configs.append(VectorConfig(index.vector_name, index.dimension, index.metric))
            if configs:
                self._namespaces.add_vector_configs(namespace, configs)
        for index in design.payload_indexes:
            spec = PayloadIndexSpec(index["field_name"], index["type"])  # type: ignore[arg-type]
            self._vectors.create_payload_index(namespace.collection, spec)

    # -- reads ----------------------------------------------------------------------------------------------------

    def get(self, namespace: Namespace, identifier: str) -> Collection:
        found = self._repository.find_in(namespace.namespace_id, identifier)
        if found is None:
            raise NotFound("collection", identifier)
        return found

    def describe(self, namespace: Namespace, identifier: str) -> CollectionView:
        collection = self.get(namespace, identifier)
        return self._view(namespace, collection, self.document_count(namespace, collection))

    def find(self, namespace: Namespace, identifier: str) -> Collection | None:
        return self._repository.find_in(namespace.namespace_id, identifier)

    def document_count(self, namespace: Namespace, collection: Collection) -> int:
        try:
            return self._vectors.count(namespace.collection, documents_of(collection.collection_id))
        except CollectionNotFound:
            return 0

    def list(self, namespace: Namespace, *, search: str | None = None, case_sensitive: bool = False,
             filters: dict[str, Any] | None = None, sorts: list[dict[str, Any]] | None = None) -> list[Collection]:
        """Oldest first unless `sorts` says otherwise; `search` looks in name, id and description; `filters` is the
        API's filter language over the collection's fields."""
        return listing.select(
            self._repository.list_in(namespace.namespace_id), name=lambda item: item.collection_name, identifier=lambda item: item.collection_id,
            description=lambda item: item.description, record=lambda item: item.to_record(),
            created_at=lambda item: item.created_at, search=search, case_sensitive=case_sensitive, filters=filters,
            sorts=sorts)

    def list_views(self, namespace: Namespace, **query: Any) -> list[CollectionView]:
        return [self._view(namespace, c, self.document_count(namespace, c)) for c in self.list(namespace, **query)]

    # -- patch and delete -----------------------------------------------------------------------------------------

    def patch(self, namespace: Namespace, identifier: str, changes: dict[str, Any]) -> CollectionView:
        """Name, description, metadata, enabled and source; a new source is checked (cycles refused) and the input
        and output schemas recomputed with the same extractor configuration. Retried on a fresh read when a
        concurrent patch won, so none is lost."""
        changes = dict(changes)
        tiering = changes.pop("tiering", None)
        unknown = sorted(key for key, value in changes.items() if value is not None and key not in _PATCHABLE)
        if unknown:
            raise BadRequest(
                f"{', '.join(unknown)} cannot be changed on an existing collection; create a new collection instead",
                code="immutable_field", details={"fields": unknown, "patchable": list(_PATCHABLE) + ["tiering"]})
        if tiering is not None:
            if self._tiering is None:
                raise BadRequest("this deployment does not tier collections", code="unsupported_field",
                                 details={"field": "tiering"})
            self._tiering.set_override(namespace, self.get(namespace, identifier), tiering)
        for _ in range(PATCH_ATTEMPTS):
            current = self.get(namespace, identifier)
            updates: dict[str, Any] = {}
            if changes.get("collection_name") is not None and changes["collection_name"] != current.collection_name:
                updates["collection_name"] = rules.check_name(changes["collection_name"])
            for key in ("description", "metadata", "enabled"):
                if changes.get(key) is not None:
                    updates[key] = changes[key]
            if changes.get("source") is not None:
                source, properties = self._source(namespace, changes["source"], collection_id=current.collection_id)
                config = current.feature_extractor
                spec = self._spec_of(current)
                if spec is None:
                    raise BadRequest(f"this deployment no longer knows the collection's extractor "
                                     f"{config.feature_extractor_id}", code="feature_extractor_not_available")
                design = rules.design(spec, config.public(), properties)
                self._prepare_store(namespace, spec, design)
                updates.update(source=source, input_schema=design.input_schema, output_schema=design.output_schema,
                               feature_extractor=design.extractor, vector_indexes=design.vector_indexes,
                               payload_indexes=design.payload_indexes)
            if not updates:
                return self._view(namespace, current, self.document_count(namespace, current))
            updates["updated_at"] = isoformat(utcnow())
            try:
                saved = self._repository.save(current.with_changes(updates), current)
            except CollectionNameTaken:
                raise _name_taken(updates["collection_name"]) from None
            except ConditionFailed:
                continue
            self._publish("collection.updated", namespace, saved)
            return self._view(namespace, saved, self.document_count(namespace, saved))
        raise Conflict("The collection kept changing while this request was applied; try again",
                       code="concurrent_modification")

    def delete(self, namespace: Namespace, identifier: str) -> Collection:
        """Refused while other collections read from it (they are named); otherwise its documents go first, then
        the item, so a failed delete can be sent again."""
        collection = self.get(namespace, identifier)
        downstream = [c for c in self._repository.list_in(namespace.namespace_id)
                      if c.source.type == "collection" and c.source.collection_id == collection.collection_id]
        if downstream:
            names = [c.collection_name for c in downstream]
            raise Conflict(
                f"collection '{collection.collection_name}' is the source of {', '.join(names)}; delete or re-source "
                "them first", code="collection_in_use",
                details={"collections": [{"collection_id": c.collection_id, "collection_name": c.collection_name}
                                         for c in downstream]})
        try:
            self._vectors.delete_by_filter(namespace.collection, documents_of(collection.collection_id))
        except CollectionNotFound:
            pass
        for remove in self._content_removers:
            remove(namespace, collection)
        self._repository.delete(collection)
        self._publish("collection.deleted", namespace, collection)
        return collection

    # -- namespace copies (clone, manifests) ----------------------------------------------------------------------

    def counts(self, namespace: Namespace) -> dict[str, int]:
        """NamespaceModel's collection_count."""
        return {"collection_count": len(self._repository.list_in(namespace.namespace_id))}

    def copy_into(self, source: Namespace, target: Namespace) -> int:
        """Every collection of `source` into `target` (a clone), with the same ids: the copied documents carry
        them. The target's store gets the same vector and payload indexes. Returns how many were copied."""
        copied = 0
        for collection in sorted(self._repository.list_in(source.namespace_id), key=lambda c: c.created_at):
            self._repository.create(replace(collection, namespace_id=target.namespace_id, version=1))
            self.recreate(target, collection)
            copied += 1
        return copied

    def recreate(self, namespace: Namespace, collection: Collection) -> None:
        """Bring a copied namespace's store in line with a collection copied into it (the same indexes)."""
        spec = self._spec_of(collection)
        if spec is None:
            return
        design = rules.Design(collection.feature_extractor, collection.input_schema, collection.output_schema,
                              collection.vector_indexes, collection.payload_indexes)
        self._prepare_store(namespace, spec, design)

    def _publish(self, event_type: str, namespace: Namespace, collection: Collection) -> None:
        self._events.publish(DomainEvent(
            type=event_type, org_id=namespace.org_id, namespace_id=namespace.namespace_id,
            data={"collection_id": collection.collection_id, "collection_name": collection.collection_name},
            occurred_at=isoformat(utcnow()),
        ))


def _own_tiering(effective: dict[str, Any]) -> dict[str, Any]:
    """The parts of an effective tiering policy the collection sets itself (its override), as PATCH takes them."""
    source = effective.get("inherited_from") or {}
    own: dict[str, Any] = {part: effective[part] for part in ("enabled", "exempt") if source.get(part) == "collection"}
    idle = {part: (effective.get("idle_days") or {}).get(part) for part in ("cold", "frozen")
            if source.get(f"idle_days.{part}") == "collection"}
    if idle:
        own["idle_days"] = idle
    return own


def _name_taken(name: str) -> Conflict:
    return Conflict(f"A collection named '{name}' exists already in this namespace", code="collection_name_taken",
                    details={"collection_name": name})

