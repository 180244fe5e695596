"""Schemathesis against the live server's own OpenAPI document (/openapi.json): for every operation it generates
requests that fit the schema and requests that break it, half of them carrying the real ids of resources the
mutation fuzzer's `seed` created (path parameters and X-Namespace given explicitly), half with generated ids. The
rules it checks: no answer is a 5xx (schemathesis' `not_a_server_error`), every answer's status is one the operation
declares (`status_code_conformance`: 200, FastAPI's 422, and the error envelope's 4XX) and the server answers health
after every case.

Run by tests/fuzz/test_schemathesis_fuzz.py (a bounded run in the suite) and by `make fuzz` (a long run):
    python -m tests.fuzz.schema_fuzz --cases 3000 [--seed N] [--base http://127.0.0.1:PORT --key sk_...]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from dataclasses import dataclass, field

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed as hypothesis_seed, settings, strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import status_code_conformance

from .mutation import NAMESPACE, seed


@dataclass
class SchemaReport:
    cases: int = 0
    operations: int = 0
    server_errors: list[str] = field(default_factory=list)
    health_failures: list[str] = field(default_factory=list)
    # "METHOD path -> status" of answers whose status the operation does not declare, counted per kind.
    undeclared_statuses: dict[str, int] = field(default_factory=dict)
    by_status: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        undeclared = sum(self.undeclared_statuses.values())
        return (f"{self.cases} schemathesis cases over {self.operations} operations in {self.seconds:.1f} s: "
                f"{len(self.server_errors)} 5xx, {len(self.health_failures)} health failures, {undeclared} answers "
                f"with a status the schema does not declare; statuses {dict(sorted(self.by_status.items()))}")


def seeded_path_parameters(path: str, parameters: list[str], ids: dict[str, str]) -> dict[str, str]:
    """The seeded id for each path parameter an operation has, chosen by the parameter's name and where it sits."""
    def pick(name: str) -> str | None:
        if name in ("namespace_identifier", "namespace_id"):
            return ids["namespace"]
        if name == "collection_identifier":
            return ids["collection"]
        if name == "document_id":
            return ids["document"] if path.startswith("/v1/namespaces/") else ids["collection_document"]
        if name == "feature_extractor_id":
            return "text_extractor_v1"
        if name == "retriever_id":
            return ids["retriever"]
        if name == "execution_id":
            return ids["adhoc_execution"] if path.startswith("/v1/retrievers/executions/") else ids["execution"]
        if name == "identifier":
            return ids["org_webhook"] if path.startswith("/v1/organizations/") else ids["webhook"]
        if name == "token":
            return ids["download_token"] if path.startswith("/v1/blobs/") else ids["upload_token"]
        return ids.get({"cluster_id": "cluster", "run_id": "run", "task_id": "task", "bucket_identifier": "bucket",
                        "object_identifier": "object", "upload_id": "upload", "batch_id": "batch"}.get(name, ""))

    chosen = {name: pick(name) for name in parameters}
    return {name: value for name, value in chosen.items() if value is not None}


def _path_parameter_names(operation) -> list[str]:
    return re.findall(r"\{([^}]+)\}", operation.path)


def _strategy(operation, ids: dict[str, str]):
    """Cases that fit the schema and cases that break it, with the seeded ids and X-Namespace or without."""
    names = _path_parameter_names(operation)
    real = seeded_path_parameters(operation.path, names, ids)
    if operation.method.upper() == "DELETE" and names:
        # Deleting a seeded resource would leave the rest of the run against nothing: the last id (the target) stays
        # generated; its parents are real.
        real.pop(names[-1], None)
    seeded = [operation.as_strategy(generation_mode=mode, path_parameters=real or None,
                                    headers={"X-Namespace": NAMESPACE})
              for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    generated = [operation.as_strategy(generation_mode=mode)
                 for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    # The seeded ones first: Hypothesis starts from the first branch, and a case with real ids reaches past the
    # lookups into the code that works on the resource.
    return st.one_of(seeded + generated)


def _label(case) -> str:
    return f"{case.operation.method.upper()} {case.formatted_path}"


def run(base: str, key: str, cases: int, seed_value: int = 0, ids: dict[str, str] | None = None) -> SchemaReport:
    """About `cases` cases spread evenly over the operations (at least one each)."""
    if ids is None:
        ids = seed(base, key, random.Random(seed_value))
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    per_operation = max(1, round(cases / len(operations)))
    report = SchemaReport(operations=len(operations))
    session = requests.Session()
    auth = {"Authorization": f"Bearer {key}"}
    started = time.monotonic()

    def exercise(case) -> None:
        report.cases += 1
        try:
            response = case.call(base_url=base, session=session, headers=auth, timeout=60)
        except requests.RequestException as error:
            report.server_errors.append(f"{_label(case)}: no answer ({error!r})")
            return
        report.by_status[response.status_code] = report.by_status.get(response.status_code, 0) + 1
        try:
            case.validate_response(response, checks=[not_a_server_error], headers=auth)
        except (Failure, FailureGroup) as failure:
            report.server_errors.append(f"{_label(case)} -> {response.status_code}: {failure}")
        try:
            case.validate_response(response, checks=[status_code_conformance], headers=auth)
        except (Failure, FailureGroup):
            kind = f"{case.operation.method.upper()} {case.operation.path} -> {response.status_code}"
            report.undeclared_statuses[kind] = report.undeclared_statuses.get(kind, 0) + 1
        try:
            health = session.get(f"{base}/v1/health", timeout=10).status_code
        except requests.RequestException as error:
            report.health_failures.append(f"{_label(case)}: health did not answer ({error!r})")
            return
        if health != 200:
            report.health_failures.append(f"{_label(case)}: health answered {health}")

    try:
        for operation in operations:
            strategy = _strategy(operation, ids)

            # Findings are recorded, not raised: shrinking would spend the run on one finding.
            @hypothesis_seed(seed_value)
            @settings(max_examples=per_operation, deadline=None, database=None, derandomize=False,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def one_operation(case) -> None:
                exercise(case)

            one_operation()
    finally:
        session.close()
        report.seconds = time.monotonic() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--base", help="a running server; without it one is started on a free port")
    parser.add_argument("--key")
    args = parser.parse_args(argv)
    if args.base:
        report = run(args.base, args.key, args.cases, args.seed)
    else:
        from tests.live_server import live_server

        from .conftest import FUZZ_SERVER_ENV

        with live_server(env=FUZZ_SERVER_ENV) as (base, key, _):
            report = run(base, key, args.cases, args.seed)
    print(report.summary())
    for finding in (report.server_errors + report.health_failures)[:100]:
        print("  " + finding)
    by_status: dict[str, int] = {}
    for kind, count in report.undeclared_statuses.items():
        status = kind.rsplit(" ", 1)[-1]
        by_status[status] = by_status.get(status, 0) + count
    print(f"undeclared statuses: {dict(sorted(by_status.items()))} over "
          f"{len({kind.rsplit(' -> ', 1)[0] for kind in report.undeclared_statuses})} operations")
    print("undeclared statuses by operation:")
    for kind, count in sorted(report.undeclared_statuses.items(), key=lambda item: -item[1])[:60]:
        print(f"  {count:5d}  {kind}")
    return 1 if report.server_errors or report.health_failures or report.undeclared_statuses else 0


if __name__ == "__main__":
    sys.exit(main())
