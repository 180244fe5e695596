"""code_execution: run caller-supplied code over the documents. Caller code must never run in the API's own process,
so the stage runs only where a sandbox is configured (StageDependencies.sandbox, e.g. a Firecracker or gVisor
runner); this deployment configures none, and creating a retriever with it is a clear 400 saying so."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from openpeek.domain.stages.candidates import Candidate, with_value
from openpeek.services.stages.base import RunContext, Stage, StageParameters, invalid
from openpeek.services.stages.rag_prepare import view_of


class CodeExecutionParameters(StageParameters):
    code: str = Field(min_length=1)
    language: Literal["python"] = "python"
    output_field: str = "computed"
    result_variable: str = "result"
    timeout_ms: int = Field(default=5000, ge=100, le=30_000)
    max_output_size: int = Field(default=100_000, ge=1024, le=1_000_000)
    env: Optional[dict[str, str]] = None
    on_error: Optional[Literal["skip", "raise"]] = None


class CodeExecution(Stage):
    stage_id = "code_execution"
    category = "apply"
    icon = "code"
    description = "Runs Python code over the documents in an isolated sandbox and merges its results into them."
    Parameters = CodeExecutionParameters
    cost_tier = "expensive"
    needs = "a code sandbox (none is configured by default: caller code never runs in the API process)"

    def unavailable(self) -> str | None:
        if getattr(self.dependencies, "sandbox", None) is None:
            return ("code_execution needs a sandbox and none is configured in this deployment: caller code never runs "
                    "in the API's own process")
        return None

    def run(self, context: RunContext, parameters: CodeExecutionParameters,
            candidates: list[Candidate]) -> list[Candidate]:
        sandbox = getattr(self.dependencies, "sandbox", None)
        if sandbox is None:
            raise invalid(context.stage_name, self.stage_id, None, self.unavailable() or "", code="stage_unavailable")
        documents = [view_of(c) for c in candidates]
        try:
            results = sandbox.run(language=parameters.language, code=parameters.code, documents=documents,
                                  result_variable=parameters.result_variable, timeout_ms=parameters.timeout_ms,
                                  max_output_size=parameters.max_output_size, env=parameters.env or {})
            if not isinstance(results, list) or len(results) != len(candidates):
                raise ValueError(f"the code must leave a list of {len(candidates)} results in "
                                 f"'{parameters.result_variable}'")
        except ValueError as error:
            if parameters.on_error == "skip":
                context.warnings.append(f"code_execution '{context.stage_name}': {error}; documents unchanged")
                return candidates
            raise invalid(context.stage_name, self.stage_id, "code", str(error), code="code_failed") from None
        return [with_value(c, parameters.output_field, result) for c, result in zip(candidates, results)]


STAGE = CodeExecution
