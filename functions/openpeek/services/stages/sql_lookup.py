"""sql_lookup: enrich each document with rows of a SQL SELECT, or (with no documents yet) make documents of the rows.

Only databases the operator configured are reachable (`connection_id` names one; embedded: a SQLite file opened
read-only, OPENPEEK_SQL_LOOKUP_CONNECTIONS); anything else is refused at creation. The statement must be one SELECT;
values — `{{DOC.x}}`, `{{INPUT.x}}` or literals — are always bound as parameters ($1 for the first of `parameters`,
$name / :name by name), never put into the SQL text. Identical lookups run once per execution."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field

from openpeek.domain import filters as filter_rules
from openpeek.domain.errors import DependencyFailed
from openpeek.domain.stages import context as text
from openpeek.domain.stages import sql as statements
from openpeek.domain.stages.candidates import Candidate, synthetic, with_value
from openpeek.domain.failures import DependencyUnavailable
from openpeek.services.stages import outcomes as outcomes_rules
from openpeek.services.stages.base import RunContext, Stage, StageParameters, invalid
from openpeek.services.stages.llm_filter import renderer
from openpeek.services.stages.rag_prepare import view_of

SETTING = "OPENPEEK_SQL_LOOKUP_CONNECTIONS"


class SqlLookupParameters(StageParameters):
    connection_id: str = Field(min_length=1, max_length=128)
    query: str = Field(min_length=1, max_length=20_000)
    parameters: Optional[dict[str, Any]] = None
    output_field: str = Field(default="sql_result", min_length=1)
    result_handling: Literal["first", "all", "error_if_empty", "error_if_multiple"] = "first"
    on_no_results: Literal["skip", "null", "error"] = "null"
    timeout: int = Field(default=30, ge=1, le=300)
    max_rows: int = Field(default=100, ge=1, le=10_000)
    when: Optional[dict[str, Any]] = None
    on_error: Literal["skip", "remove", "raise"] = "skip"


class _NoRows(Exception):
    pass


def _bound(value: Any, lookup) -> Any:
    """A parameter's value: a lone placeholder keeps the value's type; other templates render as text."""
    if isinstance(value, str):
        found = text.placeholders(value)
        if len(found) == 1 and text.PLACEHOLDER.fullmatch(value.strip()):
            return lookup(*found[0])
        return text.render(value, lookup) if found else value
    return value


class SqlLookup(Stage):
    stage_id = "sql_lookup"
    category = "apply"
    icon = "database"
    description = ("Runs one parameterised SQL SELECT per document on a configured connection and stores the first "
                   "row (or all rows) at output_field; with no documents yet, the rows become documents. Values are "
                   "bound as parameters ($1 is the first of `parameters`, $name / :name by name), never put into "
                   "the SQL. Read-only; on_error: skip (keep the document), remove, or raise.")
    Parameters = SqlLookupParameters
    cost_tier = "moderate"
    needs = f"a database connection configured by the operator ({SETTING}: SQLite files, read-only)"

    def _connections(self):
        return getattr(self.dependencies, "sql", None)

    def check_rules(self, stage_name: str, parameters: SqlLookupParameters) -> None:
        if "{{" in parameters.query:
            raise invalid(stage_name, self.stage_id, "query", "may not contain templates: put {{DOC.x}} / "
                          "{{INPUT.x}} in parameters, which are bound, never spliced into the SQL")
        problem = statements.statement_problem(parameters.query)
        if problem:
            raise invalid(stage_name, self.stage_id, "query", problem)
        given = list(parameters.parameters or {})
        for name in statements.parameter_names(parameters.query):
            known = name in given if not name.isdigit() else 1 <= int(name) <= len(given)
            if not known:
                raise invalid(stage_name, self.stage_id, "parameters",
                              f"the query binds '{name}' but parameters does not give it")
        filter_rules.parse_filter(parameters.when)

    def check_references(self, namespace, stage_name: str, parameters: SqlLookupParameters) -> None:
        connections = self._connections()
        if connections is None or not connections.has(parameters.connection_id):
            configured = ", ".join(connections.names()) if connections is not None else ""
            raise invalid(stage_name, self.stage_id, "connection_id",
                          f"no database connection '{parameters.connection_id}' is configured (set {SETTING}"
                          + (f"; configured: {configured})" if configured else ")"),
                          code="connection_not_configured", setting=SETTING)

    def run(self, context: RunContext, parameters: SqlLookupParameters, candidates: list[Candidate]) -> list[Candidate]:
        connections = self._connections()
        if connections is None or not connections.has(parameters.connection_id):
            self.check_references(context.namespace, context.stage_name, parameters)
        if not candidates:
            return self._as_documents(context, parameters)
        condition = filter_rules.parse_filter(parameters.when)
        chosen = [i for i, c in enumerate(candidates)
                  if condition is None or filter_rules.matches(condition, c.payload, c.document_id)]
        answers: dict[str, tuple[bool, Any]] = {}
        results = list(candidates)
        removed, failures, queries = set(), [], 0
        for index in chosen:
            binding = self._binding(context, parameters, candidates[index])
            key = repr(sorted(binding.items()))
            if key not in answers:
                queries += 1
                answers[key] = self._lookup(parameters, binding)
            ok, value = answers[key]
            if ok:
                results[index] = with_value(candidates[index], parameters.output_field, value)
            elif isinstance(value, _NoRows):
                continue
            else:
                failures.append(value)
                if parameters.on_error == "remove":
                    removed.add(index)
        outcomes_rules.report_failures(context, "sql_lookup", "lookups", on_error=parameters.on_error,
                                       failures=failures, attempted=len(chosen))
        context.metadata.update({"lookups": len(chosen), "queries": queries, "failed": len(failures)})
        return [c for i, c in enumerate(results) if i not in removed]

    def _binding(self, context: RunContext, parameters: SqlLookupParameters,
                 candidate: Candidate | None) -> dict[str, Any]:
        lookup = renderer(context, view_of(candidate) if candidate is not None else None)
        binding: dict[str, Any] = {}
        for position, (name, value) in enumerate((parameters.parameters or {}).items(), start=1):
            bound = _bound(value, lookup)
            if bound is not None and not isinstance(bound, (str, int, float, bytes)):
                bound = text.as_text(bound)
            binding[name] = binding[str(position)] = bound
        return binding

    def _lookup(self, parameters: SqlLookupParameters, binding: dict[str, Any]) -> tuple[bool, Any]:
        try:
            rows = self._connections().select(parameters.connection_id, parameters.query, binding,
                                              timeout_s=parameters.timeout, max_rows=parameters.max_rows)
        except DependencyUnavailable as error:
            return False, str(error)
        handling = parameters.result_handling
        if not rows:
            if handling == "error_if_empty" or parameters.on_no_results == "error":
                return False, "the query returned no rows"
            return (False, _NoRows()) if parameters.on_no_results == "skip" else (True, None)
        if handling == "error_if_multiple" and len(rows) > 1:
            return False, "the query returned more than one row"
        return True, rows[: parameters.max_rows] if handling == "all" else rows[0]

    def _as_documents(self, context: RunContext, parameters: SqlLookupParameters) -> list[Candidate]:
        try:
            rows = self._connections().select(parameters.connection_id, parameters.query,
                                              self._binding(context, parameters, None),
                                              timeout_s=parameters.timeout, max_rows=parameters.max_rows)
        except DependencyUnavailable as error:
            if parameters.on_error == "raise":
                raise DependencyFailed(f"stage '{context.stage_name}' (sql_lookup): {error}",
                                       code="sql_lookup_failed", details={"stage": context.stage_name}) from None
            context.warnings.append(f"sql_lookup '{context.stage_name}': {error}")
            return []
        context.metadata.update({"lookups": 1, "queries": 1, "rows": min(len(rows), parameters.max_rows)})
        return [synthetic(f"sql:{parameters.connection_id}:{i}", 1.0, dict(row))
                for i, row in enumerate(rows[: parameters.max_rows])]


STAGE = SqlLookup
