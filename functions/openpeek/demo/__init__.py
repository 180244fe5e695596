"""Something to look at on a first start: a small real text dataset that ships with the project (books.jsonl, 231
public-domain books with author, year, genre and a one-line summary) loaded into the namespace `demo-books`, with
the bundled all-MiniLM-L6-v2 model's embeddings, a text-search retriever and a completed k-means cluster run.

Run by `openpeek demo` (embedded, no server running on the data dir) and by `openpeek serve --demo` (in the server,
in the background). Loading is idempotent: a namespace that exists already is left as it is."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from openpeek.domain.errors import NotFound
from openpeek.services.organizations import Principal

DATASET = Path(__file__).with_name("books.jsonl")
NAMESPACE = "demo-books"
RETRIEVER = "books"
CLUSTER = "themes"
FEATURE_URI = "mixpeek://text_extractor@v1/embedding"
EMBEDDING_SERVICE = "all_minilm_l6_v2"
EMBED_BATCH = 64
CLUSTER_WAIT_S = 600


@dataclass(frozen=True)
class DemoSummary:
    namespace_id: str
    documents: int
    retriever_id: str | None
    cluster_id: str | None
    cluster_status: str | None
    created: bool


def books() -> list[dict[str, Any]]:
    return [json.loads(line) for line in DATASET.read_text(encoding="utf-8").splitlines() if line.strip()]


def _text(book: dict[str, Any]) -> str:
    return f"{book['title']} by {book['author']}. {book['summary']}"


def load(services: Any, principal: Principal, echo: Callable[[str], None] = print) -> DemoSummary:
    """Creates the demo namespace, its documents, retriever and cluster run; returns what is there."""
    try:
        existing = services.namespaces.resolve(principal, NAMESPACE)
    except NotFound:
        existing = None
    if existing is not None:
        echo(f"openpeek demo: namespace '{NAMESPACE}' exists already; left as it is")
        retrievers = services.retrievers.list(existing, search=RETRIEVER)
        return DemoSummary(existing.namespace_id, services.vectors.count(existing.collection),
                           retrievers[0].retriever_id if retrievers else None, None, None, created=False)

    namespace = services.namespaces.create(principal, {
        "namespace_name": NAMESPACE,
        "description": "Demo: 231 public-domain books (title, author, year, genre, one-line summary)",
        "feature_extractors": [{"feature_extractor_name": "text_extractor", "version": "v1"}],
        "payload_indexes": [{"field_name": "genre", "type": "keyword"}, {"field_name": "year", "type": "integer"}],
    }).namespace
    index = namespace.vector_indexes()[0].name
    catalogue = books()
    echo(f"openpeek demo: embedding {len(catalogue)} books with {EMBEDDING_SERVICE} …")
    vectors: list[list[float]] = []
    for start in range(0, len(catalogue), EMBED_BATCH):
        vectors += services.inference_gateway.embed_texts(
            EMBEDDING_SERVICE, [_text(book) for book in catalogue[start:start + EMBED_BATCH]])
    documents = [{"document_id": f"book-{position:03d}", "vectors": {index: vector}, "payload": book}
                 for position, (book, vector) in enumerate(zip(catalogue, vectors), start=1)]
    services.documents.upsert(principal, namespace.namespace_id, {"documents": documents})
    retriever = services.retrievers.create(namespace, {
        "retriever_name": RETRIEVER,
        "description": "Books whose summary is closest in meaning to the query, optionally of one genre",
        "input_schema": {"query": {"type": "text", "required": True}},
        "stages": [{"stage_name": "search", "stage_type": "filter", "config": {
            "stage_id": "feature_search", "parameters": {"searches": [{
                "feature_uri": FEATURE_URI, "query": {"input_mode": "text", "value": "{{INPUT.query}}"},
                "top_k": 5}]}}}],
    })
    cluster = services.clusters.create(namespace, {
        "cluster_name": CLUSTER, "description": "The catalogue's themes",
        "vector_config": {"feature_uris": [FEATURE_URI], "clustering_method": "kmeans",
                          "kmeans_parameters": {"n_clusters": 8}},
    })
    echo("openpeek demo: clustering the catalogue into 8 themes …")
    task = services.cluster_runs.execute(namespace, cluster.cluster_id, {})
    deadline = time.monotonic() + CLUSTER_WAIT_S
    while not task.terminal and time.monotonic() < deadline:
        time.sleep(0.5)
        task = services.tasks.get(namespace, task.task_id)
    return DemoSummary(namespace.namespace_id, len(documents), retriever.retriever_id, cluster.cluster_id,
                       task.status, created=True)


def describe(summary: DemoSummary, base_url: str = "http://127.0.0.1:8000") -> str:
    """What to try next, as the user would type it."""
    lines = [f"openpeek demo: namespace '{NAMESPACE}' holds {summary.documents} books"
             + (f"; cluster run {summary.cluster_status}" if summary.cluster_status else ""), "",
             "Try it (with `openpeek serve` running and MIXPEEK_API_KEY set):", ""]
    if summary.retriever_id:
        lines += [f"  curl -s {base_url}/v1/retrievers/{summary.retriever_id}/execute \\",
                  '    -H "Authorization: Bearer $MIXPEEK_API_KEY" -H "X-Namespace: demo-books" \\',
                  "    -H 'Content-Type: application/json' \\",
                  "    -d '{\"inputs\": {\"query\": \"a ship lost at sea\"}}'", ""]
    if summary.cluster_id:
        lines += [f"  curl -s {base_url}/v1/clusters/{summary.cluster_id}/groups \\",
                  '    -H "Authorization: Bearer $MIXPEEK_API_KEY" -H "X-Namespace: demo-books"']
    return "\n".join(lines)
