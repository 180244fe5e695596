"""Where a collection document came from and what became of it (the SDK's CollectionDocumentsApi ancestors,
descendants, download and diagnostics), read from what the stores already hold: the documents' flat lineage fields
in the vector store (or a cold or archived collection's tier), the collections, the bucket object at the root, and
the batch that wrote the document.

    source object ─► tier-1 document (source_object_id) ─► tier-2 document (source_document_id) ─► ...
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterator

from openpeek.domain import document_lineage as lineage
from openpeek.domain.batches import Batch
from openpeek.domain.collections import Collection
from openpeek.domain.errors import BadRequest, DependencyFailed, Missing, NotFound, NotSupported
from openpeek.domain.namespace import Namespace
from openpeek.domain.objects import BucketObject
from openpeek.repositories.batches import BatchRepository
from openpeek.services.collections.collections import CollectionService
from openpeek.services.collections.documents import (
    MAX_PAGE,
    MAX_SCAN,
    TIER_MARK,
    CollectionDocumentService,
    ListQuery,
    Page,
)
from openpeek.services.content.objects import DOWNLOAD_URL_TTL_S, ObjectService


@dataclass(frozen=True)
class ObjectDocuments:
    """A page of the documents made from one bucket object, and where that object is (`bucket_id`; from the
    documents when the object itself was deleted, `object_exists` false)."""

    object_id: str
    bucket_id: str | None
    object_exists: bool
    page: Page


class DocumentLineageService:
    def __init__(self, documents: CollectionDocumentService, collections: CollectionService,
                 objects: ObjectService | None, batches: BatchRepository) -> None:
        self._documents = documents
        self._collections = collections
        self._objects = objects  # None where this runtime keeps no buckets: no document then has a source object
        self._batches = batches

    # -- the chain -------------------------------------------------------------------------------------------------

    def ancestors(self, namespace: Namespace, identifier: str, document_id: str) -> list[dict[str, Any]]:
        """Every upstream document of this one, from the one made directly from the root object through the
        immediate parent; the document itself is not listed. Where an upstream document no longer exists the list
        starts below it."""
        return self._ancestors(namespace, self._documents.get(namespace, identifier, document_id,
                                                              with_vectors=False))

    def _ancestors(self, namespace: Namespace, document: dict[str, Any]) -> list[dict[str, Any]]:
        chain: list[dict[str, Any]] = []
        seen = {document["document_id"]}
        parent_id = lineage.parent_id(document)
        # A hand-written document can name any parent, itself included: a cycle ends the walk, as does the depth no
        # collection chain exceeds.
        while parent_id is not None and parent_id not in seen and len(chain) < lineage.MAX_ANCESTORS:
            seen.add(parent_id)
            try:
                parent = self._documents.get_in_namespace(namespace, parent_id, with_vectors=False)
            except NotFound:
                break
            chain.append(parent)
            parent_id = lineage.parent_id(parent)
        chain.reverse()
        return chain

    def descendants(self, namespace: Namespace, identifier: str, document_id: str) -> list[dict[str, Any]]:
        """The documents made directly from this one (`source_document_id` is its id), in any collection of the
        namespace and any tier, oldest first, at most MAX_DESCENDANTS. Deeper levels: ask again for each child."""
        self._documents.get(namespace, identifier, document_id, with_vectors=False)  # 404 unless it is here
        page = self._documents.list_namespace(namespace, None, ListQuery(
            filters={"AND": [{"field": "source_document_id", "operator": "eq", "value": document_id}]},
            sort={"field": "created_at", "direction": "asc"}, limit=lineage.MAX_DESCENDANTS))
        return sorted(page.documents, key=lambda child: (child.get("created_at") or "", child["document_id"]))

    def lineage(self, namespace: Namespace, identifier: str, document_id: str) -> dict[str, Any]:
        """The document's whole lineage (the SDK's DocumentLineageResponse): its flat lineage fields and the chain of
        steps from the document made directly from the root object to this one. Where an upstream document no
        longer exists the chain starts below it, and `depth` still counts the steps above (from the collection
        chain that made it). A document written directly names no source: `lineage` null and `message` saying so."""
        document = self._documents.get(namespace, identifier, document_id, with_vectors=False)
        made = [*self._ancestors(namespace, document), document]
        chain = self._steps(namespace, made)
        found = lineage.lineage_of(document, chain)
        answer: dict[str, Any] = {"document_id": document_id, "collection_id": document["collection_id"]}
        if found is None:
            return {**answer, "lineage": None, "depth": 0, "total_steps": 0,
                    "message": f"document '{document_id}' was written directly (source_type "
                               f"{document.get('source_type') or 'unset'}) and names no source object or document: "
                               "it has no lineage"}
        return {**answer, "lineage": found, "depth": len(chain) + self._unlisted_steps(namespace, made),
                "total_steps": len(chain)}

    def _steps(self, namespace: Namespace, made: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The lineage steps of a chain of documents, root first: each with its collection's extractor."""
        steps = []
        extractor_of: dict[str, str | None] = {}
        for document in made:
            collection_id = document.get("collection_id")
            if collection_id not in extractor_of:
                found = self._collections.find(namespace, collection_id) if collection_id else None
                extractor_of[collection_id] = found.feature_extractor.feature_extractor_id if found else None
            steps.append(lineage.step(document, extractor_of[collection_id]))
        return steps

    def _unlisted_steps(self, namespace: Namespace, made: list[dict[str, Any]]) -> int:
        """How many steps above the chain's first document cannot be listed: none when it was made from the object
        (or its parent is in the chain: a hand-written loop); where its parent is gone, the tiers above its
        collection in the collection chain, and at least that parent's."""
        top = made[0]
        parent = lineage.parent_id(top)
        if parent is None or parent in {document["document_id"] for document in made}:
            return 0
        collection = self._collections.find(namespace, top["collection_id"])
        tiers = list(self._collection_chain(namespace, collection))
        reaches_bucket = bool(tiers) and tiers[-1].source.type == "bucket"
        return max(len(tiers) - 1, 1) if reaches_bucket else 1

    # -- everything made from one object ---------------------------------------------------------------------------

    def object_documents(self, namespace: Namespace, object_id: str, collection_identifiers: list[str] | None,
                         query: ListQuery) -> ObjectDocuments:
        """A page of the documents the namespace's collections made from one bucket object (in any tier), with their
        total; `collection_identifiers` (ids or names) narrows it to those collections. The object's own record is
        not a document: an object no collection has processed yet has none. An id that is neither an object of the
        namespace nor the root of any of its documents: 404."""
        collection_ids = ([self._documents.collection_id(namespace, identifier)
                           for identifier in dict.fromkeys(collection_identifiers)]
                          if collection_identifiers else None)
        page = self._documents.list_namespace(namespace, collection_ids, replace(
            query, filters=lineage.made_from(object_id), include_total=True))
        obj = self._find_object(namespace, object_id, page.documents)
        if obj is None and (page.total or 0) == 0 and (collection_ids is None or not self._made_from_any(
                namespace, object_id)):
            raise NotFound("object", object_id)
        return ObjectDocuments(object_id, obj.bucket_id if obj is not None else _root_bucket(page.documents),
                               obj is not None, page)

    def decomposition_tree(self, namespace: Namespace, object_id: str, *,
                           include_document_ids: bool) -> dict[str, Any]:
        """Everything the namespace's collections made from one bucket object, as a tree of collections: the ones
        that read its bucket, under each the collections reading from it, each with how many of the object's
        documents it holds (and with `include_document_ids`, their ids and the upstream document of each). 404 as
        object_documents. At most MAX_SCAN documents: beyond that, page them with GET /v1/objects/{id}/documents."""
        made = self._all_made_from(namespace, object_id)
        obj = self._find_object(namespace, object_id, made)
        if obj is None and not made:
            raise NotFound("object", object_id)
        facts = {collection.collection_id: lineage.TreeCollection(
            collection.collection_id, collection.collection_name, collection.feature_extractor.feature_extractor_id,
            collection.source.collection_id if collection.source.type == "collection" else None)
            for collection in self._collections.list(namespace)}
        tree = lineage.decomposition_tree(made, facts, include_document_ids=include_document_ids)
        return {"object_id": object_id, "bucket_id": obj.bucket_id if obj is not None else _root_bucket(made),
                "object_exists": obj is not None, "total_documents": len(made),
                "total_collections": _count_nodes(tree), "max_depth": lineage.tree_depth(tree), "tree": tree}

    def _all_made_from(self, namespace: Namespace, object_id: str) -> list[dict[str, Any]]:
        """Every document made from the object, only the fields a tree reads, page by page."""
        query = ListQuery(filters=lineage.made_from(object_id), limit=MAX_PAGE, include_total=True,
                          select=lineage.TREE_FIELDS)
        made: list[dict[str, Any]] = []
        while True:
            page = self._documents.list_namespace(namespace, None, query)
            if page.total is not None and page.total > MAX_SCAN:
                raise BadRequest(f"object '{object_id}' has {page.total:,} documents, more than the {MAX_SCAN:,} a "
                                 f"tree reads: page them with GET /v1/objects/{object_id}/documents",
                                 code="too_many_documents", details={"object_id": object_id, "total": page.total})
            made += page.documents
            if page.next_cursor is None or not page.documents:
                return made
            query = replace(query, cursor=page.next_cursor, include_total=False)

    def _made_from_any(self, namespace: Namespace, object_id: str) -> bool:
        page = self._documents.list_namespace(namespace, None, ListQuery(filters=lineage.made_from(object_id),
                                                                         limit=1, select=["document_id"]))
        return bool(page.documents)

    def _find_object(self, namespace: Namespace, object_id: str,
                     documents: list[dict[str, Any]]) -> BucketObject | None:
        """The object wherever it is in the namespace, looked for first in the buckets its documents name."""
        if self._objects is None:
            return None
        named = [bucket for bucket in dict.fromkeys(lineage.root_bucket_id(document) for document in documents)
                 if bucket is not None]
        return self._objects.find(namespace, object_id, buckets_first=named)

    # -- the source media ------------------------------------------------------------------------------------------

    def download(self, namespace: Namespace, identifier: str, document_id: str, *, base_url: str) -> dict[str, Any]:
        """A download URL of the source blob the document was made from (the root object's blob its collection
        chain read), good for DOWNLOAD_URL_TTL_S. Mixpeek re-cuts a video scene to its time range; no re-encoder runs
        here, so the URL serves the stored blob whole (`cached`: nothing was re-encoded; start_time and end_time 0:
        no range was cut) and a document that is itself a time range is answered 501."""
        document = self._documents.get(namespace, identifier, document_id, with_vectors=False)
        if lineage.time_range(document) is not None:
            raise NotSupported(
                f"document '{document_id}' is a time range of its source: cutting media frame-accurately needs a "
                "video re-encoder, which this deployment does not run", code="media_cut_unsupported",
                details={"document_id": document_id})
        collection = self._collections.find(namespace, document["collection_id"])
        obj = self._source_object(namespace, collection, document)
        if obj is None:
            object_id = lineage.root_object_id(document)
            raise Missing(
                f"document '{document_id}' names no source object (it was written directly)" if object_id is None
                else f"the source object '{object_id}' of document '{document_id}' no longer exists",
                code="source_object_not_found", details={"document_id": document_id, "object_id": object_id})
        blob = self._source_blob(namespace, obj, collection, document)
        if blob is None:
            raise Missing(
                f"the source object '{obj.object_id}' of document '{document_id}' has no blob, only metadata",
                code="source_blob_not_found", details={"document_id": document_id, "object_id": obj.object_id})
        url = (self._objects.download_urls([obj], base_url=base_url) if self._objects is not None else {}).get(
            blob["blob_key"])
        if url is None:
            raise DependencyFailed("download URLs are not configured in this deployment",
                                   code="download_urls_unavailable")
        return {"download_url": url, "cached": True, "start_time": 0.0, "end_time": 0.0,
                "object_id": obj.object_id, "bucket_id": obj.bucket_id, "blob_property": blob["property"],
                "content_type": blob.get("mime_type"), "size_bytes": blob.get("size_bytes"),
                "expires_in_seconds": DOWNLOAD_URL_TTL_S}

    def _collection_chain(self, namespace: Namespace, collection: Collection | None) -> Iterator[Collection]:
        """The collection, then each upstream collection it reads from, to the one sourced from buckets."""
        seen: set[str] = set()
        while collection is not None and collection.collection_id not in seen \
                and len(seen) < lineage.MAX_ANCESTORS:
            seen.add(collection.collection_id)
            yield collection
            upstream = collection.source.collection_id if collection.source.type == "collection" else None
            collection = self._collections.find(namespace, upstream) if upstream else None

    def _root_collection(self, namespace: Namespace, collection: Collection | None) -> Collection | None:
        found = None
        for found in self._collection_chain(namespace, collection):
            pass
        return found if found is not None and found.source.type == "bucket" else None

    def _source_object(self, namespace: Namespace, collection: Collection | None,
                       document: dict[str, Any]) -> BucketObject | None:
        object_id = lineage.root_object_id(document)
        if object_id is None or self._objects is None:
            return None
        bucket_id = lineage.root_bucket_id(document)
        root = self._root_collection(namespace, collection)
        buckets = (bucket_id,) if bucket_id else (root.source.bucket_ids if root is not None else ())
        for bucket in buckets:
            try:
                return self._objects.get(namespace, bucket, object_id)
            except NotFound:
                continue
        return None

    def _source_blob(self, namespace: Namespace, obj: BucketObject, collection: Collection | None,
                     document: dict[str, Any]) -> dict[str, Any] | None:
        """The blob the document was made from: the image an image extractor names on it, else the property the
        root collection's extractor reads, else the object's first blob."""
        root = self._root_collection(namespace, collection)
        wanted = [document.get("image_property"),
                  *((root.feature_extractor.input_mappings or {}).values() if root is not None else ())]
        for prop in wanted:
            found = obj.blob(prop) if isinstance(prop, str) else None
            if found is not None:
                return found
        return obj.blobs[0] if obj.blobs else None

    # -- diagnostics -----------------------------------------------------------------------------------------------

    def diagnostics(self, namespace: Namespace, identifier: str, document_id: str) -> dict[str, Any]:
        """What is true about one document here (the SDK's DocumentDiagnosticsResponse): whether a search can find
        it and why, the failures recorded for its source object (on the object and on the batch that wrote it),
        and its history: lineage chain, batch and task, vectors with their dimensions, storage tier, payload size."""
        document = self._documents.get(namespace, identifier, document_id, with_vectors=True)
        collection = self._collections.find(namespace, document["collection_id"])
        tier = document.get(TIER_MARK)
        indexes = {index.vector_name: (index.feature_uri, index.dimension)
                   for index in (collection.vector_indexes if collection is not None else ())}
        facts = lineage.vector_facts(document.get("vectors"), indexes)
        searchable, why = lineage.visibility(
            facts, collection_writes_vectors=bool(indexes), tier=tier,
            lifecycle_state=collection.lifecycle_state if collection is not None else None)
        object_id = lineage.root_object_id(document)
        obj = self._source_object(namespace, collection, document)
        batch_id = document.get("batch_id")
        batch = self._batches.get(namespace.namespace_id, batch_id) if isinstance(batch_id, str) else None
        fields = {key: value for key, value in document.items() if key not in ("vectors", TIER_MARK)}
        history = [self._lineage_entry(namespace, document),
                   self._ingestion_entry(document, batch, collection, obj),
                   {"source": "vectors", "timestamp": document.get("updated_at"),
                    "detail": {"vectors": [fact.public() for fact in facts]}},
                   {"source": "storage_tier", "timestamp": None,
                    "detail": {"lifecycle_state": collection.lifecycle_state if collection is not None else None,
                               "served_from": {"cold": "cold_store", "archived": "archive"}.get(tier,
                                                                                                "vector_store")}},
                   {"source": "payload", "timestamp": document.get("updated_at"),
                    "detail": {"payload_bytes": lineage.payload_bytes(fields), "field_count": len(fields),
                               "fields": sorted(fields), "created_at": document.get("created_at"),
                               "updated_at": document.get("updated_at")}}]
        return {
            "document_id": document_id, "collection_id": document["collection_id"], "source_object_id": object_id,
            "visibility_reason": {"searchable": searchable, "reason": why, "source_object_id": object_id},
            "recent_failures": _failures(object_id, obj, batch),
            "diagnostic_history": {"entries": history},
        }

    def _lineage_entry(self, namespace: Namespace, document: dict[str, Any]) -> dict[str, Any]:
        steps = self._steps(namespace, [*self._ancestors(namespace, document), document])
        return {"source": "lineage.chain", "timestamp": steps[0]["timestamp"], "detail": {
            "source_type": document.get("source_type"), "root_object_id": lineage.root_object_id(document),
            "root_bucket_id": lineage.root_bucket_id(document),
            "source_document_id": document.get("source_document_id"),
            "source_collection_id": document.get("source_collection_id"), "depth": len(steps), "steps": steps}}

    @staticmethod
    def _ingestion_entry(document: dict[str, Any], batch: Batch | None, collection: Collection | None,
                         obj: BucketObject | None) -> dict[str, Any]:
        batch_id = document.get("batch_id")
        if batch_id is None:
            return {"source": "direct_write", "timestamp": document.get("created_at"),
                    "detail": {"source_type": document.get("source_type"),
                               "note": "written through the documents API, not by a batch"}}
        tier = next((number for number, tier in enumerate(batch.dag_tiers)
                     if collection is not None and collection.collection_id in tier), None) if batch else None
        return {"source": "ingestion_status", "timestamp": document.get("created_at"), "detail": {
            "batch_id": batch_id, "batch_status": batch.status if batch else None,
            "task_id": batch.task_id if batch else None, "attempt": batch.attempt if batch else None,
            "dag_tier": tier, "total_tiers": len(batch.dag_tiers) if batch else None,
            "object_status": obj.status if obj else None,
            "note": None if batch else "the batch that wrote this document has since been deleted"}}


def _root_bucket(documents: list[dict[str, Any]]) -> str | None:
    return next((bucket for bucket in map(lineage.root_bucket_id, documents) if bucket is not None), None)


def _count_nodes(tree: list[dict[str, Any]]) -> int:
    return sum(1 + _count_nodes(node["children"]) for node in tree)


def _failures(object_id: str | None, obj: BucketObject | None, batch: Batch | None) -> dict[str, Any]:
    """The source object's recorded failures: its own status and error, and the batch's entries for it."""
    if object_id is None:
        return {"failures": [], "reason": "the document names no source object: nothing was processed for it"}
    failures = []
    if obj is not None and (obj.status == "FAILED" or obj.error):
        failures.append({"source": "object", "object_id": object_id, "status": obj.status, "error": obj.error})
    if batch is not None:
        failures += [{"source": f"batch:{batch.batch_id}", "object_id": object_id, "status": batch.status,
                      "error": f"{failed.error_type}: {failed.error}"}
                     for failed in batch.failed_objects if failed.object_id == object_id]
    if failures:
        return {"failures": failures, "reason": None}
    if obj is None:
        return {"failures": [], "reason": f"the source object '{object_id}' no longer exists; the batch that wrote "
                                          "this document recorded no failure for it"}
    return {"failures": [], "reason": f"the source object '{object_id}' is {obj.status} with no recorded error"}
