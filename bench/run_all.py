"""Runs every benchmark in bench/ and prints their reports (`make bench`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["import_time.py", "namespace_latency.py", "retrieval.py", "autoindex.py", "clustering.py",
              "clustering_engine.py", "studio_map.py", "retrieval_stages.py", "search_floor.py",
              "sidecar_upsert.py", "collection_documents.py", "content.py", "ingestion.py", "tiering.py"]
BENCHMARKS += ["snapshots.py"]

if __name__ == "__main__":
    failed = 0
    for script in BENCHMARKS:
        print(f"== {script}", flush=True)
        failed |= subprocess.run([sys.executable, str(HERE / script)]).returncode
    sys.exit(failed)
