"""json_transform: rewrite each document through a Jinja2 template that renders JSON, in Jinja2's immutable
sandbox (templates come from API callers: no attribute access to Python internals, no mutation)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from pydantic import Field

from openpeek.domain.documents import present
from openpeek.domain.errors import BadRequest
from openpeek.domain.stages.candidates import Candidate
from openpeek.domain.vectors import VectorPoint
from openpeek.services.stages.base import RunContext, Stage, StageParameters, invalid

MAX_RENDERED_CHARS = 1_000_000


class JsonTransformParameters(StageParameters):
    template: str = Field(min_length=1, max_length=65_536)
    fail_on_error: bool = False


@lru_cache(maxsize=1)
def _environment():
    # Imported here: only retrievers with this stage pay for Jinja2's import.
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    environment = ImmutableSandboxedEnvironment(autoescape=False)
    environment.policies["json.dumps_kwargs"] = {"sort_keys": False, "ensure_ascii": False, "default": str}
    return environment


@lru_cache(maxsize=256)
def _compiled(template: str):
    return _environment().from_string(template)


class JsonTransform(Stage):
    stage_id = "json_transform"
    category = "apply"
    icon = "braces"
    description = ("Rewrites each document with a Jinja2 template that renders JSON; the template sees DOC (the "
                   "document, score included), INPUT (the execution's inputs), CONTEXT (namespace_id) and STAGE "
                   "(stage_name). Rendered in Jinja2's sandbox. A document whose rendering fails is dropped (and "
                   "counted) unless fail_on_error makes the execution fail.")
    Parameters = JsonTransformParameters
    example = {"stage_name": "shape", "config": {"stage_id": "json_transform", "parameters": {
        "template": '{"title": {{ DOC.title | tojson }}, "score": {{ DOC.score }}}'}}}

    def check_rules(self, stage_name: str, parameters: JsonTransformParameters) -> None:
        from jinja2 import TemplateSyntaxError

        try:
            _compiled(parameters.template)
        except TemplateSyntaxError as error:
            raise invalid(stage_name, self.stage_id, "template", f"is not a valid template: {error.message} "
                          f"(line {error.lineno})") from None

    def run(self, context: RunContext, parameters: JsonTransformParameters,
            candidates: list[Candidate]) -> list[Candidate]:
        from jinja2 import TemplateError
        from jinja2.sandbox import SecurityError

        template = _compiled(parameters.template)
        scope: dict[str, Any] = {"context": {"namespace_id": context.namespace.namespace_id},
                                 "stage": {"stage_name": context.stage_name}, "input": context.inputs}
        scope.update({"CONTEXT": scope["context"], "STAGE": scope["stage"], "INPUT": context.inputs,
                      "inputs": context.inputs})
        transformed, failures = [], []
        for candidate in candidates:
            document = present(VectorPoint(candidate.document_id, {}, candidate.payload), with_vectors=False)
            document["score"] = candidate.score
            try:
                rendered = template.render(**scope, DOC=document, doc=document)
                if len(rendered) > MAX_RENDERED_CHARS:
                    raise ValueError(f"rendered more than {MAX_RENDERED_CHARS} characters")
                value = json.loads(rendered)
                if not isinstance(value, dict):
                    raise ValueError("the template must render a JSON object")
            except (TemplateError, SecurityError, ValueError, TypeError) as error:
                if parameters.fail_on_error:
                    raise BadRequest(f"stage '{context.stage_name}' (json_transform): document "
                                     f"'{candidate.document_id}': {error}", code="transform_failed",
                                     details={"stage": context.stage_name, "document_id": candidate.document_id})
                failures.append(candidate.document_id)
                continue
            transformed.append(Candidate(str(value.get("document_id") or candidate.document_id), candidate.score,
                                         value, candidate.vectors))
        if failures:
            context.metadata["failed_documents"] = failures[:100]
            context.warnings.append(f"json_transform '{context.stage_name}': {len(failures)} document(s) failed to "
                                    "render and were dropped")
        return transformed


STAGE = JsonTransform
