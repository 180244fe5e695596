"""A collection's schema sync (`POST /v1/collections/{collection_id}/sync-schema`): sample its documents in the
vector store, add the fields they carry that output_schema lacks (never removing or retyping one), and carry the new
fields on to the collections that read from it (their input_schema, and their output_schema where they pass every
source field through). A sync runs at most once per five minutes unless forced; the synced collection and the
downstream ones change in one transaction, so a conflicting write leaves all of them as they were."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from openpeek.domain import collections as rules
from openpeek.domain.clock import isoformat, parse, utcnow
from openpeek.domain.collections import Collection
from openpeek.domain.errors import Conflict
from openpeek.domain.failures import CollectionNotFound, ConditionFailed
from openpeek.domain.namespace import Namespace
from openpeek.ports import Table, VectorStore
from openpeek.repositories.collections import CollectionRepository
from openpeek.services.collections.collections import CollectionService, documents_of

SYNC_ATTEMPTS = 8
SCROLL_PAGE = 256


@dataclass(frozen=True)
class SchemaSyncOutcome:
    collection_id: str
    schema_version: int
    previous_version: int
    fields_added: tuple[str, ...] = ()
    fields_total: int = 0
    documents_sampled: int = 0
    downstream_updated: tuple[str, ...] = ()
    skipped_reason: str | None = None  # set when the debounce window skipped the sync
    last_sync: str | None = None
    message: str | None = None


class SchemaSync:
    def __init__(self, collections: CollectionService, repository: CollectionRepository, vectors: VectorStore,
                 table: Table) -> None:
        self._collections = collections
        self._repository = repository
        self._vectors = vectors
        self._table = table

    def sync(self, namespace: Namespace, identifier: str, *, sample_size: int = 1000, force: bool = False,
             cascade: bool = True) -> SchemaSyncOutcome:
        for _ in range(SYNC_ATTEMPTS):
            collection = self._collections.get(namespace, identifier)
            now = utcnow()
            last = collection.last_schema_sync
            if not force and last and now - parse(last) < timedelta(seconds=rules.SCHEMA_SYNC_DEBOUNCE_S):
                return SchemaSyncOutcome(
                    collection.collection_id, collection.schema_version, collection.schema_version,
                    skipped_reason=f"synced at {last}, less than {rules.SCHEMA_SYNC_DEBOUNCE_S // 60} minutes ago; "
                                   "send force=true to sync now", last_sync=last)
            payloads = self._sample(namespace, collection, sample_size)
            schema, added = rules.merged_schema(collection.output_schema, rules.discovered_properties(payloads))
            synced = replace(collection, output_schema=schema, last_schema_sync=isoformat(now),
                             schema_version=collection.schema_version + (1 if added else 0))
            if added:
                synced = replace(synced, updated_at=isoformat(now))
            downstream = self._downstream(namespace, collection, synced) if cascade and added else []
            try:
                self._table.transact_write([self._repository.replacement(synced, collection),
                                            *(self._repository.replacement(new, old) for old, new in downstream)])
            except ConditionFailed:
                continue  # a concurrent change to one of them: read again and merge into what it wrote
            message = None
            if collection.lifecycle_state != rules.ACTIVE:
                message = (f"the collection is {collection.lifecycle_state}: its documents are not in the vector "
                           "store, so none were sampled")
            return SchemaSyncOutcome(
                collection.collection_id, synced.schema_version, collection.schema_version, tuple(added),
                len(schema.get("properties") or {}), len(payloads),
                tuple(new.collection_id for _, new in downstream), last_sync=synced.last_schema_sync,
                message=message)
        raise Conflict("The collection kept changing while its schema was synced; try again",
                       code="concurrent_modification")

    def _sample(self, namespace: Namespace, collection: Collection, sample_size: int) -> list[dict]:
        payloads: list[dict] = []
        offset = None
        try:
            while len(payloads) < sample_size:
                points, offset = self._vectors.scroll(namespace.collection, filter=documents_of(
                    collection.collection_id), limit=min(SCROLL_PAGE, sample_size - len(payloads)), offset=offset)
                payloads += [point.payload for point in points]
                if offset is None or not points:
                    break
        except CollectionNotFound:  # the namespace's store holds nothing yet
            return []
        return payloads

    def _downstream(self, namespace: Namespace, before: Collection, after: Collection
                    ) -> list[tuple[Collection, Collection]]:
        """(as stored, as changed) for every collection reading from `after`, directly or through others whose
        output grows with it, up to the deepest source chain allowed."""
        everything = self._repository.list_in(namespace.namespace_id)
        changed: list[tuple[Collection, Collection]] = []
        frontier = [(before.collection_id, after.output_schema)]
        for _ in range(rules.MAX_SOURCE_DEPTH):
            following = []
            for upstream_id, output in frontier:
                for child in everything:
                    if child.source.type != "collection" or child.source.collection_id != upstream_id:
                        continue
                    new_fields = dict(output.get("properties") or {})
                    inputs, added_inputs = rules.merged_schema(child.input_schema, new_fields)
                    outputs, added_outputs = child.output_schema, []
                    if child.feature_extractor.include_all_source_fields:
                        outputs, added_outputs = rules.merged_schema(child.output_schema, new_fields)
                    if not added_inputs and not added_outputs:
                        continue
                    updated = replace(child, input_schema=inputs, output_schema=outputs,
                                      schema_version=child.schema_version + (1 if added_outputs else 0),
                                      updated_at=after.last_schema_sync or child.updated_at)
                    changed.append((child, updated))
                    if added_outputs:
                        following.append((child.collection_id, outputs))
            if not following:
                break
            frontier = following
        return changed
