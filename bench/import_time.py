"""Cold import of the API Lambda entry point, against baselines measured in the same run.

Runs `python -X importtime -c "import openpeek.handlers.api"` in fresh interpreters (best of N, to damp disk-cache
noise) and checks that nothing from the clustering or model stacks is imported."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys

HEAVY = ("sklearn", "umap", "numba", "torch", "qdrant_edge", "pandas", "pyarrow")
RUNS = 7


def import_profile(statement: str) -> tuple[float, set[str]]:
    """Wall seconds of the whole import (cumulative of top-level modules) and the set of modules imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement], capture_output=True, text=True, check=True
    )
    total_us = 0
    modules: set[str] = set()
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)", line)
        if not match:
            continue
        modules.add(match.group(4))
        if len(match.group(3)) == 1:  # a top-level import: its cumulative time includes its children
            total_us += int(match.group(2))
    return total_us / 1e6, modules


def measure(statement: str) -> dict:
    samples = []
    modules: set[str] = set()
    for _ in range(RUNS):
        seconds, modules = import_profile(statement)
        samples.append(seconds)
    return {"best_s": min(samples), "median_s": statistics.median(samples), "modules": len(modules), "_names": modules}


def main() -> int:
    cases = {
        "baseline: python -c pass": "pass",
        "baseline: import fastapi, mangum, pydantic_settings": "import fastapi, mangum, pydantic_settings",
        "openpeek.handlers.api": "import openpeek.handlers.api",
    }
    report = {name: measure(statement) for name, statement in cases.items()}
    heavy = sorted(name for name in report["openpeek.handlers.api"]["_names"] if name.split(".")[0] in HEAVY)
    for name, numbers in report.items():
        print(f"{name:55s} best {numbers['best_s'] * 1000:7.1f} ms  median {numbers['median_s'] * 1000:7.1f} ms  "
              f"modules {numbers['modules']}")
    print(f"heavy modules imported by the API entry point: {heavy or 'none'}")
    target_ok = report["openpeek.handlers.api"]["median_s"] < 1.0 and not heavy
    print(f"target (< 1 s, no clustering/model stack): {'met' if target_ok else 'MISSED'}")
    print(json.dumps({name: {k: v for k, v in numbers.items() if not k.startswith('_')}
                      for name, numbers in report.items()}))
    return 0 if target_ok else 1


if __name__ == "__main__":
    sys.exit(main())
