"""Namespace snapshots on the embedded runtime, in process: N documents × 384-d in a standalone namespace.
`python bench/snapshots.py [--docs N]` (N defaults to BENCH_SNAPSHOT_DOCS, else 20,000).

Reported, each against the namespace clone measured in the same run (the same pages of points read from the vector
store and written to another collection: the copy a snapshot and a restore each do half of):
- taking a snapshot (every point exported into gzipped JSON-lines parts in the blob store, float32 vectors as base64,
  a sha256 each), s and ratio to the clone;
- a deep verify (every artifact re-read and hashed, every part decoded and its points counted), s and ratio;
- a restore into a new namespace and a restore in place (each checks every artifact's sha256 first), s and ratio;
- the artifacts' bytes per document, against the 384 float32 of its vector (1,536 bytes).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

DOCS = int(os.environ.get("BENCH_SNAPSHOT_DOCS", "20000"))
DIMENSION = 384
BATCH = 500


def seconds(call) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def main(docs: int) -> dict:
    from openpeek.runtime import build_services
    from openpeek.services import clone, snapshots
    from openpeek.settings import Settings

    # everything before the answer: the benchmark times the work, not a background thread's polling
    clone.INLINE_MAX_POINTS = snapshots.INLINE_MAX_POINTS = docs + 1
    with tempfile.TemporaryDirectory() as folder:
        services = build_services(Settings(runtime="embedded", data_dir=Path(folder)))
        try:
            org = services.organizations.ensure_org("bench")
            caller = services.organizations.authenticate(
                f"Bearer {services.organizations.issue_key(org['org_id']).plain_key}")
            services.namespaces.create(caller, {"namespace_name": "bench", "mode": "standalone",
                                                "vector_configs": [{"name": "emb", "dimension": DIMENSION}]})
            vectors = np.random.default_rng(3).standard_normal((docs, DIMENSION)).astype(np.float32)
            for start in range(0, docs, BATCH):
                services.documents.upsert(caller, "bench", {"documents": [
                    {"document_id": f"d{i}", "vectors": {"emb": vectors[i].tolist()},
                     "payload": {"rank": i, "title": f"document {i}"}} for i in range(start, min(docs, start + BATCH))]})

            cloned, _ = seconds(lambda: services.cloner.clone(caller, "bench", {"namespace_name": "bench-clone"}))
            taken, created = seconds(lambda: services.snapshots.create(caller, "bench", {}))
            snapshot_id = created["snapshot_id"]
            verified, report = seconds(lambda: services.snapshots.verify(caller, "bench", snapshot_id, deep=True))
            assert report["restorable"], report
            elsewhere, _ = seconds(lambda: services.snapshots.restore(caller, "bench", snapshot_id,
                                                                      {"target_namespace_name": "bench-restored"}))
            in_place, _ = seconds(lambda: services.snapshots.restore(caller, "bench", snapshot_id,
                                                                     {"confirm_in_place": True}))
            namespace = services.namespaces.resolve(caller, "bench")
            prefix = f"namespaces/{namespace.namespace_id}/snapshots/{snapshot_id}/"
            stored = sum(len(services.blobs.get(key)) for key in services.blobs.list(prefix))
        finally:
            services.close()
    ratio = lambda value: round(value / cloned, 2)  # noqa: E731
    return {"docs": docs, "dimension": DIMENSION, "clone_s (baseline)": round(cloned, 2),
            "snapshot_s": round(taken, 2), "snapshot_vs_clone": ratio(taken),
            "deep_verify_s": round(verified, 2), "deep_verify_vs_clone": ratio(verified),
            "restore_new_namespace_s": round(elsewhere, 2), "restore_new_vs_clone": ratio(elsewhere),
            "restore_in_place_s": round(in_place, 2), "restore_in_place_vs_clone": ratio(in_place),
            "artifact_bytes_per_doc": round(stored / docs), "raw_float32_bytes_per_doc": DIMENSION * 4}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=DOCS)
    print(json.dumps(main(parser.parse_args().docs), indent=2))
