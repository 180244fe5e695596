"""SageMaker Processing entrypoint: `openpeek.engine` on the parquet the prepare step wrote, or (`extract`) a heavy
batch tier's extraction job: the drafts a stage step wrote, embedded through Bedrock (Titan), vectors out
(openpeek.services.ingestion.extraction_job describes the files).

Inputs (under --input, /opt/ml/processing/input): one or more `*.parquet` files of vectors and, optionally, `job.json`
with the execution's parameters. Outputs go under --output (/opt/ml/processing/output), which SageMaker uploads to the
execution's output prefix when the job ends. The engine is imported only after the arguments are checked, so a
malformed job fails in a second, not after loading numpy and friends.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ENGINE_MODULE = "openpeek.engine.processing"
FAILURE_MESSAGE = Path("/opt/ml/output/message")  # SageMaker shows its content as the job's failure reason
EXIT_BAD_INPUT = 2
EXIT_NO_ENGINE = 3


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="openpeek clustering job")
    parser.add_argument("--input", type=Path, default=Path("/opt/ml/processing/input"))
    parser.add_argument("--output", type=Path, default=Path("/opt/ml/processing/output"))
    return parser.parse_args(argv)


def read_job(input_dir: Path) -> tuple[list[Path], dict[str, Any]]:
    """The parquet inputs and the job parameters; ValueError when the input is not a job."""
    parquet_files = sorted(input_dir.glob("*.parquet"))
    if not parquet_files:
        raise ValueError(f"no *.parquet input in {input_dir}")
    job_file = input_dir / "job.json"
    parameters = json.loads(job_file.read_text()) if job_file.exists() else {}
    if not isinstance(parameters, dict):
        raise ValueError(f"{job_file} must hold a JSON object")
    return parquet_files, parameters


def fail(message: str, code: int) -> int:
    print(f"openpeek clustering job: {message}", file=sys.stderr)
    try:
        FAILURE_MESSAGE.parent.mkdir(parents=True, exist_ok=True)
        FAILURE_MESSAGE.write_text(message[:1024])
    except OSError:
        pass  # outside SageMaker (tests, by hand) there is no /opt/ml; stderr has said it
    return code


def extract(argv: list[str]) -> int:
    """`extract --input DIR --output DIR`: embed a batch part's drafts with each collection's model on Bedrock."""
    import os

    arguments = parse_arguments(argv)
    if not (arguments.input / "job.json").exists():
        return fail(f"no job.json in {arguments.input}", EXIT_BAD_INPUT)
    from openpeek.adapters.inference.registry import default_registry
    from openpeek.services.ingestion.extraction_job import run_extraction_job

    # Titan on Bedrock only: the image carries no local model, and the job's role may call nothing else.
    registry = default_registry(openai_api_key=None, bedrock_enabled=True, local_enabled=False,
                                bedrock_region=os.environ.get("OPENPEEK_BEDROCK_REGION") or None)
    summary = run_extraction_job(arguments.input, arguments.output, registry.embedder)
    print(json.dumps({"openpeek_extraction_job": "completed", "summary": summary}))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["extract"]:
        return extract(argv[1:])
    arguments = parse_arguments(argv)
    try:
        parquet_files, parameters = read_job(arguments.input)
    except (ValueError, json.JSONDecodeError) as error:
        return fail(str(error), EXIT_BAD_INPUT)
    try:
        from openpeek.engine.processing import run_job  # heavy: the clustering stack loads here, and only here
    except ModuleNotFoundError as error:
        if error.name not in (ENGINE_MODULE, "openpeek.engine"):
            raise  # a dependency of the engine is missing: the image is broken, say so loudly
        return fail(f"{ENGINE_MODULE}.run_job is not in this image (it was built without the engine)", EXIT_NO_ENGINE)
    arguments.output.mkdir(parents=True, exist_ok=True)
    summary = run_job(parquet_files, parameters, arguments.output)
    print(json.dumps({"openpeek_clustering_job": "completed", "summary": summary}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
