"""The manifest lint rules on manifests alone (domain/manifest_lint.py): each rule fires where it should and only
there."""

from __future__ import annotations

from openpeek.domain.manifest_lint import RULES, lint

SEARCH = {"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {"searches": [
    {"feature_uri": "mixpeek://text_extractor@v1/text_embedding", "query": {"input_mode": "text",
                                                                           "value": "{{INPUT.q}}"}}]}}}
TEXT = {"feature_extractor_name": "text_extractor", "version": "v1"}


def manifest(**changes):
    document = {
        "version": 1,
        "namespace": {"namespace_name": "docs", "description": "d", "feature_extractors": [TEXT]},
        "buckets": [{"bucket_name": "files", "description": "d"}],
        "collections": [{"collection_name": "chunks", "description": "d", "feature_extractor": TEXT,
                         "source": {"type": "bucket", "bucket_ids": ["files"]}}],
        "retrievers": [{"retriever_name": "find", "description": "d", "input_schema": {"q": {"type": "string"}},
                        "stages": [SEARCH]}],
    }
    document.update(changes)
    return document


def found(document):
    return {(finding.code, finding.location) for finding in lint(document)}


def test_a_tidy_manifest_has_no_findings():
    assert found(manifest()) == set()


def test_unused_resources_are_found():
    document = manifest(buckets=[{"bucket_name": "files", "description": "d"},
                                 {"bucket_name": "spare", "description": "d"}])
    document["namespace"]["feature_extractors"] = [TEXT, {"feature_extractor_name": "passthrough_extractor",
                                                          "version": "v1"}]
    document["retrievers"][0]["collection_identifiers"] = ["elsewhere"]
    assert found(document) == {("UNUSED_BUCKET", "buckets[1]"),
                               ("UNUSED_EXTRACTOR", "namespace.feature_extractors[1]"),
                               ("UNUSED_COLLECTION", "collections[0]")}


def test_a_retriever_searching_the_whole_namespace_uses_every_collection():
    assert not any(code == "UNUSED_COLLECTION" for code, _ in found(manifest()))


def test_without_a_collections_section_nothing_is_called_unused():
    document = manifest()
    del document["collections"]
    assert found(document) == set()


def test_an_extractor_the_namespace_does_not_list_is_noted():
    document = manifest()
    document["namespace"]["feature_extractors"] = [{"feature_extractor_name": "passthrough_extractor",
                                                    "version": "v1"}]
    assert ("EXTRACTOR_NOT_IN_NAMESPACE", "collections[0].feature_extractor") in found(document)


def test_retriever_rules():
    expensive = {"stage_name": "judge", "config": {"stage_id": "llm_filter", "parameters": {}}}
    cheap = {"stage_name": "keep", "config": {"stage_id": "attribute_filter", "parameters": {}}}
    document = manifest()
    document["retrievers"] = [
        {"retriever_name": "a", "description": "d", "stages": [SEARCH, SEARCH, expensive, cheap]},
        {"retriever_name": "b", "description": "d", "input_schema": {"q": {"type": "string"}}, "stages": [cheap]},
    ]
    assert found(document) == {("MISSING_INPUT_SCHEMA", "retrievers[0].input_schema"),
                               ("DUPLICATE_FEATURE_URI", "retrievers[0].stages[1]"),
                               ("SUBOPTIMAL_STAGE_ORDER", "retrievers[0].stages[3]"),
                               ("NO_SEARCH_STAGE", "retrievers[1].stages")}


def test_missing_descriptions_and_every_finding_has_a_known_code_and_suggestion():
    document = manifest()
    del document["namespace"]["description"], document["buckets"][0]["description"]
    findings = lint(document)
    assert {(f.code, f.location) for f in findings} == {("MISSING_DESCRIPTION", "namespace"),
                                                        ("MISSING_DESCRIPTION", "buckets[0]")}
    assert all(f.code in RULES and f.suggestion and f.severity == "info" for f in findings)


def test_malformed_sections_are_skipped_not_raised_on():
    assert lint({"namespace": [], "retrievers": "x", "collections": [1, None], "buckets": {"a": 1}}) == []


AWKWARD = [{"unexpected": "x"}, ["x", "y"], 7, 1.5, True, None, "", "💥"]


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _paths(inner, (*path, index))


def _replaced(document, path, new):
    if not path:
        return new
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[path[0]] = _replaced(document[path[0]], path[1:], new)
    return copy


def test_lint_reads_a_manifest_of_any_shape_without_failing():
    """Lint runs on manifests validation has not shaped (its errors are reported beside the findings): any value of
    any type at any place gives findings, never an exception (a dict as a stage id once was a 500)."""
    base = manifest(
        collections=[{"collection_name": "chunks", "description": "d", "feature_extractor": TEXT,
                      "source": {"type": "bucket", "bucket_ids": ["files"]}},
                     {"collection_name": "again", "feature_extractor": TEXT,
                      "source": {"type": "collection", "collection_id": "chunks"}}],
        retrievers=[{"retriever_name": "find", "input_schema": {"q": {"type": "string"}},
                     "collection_identifiers": ["chunks"],
                     "stages": [SEARCH, SEARCH, {"stage_name": "r", "config": {"stage_id": "rerank", "parameters": {}}},
                                {"stage_name": "f", "config": {"stage_id": "attribute_filter", "parameters": {}}}]}],
        clusters=[{"cluster_name": "themes"}])
    assert {code for code, _ in found(base)} >= {"SUBOPTIMAL_STAGE_ORDER", "DUPLICATE_FEATURE_URI"}
    for path in _paths(base):
        for value in AWKWARD:
            assert isinstance(lint(_replaced(base, path, value)), list), (path, value)
