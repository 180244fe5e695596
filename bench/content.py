"""Managed content on the embedded runtime, over HTTP against a live `openpeek serve`.

1. Object registration: objects/s for 10,000 small text objects through `POST /v1/buckets/{b}/objects/batch`
   (100 per request). Baselines in the same run: the same 10,000 texts written straight to the data folder through
   the blob store (the bytes alone, no HTTP, no table), and 100 bare HTTP round trips carrying the same bodies to
   a route that parses and refuses them at once (the HTTP and JSON cost alone).
2. Upload: MB/s for one 200 MB file through the upload URL (create upload → PUT → confirm), against writing the
   same bytes to the data folder directly (the blob store's put, in process).

BENCH_OBJECTS and BENCH_UPLOAD_MB change the sizes."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import support

OBJECTS = int(os.environ.get("BENCH_OBJECTS", "10000"))
PER_REQUEST = 100
UPLOAD_MB = int(os.environ.get("BENCH_UPLOAD_MB", "200"))


def batches() -> list[dict]:
    return [{"objects": [{"blobs": [{"property": "body", "type": "text",
                                     "data": f"object {n}: a short paragraph of text to register."}],
                          "n": n} for n in range(first, min(first + PER_REQUEST, OBJECTS))]}
            for first in range(0, OBJECTS, PER_REQUEST)]


def main() -> int:
    from openpeek.adapters.local.folder_blobs import FolderBlobStore

    bodies = batches()
    payload = os.urandom(UPLOAD_MB * 1024 * 1024)
    with tempfile.TemporaryDirectory() as tmp, support.live_server(Path(tmp) / "serve") as client:
        client.post("/v1/namespaces", json={"namespace_name": "bench-content"}).raise_for_status()
        client.headers["X-Namespace"] = "bench-content"
        client.post("/v1/buckets", json={"bucket_name": "texts", "bucket_schema": {"properties": {
            "body": {"type": "text"}, "n": {"type": "integer"}, "file": {"type": "pdf"}}}}).raise_for_status()

        # Baseline: the HTTP and JSON cost of the same bodies, refused at once (unknown bucket: 404 before any work).
        start = time.perf_counter()
        for body in bodies:
            assert client.post("/v1/buckets/missing/objects/batch", json=body).status_code == 404
        http_s = time.perf_counter() - start

        start = time.perf_counter()
        for body in bodies:
            response = client.post("/v1/buckets/texts/objects/batch", json=body)
            response.raise_for_status()
            assert response.json()["failed_count"] == 0
        register_s = time.perf_counter() - start
        assert client.get("/v1/buckets/texts").json()["object_count"] == OBJECTS

        # Baseline: the same texts straight into a blob folder on the same disk.
        direct = FolderBlobStore(Path(tmp) / "direct")
        start = time.perf_counter()
        for body in bodies:
            for obj in body["objects"]:
                direct.put(f"texts/{obj['n']}/body", obj["blobs"][0]["data"].encode(), "text/plain")
        direct_objects_s = time.perf_counter() - start

        upload = client.post("/v1/buckets/texts/uploads", json={
            "filename": "big.pdf", "content_type": "application/pdf", "file_size_bytes": len(payload),
            "blob_property": "file"}).json()
        start = time.perf_counter()
        client.put(upload["presigned_url"], content=payload,
                   headers={"content-type": "application/pdf"}).raise_for_status()
        put_s = time.perf_counter() - start
        client.post(f"/v1/buckets/texts/uploads/{upload['upload_id']}/confirm", json={}).raise_for_status()
        upload_s = time.perf_counter() - start

        start = time.perf_counter()
        direct.put("big/big.pdf", payload, "application/pdf")
        direct_upload_s = time.perf_counter() - start

    megabytes = len(payload) / (1024 * 1024)
    results = {
        "objects": OBJECTS,
        "objects_per_s_http_batch": round(OBJECTS / register_s, 1),
        "objects_per_s_direct_blob_writes (baseline)": round(OBJECTS / direct_objects_s, 1),
        "objects_per_s_http_refused_at_once (baseline)": round(OBJECTS / http_s, 1),
        "upload_mb": round(megabytes, 1),
        "upload_mb_per_s_put_and_confirm": round(megabytes / upload_s, 1),
        "upload_mb_per_s_put_only": round(megabytes / put_s, 1),
        "upload_mb_per_s_direct_write (baseline)": round(megabytes / direct_upload_s, 1),
    }
    print(f"registered {OBJECTS:,} text objects in {register_s:.1f} s over HTTP "
          f"({results['objects_per_s_http_batch']:,.0f}/s); the same texts written to the folder directly: "
          f"{results['objects_per_s_direct_blob_writes (baseline)']:,.0f}/s "
          f"(ratio {direct_objects_s / register_s:.2f}); HTTP alone: "
          f"{results['objects_per_s_http_refused_at_once (baseline)']:,.0f}/s")
    print(f"uploaded {megabytes:.0f} MB through the upload URL at {results['upload_mb_per_s_put_and_confirm']} MB/s "
          f"(PUT alone {results['upload_mb_per_s_put_only']} MB/s); written directly: "
          f"{results['upload_mb_per_s_direct_write (baseline)']} MB/s (ratio {direct_upload_s / upload_s:.2f})")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
