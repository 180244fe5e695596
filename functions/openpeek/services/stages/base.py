"""What every retriever stage is: one object with one job — check its parameters when a retriever is created or
patched, run on the working set at execution, and say what it did (its statistics metadata).

A stage declares its parameters as a pydantic model (the schema stage discovery shows, and the validation both at
creation and, after `{{INPUT.x}}` substitution, at execution). Values that are templates are only known at execution,
so a creation-time type error on such a field is not an error."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from openpeek.domain import retrievers as rules
from openpeek.domain.errors import BadRequest
from openpeek.domain.filters import Filter
from openpeek.domain.namespace import Namespace
from openpeek.domain.stages.candidates import Candidate

CATEGORIES = ("filter", "sort", "reduce", "apply", "enrich")


class StageParameters(BaseModel):
    """Base of every stage's parameter model: unknown keys are refused (a typo would otherwise be ignored)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def invalid(stage_name: str, stage_id: str, field_name: str | None, message: str, code: str = "invalid_stage_parameters",
            **details: Any) -> BadRequest:
    where = f"stage '{stage_name}' ({stage_id})" + (f" field '{field_name}'" if field_name else "")
    return BadRequest(f"{where}: {message}", code=code,
                      details={"stage": stage_name, "stage_id": stage_id, "field": field_name, **details})


@dataclass
class RunContext:
    """What a stage sees of the execution besides the working set."""

    namespace: Namespace
    stage_name: str
    inputs: dict[str, Any]
    request: dict[str, Any]
    ad_hoc: Filter | None = None
    return_vectors: bool = False
    fetch_vectors: bool = False  # a later stage (mmr, cluster) reads the documents' vectors
    access: Any = None  # the namespace's document authorization plan, when it enforces one
    search_index: str | None = None  # the vector index the last feature_search ranked on
    tiers: Any = None  # (CrossTierSearch, TierPlan) where the retriever reads cold collections (services/tiering)
    # The payload keys the later stages read (None: the whole payload); a search may fetch only these, and says so
    # in payload_projected (the returned page's payloads are then completed).
    payload_fields: frozenset[str] | None = None
    payload_projected: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)  # this stage's statistics metadata
    llm_calls: int = 0
    tokens_used: int = 0
    warnings: list[str] = field(default_factory=list)

    def query_text(self) -> str | None:
        """The execution's text query, for stages that compare documents with it (the input named `query`)."""
        value = self.inputs.get("query")
        return value if isinstance(value, str) else None


class Stage(ABC):
    stage_id: ClassVar[str]
    category: ClassVar[str]
    icon: ClassVar[str]
    description: ClassVar[str]
    Parameters: ClassVar[type[StageParameters]]
    cost_tier: ClassVar[str] = "cheap"
    requires_collections: ClassVar[bool] = True
    needs: ClassVar[str | None] = None  # the external service it needs, for the catalogue ("an LLM provider", ...)
    example: ClassVar[dict[str, Any] | None] = None
    use_cases: ClassVar[tuple[str, ...]] = ()

    def __init__(self, dependencies: Any) -> None:
        self.dependencies = dependencies  # registry.StageDependencies

    # -- definition time ---------------------------------------------------------------------------------------

    def unavailable(self) -> str | None:
        """Why this deployment cannot run the stage (no model, no provider key, no sandbox), or None."""
        return None

    def check(self, namespace: Namespace, stage_name: str, parameters: dict[str, Any]) -> dict[str, Any]:
        """Parameters as stored; 400 naming the stage and the field on any problem."""
        reason = self.unavailable()
        if reason:
            raise invalid(stage_name, self.stage_id, None, reason, code="stage_unavailable")
        templated = {key for key, value in parameters.items() if rules.has_placeholders(value)}
        try:
            parsed = self.Parameters.model_validate(parameters)
        except ValidationError as error:
            for problem in error.errors():
                location = problem.get("loc") or ()
                if location and location[0] in templated:
                    continue
                raise self._validation_error(stage_name, problem) from None
            parsed = None
        if parsed is not None:
            self.check_rules(stage_name, parsed)
            self.check_references(namespace, stage_name, parsed)
        return parameters

    def check_rules(self, stage_name: str, parameters: Any) -> None:
        """Rules beyond the types that hold whatever the namespace: two fields that go together, an alias used twice.
        Checked at creation and again at execution (templates may have filled the values)."""

    def check_references(self, namespace: Namespace, stage_name: str, parameters: Any) -> None:
        """Rules against the namespace, checked at creation: a feature URI it lacks, a provider without a key."""

    def parse(self, stage_name: str, parameters: dict[str, Any]) -> Any:
        """The substituted parameters, validated (a template may have brought a value of the wrong type)."""
        try:
            parsed = self.Parameters.model_validate(parameters)
        except ValidationError as error:
            raise self._validation_error(stage_name, error.errors()[0]) from None
        self.check_rules(stage_name, parsed)
        return parsed

    def _validation_error(self, stage_name: str, problem: dict[str, Any]) -> BadRequest:
        location = ".".join(str(part) for part in problem.get("loc") or ())
        message = problem.get("msg") or "invalid value"
        if problem.get("type") == "extra_forbidden":
            known = ", ".join(sorted(self.parameter_names()))
            message = f"is not a parameter of {self.stage_id} (it takes {known})"
        return invalid(stage_name, self.stage_id, location or None, message)

    def parameter_names(self) -> list[str]:
        return [info.alias or name for name, info in self.Parameters.model_fields.items()]

    def parameter_schema(self) -> dict[str, Any]:
        return self.Parameters.model_json_schema(by_alias=True)

    def reads_vectors(self, parameters: dict[str, Any]) -> bool:
        """Whether the stage needs the documents' vectors (so the search fetches them)."""
        return False

    def payload_fields(self, parameters: dict[str, Any]) -> frozenset[str] | None:
        """The top-level payload keys the stage reads from the documents it is given, from its stored (unsubstituted)
        parameters; None, the default, for the whole payload. A search before it then fetches only what every later
        stage reads (domain/stages/projection.py)."""
        return None

    def stored_parameters(self, parameters: dict[str, Any]) -> Any:
        """The stored parameters as the stage's model, or None where a template leaves a value unknown until
        execution (what a stage reads is then not known either)."""
        if rules.has_placeholders(parameters):
            return None
        try:
            return self.Parameters.model_validate(parameters)
        except ValidationError:
            return None

    def stage_type(self) -> str:
        return self.category

    # -- execution ---------------------------------------------------------------------------------------------

    @abstractmethod
    def run(self, context: RunContext, parameters: Any, candidates: list[Candidate]) -> list[Candidate]:
        """The working set after this stage."""

    # -- the catalogue -----------------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        """The SDK's StageDiscovery (a superset of RetrieverStageDefinition)."""
        description = self.description
        if self.needs:
            description += f" Needs {self.needs}."
        reason = self.unavailable()
        if reason:
            description += f" Not available in this deployment: {reason}"
        return {
            "stage_id": self.stage_id, "description": description, "category": self.category, "icon": self.icon,
            "parameter_schema": self.parameter_schema(), "example_config": self.example,
            "common_use_cases": list(self.use_cases), "cost_tier": self.cost_tier,
            "requires_collections": self.requires_collections,
        }
