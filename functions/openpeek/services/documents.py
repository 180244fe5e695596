"""Documents of a namespace written with the caller's own vectors (seed 002): upsert, get, delete."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import zlib
from dataclasses import replace
from typing import Any

import orjson

from openpeek.domain import documents as rules
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.errors import BadRequest, Conflict, NotFound
from openpeek.domain.namespace import Namespace
from openpeek.domain.events import DomainEvent
from openpeek.domain.failures import DependencyUnavailable
from openpeek.ports import EventBus, Metrics, VectorStore
from openpeek.repositories.idempotency import IdempotencyRepository
from openpeek.services.namespaces import NamespaceService
from openpeek.services.organizations import Principal

IDEMPOTENCY_TTL_S = 24 * 3600
# A replay record holds the first answer (up to a thousand document ids), compressed; DynamoDB items stop at 400 KB.
MAX_IDEMPOTENCY_RECORD_BYTES = 300_000


MAX_EVENT_IDS = 100  # an EventBridge entry holds at most 256 KB


class DocumentService:
    def __init__(self, namespaces: NamespaceService, idempotency: IdempotencyRepository, vectors: VectorStore,
                 events: EventBus, *, metrics: Metrics | None = None) -> None:
        self._namespaces = namespaces
        self._metrics = metrics
        self._idempotency = idempotency
        self._vectors = vectors
        self._events = events

    def upsert(self, principal: Principal, identifier: str, request: dict[str, Any]) -> dict[str, Any]:
        namespace = self._namespaces.resolve(principal, identifier)
        key = ((request.get("options") or {}).get("idempotency_key") or "").strip() or None
        fingerprint = _fingerprint(request) if key else None
        if key:
            replay = self._replay(namespace, key, fingerprint)
            if replay is not None:
                return replay

        inferred = rules.inferred_vector_configs(namespace, request["documents"])
        if inferred:
            # Check the whole batch against the indexes it would create before creating them: a rejected request
            # leaves the namespace as it was. Then check again against what was saved (a concurrent first upsert
            # may have created the same names first).
            rules.check_batch(replace(namespace, vector_configs=namespace.vector_configs + tuple(inferred)),
                              request["documents"])
            namespace = self._namespaces.add_vector_configs(namespace, inferred)
        checked = rules.check_batch(namespace, request["documents"])
        ids = [document.document_id for document in checked]
        existing = self._vectors.retrieve(namespace.collection, ids)
        created = {point.id: point.payload.get("created_at") for point in existing}
        now = isoformat(utcnow())
        collection_id = request.get("collection_id") or rules.DEFAULT_COLLECTION_ID
        points = [
            rules.build_point(namespace, document, source, collection_id=collection_id,
                              created_at=created.get(document.document_id) or now, updated_at=now)
            for document, source in zip(checked, request["documents"])
        ]
        self._vectors.upsert(namespace.collection, points)
        if self._metrics is not None:
            self._metrics.count("DocumentsUpserted", len(points))

        dropped = {document.document_id: document.dropped_fields for document in checked if document.dropped_fields}
        response: dict[str, Any] = {
            "inserted": len(points),
            "document_ids": ids,
            "dropped_payload_fields": dropped or None,
            "unsearchable_document_ids": [d.document_id for d in checked if rules.unsearchable(namespace, d)] or None,
            "warnings": None,
        }
        wants_token = bool((request.get("options") or {}).get("write_token"))
        if wants_token:
            # Writes are visible to searches as soon as upsert returns, so the token only names the write.
            response["write_token"] = f"wt_{namespace.public_id}_{now}"
        response["consistency"] = {
            "retriever_visible": "eventual",  # the SDK's word for direct upserts; here "eventual" is "at once"
            "write_token_available": wants_token,
            "expected_visible_within_ms": 0,
        }
        if key and not self._remember(namespace, key, fingerprint, response):
            response["warnings"] = ["the idempotency record could not be stored; a retry with this key may write again"]
        self._publish_upserts(namespace, ids, created, now)
        return response

    def _publish_upserts(self, namespace: Namespace, ids: list[str], existed: dict[str, Any], now: str) -> None:
        """One event per kind and request (not per document: a 1,000-document batch is two events, not a thousand
        EventBridge entries), naming the documents (the first MAX_EVENT_IDS of them) and how many there were."""
        new = [document_id for document_id in ids if document_id not in existed]
        replaced = [document_id for document_id in ids if document_id in existed]
        for event_type, group in (("document.created", new), ("document.updated", replaced)):
            if group:
                self._events.publish(DomainEvent(
                    type=event_type, org_id=namespace.org_id, namespace_id=namespace.namespace_id,
                    data={"count": len(group), "document_ids": group[:MAX_EVENT_IDS],
                          "truncated": len(group) > MAX_EVENT_IDS},
                    occurred_at=now,
                ))

    def get(self, principal: Principal, identifier: str, document_id: str, *, with_vectors: bool) -> dict[str, Any]:
        namespace = self._namespaces.resolve(principal, identifier)
        return rules.present(self._point(namespace, document_id, with_vectors=with_vectors), with_vectors=with_vectors)

    def delete(self, principal: Principal, identifier: str, document_id: str,
               *, collection_id: str | None = None) -> dict[str, Any]:
        """Delete one document; through a collection route, only a document tagged with that collection."""
        namespace = self._namespaces.resolve(principal, identifier)
        point = self._point(namespace, document_id, with_vectors=False)
        if collection_id is not None and point.payload.get("collection_id") != collection_id:
            raise NotFound("document", document_id)
        self._vectors.delete(namespace.collection, [document_id])
        self._events.publish(DomainEvent(
            type="document.deleted", org_id=namespace.org_id, namespace_id=namespace.namespace_id,
            data={"document_id": document_id}, occurred_at=isoformat(utcnow()),
        ))
        return {"success": True, "document_id": document_id, "deleted": True}

    def update_acl(self, namespace: Namespace, collection_id: str, document_id: str,
                   changes: dict[str, Any]) -> dict[str, Any]:
        """The lists given (read, write) replace the stored ones, `public` replaces the flag, what is not given stays.
        The ACL lives in the document's payload under `_internal._acl`, where push-mode authorization
        (services/access_control.py) filters on it. Answers the document as GET shows it."""
        if not changes:
            raise BadRequest("send at least one of read, write, public", code="empty_acl_update")
        found = self._vectors.retrieve(namespace.collection, [document_id])
        if not found or found[0].payload.get("collection_id") != collection_id:
            raise NotFound("document", document_id)
        internal = dict(found[0].payload.get(rules.INTERNAL) or {})
        internal["_acl"] = {**(internal.get("_acl") or {}), **changes}
        now = isoformat(utcnow())
        self._vectors.set_payload(namespace.collection, [document_id], {rules.INTERNAL: internal, "updated_at": now})
        self._events.publish(DomainEvent(
            type="document.updated", org_id=namespace.org_id, namespace_id=namespace.namespace_id,
            data={"count": 1, "document_ids": [document_id], "truncated": False, "fields": ["acl"]}, occurred_at=now,
        ))
        updated = self._vectors.retrieve(namespace.collection, [document_id])
        if not updated:  # deleted meanwhile
            raise NotFound("document", document_id)
        return rules.present(updated[0], with_vectors=False)

    def _point(self, namespace: Namespace, document_id: str, *, with_vectors: bool):
        found = self._vectors.retrieve(namespace.collection, [document_id], with_vectors=with_vectors)
        if not found:
            raise NotFound("document", document_id)
        return found[0]

    # -- idempotency ------------------------------------------------------------------------------------------------

    def _replay(self, namespace: Namespace, key: str, fingerprint: str) -> dict[str, Any] | None:
        record = self._idempotency.get(namespace.namespace_id, key)
        if record is None or record.get("expires_at", 0) < time.time():
            return None
        if record["fingerprint"] != fingerprint:
            raise Conflict(
                "This idempotency_key was used with a different request body",
                code="idempotency_key_reused",
                details={"idempotency_key": key},
            )
        try:
            return orjson.loads(zlib.decompress(base64.b64decode(record["response"])))
        except (ValueError, zlib.error):
            return None  # a record this version cannot read answers nothing: the request is served afresh

    def _remember(self, namespace: Namespace, key: str, fingerprint: str, response: dict[str, Any]) -> bool:
        """Store the first answer for replays; False when it could not be (the caller then warns, as the SDK's
        BYOUpsertResponse.warnings documents)."""
        packed = base64.b64encode(zlib.compress(orjson.dumps(response))).decode()
        if len(packed) > MAX_IDEMPOTENCY_RECORD_BYTES:
            return False
        try:
            self._idempotency.put(namespace.namespace_id, key, fingerprint=fingerprint, response=packed,
                                  expires_at=int(time.time()) + IDEMPOTENCY_TTL_S)
            return True
        except DependencyUnavailable:
            return False


def _fingerprint(request: dict[str, Any]) -> str:
    """The request as JSON with sorted keys: the same body however its keys were ordered. orjson, because a batch
    of a thousand 384-d vectors takes the standard library ~0.3 s to encode."""
    try:
        encoded = orjson.dumps(request, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # e.g. an integer past 64 bits from a caller other than the JSON route
        encoded = json.dumps(request, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()
