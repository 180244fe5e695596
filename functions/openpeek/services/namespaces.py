"""Namespace use cases: create, read, list, change and delete namespaces, keeping the vector store in step."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable

from openpeek.domain import extractors
from openpeek.domain.clock import isoformat, parse, utcnow
from openpeek.domain.errors import BadRequest, Conflict, Forbidden, NotFound
from openpeek.domain.ids import new_id
from openpeek.domain.infrastructure import keeping_stored_token, normalize_infrastructure, without_token
from openpeek.domain.namespace import (
    MODES,
    RELOCATED_PREFIX,
    ExtractorRef,
    Namespace,
    VectorConfig,
    check_name,
    check_vector_configs,
    collection_name,
    expiry_from_ttl,
    may_be_relocated,
    relocated_storage_id,
)
from openpeek.domain.payload_indexes import PROTECTED_INDEXES, PayloadIndex, build_user_indexes
from openpeek.domain.events import DomainEvent
from openpeek.domain.failures import CollectionNotFound, ConditionFailed, DependencyUnavailable
from openpeek.domain.vectors import CollectionInfo, PayloadIndexSpec
from openpeek.ports import BlobStore, EventBus, VectorPlacements, VectorStore
from openpeek.domain.infrastructure import DedicatedVectorStore
from openpeek.domain.vector_placement import tier_of
from openpeek.domain.tiering import TieringPolicy
from openpeek.repositories.namespaces import IdTaken, NamespaceRepository, NameTaken, StorageIdTaken
from openpeek.repositories.optimistic import retry_on_conflict
from openpeek.services.namespace_stores import vector_store_of
from openpeek.services.organizations import Principal

NAMESPACE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$")
# Fields of the SDK's request models whose features openpeek does not offer: refused when set, never ignored.
UNSUPPORTED_WHEN_SET = ("trusted_issuers", "spend_budget", "cost_cap_override", "pinned")
WRITE_ATTEMPTS = 16
STATS_THREADS = 4  # namespaces whose live state one stats batch reads at once


def _jitter(retry: int) -> None:
    """A short random pause before a retry, growing with each, so colliding writers do not collide again."""
    time.sleep(random.uniform(0, 0.005 * retry))


@dataclass
class NamespaceView:
    """A namespace with its live vector-store state, as GET/PATCH return it."""

    namespace: Namespace
    info: CollectionInfo | None
    repaired_vector_indexes: list[str] | None = None
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # bucket_count, object_count, ... (content_counts)

    @property
    def document_count(self) -> int | None:
        return self.info.points_count if self.info else None


def blob_prefix(namespace_id: str) -> str:
    return f"namespaces/{namespace_id}/"


def _spec(index: PayloadIndex) -> PayloadIndexSpec:
    return PayloadIndexSpec(index.field_name, index.type, dict(index.params))  # type: ignore[arg-type]


class NamespaceService:
    def __init__(
        self,
        repository: NamespaceRepository,
        vectors: VectorStore,
        blobs: BlobStore,
        events: EventBus,
        is_enterprise: Callable[[str], bool],
        usable_models: Callable[[], set[str]] | None = None,
        placements: VectorPlacements | None = None,
    ) -> None:
        """`usable_models`: the inference services this deployment can call; a builtin extractor whose default model
        is not among them runs on a variant that is (deployed, text_extractor on Titan Text V2)."""
        self._repository = repository
        self._usable_models = usable_models
        self._vectors = vectors
        # Where each namespace's collection lives (shared store or its dedicated Qdrant); `vectors` routes by it.
        self._placements = placements
        self._blobs = blobs
        self._events = events
        self._is_enterprise = is_enterprise
        self._content_counters: list[Callable[[Namespace], dict[str, int]]] = []
        self._content_removers: list[Callable[[Namespace], None]] = []

    # -- reads ----------------------------------------------------------------------------------------------------

    def resolve(self, principal: Principal, identifier: str) -> Namespace:
        """The caller's namespace by id or name; another organisation's namespace is 'not found' too."""
        namespace = self._repository.find(principal.org_id, identifier)
        if namespace is None:
            raise NotFound("namespace", identifier)
        return namespace

    def stored(self, principal: Principal, namespace_id: str, *, missing: NotFound | None = None) -> Namespace:
        """The caller's namespace by its storage id (what the records it owns name: a task, a batch), not by the id
        a caller gives; another organisation's is 'not found' too. `missing`: what to raise when there is none (the
        record that named it, whose namespace is gone: a storage id is never the caller's to see)."""
        namespace = self._repository.get(principal.org_id, namespace_id)
        if namespace is None:
            raise missing or NotFound("namespace", namespace_id)
        return namespace

    def get(self, principal: Principal, identifier: str) -> NamespaceView:
        namespace = self.resolve(principal, identifier)
        return NamespaceView(namespace, self._live_info(namespace), counts=self.content_counts(namespace))

    def get_many(self, principal: Principal, identifiers: list[str]) -> list[NamespaceView]:
        """The caller's namespaces among `identifiers` (ids or names), each once, in the order asked, with their live
        state (`POST /v1/namespaces/stats/batch`); those it cannot see are left out rather than refused. The vector
        store is asked about a few of them at once."""
        found: dict[str, Namespace] = {}
        for identifier in identifiers:
            namespace = self._repository.find(principal.org_id, identifier)
            if namespace is not None:
                found.setdefault(namespace.namespace_id, namespace)
        if not found:
            return []

        def view(namespace: Namespace) -> NamespaceView:
            return NamespaceView(namespace, self._live_info(namespace), counts=self.content_counts(namespace))

        with ThreadPoolExecutor(max_workers=min(STATS_THREADS, len(found)),
                                thread_name_prefix="openpeek-namespace-stats") as pool:
            return list(pool.map(view, found.values()))

    def ensure_payload_indexes(self, principal: Principal, identifier: str, *,
                               force_rebuild: bool = False) -> dict[str, Any]:
        """Make the vector store hold every payload index the namespace declares (protected, user and automatic),
        without touching a document: a missing one is created (the store indexes the stored points), one of another
        type replaced; with `force_rebuild`, each is dropped and built again from the stored points. A namespace
        whose collection is gone gets it back with all its indexes (and its vector indexes). What is reported:
        `ensured` (confirmed present, whether or not this call built it), `registered` (missing or mistyped before
        this call), `rebuilt` (force_rebuild), `created` (ensured + rebuilt, the SDK's older name)."""
        namespace = self.resolve(principal, identifier)
        declared = list(namespace.payload_indexes)
        registered: list[str] = []
        rebuilt: list[str] = []
        if not self._vectors.collection_exists(namespace.collection):
            self._repair_vectors(namespace)
            registered = [index.field_name for index in declared]
        else:
            present = self._vectors.info(namespace.collection).payload_indexes
            for index in declared:
                if force_rebuild:
                    self._vectors.drop_payload_index(namespace.collection, index.field_name)
                    self._vectors.create_payload_index(namespace.collection, _spec(index))
                    rebuilt.append(index.field_name)
                elif present.get(index.field_name) != index.type:
                    self._vectors.create_payload_index(namespace.collection, _spec(index))
                    registered.append(index.field_name)
        ensured = [index.field_name for index in declared if index.field_name not in rebuilt]
        return {"namespace_id": namespace.public_id, "force_rebuild": force_rebuild, "ensured": ensured,
                "rebuilt": rebuilt, "registered": registered, "skipped": [], "created": ensured + rebuilt}

    def count_content_with(self, counter: Callable[[Namespace], dict[str, int]]) -> None:
        """Register where a kind of content is counted (the content services are built after this one)."""
        self._content_counters.append(counter)

    def remove_content_with(self, remover: Callable[[Namespace], None]) -> None:
        """Register content kept outside the vector store and the blob prefix (a cold store's indexes) that a
        namespace's deletion must remove; it runs while the namespace's items still name that content."""
        self._content_removers.append(remover)

    def content_counts(self, namespace: Namespace) -> dict[str, int]:
        """What NamespaceModel reports beside documents: bucket_count, object_count, collection_count."""
        counts: dict[str, int] = {}
        for counter in self._content_counters:
            counts.update(counter(namespace))
        return counts

    def public_id_of(self, principal: Principal, namespace_id: str) -> str | None:
        """The id the API shows for the caller's namespace stored under `namespace_id` (None: not the caller's)."""
        return self._repository.public_id_of(principal.org_id, namespace_id)

    def list(self, principal: Principal) -> list[Namespace]:
        return self._repository.list(principal.org_id)

    def live_info(self, namespace: Namespace) -> CollectionInfo | None:
        return self._live_info(namespace)

    def _live_info(self, namespace: Namespace) -> CollectionInfo | None:
        """None when the collection is missing or the vector store cannot be reached: a read still answers."""
        try:
            return self._vectors.info(namespace.collection)
        except (CollectionNotFound, DependencyUnavailable):
            return None

    # -- create ---------------------------------------------------------------------------------------------------

    def create(self, principal: Principal, request: dict[str, Any]) -> NamespaceView:
        _refuse_unsupported(request)
        # The id is checked first: a standalone namespace is named by its id, and the caller sent only the id.
        namespace_id = request.get("namespace_id") or new_id("ns")
        if not NAMESPACE_ID_PATTERN.match(namespace_id):
            raise BadRequest(
                "namespace_id must be 3-64 letters, digits, '_' or '-', starting with a letter or digit",
                code="invalid_namespace_id",
                details={"namespace_id": namespace_id},
            )
        if may_be_relocated(namespace_id):
            # Only the server makes such ids (storage ids, which answers replace with public ids): a public one
            # could be mistaken for another namespace's storage.
            raise BadRequest(f"namespace_id may not start with '{RELOCATED_PREFIX}': the server keeps those",
                             code="invalid_namespace_id", details={"namespace_id": namespace_id})
        name = check_name(request["namespace_name"])
        if (request.get("scope") or "org") == "system":
            raise Forbidden("SYSTEM namespaces require administrator credentials", code="admin_required")

        mode = self._mode(request)
        extractor_refs = self._requested_extractors(request, mode)
        vector_configs = check_vector_configs(request.get("vector_configs") or [])
        user_indexes = build_user_indexes(request.get("payload_indexes") or [])
        now = utcnow()
        infrastructure, api_key = self._infrastructure(principal, request.get("infrastructure"), namespace_id, None)
        auto_indexes = request.get("auto_create_indexes")
        namespace = Namespace(
            namespace_id=namespace_id,
            org_id=principal.org_id,
            namespace_name=name,
            mode=mode,
            namespace_type=request.get("namespace_type") or "standard",
            scope="org",
            description=request.get("description"),
            feature_extractors=tuple(extractor_refs),
            vector_configs=tuple(vector_configs),
            payload_indexes=PROTECTED_INDEXES + tuple(user_indexes),
            auto_create_indexes=(mode == "standalone") if auto_indexes is None else auto_indexes,
            infrastructure=infrastructure,
            vector_store_api_key=api_key,
            created_at=isoformat(now),
            updated_at=isoformat(now),
            expires_at=expiry_from_ttl(now, request.get("ttl_seconds")),
            extra={"dynamic_vector_indexes": mode == "standalone" and request.get("vector_configs") is None,
                   **_tiering_extra(request)},
        )
        _check_vector_names_unique(namespace)

        if self._repository.find(principal.org_id, name) is not None:
            raise _name_taken(name)
        if self._repository.id_in_use(principal.org_id, namespace_id):
            raise _id_taken(namespace_id)
        namespace = self._store(namespace)
        self._publish("namespace.created", namespace, {"namespace_name": name})
        return NamespaceView(namespace, self._live_info(namespace))

    def _store(self, namespace: Namespace) -> Namespace:
        """Make the namespace's collection and record. A public id whose storage id is taken (another
        organisation's namespace, or another namespace's storage) is stored under a fresh id instead: a caller
        never learns what other organisations hold."""
        for _ in range(WRITE_ATTEMPTS):
            if self._repository.storage_id_in_use(namespace.namespace_id):
                namespace = replace(namespace, namespace_id=relocated_storage_id())
                namespace = replace(namespace, infrastructure=_own_collection(namespace))
                continue
            # The collection is made where the namespace's vectors will live (a dedicated Qdrant that cannot be
            # reached is a 503 here, before any record exists), and the record comes last.
            self._create_collection_placed(namespace)
            try:
                self._repository.create(namespace)
                return namespace
            except (NameTaken, IdTaken, StorageIdTaken) as taken:
                # A namespace stored under the same id in the meantime (a concurrent create) owns the collection
                # and keeps it, and its placement is read back from its record; otherwise nobody's, it goes.
                if not self._repository.storage_id_in_use(namespace.namespace_id):
                    self._drop_quietly(namespace.collection)
                self._forget_placement(namespace.collection)
                if isinstance(taken, NameTaken):
                    raise _name_taken(namespace.namespace_name) from None
                if isinstance(taken, IdTaken):
                    raise _id_taken(namespace.public_id) from None
                # the storage id was taken between the check and the write: try a fresh one
            except DependencyUnavailable:
                self._drop_quietly(namespace.collection)
                self._forget_placement(namespace.collection)
                raise
        raise DependencyUnavailable("no free storage id for the namespace; try again")

    def create_copy(self, principal: Principal, source: Namespace, name: str, *, description: str | None,
                    ttl_seconds: int | None) -> NamespaceView:
        """A new, empty namespace with the source's configuration (mode, extractors, vector and payload indexes,
        settings) and its own collection: the first step of a clone."""
        name = check_name(name)
        if self._repository.find(principal.org_id, name) is not None:
            raise _name_taken(name)
        now = utcnow()
        copy_id = new_id("ns")
        namespace = replace(
            source, namespace_id=copy_id, public_id=copy_id, namespace_name=name, version=1,
            description=description if description is not None else source.description,
            created_at=isoformat(now), updated_at=isoformat(now), expires_at=expiry_from_ttl(now, ttl_seconds),
            source_namespace_id=source.public_id, extra=dict(source.extra),
            infrastructure=None,
            secret_reference=None,  # the copy's secrets are sealed anew under its own id
        )
        # A copy lives on the source's store (its dedicated Qdrant too, with the same key), in a collection of its own.
        infrastructure = without_token(source.infrastructure)
        if infrastructure is not None and infrastructure.get("qdrant_collection") is not None:
            infrastructure = {**infrastructure, "qdrant_collection": namespace.collection}
        namespace = self._store(replace(namespace, infrastructure=infrastructure))
        self._publish("namespace.created", namespace, {"namespace_name": name,
                                                       "source_namespace_id": source.public_id})
        return NamespaceView(namespace, self._live_info(namespace))

    def add_automatic_index(self, namespace_id: str, index: PayloadIndex) -> Namespace | None:
        """The auto-indexer's change: one more payload index, marked automatic, unless the field has one already
        (then None, and nothing changes). The index is built before the record says so."""
        def attempt() -> Namespace | None:
            current = self._repository.get_by_id(namespace_id)
            if current is None or any(i.field_name == index.field_name for i in current.payload_indexes):
                return None
            self._vectors.create_payload_index(current.collection, _spec(index))
            changed = replace(current, payload_indexes=current.payload_indexes + (index,),
                              updated_at=isoformat(utcnow()))
            saved = self._repository.save(changed, current)
            self._publish("namespace.updated", saved, {"fields": ["payload_indexes"], "automatic_index":
                                                       index.field_name})
            return saved

        try:
            return retry_on_conflict(attempt, attempts=WRITE_ATTEMPTS, backoff=_jitter)
        except ConditionFailed:
            return None  # the auto-indexer tries again on a later query

    def _mode(self, request: dict[str, Any]) -> str:
        mode = request.get("mode")
        if mode is None:
            only_vectors = request.get("vector_configs") and not (
                request.get("features") or request.get("feature_extractors")
            )
            mode = "standalone" if only_vectors else "managed"
        if mode not in MODES:
            raise BadRequest(
                f"mode must be one of {list(MODES)}", code="invalid_mode", details={"mode": mode}
            )
        return mode

    def _requested_extractors(self, request: dict[str, Any], mode: str) -> list[ExtractorRef]:
        requested = request.get("feature_extractors") or []
        features = request.get("features") or []
        if mode == "standalone":
            if requested or features:
                raise BadRequest(
                    "A standalone namespace takes vector_configs, not features or feature_extractors; create it "
                    "managed or promote it later",
                    code="invalid_mode",
                )
            return []
        refs: list[ExtractorRef] = []
        seen: set[str] = set()
        for entry in requested:
            ref = ExtractorRef(entry["feature_extractor_name"], entry["version"], entry.get("params"))
            ref.definition()
            if ref.feature_extractor_id not in seen:
                seen.add(ref.feature_extractor_id)
                refs.append(ref)
        for feature in features:
            definition = extractors.resolve_feature(feature)
            if definition.feature_extractor_id not in seen:
                seen.add(definition.feature_extractor_id)
                refs.append(ExtractorRef(definition.name, definition.version, None))
        if not requested and not features and not request.get("vector_configs"):
            for extractor_id in extractors.BASELINE:
                definition = extractors.find(extractor_id)
                assert definition is not None
                refs.append(ExtractorRef(definition.name, definition.version, None))
        return [self.on_usable_model(ref) for ref in refs]

    def on_usable_model(self, ref: ExtractorRef) -> ExtractorRef:
        """The extractor on the model this deployment runs it with."""
        if ref.model is not None or self._usable_models is None:
            return ref
        model = extractors.model_for(ref.feature_extractor_id, self._usable_models())
        return replace(ref, model=model) if model else ref

    def _infrastructure(
        self, principal: Principal, requested: dict[str, Any] | None, namespace_id: str, stored_key: str | None
    ) -> tuple[dict[str, Any] | None, str | None]:
        if requested is None:
            return None, stored_key
        return normalize_infrastructure(
            requested,
            enterprise=self._is_enterprise(principal.org_id),
            own_collection=collection_name(namespace_id),
            stored_api_key=stored_key,
        )

    # -- change ---------------------------------------------------------------------------------------------------

    def patch(self, principal: Principal, identifier: str, request: dict[str, Any]) -> NamespaceView:
        """Seed 000's PATCH: absent or null fields are left alone (except expires_at / ttl_seconds, where null
        removes the expiry, as the SDK documents). Concurrent changes are retried on a fresh read, never lost."""
        _refuse_unsupported(request)
        if request.get("expires_at") is not None and request.get("ttl_seconds") is not None:
            raise BadRequest("Send expires_at or ttl_seconds, not both", code="conflicting_expiry")
        def attempt() -> NamespaceView:
            current = self.resolve(principal, identifier)
            changed, repaired = self._apply_patch(principal, current, request)
            moved = self._prepare_store_move(current, changed)
            try:
                saved = self._repository.save(changed, current) if changed != current else current
            except NameTaken:
                raise _name_taken(changed.namespace_name) from None
            if moved:
                self._finish_store_move(current, saved)
            if saved is not current:
                self._publish("namespace.updated", saved, {"fields": sorted(k for k in request if k != "repair_vectors")})
            return NamespaceView(saved, self._live_info(saved), repaired_vector_indexes=repaired)

        return retry_on_conflict(attempt, attempts=WRITE_ATTEMPTS, backoff=_jitter, gave_up=lambda: Conflict(
            "The namespace changed too often while this update was applied; try again",
            code="concurrent_modification",
        ))

    def add_vector_configs(self, namespace: Namespace, configs: list[VectorConfig]) -> Namespace:
        """Add bring-your-own indexes to a namespace (its store first, then its record, conditionally); a concurrent
        writer that added the same names first wins and is reused."""
        def attempt() -> Namespace:
            current = self._repository.get(namespace.org_id, namespace.namespace_id)
            if current is None:
                raise NotFound("namespace", namespace.public_id)
            present = {config.name for config in current.vector_configs}
            missing = [config for config in configs if config.name not in present]
            if not missing:
                return current
            self._vectors.add_vector_indexes(current.collection, [config.spec() for config in missing])
            changed = replace(current, vector_configs=current.vector_configs + tuple(missing),
                              updated_at=isoformat(utcnow()))
            saved = self._repository.save(changed, current)
            self._publish("namespace.updated", saved, {"fields": ["vector_configs"],
                                                       "inferred_indexes": [c.name for c in missing]})
            return saved

        return retry_on_conflict(attempt, attempts=WRITE_ATTEMPTS, backoff=_jitter, gave_up=lambda: Conflict(
            "The namespace changed too often while its indexes were added; try again",
            code="concurrent_modification"))

    def ensure_extractors(self, namespace: Namespace, refs: list[ExtractorRef]) -> Namespace:
        """A collection's builtin extractor joins its namespace's extractors (so retrievers and inference find its
        index): the store's vector index first, then the record, conditionally; already present is a no-op."""
        def attempt() -> Namespace:
            current = self._repository.get(namespace.org_id, namespace.namespace_id)
            if current is None:
                raise NotFound("namespace", namespace.public_id)
            changed, added = current.with_extractors_appended(refs)
            if not added:
                return current
            if current.mode == "standalone":
                raise BadRequest("A standalone namespace has no feature extractors; promote it to managed mode first",
                                 code="invalid_mode")
            _check_vector_names_unique(changed)
            self._vectors.add_vector_indexes(current.collection, [ref.definition().vector_index() for ref in added])
            saved = self._repository.save(replace(changed, updated_at=isoformat(utcnow())), current)
            self._publish("namespace.updated", saved, {"fields": ["feature_extractors"]})
            return saved

        return retry_on_conflict(attempt, attempts=WRITE_ATTEMPTS, backoff=_jitter, gave_up=lambda: Conflict(
            "The namespace changed too often while its extractors were added; try again",
            code="concurrent_modification"))

    def _apply_patch(
        self, principal: Principal, current: Namespace, request: dict[str, Any]
    ) -> tuple[Namespace, list[str] | None]:
        """The namespace after the patch, with the vector store already brought in line (every vector-store step is
        idempotent, so a retried patch repeats them harmlessly)."""
        changed = current
        now = utcnow()
        if request.get("namespace_name") is not None and request["namespace_name"] != current.namespace_name:
            name = check_name(request["namespace_name"])
            other = self._repository.find(principal.org_id, name)
            if other is not None and other.namespace_id != current.namespace_id:
                raise _name_taken(name)
            changed = replace(changed, namespace_name=name)
        if request.get("description") is not None:
            changed = replace(changed, description=request["description"])
        if request.get("auto_create_indexes") is not None:
            changed = replace(changed, auto_create_indexes=request["auto_create_indexes"])
        if request.get("tiering") is not None:
            changed = replace(changed, extra={**changed.extra, **_tiering_extra(request)})
        if request.get("infrastructure") is not None:
            infrastructure, api_key = self._infrastructure(
                principal, keeping_stored_token(request["infrastructure"], current.infrastructure),
                current.namespace_id, current.vector_store_api_key
            )
            changed = replace(changed, infrastructure=infrastructure, vector_store_api_key=api_key)
        if "ttl_seconds" in request:
            changed = replace(changed, expires_at=expiry_from_ttl(now, request["ttl_seconds"]))
        elif "expires_at" in request:
            changed = replace(changed, expires_at=_expiry(request["expires_at"], now))

        new_user_indexes: list[PayloadIndex] | None = None
        if request.get("payload_indexes") is not None:
            new_user_indexes = build_user_indexes(request["payload_indexes"])
            changed = changed.with_user_indexes(new_user_indexes)

        added_extractors: list[ExtractorRef] = []
        if request.get("feature_extractors") is not None:
            if current.mode == "standalone":
                raise BadRequest(
                    "A standalone namespace has no feature extractors; promote it to managed mode first",
                    code="invalid_mode",
                )
            refs = [
                self.on_usable_model(ExtractorRef(entry["feature_extractor_name"], entry["version"],
                                                  entry.get("params")))
                for entry in request["feature_extractors"]
            ]
            changed, added_extractors = changed.with_extractors_appended(refs)
            _check_vector_names_unique(changed)

        # Vector store: bring the collection in line before the record says so.
        if added_extractors:
            self._vectors.add_vector_indexes(
                changed.collection, [ref.definition().vector_index() for ref in added_extractors]
            )
        if new_user_indexes is not None:
            self._sync_payload_indexes(current, new_user_indexes)
        repaired: list[str] | None = None
        if request.get("repair_vectors"):
            repaired = self._repair_vectors(changed)
        if changed != current:
            changed = replace(changed, updated_at=isoformat(now))
        return changed, repaired

    def _sync_payload_indexes(self, current: Namespace, wanted: list[PayloadIndex]) -> None:
        before = {index.field_name: index for index in current.user_payload_indexes()}
        after = {index.field_name: index for index in wanted}
        for name in before.keys() - after.keys():
            self._vectors.drop_payload_index(current.collection, name)
        for name, index in after.items():
            previous = before.get(name)
            if previous is None or (previous.type, previous.params) != (index.type, index.params):
                self._vectors.create_payload_index(current.collection, _spec(index))

    def _repair_vectors(self, namespace: Namespace) -> list[str]:
        """Add every vector index the namespace's extractors and configs need but the collection lacks."""
        wanted = namespace.vector_indexes()
        if not self._vectors.collection_exists(namespace.collection):
            self._vectors.create_collection(
                namespace.collection, wanted, [_spec(index) for index in namespace.payload_indexes],
                tier=tier_of(namespace.infrastructure),
            )
            return [spec.name for spec in wanted]
        return self._vectors.add_vector_indexes(namespace.collection, wanted)

    def replace(self, principal: Principal, identifier: str, request: dict[str, Any]) -> NamespaceView:
        """PUT (the SDK's UpdateNamespaceRequest): name and the user-managed payload index set."""
        return self.patch(principal, identifier, request)

    # -- delete ---------------------------------------------------------------------------------------------------

    def delete(self, principal: Principal, identifier: str) -> Namespace:
        """Every resource of the namespace goes. The order makes a failure resumable: the vector collection and
        owned items first (each step idempotent), the namespace record last, so a DELETE that failed half way can
        simply be sent again."""
        namespace = self.resolve(principal, identifier)
        self._vectors.drop_collection(namespace.collection)
        for remove in self._content_removers:
            remove(namespace)
        self._repository.delete_owned_items(namespace.namespace_id)
        self._blobs.delete_prefix(blob_prefix(namespace.namespace_id))
        self._repository.delete(namespace)
        self._forget_placement(namespace.collection)
        self._publish("namespace.deleted", namespace, {"namespace_name": namespace.namespace_name})
        return namespace

    # -- where the vectors live -----------------------------------------------------------------------------------

    def _placed(self, collection: str, target: DedicatedVectorStore | None) -> None:
        if self._placements is None:
            if target is not None:
                raise BadRequest("dedicated vector stores are not available in this deployment; leave "
                                 "infrastructure.qdrant_url unset", code="invalid_infrastructure",
                                 details={"field": "qdrant_url"})
            return
        self._placements.place(collection, target)

    def _forget_placement(self, collection: str) -> None:
        if self._placements is not None:
            self._placements.forget(collection)

    def _create_collection_placed(self, namespace: Namespace) -> None:
        """Route the new namespace's collection to its store, then create it there; undone if the store fails."""
        self._placed(namespace.collection, vector_store_of(namespace))
        try:
            self._vectors.create_collection(
                namespace.collection, namespace.vector_indexes(),
                [_spec(index) for index in namespace.payload_indexes], tier=tier_of(namespace.infrastructure),
            )
        except BaseException:
            self._forget_placement(namespace.collection)
            raise

    def _prepare_store_move(self, current: Namespace, changed: Namespace) -> bool:
        """A patch that changes where the vectors live (shared ↔ dedicated, another URL, another key): the new store
        must answer and gets the collection (made if missing) before the record says so. Points are not copied:
        moving between the shared store and a dedicated one is allowed while the namespace holds no documents; a new
        URL for a dedicated namespace is its operator's move (the points are there, or it starts empty)."""
        before, after = vector_store_of(current), vector_store_of(changed)
        if before == after:
            return False
        if self._placements is None:
            self._placed(changed.collection, after)  # refuses a dedicated store where there are none
            return False
        if (before is None) != (after is None):
            try:
                held = self._vectors.count(current.collection)
            except CollectionNotFound:
                held = 0
            if held:
                raise Conflict(
                    f"The namespace holds {held} documents in its current vector store; it can move between the "
                    "shared store and a dedicated one only while empty (clone it into a new namespace instead)",
                    code="namespace_not_empty",
                    details={"field": "infrastructure.compute_tier", "document_count": held},
                )
        self._placements.store_for(after).create_collection(
            changed.collection, changed.vector_indexes(), [_spec(index) for index in changed.payload_indexes],
            tier=tier_of(changed.infrastructure),
        )
        return True

    def _finish_store_move(self, current: Namespace, saved: Namespace) -> None:
        assert self._placements is not None
        before = vector_store_of(current)
        self._placements.place(saved.collection, vector_store_of(saved))
        if (before is None) != (vector_store_of(saved) is None):
            # The empty collection left behind (checked above) goes; a failure leaves only an empty collection.
            try:
                self._placements.store_for(before).drop_collection(current.collection)
            except (DependencyUnavailable, CollectionNotFound):
                pass

    # -- helpers --------------------------------------------------------------------------------------------------

    def _drop_quietly(self, collection: str) -> None:
        try:
            self._vectors.drop_collection(collection)
        except DependencyUnavailable:
            pass  # the caller already reports the failure; an orphaned empty collection holds no user data

    def _publish(self, event_type: str, namespace: Namespace, data: dict[str, Any]) -> None:
        self._events.publish(
            DomainEvent(
                type=event_type,
                org_id=namespace.org_id,
                namespace_id=namespace.namespace_id,
                data=data,
                occurred_at=isoformat(utcnow()),
            )
        )


def _id_taken(public_id: str) -> Conflict:
    return Conflict(f"A namespace with id '{public_id}' exists already in this organisation",
                    code="namespace_id_taken", details={"namespace_id": public_id})


def _own_collection(namespace: Namespace) -> dict[str, Any] | None:
    """The namespace's infrastructure naming its own collection (after its storage id changed)."""
    infrastructure = namespace.infrastructure
    if infrastructure is None or infrastructure.get("qdrant_collection") is None:
        return infrastructure
    return {**infrastructure, "qdrant_collection": namespace.collection}


def _name_taken(name: str) -> Conflict:
    return Conflict(
        f"A namespace named '{name}' exists already in this organisation",
        code="namespace_name_taken",
        details={"namespace_name": name},
    )


def _tiering_extra(request: dict[str, Any]) -> dict[str, Any]:
    """The namespace's tiering override (enabled, idle_days, exempt), checked; collections inherit from it."""
    policy = TieringPolicy.parse(request.get("tiering"), "tiering")
    return {} if policy is None else {"tiering": policy.public()}


def _refuse_unsupported(request: dict[str, Any]) -> None:
    for name in UNSUPPORTED_WHEN_SET:
        value = request.get(name)
        if value not in (None, [], {}):
            raise BadRequest(
                f"'{name}' is not supported by this deployment; leave it unset",
                code="unsupported_field",
                details={"field": name},
            )
    if request.get("adaptive_indexing"):
        raise BadRequest(
            "adaptive_indexing is not supported by this deployment; leave it unset or false",
            code="unsupported_field",
            details={"field": "adaptive_indexing"},
        )


def _check_vector_names_unique(namespace: Namespace) -> None:
    names = [spec.name for spec in namespace.vector_indexes()]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise BadRequest(
            f"vector index names collide: {duplicates}",
            code="invalid_vector_config",
            details={"names": duplicates},
        )


def _expiry(value: Any, now: datetime) -> str | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else parse(str(value))
    if moment.tzinfo is None:
        raise BadRequest("expires_at must carry a timezone", code="invalid_expires_at")
    if moment <= now:
        raise BadRequest("expires_at must be in the future", code="invalid_expires_at")
    return isoformat(moment)

