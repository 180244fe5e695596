"""Batch ingestion on the embedded runtime, against a live `openpeek serve`.

1. Text: documents/s for BENCH_TEXT_OBJECTS (10,000) text objects of ~1 KB each (one chunk each), end to end from
   the batch submit to `documents_resolvable`. Baseline in the same run: the bare model (all-MiniLM-L6-v2, the same
   embedder class, in this process) encoding the same texts — the ceiling. Target: ≥ 80 % of the bare model's rate.
2. Passthrough: documents/s for BENCH_PASSTHROUGH_ROWS (100,000) rows × 384-d from one parquet object (uploaded
   through the upload URL), submit to resolvable. Baseline in the same run: the same rows through the documents
   upsert route (1,000 per request). Target: ≥ the upsert route.
3. Peak memory (VmHWM) of the batch worker, read after each part: embedded, the worker is a thread of the server
   process (it shares the query model), so this is the server process's peak.

    python bench/ingestion.py                        # both parts at the issue's sizes (10,000 texts, 100,000 rows)
    python bench/ingestion.py text --objects 200     # a quick smoke run of the text part
    python bench/ingestion.py passthrough --rows 5000

The sizes also come from BENCH_TEXT_OBJECTS / BENCH_PASSTHROUGH_ROWS; a flag wins.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import support

TEXT_OBJECTS = int(os.environ.get("BENCH_TEXT_OBJECTS", "10000"))
PASSTHROUGH_ROWS = int(os.environ.get("BENCH_PASSTHROUGH_ROWS", "100000"))
DIMENSION = 384
WORDS = ("river mountain forest desert ocean valley glacier meadow canyon island harbour village market bridge "
         "tower garden orchard library museum theatre station airport factory castle temple lighthouse").split()


def texts(count: int) -> list[str]:
    """~1 KB of plain sentences each (about 200 tokens: one chunk, under the model's 256-token window)."""
    rng = random.Random(7)
    made = []
    for n in range(count):
        sentences = []
        while sum(len(s) + 1 for s in sentences) < 1000:
            picked = rng.sample(WORDS, 6)
            sentences.append(f"The {picked[0]} near the {picked[1]} looked over the {picked[2]}, "
                             f"past the {picked[3]} and the {picked[4]} to the {picked[5]}.")
        made.append(f"Record {n}. " + " ".join(sentences)[:1000])
    return made


def server_pid(data_dir: Path) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(data_dir) in (entry / "cmdline").read_bytes().decode(errors="ignore"):
                    return int(entry.name)
            except OSError:
                continue
    return None


def peak_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def wait_resolvable(client, bucket: str, batch_id: str, timeout_s: float = 3600) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = client.get(f"/v1/buckets/{bucket}/batches/{batch_id}").json()
        if state["status"] in ("COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "CANCELED") and (
                state["documents_resolvable"] or state["status"] != "COMPLETED"):
            return state
        time.sleep(0.1)
    raise TimeoutError(batch_id)


def bare_model_rate(corpus: list[str]) -> float:
    from openpeek.adapters.inference.local_minilm import LocalMiniLmEmbedder

    model = LocalMiniLmEmbedder()
    model.embed_texts(corpus[:64])  # load and first pass, as serve's warm-up does
    start = time.perf_counter()
    for first in range(0, len(corpus), 256):  # the groups the text extractor hands the model
        model.embed_texts(corpus[first:first + 256])
    return len(corpus) / (time.perf_counter() - start)


def text_part(client, data_dir: Path) -> dict:
    corpus = texts(TEXT_OBJECTS)
    client.post("/v1/buckets", json={"bucket_name": "texts", "bucket_schema": {"properties": {
        "body": {"type": "text"}}}}).raise_for_status()
    client.post("/v1/collections", json={
        "collection_name": "passages", "source": {"type": "bucket", "bucket_ids": ["texts"]},
        "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                              "input_mappings": {"text": "body"}}}).raise_for_status()
    object_ids = []
    for first in range(0, len(corpus), 100):
        page = client.post("/v1/buckets/texts/objects/batch", json={"objects": [
            {"blobs": [{"property": "body", "type": "text", "data": text}]} for text in corpus[first:first + 100]]})
        page.raise_for_status()
        object_ids += [entry["object_id"] for entry in page.json()["succeeded"]]
    batch = client.post("/v1/buckets/texts/batches", json={"object_ids": object_ids}).json()
    start = time.perf_counter()
    client.post(f"/v1/buckets/texts/batches/{batch['batch_id']}/submit", json={}).raise_for_status()
    state = wait_resolvable(client, "texts", batch["batch_id"])
    elapsed = time.perf_counter() - start
    assert state["status"] == "COMPLETED", state.get("failure_reason")
    assert state["documents_written"] == TEXT_OBJECTS, state["documents_written"]
    peak = peak_mb(server_pid(data_dir))
    baseline = bare_model_rate(corpus)
    rate = TEXT_OBJECTS / elapsed
    return {"objects": TEXT_OBJECTS, "submit_to_resolvable_s": round(elapsed, 2), "documents_per_s": round(rate, 1),
            "bare_model_documents_per_s": round(baseline, 1), "ratio_to_bare_model": round(rate / baseline, 3),
            "worker_peak_rss_mb": peak}


def passthrough_part(client, data_dir: Path) -> dict:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((PASSTHROUGH_ROWS, DIMENSION), dtype=np.float32)
    table = pa.table({"sku": [f"sku-{n}" for n in range(PASSTHROUGH_ROWS)],
                      "embedding": pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), DIMENSION)})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="none")
    payload = sink.getvalue()

    client.post("/v1/buckets", json={"bucket_name": "rows", "bucket_schema": {"properties": {
        "file": {"type": "text"}}}}).raise_for_status()
    client.post("/v1/collections", json={
        "collection_name": "rows", "source": {"type": "bucket", "bucket_ids": ["rows"]},
        "feature_extractor": {"feature_extractor_name": "passthrough_extractor", "version": "v1",
                              "parameters": {"vector_fields": [{"field": "embedding", "name": "row_vec",
                                                                "dimensions": DIMENSION}]}}}).raise_for_status()
    upload = client.post("/v1/buckets/rows/uploads", json={
        "filename": "rows.parquet", "content_type": "application/octet-stream", "file_size_bytes": len(payload),
        "blob_property": "file"}).json()
    client.put(upload["presigned_url"], content=payload,
               headers={"content-type": "application/octet-stream"}).raise_for_status()
    confirmed = client.post(f"/v1/buckets/rows/uploads/{upload['upload_id']}/confirm", json={})
    confirmed.raise_for_status()
    object_id = confirmed.json().get("object_id") or confirmed.json()["object"]["object_id"]
    batch = client.post("/v1/buckets/rows/batches", json={"object_ids": [object_id]}).json()
    start = time.perf_counter()
    client.post(f"/v1/buckets/rows/batches/{batch['batch_id']}/submit", json={}).raise_for_status()
    state = wait_resolvable(client, "rows", batch["batch_id"])
    elapsed = time.perf_counter() - start
    assert state["status"] == "COMPLETED", state.get("failure_reason")
    assert state["documents_written"] == PASSTHROUGH_ROWS, state["documents_written"]
    peak = peak_mb(server_pid(data_dir))

    # Baseline: the same rows through the documents upsert route, into a namespace with the same index.
    client.post("/v1/namespaces/standalone", json={"namespace_id": "bench-upsert", "vector_configs": [
        {"name": "row_vec", "dimension": DIMENSION}]}).raise_for_status()
    bodies = [json.dumps({"documents": [{"document_id": f"sku-{n}", "vectors": {"row_vec": matrix[n].tolist()},
                                         "payload": {"sku": f"sku-{n}"}}
                                        for n in range(first, min(first + 1000, PASSTHROUGH_ROWS))]})
              for first in range(0, PASSTHROUGH_ROWS, 1000)]
    start = time.perf_counter()
    for body in bodies:
        client.post("/v1/namespaces/bench-upsert/documents/upsert", content=body,
                    headers={"content-type": "application/json", "X-Namespace": "bench-upsert"}).raise_for_status()
    upsert_s = time.perf_counter() - start
    return {"rows": PASSTHROUGH_ROWS, "parquet_mb": round(len(payload) / 2**20, 1),
            "submit_to_resolvable_s": round(elapsed, 2), "documents_per_s": round(PASSTHROUGH_ROWS / elapsed, 1),
            "upsert_route_documents_per_s": round(PASSTHROUGH_ROWS / upsert_s, 1),
            "ratio_to_upsert_route": round(upsert_s / elapsed, 3), "worker_peak_rss_mb": peak}


def main() -> int:
    global TEXT_OBJECTS, PASSTHROUGH_ROWS
    parser = argparse.ArgumentParser(description="Batch ingestion on the embedded runtime, against its baselines.")
    parser.add_argument("parts", nargs="*", metavar="{text,passthrough}", help="which parts to run (default: both)")
    parser.add_argument("--objects", type=int, default=TEXT_OBJECTS,
                        help=f"text objects of ~1 KB for the text part (default {TEXT_OBJECTS:,})")
    parser.add_argument("--rows", type=int, default=PASSTHROUGH_ROWS,
                        help=f"parquet rows for the passthrough part (default {PASSTHROUGH_ROWS:,})")
    arguments = parser.parse_args()
    unknown = sorted(set(arguments.parts) - {"text", "passthrough"})
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}")
    TEXT_OBJECTS, PASSTHROUGH_ROWS = arguments.objects, arguments.rows
    parts = arguments.parts or ["text", "passthrough"]
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "serve"
        with support.live_server(data_dir) as client:
            client.post("/v1/namespaces", json={"namespace_name": "bench-ingest"}).raise_for_status()
            client.headers["X-Namespace"] = "bench-ingest"
            if "text" in parts:
                report["text"] = text_part(client, data_dir)
                print(json.dumps({"text": report["text"]}), flush=True)
            if "passthrough" in parts:
                report["passthrough"] = passthrough_part(client, data_dir)
                print(json.dumps({"passthrough": report["passthrough"]}), flush=True)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
