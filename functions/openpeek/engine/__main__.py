"""`python -m openpeek.engine --input DIR --output DIR`: one clustering job in its own process (the embedded runtime's
worker runs it so; the SageMaker container has its own entrypoint with the same folders). The last line on stderr is
the reason when it fails; exit status 2 means the input was refused."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m openpeek.engine")
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    arguments = parser.parse_args(argv)
    parquet_files = sorted(arguments.input.glob("*.parquet"))
    job_file = arguments.input / "job.json"
    parameters = json.loads(job_file.read_text()) if job_file.exists() else {}
    if not parquet_files:
        print(f"no *.parquet input in {arguments.input}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from openpeek.engine.processing import run_job

    arguments.output.mkdir(parents=True, exist_ok=True)
    try:
        summary = run_job(parquet_files, parameters, arguments.output)
    except ValueError as error:  # the engine's input errors: the user's to fix, not a crash
        print(str(error).replace("\n", " "), file=sys.stderr)
        return EXIT_BAD_INPUT
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
