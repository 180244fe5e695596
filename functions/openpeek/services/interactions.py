"""Search interactions: users' feedback on retriever results (views, clicks, purchases, likes...), recorded against
the execution that produced the results and the document acted on, kept as long as the execution history, listed with
the SDK's filters.

An interaction's references are checked in its namespace: a named execution must be in the execution history (its
retriever is taken from it when not given), a named document must be in the namespace (vector store or a cold or
archived collection). Mixpeek also feeds interactions to a learned-fusion bandit through a reward map and a session
cache; there is no learned fusion here, so interactions are recorded and read back, and feed nothing else."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from openpeek.domain import interactions as rules
from openpeek.domain import filters as filter_rules
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.errors import BadRequest, Conflict, NotFound
from openpeek.domain.ids import new_id
from openpeek.domain.namespace import Namespace
from openpeek.repositories.interactions import InteractionRepository
from openpeek.repositories.optimistic import retry_on_conflict
from openpeek.repositories.retriever_executions import RetrieverExecutionRepository
from openpeek.repositories.retrievers import RetrieverRepository

ATTEMPTS = 8
SORTABLE = ("timestamp", "occurred_at", "position", "document_score", "result_set_size", "feature_id",
            "execution_id", "retriever_id", "session_id", "user_id")


class InteractionService:
    def __init__(self, repository: InteractionRepository, executions: RetrieverExecutionRepository,
                 retrievers: RetrieverRepository, documents: Callable[[], Any]) -> None:
        self._repository = repository
        self._executions = executions
        self._retrievers = retrievers
        # The collection document service in force (tiering replaces it after wiring): it finds a document wherever
        # its collection is.
        self._documents = documents

    # -- recording --------------------------------------------------------------------------------------------------

    def record(self, namespace: Namespace, interaction: dict[str, Any]) -> dict[str, Any]:
        """One interaction (the SDK's InteractionResponse). 404 for an execution or document not in the namespace.
        A repeat of (execution, document, types) within the deduplication window is dropped: `deduplicated`."""
        record = self._checked(namespace, [interaction])[0]
        return self._record_once(namespace, record)

    def record_many(self, namespace: Namespace, interactions: list[dict[str, Any]]) -> dict[str, Any]:
        """A backfill (the SDK's BulkInteractionsResponse): no deduplication; an interaction whose execution or
        document is not in the namespace fails alone (its index and reason in `errors`), the others are written."""
        now, executions = utcnow(), {}
        prepared: list[tuple[int, dict[str, Any]]] = []
        failures: list[tuple[int, str]] = []
        for index, interaction in enumerate(interactions):
            try:
                prepared.append((index, self._prepared(namespace, interaction, now, executions)))
            except NotFound as missing:
                failures.append((index, missing.message))
        absent = set(self._missing_documents(namespace, _documents_named([record for _, record in prepared])))
        records = []
        for index, record in prepared:
            if rules.names_a_document(record["interaction_type"]) and record["feature_id"] in absent:
                failures.append((index, NotFound("document", record["feature_id"]).message))
            else:
                records.append((index, record))
        self._repository.record_many(namespace.namespace_id, [record for _, record in records])
        return {"created": len(records), "failed": len(failures),
                "errors": [f"[{index}] {message}" for index, message in sorted(failures)] or None,
                "results": [{"index": index, "interaction_id": record["interaction_id"], "status": "created"}
                            for index, record in records]}

    def record_for_retriever(self, namespace: Namespace, retriever_id: str,
                             interactions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Interactions on one retriever's results (a published retriever's public): every one names an execution
        of that retriever. All are checked before any is written; each is deduplicated as a single one is."""
        for interaction in interactions:
            if interaction.get("execution_id") is None:
                raise BadRequest("an interaction needs the execution_id its search returned",
                                 code="execution_id_required")
        records = self._checked(namespace, [{**interaction, "retriever_id": retriever_id}
                                            for interaction in interactions])
        return [self._record_once(namespace, record) for record in records]

    def _record_once(self, namespace: Namespace, record: dict[str, Any]) -> dict[str, Any]:
        if record.get("execution_id") is None:  # nothing to deduplicate on
            self._repository.record_many(namespace.namespace_id, [record])
            return _presented(record)
        key = rules.dedup_key(record["execution_id"], record["feature_id"], record["interaction_type"])

        def attempt() -> dict[str, Any]:
            mark = self._repository.seen(namespace.namespace_id, key)
            if self._repository.is_live(mark):
                return {**_presented(record), "interaction_id": None, "deduplicated": True}
            self._repository.record_once(namespace.namespace_id, record, key, mark, rules.DEDUP_WINDOW_S)
            return _presented(record)

        return retry_on_conflict(attempt, attempts=ATTEMPTS, gave_up=lambda: Conflict(
            "The same interaction kept being recorded concurrently; try again", code="concurrent_modification"))

    def _checked(self, namespace: Namespace, interactions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each interaction as stored, all references found. Raises NotFound naming the first missing one."""
        now, executions = utcnow(), {}
        records = [self._prepared(namespace, interaction, now, executions) for interaction in interactions]
        missing = self._missing_documents(namespace, _documents_named(records))
        if missing:
            raise NotFound("document", missing[0])
        return records

    def _prepared(self, namespace: Namespace, interaction: dict[str, Any], now: datetime,
                  executions: dict[tuple[str | None, str], dict[str, Any]]) -> dict[str, Any]:
        """The interaction as stored: its execution found in the namespace (NotFound otherwise; `executions` keeps
        those found), its retriever taken from the execution when not given, its id and times set."""
        execution_id, retriever_id = interaction.get("execution_id"), interaction.get("retriever_id")
        if execution_id is not None:
            if (retriever_id, execution_id) not in executions:
                executions[(retriever_id, execution_id)] = self._execution(namespace, retriever_id, execution_id)
            retriever_id = executions[(retriever_id, execution_id)].get("retriever_id") or retriever_id
        return {**{field: interaction.get(field) for field in rules.FIELDS}, "retriever_id": retriever_id,
                "interaction_type": list(dict.fromkeys(interaction["interaction_type"])),
                "occurred_at": rules.occurred_at(interaction.get("occurred_at"), now),
                "interaction_id": new_id("int"), "timestamp": isoformat(now)}

    def _execution(self, namespace: Namespace, retriever_id: str | None, execution_id: str) -> dict[str, Any]:
        """The execution in the namespace's history: under the given retriever, else ad-hoc or under any of its
        retrievers."""
        if retriever_id is not None:
            found = self._executions.get(namespace.namespace_id, retriever_id, execution_id)
        else:
            found = self._executions.get(namespace.namespace_id, None, execution_id)
            for retriever in ([] if found else self._retrievers.list(namespace.namespace_id)):
                found = self._executions.get(namespace.namespace_id, retriever.retriever_id, execution_id)
                if found:
                    break
        if found is None:
            raise NotFound("execution", execution_id)
        return found

    def _missing_documents(self, namespace: Namespace, document_ids: list[str]) -> list[str]:
        if not document_ids:
            return []
        documents = self._documents()
        missing = []
        for first in range(0, len(document_ids), rules.MAX_BULK):
            missing += documents.batch_get(namespace, document_ids[first:first + rules.MAX_BULK])[1]
        still = []
        for document_id in missing:  # not in the vector store: perhaps in a cold or archived collection
            try:
                documents.get_in_namespace(namespace, document_id, with_vectors=False)
            except NotFound:
                still.append(document_id)
        return still

    # -- reading ----------------------------------------------------------------------------------------------------

    def get(self, namespace: Namespace, interaction_id: str) -> dict[str, Any]:
        found = self._repository.get(namespace.namespace_id, interaction_id)
        if found is None:
            raise NotFound("interaction", interaction_id)
        return _presented(found)

    def delete(self, namespace: Namespace, interaction_id: str) -> dict[str, Any]:
        """Idempotent, as the SDK says: deleting one that is gone (or never was) succeeds."""
        existed = self._repository.get(namespace.namespace_id, interaction_id) is not None
        self._repository.delete(namespace.namespace_id, interaction_id)
        return {"success": True, "interaction_id": interaction_id, "deleted": existed}

    def list(self, namespace: Namespace, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Newest first unless `sort` says otherwise; the plain fields, `filters` (the usual filter language over the
        interaction's fields) and `search` (text in its metadata) all apply."""
        wanted = filter_rules.parse_filter(query.get("filters"))
        search = query.get("search")
        found = [record for record in self._repository.list(namespace.namespace_id)
                 if rules.matches_simple(record, {field: query.get(field) for field in (
                     "execution_id", "retriever_id", "session_id", "user_id", "feature_id", "interaction_type")})
                 and (wanted is None or filter_rules.matches(wanted, record, record["interaction_id"]))
                 and (not search or rules.mentions(record, search))]
        sort = query.get("sort")
        if sort:
            if sort["field"] not in SORTABLE:
                raise BadRequest(f"interactions sort by one of {', '.join(SORTABLE)}", code="invalid_sort",
                                 details={"field": sort["field"]})
            found = rules.sorted_records(found, sort["field"], sort.get("direction") != "asc")
        return [_presented(record) for record in found]


def _documents_named(records: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(record["feature_id"] for record in records
                              if rules.names_a_document(record["interaction_type"])))


def _presented(record: dict[str, Any]) -> dict[str, Any]:
    """The SDK's InteractionResponse of a stored interaction."""
    return {**{field: record.get(field) for field in rules.FIELDS}, "interaction_id": record.get("interaction_id"),
            "timestamp": record.get("timestamp"), "deduplicated": False, "warning": None}
