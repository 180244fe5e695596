"""Best-practice rules for a manifest (`POST /v1/manifest/lint`), beyond what validation refuses: each finding has a
rule code, a severity (warning: should be fixed; info: a suggestion), where it is (`retrievers[0].stages[2]`), what
to do and, where it helps, an example. Pure: the manifest dict in, findings out; the rules read only the manifest.

Three rules of the SDK's list are not here: taxonomies (TAXONOMY_INPUT_NOT_WRITTEN) do not exist in openpeek; a
feature URI the namespace does not have (RETRIEVER_FEATURE_NOT_IN_COLLECTIONS) is refused by validation, so it is an
error already; and a stage's secret (MISSING_SECRET) is read from the organisation's secrets when the stage runs."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any, Iterator

ERROR, WARNING, INFO = "error", "warning", "info"
RULES = {
    "UNUSED_EXTRACTOR": "a namespace feature extractor no collection of the manifest uses",
    "UNUSED_COLLECTION": "a collection no retriever of the manifest reads",
    "UNUSED_BUCKET": "a bucket no collection of the manifest reads",
    "MISSING_INPUT_SCHEMA": "a retriever whose stages use {{INPUT.x}} that its input_schema does not declare",
    "SUBOPTIMAL_STAGE_ORDER": "a filter stage after an expensive stage",
    "DUPLICATE_FEATURE_URI": "one feature URI searched more than once by a retriever",
    "MISSING_DESCRIPTION": "a resource without a description",
    "NO_SEARCH_STAGE": "a retriever without a feature_search stage",
    "EXTRACTOR_NOT_IN_NAMESPACE": "a collection whose extractor the namespace section does not list",
}
# Stages that call a model or another service per document: a cheap filter belongs before them.
EXPENSIVE_STAGES = frozenset({"llm_filter", "llm_enrich", "summarize", "rerank", "api_call", "web_scrape",
                              "external_web_search", "sql_lookup", "cluster", "code_execution", "document_enrich"})
FILTER_STAGES = frozenset({"attribute_filter"})
_INPUT = re.compile(r"\{\{\s*INPUT\.([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    message: str
    location: str
    suggestion: str
    fix_example: str | None = None

    def public(self) -> dict[str, Any]:
        return asdict(self)


def lint(manifest: Any) -> list[Finding]:
    """Every finding of every rule, in manifest order (namespace, buckets, collections, retrievers, clusters). The
    manifest may be any shape (lint runs beside validation, which reports the shape): a value of the wrong type is
    skipped, never an error."""
    if not isinstance(manifest, dict):
        return []
    return [*_descriptions(manifest), *_extractors(manifest), *_buckets(manifest), *_collections(manifest),
            *_retrievers(manifest)]


def _text(value: Any) -> str | None:
    """A name as the rules compare it: the string, or None for any other type."""
    return value if isinstance(value, str) else None


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _entries(manifest: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    entries = manifest.get(key)
    return [(i, e) for i, e in enumerate(entries) if isinstance(e, dict)] if isinstance(entries, list) else []


def _namespace(manifest: dict[str, Any]) -> dict[str, Any]:
    section = manifest.get("namespace")
    return section if isinstance(section, dict) else {}


def _descriptions(manifest: dict[str, Any]) -> Iterator[Finding]:
    if isinstance(manifest.get("namespace"), dict) and not _namespace(manifest).get("description"):
        yield Finding("MISSING_DESCRIPTION", INFO, "the namespace has no description", "namespace",
                      "Say what the namespace holds and who uses it", "namespace:\n  description: ...")
    for key, name_key in (("buckets", "bucket_name"), ("collections", "collection_name"),
                          ("retrievers", "retriever_name"), ("clusters", "cluster_name")):
        for index, entry in _entries(manifest, key):
            if not entry.get("description"):
                kind = key[:-1]
                yield Finding("MISSING_DESCRIPTION", INFO, f"{kind} '{entry.get(name_key)}' has no description",
                              f"{key}[{index}]", f"Add a description saying what the {kind} is for")


def _extractor_name(entry: dict[str, Any]) -> str | None:
    extractor = entry.get("feature_extractor")
    return _text(extractor.get("feature_extractor_name")) if isinstance(extractor, dict) else None


def _extractors(manifest: dict[str, Any]) -> Iterator[Finding]:
    declared = _namespace(manifest).get("feature_extractors")
    declared = [e for e in declared if isinstance(e, dict)] if isinstance(declared, list) else []
    if "collections" in manifest:
        used = {_extractor_name(entry) for _, entry in _entries(manifest, "collections")}
        for index, extractor in enumerate(declared):
            name = _text(extractor.get("feature_extractor_name"))
            if name not in used:
                yield Finding("UNUSED_EXTRACTOR", WARNING,
                              f"feature extractor '{name}' of the namespace is not used by any collection",
                              f"namespace.feature_extractors[{index}]",
                              "Remove the unused extractor or add a collection that uses it",
                              f"collections:\n  - collection_name: ...\n    feature_extractor:\n"
                              f"      feature_extractor_name: {name}")
    if declared:
        names = {_text(e.get("feature_extractor_name")) for e in declared}
        for index, entry in _entries(manifest, "collections"):
            name = _extractor_name(entry)
            if name and name not in names:
                yield Finding("EXTRACTOR_NOT_IN_NAMESPACE", INFO,
                              f"collection '{entry.get('collection_name')}' uses extractor '{name}', which "
                              "namespace.feature_extractors does not list (apply adds it when the collection is made)",
                              f"collections[{index}].feature_extractor",
                              "List the extractor in namespace.feature_extractors, so the manifest says what the "
                              "namespace carries")


def _buckets(manifest: dict[str, Any]) -> Iterator[Finding]:
    if "collections" not in manifest:
        return  # the namespace's own collections may read them
    read: set[str] = set()
    for _, entry in _entries(manifest, "collections"):
        source = entry.get("source") if isinstance(entry.get("source"), dict) else {}
        read.update(str(b) for b in _listed(source.get("bucket_ids")))
    for index, bucket in _entries(manifest, "buckets"):
        if _text(bucket.get("bucket_name")) not in read:
            yield Finding("UNUSED_BUCKET", WARNING, f"no collection reads bucket '{bucket.get('bucket_name')}'",
                          f"buckets[{index}]", "Add a collection whose source is this bucket, or remove the bucket",
                          f"collections:\n  - collection_name: ...\n    source:\n      type: bucket\n"
                          f"      bucket_ids: [{bucket.get('bucket_name')}]")


def _collections(manifest: dict[str, Any]) -> Iterator[Finding]:
    retrievers = [entry for _, entry in _entries(manifest, "retrievers")]
    # A retriever that names no collections searches the whole namespace: then every collection is read.
    if not retrievers or any(not entry.get("collection_identifiers") for entry in retrievers):
        return
    named = {str(name) for entry in retrievers for name in _listed(entry.get("collection_identifiers"))}
    downstream = {str((entry.get("source") or {}).get("collection_id")) for _, entry in
                  _entries(manifest, "collections") if isinstance(entry.get("source"), dict)}
    for index, collection in _entries(manifest, "collections"):
        name = _text(collection.get("collection_name"))
        if name not in named and name not in downstream:
            yield Finding("UNUSED_COLLECTION", INFO, f"no retriever reads collection '{name}'",
                          f"collections[{index}]", "Name it in a retriever's collection_identifiers, or remove it")


def _stage_id(stage: Any) -> str | None:
    """The stage's id where it is a string; lint reads manifests validation has not shaped, so anything else is
    None (validation reports it)."""
    if not isinstance(stage, dict):
        return None
    config = stage.get("config")
    found = (config.get("stage_id") if isinstance(config, dict) else None) or stage.get("stage_id")
    return found if isinstance(found, str) else None


def _searches(stage: Any) -> list[dict[str, Any]]:
    config = stage.get("config") if isinstance(stage, dict) else None
    parameters = config.get("parameters") if isinstance(config, dict) else None
    searches = parameters.get("searches") if isinstance(parameters, dict) else None
    return [s for s in searches if isinstance(s, dict)] if isinstance(searches, list) else []


def _retrievers(manifest: dict[str, Any]) -> Iterator[Finding]:
    for index, retriever in _entries(manifest, "retrievers"):
        name, place = retriever.get("retriever_name"), f"retrievers[{index}]"
        stages = retriever.get("stages") if isinstance(retriever.get("stages"), list) else []
        used = sorted(set(_INPUT.findall(json.dumps(stages))))
        schema = retriever.get("input_schema") if isinstance(retriever.get("input_schema"), dict) else {}
        undeclared = [field for field in used if field not in schema]
        if undeclared:
            yield Finding("MISSING_INPUT_SCHEMA", WARNING,
                          f"retriever '{name}' uses {', '.join('{{INPUT.' + f + '}}' for f in undeclared)} but its "
                          "input_schema does not declare " + ("them" if len(undeclared) > 1 else "it"),
                          f"{place}.input_schema", "Declare every input the stages use, so callers are told what to "
                                                   "send and a missing one is refused",
                          "input_schema:\n" + "".join(f"  {f}:\n    type: string\n    required: true\n"
                                                      for f in undeclared))
        ids = [_stage_id(stage) for stage in stages]
        if stages and "feature_search" not in ids:
            yield Finding("NO_SEARCH_STAGE", WARNING, f"retriever '{name}' has no feature_search stage: it only "
                          "reshapes what earlier stages found", f"{place}.stages",
                          "Start the pipeline with a feature_search stage")
        expensive = next((i for i, stage_id in enumerate(ids) if stage_id in EXPENSIVE_STAGES), None)
        if expensive is not None:
            for position, stage_id in enumerate(ids[expensive + 1:], start=expensive + 1):
                if stage_id in FILTER_STAGES:
                    yield Finding("SUBOPTIMAL_STAGE_ORDER", WARNING,
                                  f"retriever '{name}': {stage_id} runs after {ids[expensive]} (stage {expensive}), "
                                  "which then works on documents the filter drops", f"{place}.stages[{position}]",
                                  f"Move the {stage_id} stage before the {ids[expensive]} stage")
        seen: dict[str, int] = {}
        for position, stage in enumerate(stages):
            for search in _searches(stage) if _stage_id(stage) == "feature_search" else []:
                uri = search.get("feature_uri")
                if not isinstance(uri, str):
                    continue
                if uri in seen:
                    yield Finding("DUPLICATE_FEATURE_URI", WARNING,
                                  f"retriever '{name}' searches '{uri}' more than once",
                                  f"{place}.stages[{position}]",
                                  "Search each feature once (several queries of one feature fuse in one search)")
                seen.setdefault(uri, position)
