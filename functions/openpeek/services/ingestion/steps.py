"""A batch as Step Functions runs it when deployed: prepare → a Map over the tiers (one at a time) of a Map over the
tier's manifest parts (in parallel, each in a Lambda) → finalize; any failure → mark-failed.

The state, step by step:
- input: `{namespace_id, batch_id, attempt}` (what the API starts the execution with);
- prepare marks the batch IN_PROGRESS and writes its manifest to the blob store, one JSON part of at most
  PART_SIZE object ids per part and tier; it returns `{tiers: [{tier, parts: [{namespace_id, batch_id, attempt,
  tier, key}]}]}` (no object ids in the state, which Step Functions caps at 256 KB);
- extract runs one part (returns `{written}`);
- a tier whose extractors embed images is `heavy`: each of its parts is staged (`stage` writes the drafts to embed and
  returns `job_name`, `input_uri`, `output_uri` for a SageMaker Processing job running the clustering image's `extract`
  entrypoint), embedded by that job, then stored (`store` writes the documents with the job's vectors, `{written}`);
- finalize ends the batch and publishes its events;
- mark-failed receives the state with `error` ({Error, Cause}); the batch ends FAILED with that reason.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from openpeek.domain import batches as rules
from openpeek.domain.errors import DomainError
from openpeek.ports import BlobStore
from openpeek.repositories.batches import BatchRepository, extraction_job_key, manifest_key
from openpeek.services.ingestion import extraction_job
from openpeek.services.ingestion.runner import BatchRunner

PART_SIZE = rules.PART_SIZE  # object ids per Lambda invocation: well inside 15 minutes for text on Lambda's CPUs


class BatchSteps:
    def __init__(self, runner: BatchRunner, batches: BatchRepository, blobs: BlobStore,
                 job_prefix: str = "openpeek-") -> None:
        self._runner = runner
        self._batches = batches
        self._blobs = blobs
        self._job_prefix = job_prefix

    @staticmethod
    def _ids(event: dict[str, Any]) -> tuple[str, str, int]:
        return event["namespace_id"], event["batch_id"], int(event["attempt"])

    def prepare(self, event: dict[str, Any]) -> dict[str, Any]:
        namespace_id, batch_id, attempt = self._ids(event)
        try:
            batch = self._runner.begin(namespace_id, batch_id, attempt)
        except DomainError as error:
            self._runner.mark_failed(namespace_id, batch_id, attempt, error.message)
            return {"tiers": []}
        if batch is None:
            return {"tiers": []}
        tiers = []
        heavy = self._runner.heavy_tiers(batch)
        # A tier retry starts at its tier: what the tiers before it wrote stays.
        for tier in range(batch.current_tier or 0, len(batch.dag_tiers)):
            parts = []
            for number, first in enumerate(range(0, len(batch.work), PART_SIZE)):
                key = manifest_key(namespace_id, batch_id, attempt, tier, number)
                self._blobs.put(key, json.dumps(list(batch.work[first:first + PART_SIZE])).encode(),
                                "application/json")
                parts.append({"namespace_id": namespace_id, "batch_id": batch_id, "attempt": attempt,
                              "tier": tier, "key": key})
            tiers.append({"tier": tier, "heavy": heavy[tier], "parts": parts})
        return {"tiers": tiers}

    def extract(self, event: dict[str, Any]) -> dict[str, Any]:
        namespace_id, batch_id, attempt = self._ids(event)
        object_ids = json.loads(self._blobs.get(event["key"]))
        written = self._runner.run_part(namespace_id, batch_id, attempt, int(event["tier"]), object_ids,
                                        part=_part_number(event["key"]))
        return {"written": written}

    def stage(self, event: dict[str, Any]) -> dict[str, Any]:
        """A heavy tier's part: the drafts its extraction job embeds, written under the part's job prefix."""
        namespace_id, batch_id, attempt = self._ids(event)
        tier, part = int(event["tier"]), _part_number(event["key"])
        object_ids = json.loads(self._blobs.get(event["key"]))
        prefix = extraction_job_key(namespace_id, batch_id, attempt, tier, part)
        self._blobs.delete_prefix(prefix)  # what an earlier try of this step left
        collections = self._runner.tier_collections(namespace_id, batch_id, tier)
        self._blobs.put(f"{prefix}input/{extraction_job.JOB_FILE}", extraction_job.job_file(collections),
                        "application/json")
        drafts = 0
        for number, staged in enumerate(self._runner.stage_part(namespace_id, batch_id, attempt, tier, object_ids,
                                                                part)):
            self._blobs.put(f"{prefix}input/{extraction_job.drafts_file_name(number)}",
                            extraction_job.drafts_file(staged), "application/octet-stream")
            drafts += len(staged)
        return {"job_name": self._job_name(batch_id, attempt, tier, part), "job_key": prefix,
                "input_uri": self._blobs.uri(f"{prefix}input/"), "output_uri": self._blobs.uri(f"{prefix}output/"),
                "drafts": drafts}

    def store(self, event: dict[str, Any]) -> dict[str, Any]:
        """A heavy tier's part once its job has run: the documents written with the job's vectors."""
        namespace_id, batch_id, attempt = self._ids(event)
        output = f'{event["staged"]["job_key"]}output/'
        vector_files = [key for key in self._blobs.list(output) if key.rsplit("/", 1)[-1].startswith("vectors-")]
        completer = extraction_job.StagedVectors.read(
            [self._blobs.get(key) for key in sorted(vector_files)],
            self._blobs.get(f"{output}{extraction_job.FAILURES_FILE}"))
        object_ids = json.loads(self._blobs.get(event["key"]))
        written = self._runner.run_part(namespace_id, batch_id, attempt, int(event["tier"]), object_ids,
                                        completer=completer, part=_part_number(event["key"]))
        return {"written": written}

    def _job_name(self, batch_id: str, attempt: int, tier: int, part: int) -> str:
        """Unique per try (SageMaker never reuses a name), at most 63 of [a-zA-Z0-9-]."""
        batch = re.sub(r"[^A-Za-z0-9]", "", batch_id)[-20:]
        return f"{self._job_prefix}x-{batch}-{attempt}-{tier}-{part}-{secrets.token_hex(3)}"[:63]

    def finalize(self, event: dict[str, Any]) -> dict[str, Any]:
        namespace_id, batch_id, attempt = self._ids(event)
        batch = self._runner.conclude(namespace_id, batch_id, attempt)
        self._blobs.delete_prefix(manifest_key(namespace_id, batch_id, attempt))
        return {"status": None if batch is None else batch.status}

    def mark_failed(self, event: dict[str, Any]) -> dict[str, Any]:
        namespace_id, batch_id, attempt = self._ids(event)
        error = event.get("error") or {}
        cause = error.get("Cause") or ""
        try:  # a Lambda's failure arrives as JSON {errorMessage, errorType}
            parsed = json.loads(cause)
            cause = f"{parsed.get('errorType')}: {parsed.get('errorMessage')}"
        except (ValueError, AttributeError):
            pass
        reason = f"a processing step failed ({error.get('Error') or 'error'}): {cause}".strip()
        batch = self._runner.mark_failed(namespace_id, batch_id, attempt, reason[:1000])
        return {"status": None if batch is None else batch.status}


def _part_number(key: str) -> int:
    """part00012.json → 12 (the manifest key names its part)."""
    match = re.search(r"part(\d+)\.json$", key)
    if match is None:
        raise ValueError(f"{key} is not a manifest part")
    return int(match.group(1))
