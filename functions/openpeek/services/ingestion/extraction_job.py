"""A heavy tier's extraction job (images: the SageMaker Processing job deployed), as files in and files out.

The stage step writes, per manifest part, what the job embeds:
- `job.json`: `{"collections": {collection_id: {"feature_extractor": {...}, "model": service, "index": name}}}`;
- `drafts-NNNNN.parquet`, one per group of objects: one row per draft — collection_id, source_id, chunk_key, text
  (nullable), image (nullable bytes).
The job (containers/clustering's entrypoint, `extract`) embeds them with each collection's model, a file at a time
(so memory holds one group's images), and writes:
- `vectors-NNNNN.parquet`, one per drafts file: collection_id, source_id, chunk_key, vector (list of float32);
- `failures.json`: `{collection_id: {source_id: {"error", "error_type"}}}` for sources whose model call failed:
  `transient` for an outage (retry helps), `permanent` for an input the model refused.
The store step reads both back (`StagedVectors`) and writes the documents through the batch runner, which rebuilds the
same drafts (their keys are deterministic) and takes their vectors from the job instead of calling a model.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from openpeek.domain.collections import Collection
from openpeek.domain.failures import DependencyUnavailable, EmbeddingInputRejected
from openpeek.ports import Embedder
from openpeek.services.ingestion import extractors
from openpeek.services.ingestion.extractors import Draft, ExtractionFailed, Extractor
from openpeek.services.ingestion.runner import StagedDraft

JOB_FILE = "job.json"
DRAFTS_PATTERN = "drafts-*.parquet"
VECTORS_PATTERN = "vectors-*.parquet"
FAILURES_FILE = "failures.json"
NO_VECTOR = "the extraction job returned no vector for it"


def drafts_file_name(number: int) -> str:
    return f"drafts-{number:05d}.parquet"


def job_file(collections: Sequence[Collection]) -> bytes:
    """job.json: how each collection's drafts are embedded (its extractor, model and index)."""
    return json.dumps({"collections": {collection.collection_id: {
        "feature_extractor": collection.feature_extractor.public(),
        "model": next((i.inference_service for i in collection.vector_indexes if i.inference_service), None),
        "index": collection.vector_indexes[0].vector_name if collection.vector_indexes else None,
    } for collection in collections}}).encode()


def drafts_file(staged: Sequence[StagedDraft]) -> bytes:
    """One drafts parquet file of these drafts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({
        "collection_id": pa.array([d.collection_id for d in staged], pa.string()),
        "source_id": pa.array([d.source_id for d in staged], pa.string()),
        "chunk_key": pa.array([d.chunk_key for d in staged], pa.string()),
        "text": pa.array([d.text for d in staged], pa.string()),
        "image": pa.array([d.image for d in staged], pa.binary()),
    })
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def run_extraction_job(input_dir: Path, output_dir: Path, embedder_for: Callable[[str], Embedder]) -> dict[str, Any]:
    """Embed the staged drafts with each collection's model; one source's failed model call fails that source only.
    Returns a summary (drafts embedded, sources failed)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    job = json.loads((input_dir / JOB_FILE).read_text())
    built: dict[str, Extractor] = {}
    for collection_id, spec in job["collections"].items():
        index = spec.get("index")
        built[collection_id] = extractors.build(spec["feature_extractor"], embedder_for,
                                                {index: index} if index else None, model=spec.get("model"))
    output_dir.mkdir(parents=True, exist_ok=True)
    failures: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    drafts_seen = vectors_made = 0
    for path in sorted(input_dir.glob(DRAFTS_PATTERN)):
        rows = pq.read_table(path).to_pylist()
        drafts_seen += len(rows)
        out = _embed(rows, built, failures)
        vectors_made += len(out["vector"])
        pq.write_table(pa.table({**{k: pa.array(v, pa.string()) for k, v in out.items() if k != "vector"},
                                 "vector": pa.array(out["vector"], pa.list_(pa.float32()))}),
                       output_dir / path.name.replace("drafts-", "vectors-"))
    (output_dir / FAILURES_FILE).write_text(json.dumps(failures))
    return {"drafts": drafts_seen, "vectors": vectors_made,
            "failed_sources": sum(len(sources) for sources in failures.values())}


def _embed(rows: list[dict[str, Any]], built: Mapping[str, Extractor],
           failures: dict[str, dict[str, dict[str, str]]]) -> dict[str, list[Any]]:
    by_source: dict[tuple[str, str], list[Draft]] = defaultdict(list)
    for row in rows:
        by_source[(row["collection_id"], row["source_id"])].append(
            Draft(row["chunk_key"], {}, text=row["text"], image=row["image"]))
    out: dict[str, list[Any]] = {"collection_id": [], "source_id": [], "chunk_key": [], "vector": []}
    for (collection_id, source_id), drafts in by_source.items():
        extractor = built[collection_id]
        try:
            extractor.complete(drafts)
        except DependencyUnavailable as error:
            kind = "permanent" if isinstance(error, EmbeddingInputRejected) else "transient"
            failures[collection_id][source_id] = {"error": str(error), "error_type": kind}
            continue
        for draft in drafts:
            for vector in draft.vectors.values():
                out["collection_id"].append(collection_id)
                out["source_id"].append(source_id)
                out["chunk_key"].append(draft.chunk_key)
                out["vector"].append([float(value) for value in vector])
    return out


class StagedVectors:
    """The job's output as the runner's Completer: each draft's vector from the job; a source the job failed, or
    left a draft of without a vector, fails with the reason."""

    def __init__(self, vectors: Mapping[tuple[str, str, str], list[float]],
                 failures: Mapping[str, Mapping[str, Mapping[str, str]]]) -> None:
        self._vectors = vectors
        self._failures = failures

    @classmethod
    def read(cls, vectors_parquets: Sequence[bytes], failures_json: bytes) -> "StagedVectors":
        import pyarrow.parquet as pq

        vectors: dict[tuple[str, str, str], list[float]] = {}
        for data in vectors_parquets:
            table = pq.read_table(io.BytesIO(data))
            columns = {name: table.column(name).to_pylist() for name in table.column_names}
            vectors.update(((c, s, k), v) for c, s, k, v in zip(columns["collection_id"], columns["source_id"],
                                                                columns["chunk_key"], columns["vector"]))
        return cls(vectors, json.loads(failures_json or b"{}"))

    def __call__(self, collection: Collection, extractor: Extractor,
                 drafts: dict[str, list[Draft]]) -> dict[str, ExtractionFailed]:
        index = extractor.vector_indexes()[0].name
        failed = {source_id: ExtractionFailed(record["error"], record.get("error_type") or "transient")
                  for source_id, record in (self._failures.get(collection.collection_id) or {}).items()}
        for source_id, group in drafts.items():
            if source_id in failed:
                continue
            for draft in group:
                if not draft.text and draft.image is None:
                    continue  # nothing for a model: the extractor writes it without a vector
                vector = self._vectors.get((collection.collection_id, source_id, draft.chunk_key))
                if vector is None:
                    failed[source_id] = ExtractionFailed(NO_VECTOR, "transient")
                    break
                draft.vectors[index] = vector
        return {source_id: reason for source_id, reason in failed.items() if source_id in drafts}
