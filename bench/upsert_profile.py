"""Upsert throughput over HTTP (`openpeek serve`, batches of 1,000 × 384-d, as bench/retrieval.py sends them), for
comparing code versions in the same session on a busy machine: each version is given as a `functions` directory
(put first on the server's PYTHONPATH) and the versions are run in alternation, several rounds, medians reported.

    .venv/bin/python bench/upsert_profile.py [DOCS] [ROUNDS] [name=functions_dir ...]

With UPSERT_PROFILE=path the server of the first version runs under cProfile (written at shutdown) instead."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import retrieval  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def serve(data_dir: Path, functions: str, profile: str | None):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable]
    if profile:
        command += ["-m", "cProfile", "-o", profile]
    command += ["-m", "openpeek.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": functions}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    key = None
    for _ in range(50):
        line = process.stdout.readline()
        key = key or next((w for w in line.split() if w.startswith("sk_")), None)
        if "serving on" in line or not line:
            break
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"},
                          timeout=120)
    for _ in range(200):
        try:
            client.get("/v1/health")
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return process, client


def one_run(functions: str, bodies: list[bytes], profile: str | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        process, client = serve(Path(tmp) / "data", functions, profile)
        try:
            client.post("/v1/namespaces", json={
                "namespace_name": "bench-upsert", "mode": "standalone",
                "vector_configs": [{"name": "emb", "dimension": retrieval.DIM, "metric": "cosine"}],
                "payload_indexes": [{"field_name": "category", "type": "keyword"},
                                    {"field_name": "price", "type": "integer"}],
            }).raise_for_status()
            samples = []
            start = time.perf_counter()
            for body in bodies:
                s = time.perf_counter()
                client.post("/v1/namespaces/bench-upsert/documents/upsert", content=body,
                            headers={"Content-Type": "application/json"}).raise_for_status()
                samples.append(time.perf_counter() - s)
            elapsed = time.perf_counter() - start
            # Re-upsert of the first batch (replacing existing documents) is timed apart.
            s = time.perf_counter()
            client.post("/v1/namespaces/bench-upsert/documents/upsert", content=bodies[0],
                        headers={"Content-Type": "application/json"}).raise_for_status()
            replace_ms = (time.perf_counter() - s) * 1000
            count = client.post("/v1/namespaces/bench-upsert/documents/upsert", content=b"{}",
                                headers={"Content-Type": "application/json"}).status_code
        finally:
            client.close()
            process.terminate()
            process.wait(timeout=60)
    return {"docs_per_s": round(len(bodies) * retrieval.BATCH / elapsed),
            "p50_request_ms": round(statistics.median(samples) * 1000, 1), "replace_ms": round(replace_ms, 1),
            "bad_body_status": count}


def main() -> None:
    docs = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    versions = dict(arg.split("=", 1) for arg in sys.argv[3:]) or {"current": str(REPO / "functions")}
    os.environ["BENCH_DOCS"] = str(docs)
    vectors, _, categories, prices = retrieval.make_data()
    bodies = retrieval.upsert_bodies(vectors[:docs], categories[:docs], prices[:docs])
    profile = os.environ.get("UPSERT_PROFILE")
    if profile:
        name, functions = next(iter(versions.items()))
        print(name, one_run(functions, bodies, profile))
        return
    results: dict[str, list[dict]] = {name: [] for name in versions}
    for round_ in range(rounds):
        for name, functions in versions.items():
            result = one_run(functions, bodies)
            results[name].append(result)
            print(round_, name, result, flush=True)
    summary = {name: {"median_docs_per_s": statistics.median(r["docs_per_s"] for r in runs),
                      "all_docs_per_s": [r["docs_per_s"] for r in runs]} for name, runs in results.items()}
    print(json.dumps({"documents": docs, **summary}, indent=1))


if __name__ == "__main__":
    main()
