"""A manifest written by a language model from a description (`POST /v1/manifest/generate`), as Mixpeek's is: the
model is given the manifest format and this deployment's live extractor and retriever-stage catalogues, its answer is
checked with the rules of POST /v1/manifest/validate, and when they find errors the model is shown them and asked to
repair its answer, up to REPAIR_ROUNDS times. Nothing is applied: the caller reviews the manifest, then applies it.

The model is the first provider this deployment has a key for (OpenAI, Anthropic, Google, in that order), on the
model the LLM stages default to. Without any key the route is refused with a 400 saying which settings enable it, as
an LLM stage without its provider's key is refused; a provider that fails or does not answer is a 503."""

from __future__ import annotations

import json
from typing import Any, Callable

from openpeek.domain.collections import feature_uri
from openpeek.domain.errors import BadRequest
from openpeek.ports import LlmClient
from openpeek.services.collections.collections import CollectionService
from openpeek.services.manifests import ManifestService, render
from openpeek.services.organizations import Principal

REPAIR_ROUNDS = 2
PROVIDER_ORDER = ("openai", "anthropic", "google")
MODELS = {"openai": "gpt-4o-mini", "google": "gemini-2.5-flash-lite", "anthropic": "claude-haiku-4-5"}
DEFAULT_NAME = "generated"
_SCHEMA = {"type": "object", "properties": {"manifest": {"type": "object"}}, "required": ["manifest"]}
_FORMAT = """A manifest is one JSON object:
{"version": 1,
 "namespace": {"namespace_name": str, "description": str, "feature_extractors": [{"feature_extractor_name": str,
               "version": str}], "payload_indexes": [{"field_name": str, "type": "keyword|integer|float|bool|geo|
               datetime|text|uuid"}]},
 "buckets": [{"bucket_name": str, "description": str, "bucket_schema": {"properties": {field: {"type": "text|string|
             integer|float|boolean|image|pdf|..."}}}}],
 "collections": [{"collection_name": str, "description": str, "source": {"type": "bucket", "bucket_ids":
                 [bucket_name]}, "feature_extractor": {"feature_extractor_name": str, "version": str,
                 "input_mappings": {extractor_input: bucket_field}}}],
 "retrievers": [{"retriever_name": str, "description": str, "collection_identifiers": [collection_name],
                 "input_schema": {input: {"type": "string|integer|number|boolean|array|object", "required": bool}},
                 "stages": [{"stage_name": str, "stage_type": "filter|sort|reduce|apply|enrich",
                             "config": {"stage_id": str, "parameters": {...}}}]}]}
Stage parameters follow each stage's parameter schema below. A feature_search stage searches feature URIs that the
namespace's extractors produce (the extractor catalogue lists them); text queries use {"input_mode": "text", "value":
"{{INPUT.query}}"} and every {{INPUT.x}} must be declared in input_schema. Use only extractors and stages listed
below, with exactly these names and versions."""


class ManifestGenerator:
    def __init__(self, manifests: ManifestService, clients: dict[str, LlmClient], collections: CollectionService,
                 stage_catalogue: Callable[[], list[dict[str, Any]]]) -> None:
        self._manifests = manifests
        self._clients = clients
        self._collections = collections
        self._stages = stage_catalogue

    def _extractors(self) -> list[dict[str, Any]]:
        """The extractors this deployment can run: names, inputs and the feature URIs their vectors are searched by."""
        return [{"feature_extractor_name": entry.spec.name, "version": entry.spec.version,
                 "description": entry.spec.description, "inputs": [item.name for item in entry.spec.inputs],
                 "outputs": dict(entry.spec.outputs),
                 "feature_uris": [feature_uri(entry.spec.name, entry.spec.version, vector.output)
                                  for vector in entry.spec.vectors]}
                for entry in self._collections.catalogue() if entry.available]

    def generate(self, principal: Principal, description: str, manifest_name: str | None, *,
                 shape: Callable[[dict[str, Any]], list[str]]) -> dict[str, Any]:
        """`shape`: the manifest's shape errors (the API's manifest models), checked before validation reads it."""
        provider, client = self._client()
        model = MODELS[provider]
        name = manifest_name or DEFAULT_NAME
        prompt = self._prompt(description, name)
        manifest: dict[str, Any] = {}
        errors: list[str] = []
        warnings: list[str] = []
        rounds = 0
        while True:
            manifest = self._named(client.complete_json(prompt, model=model, schema=_SCHEMA), name)
            errors = shape(manifest)
            if not errors:
                checked = self._manifests.validate(principal, self._target(principal, manifest), manifest)
                errors, warnings = list(checked["errors"]), list(checked["warnings"])
            if not errors or rounds == REPAIR_ROUNDS:
                break
            rounds += 1
            prompt = self._repair_prompt(description, name, manifest, errors)
        body, _ = render(manifest, "yaml")
        return {"manifest": body, "format": "yaml", "manifest_name": name, "description": description,
                "validation": {"valid": not errors, "errors": errors, "warnings": warnings}, "repair_rounds": rounds,
                "provider": provider, "model": model}

    def _client(self) -> tuple[str, LlmClient]:
        for provider in PROVIDER_ORDER:
            client = self._clients.get(provider)
            if client is not None and client.usable:
                return provider, client
        raise BadRequest("generating a manifest needs a language model, and this deployment has no key for "
                               "one: set OPENPEEK_OPENAI_API_KEY, OPENPEEK_ANTHROPIC_API_KEY or "
                               "OPENPEEK_GOOGLE_API_KEY", code="llm_not_configured")

    def _target(self, principal: Principal, manifest: dict[str, Any]) -> Any:
        return self._manifests.target(principal, None, manifest)

    @staticmethod
    def _named(answer: Any, name: str) -> dict[str, Any]:
        """The model's manifest, its namespace named as the caller asked (the model may forget or rename it)."""
        manifest = answer.get("manifest") if isinstance(answer, dict) and isinstance(answer.get("manifest"), dict) \
            else answer
        if not isinstance(manifest, dict):
            manifest = {}
        manifest = {"version": 1, **manifest}
        section = manifest.get("namespace") if isinstance(manifest.get("namespace"), dict) else {}
        manifest["namespace"] = {**section, "namespace_name": name}
        manifest["namespace"].pop("namespace_id", None)
        return manifest

    def _catalogues(self) -> str:
        extractors = self._extractors()
        stages = [{"stage_id": stage["stage_id"], "description": stage["description"],
                   "parameter_schema": stage["parameter_schema"]} for stage in self._stages()]
        return (f"Feature extractors of this deployment:\n{json.dumps(extractors, default=str)}\n\n"
                f"Retriever stages of this deployment:\n{json.dumps(stages, default=str)}")

    def _prompt(self, description: str, name: str) -> str:
        return (f"Write a Mixpeek manifest for this request.\n\nRequest: {description}\n\nName the namespace "
                f"'{name}'.\n\n{_FORMAT}\n\n{self._catalogues()}\n\nAnswer with JSON only: {{\"manifest\": {{...}}}}")

    def _repair_prompt(self, description: str, name: str, manifest: dict[str, Any], errors: list[str]) -> str:
        listed = "\n".join(f"- {error}" for error in errors[:20])
        return (f"{self._prompt(description, name)}\n\nYour previous manifest was:\n{json.dumps(manifest)}\n\n"
                f"Validation found these errors; answer with a corrected manifest:\n{listed}")
