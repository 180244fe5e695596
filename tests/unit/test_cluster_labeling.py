"""ClusterLabeler over the real provider clients (httpx.MockTransport) and a real SQLite table: prompt contents,
trimming, custom_prompt, response_shape, candidate_labels, de-duplication, the label cache and its TTL, failures that
leave the offline labels in place, and create-time config validation."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from openpeek.adapters.llm.google import GoogleClient
from openpeek.adapters.llm.openai import OpenAiClient
from openpeek.adapters.local.sqlite_table import SqliteTable
from openpeek.domain.errors import BadRequest
from openpeek.repositories.label_cache import LabelCacheRepository
from openpeek.domain.cluster_labels import (
    ClusterSample,
    LabelingConfigError,
    config_problems,
    resolve_provider_and_model,
    validate_config,
)
from openpeek.services.clustering.labeling import ClusterLabeler

NS = "ns_test"
START = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
OPENAI = {"enabled": True, "provider": "openai", "model_name": "gpt-4o-mini-2024-07-18"}


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class FakeOpenAi:
    """The OpenAI endpoint: records each request, answers with `answer(request_body)` (a JSON value) or a status."""

    def __init__(self, answer: Callable[[dict[str, Any]], Any] | None = None, status: int = 200) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer = answer or echo_labels
        self.status = status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        if self.status >= 400:
            return httpx.Response(self.status, json={"error": {"message": "model overloaded"}})
        content = json.dumps(self.answer(body))
        message = {"role": "assistant", "content": content}
        return httpx.Response(200, json={"choices": [{"index": 0, "message": message}]})

    @property
    def prompts(self) -> list[str]:
        return [body["messages"][0]["content"] for body in self.requests]


def sent_clusters(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The cluster data block of the prompt, as the model would read it."""
    prompt = body["messages"][0]["content"]
    return json.loads(prompt.split("Clusters (JSON, each with its sample documents):\n", 1)[1])


def echo_labels(body: dict[str, Any]) -> dict[str, Any]:
    """A well-behaved model: label = 'Topic ' + the first word of the first sample."""
    return {"clusters": [
        {"cluster_id": c["cluster_id"], "label": "Topic " + c["samples"][0].split()[0],
         "summary": f"About {c['samples'][0][:20]}", "keywords": [c["samples"][0].split()[0].lower(), "extra"]}
        for c in sent_clusters(body)
    ]}  # fmt: skip


def cluster(cid: str, texts: list[str] | None = None, *, label: str | None = None, size: int | None = None,
            keywords: list[str] | None = None) -> ClusterSample:
    texts = texts if texts is not None else [f"{cid} document number {i}" for i in range(3)]
    return ClusterSample(cluster_id=cid, label=label or f"offline {cid}", keywords=keywords or [f"kw_{cid}"],
                         summary=f"offline summary {cid}", representative_ids=[f"d{i}" for i in range(len(texts))],
                         representative_texts=texts, size=size)  # fmt: skip


@pytest.fixture
def table(tmp_path: Path):
    built = SqliteTable(tmp_path / "table.sqlite")
    yield built
    built.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def labeler_for(table: SqliteTable, fake: Callable[[httpx.Request], httpx.Response], clock: Clock | None = None,
                **options: Any) -> ClusterLabeler:
    client = OpenAiClient("sk-test-key", transport=httpx.MockTransport(fake))
    return ClusterLabeler(LabelCacheRepository(table), {"openai": client}, clock=clock or Clock(), **options)


def errors_of(outcome) -> list[dict[str, Any]]:
    return [json.loads(error) for error in outcome.errors]


# -- enabled / disabled ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [None, {}, {"enabled": False, "provider": "openai"}])
def test_disabled_labeling_makes_no_call_and_returns_the_offline_labels(table, config) -> None:
    fake = FakeOpenAi()
    outcome = labeler_for(table, fake).label(NS, [cluster("cl_0")], config)

    assert fake.requests == []
    assert outcome.errors == []
    found = outcome.labels["cl_0"]
    assert (found.label, found.keywords, found.summary, found.source) == (
        "offline cl_0", ["kw_cl_0"], "offline summary cl_0", "fallback")


def test_enabled_labeling_replaces_label_summary_and_keywords(table) -> None:
    fake = FakeOpenAi()
    clusters = [cluster("cl_0", ["Laptops with RGB"]), cluster("cl_1", ["Tents for camping"])]
    outcome = labeler_for(table, fake).label(NS, clusters, OPENAI)

    assert outcome.errors == []
    assert len(fake.requests) == 1
    assert fake.requests[0]["model"] == "gpt-4o-mini-2024-07-18"
    first, second = outcome.labels["cl_0"], outcome.labels["cl_1"]
    assert (first.label, first.summary, first.keywords, first.source) == (
        "Topic Laptops", "About Laptops with RGB", ["laptops", "extra"], "llm")
    assert second.label == "Topic Tents"


# -- prompt ----------------------------------------------------------------------------------------------------------


def test_default_prompt_lists_samples_asks_for_a_json_array_of_distinct_labels_and_passes_a_schema(table) -> None:
    fake = FakeOpenAi()
    clusters = [cluster("cl_0", ["Gaming laptop RGB"]), cluster("cl_1", ["Camping tent"])]
    labeler_for(table, fake).label(NS, clusters, OPENAI)

    (prompt,) = fake.prompts
    assert "Gaming laptop RGB" in prompt and "Camping tent" in prompt
    assert '"cl_0"' in prompt and '"cl_1"' in prompt
    assert "JSON array" in prompt and "distinct" in prompt
    assert '"summary"' in prompt and '"keywords"' in prompt
    schema = fake.requests[0]["response_format"]["json_schema"]["schema"]
    item = schema["properties"]["clusters"]["items"]
    assert schema["properties"]["clusters"]["type"] == "array"
    assert item["required"] == ["cluster_id", "label", "summary", "keywords"]
    assert item["properties"]["cluster_id"]["enum"] == ["cl_0", "cl_1"]


def test_without_summary_and_keywords_the_prompt_and_schema_ask_for_labels_only_and_keep_offline_ones(table) -> None:
    fake = FakeOpenAi()
    config = {**OPENAI, "include_summary": False, "include_keywords": False}
    outcome = labeler_for(table, fake).label(NS, [cluster("cl_0", ["Gaming laptop"])], config)

    (prompt,) = fake.prompts
    assert '"summary"' not in prompt and '"keywords"' not in prompt
    item = fake.requests[0]["response_format"]["json_schema"]["schema"]["properties"]["clusters"]["items"]
    assert item["required"] == ["cluster_id", "label"]
    found = outcome.labels["cl_0"]
    assert (found.label, found.summary, found.keywords) == ("Topic Gaming", "offline summary cl_0", ["kw_cl_0"])


def test_labeling_context_is_added_as_a_delimited_block(table) -> None:
    fake = FakeOpenAi()
    labeler_for(table, fake).label(NS, [cluster("cl_0")], {**OPENAI, "labeling_context": "Scenes from pharma TV ads"})

    (prompt,) = fake.prompts
    assert "<<< Domain context provided by the user\nScenes from pharma TV ads\n>>> End of domain context" in prompt
    assert "You are naming the clusters" in prompt  # added to, not replacing, the default prompt


def test_custom_prompt_replaces_the_default_prompt_but_the_samples_are_still_appended(table) -> None:
    fake = FakeOpenAi(lambda body: [{"cluster_id": "cl_0", "label": "🚀 Tech"}])
    custom = "Generate emoji-based labels. Return JSON: [{'cluster_id': 'cl_0', 'label': '...'}]"
    config = {**OPENAI, "custom_prompt": custom}
    outcome = labeler_for(table, fake).label(NS, [cluster("cl_0", ["Rocket launch video"])], config)

    (prompt,) = fake.prompts
    assert prompt.startswith(custom)
    assert "You are naming the clusters" not in prompt and "distinct" not in prompt
    assert "Rocket launch video" in prompt
    assert fake.requests[0]["response_format"] == {"type": "json_object"}  # the user chose the format: no schema
    assert outcome.labels["cl_0"].label == "🚀 Tech"  # a bare array answer is read too


# -- trimming --------------------------------------------------------------------------------------------------------


def test_max_samples_per_cluster_and_sample_text_max_length_trim_what_is_sent(table) -> None:
    fake = FakeOpenAi()
    texts = [f"sample{i} " + "x" * 300 for i in range(8)]
    labeler_for(table, fake).label(NS, [cluster("cl_0", texts)], {**OPENAI, "max_samples_per_cluster": 2,
                                                                  "sample_text_max_length": 60})

    (sent,) = sent_clusters(fake.requests[0])
    assert sent["samples"] == [texts[0][:60], texts[1][:60]]
    assert "sample2" not in fake.prompts[0]


@pytest.mark.parametrize(("size", "expected"), [(None, 5), (4, 3), (100, 10), (10_000, 20)])
def test_null_max_samples_scales_with_cluster_size_within_3_to_20(table, size, expected) -> None:
    fake = FakeOpenAi()
    texts = [f"text {i}" for i in range(30)]
    labeler_for(table, fake).label(NS, [cluster("cl_0", texts, size=size)], OPENAI)

    (sent,) = sent_clusters(fake.requests[0])
    assert len(sent["samples"]) == expected
    assert sent["samples"][0] == "text 0"


def test_default_text_length_is_200_and_whitespace_is_collapsed(table) -> None:
    fake = FakeOpenAi()
    labeler_for(table, fake).label(NS, [cluster("cl_0", ["a  \n b " + "y" * 400])], OPENAI)

    (sent,) = sent_clusters(fake.requests[0])
    assert sent["samples"] == [("a b " + "y" * 400)[:200]]


def test_a_cluster_without_representative_texts_keeps_its_fallback_and_is_reported(table) -> None:
    fake = FakeOpenAi()
    outcome = labeler_for(table, fake).label(NS, [cluster("cl_0", []), cluster("cl_1")], OPENAI)

    assert [c["cluster_id"] for c in sent_clusters(fake.requests[0])] == ["cl_1"]
    assert outcome.labels["cl_0"].label == "offline cl_0"
    assert errors_of(outcome) == [{"error": "No representative documents for cluster cl_0", "clusters": ["cl_0"]}]


# -- response_shape --------------------------------------------------------------------------------------------------

SHAPE = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "description": "Main category"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "keywords": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
    },
    "required": ["category", "confidence"],
}


def test_a_schema_response_shape_is_passed_to_the_provider_and_its_fields_kept_in_extra(table) -> None:
    fake = FakeOpenAi(lambda body: {"clusters": [
        {"cluster_id": "cl_0", "category": "Laptops", "confidence": 0.9, "keywords": ["rgb", "gaming"]}]})
    config = {**OPENAI, "response_shape": SHAPE}
    outcome = labeler_for(table, fake).label(NS, [cluster("cl_0", ["Gaming laptop"])], config)

    item = fake.requests[0]["response_format"]["json_schema"]["schema"]["properties"]["clusters"]["items"]
    assert item["properties"]["category"] == SHAPE["properties"]["category"]
    assert item["required"] == ["cluster_id", "category", "confidence"]
    assert json.dumps(SHAPE) in fake.prompts[0]
    found = outcome.labels["cl_0"]
    assert outcome.errors == []
    assert found.label == "Laptops"  # no `label` field: the schema's first required string
    assert found.extra == {"category": "Laptops", "confidence": 0.9, "keywords": ["rgb", "gaming"]}
    assert found.keywords == ["rgb", "gaming"]


def test_an_answer_breaking_the_response_shape_keeps_the_fallback_and_is_reported(table) -> None:
    fake = FakeOpenAi(lambda body: {"clusters": [
        {"cluster_id": "cl_0", "category": "Laptops", "confidence": 7},
        {"cluster_id": "cl_1", "category": "Tents", "confidence": 0.5}]})
    config = {**OPENAI, "response_shape": SHAPE}
    outcome = labeler_for(table, fake).label(NS, [cluster("cl_0"), cluster("cl_1")], config)

    assert outcome.labels["cl_0"].label == "offline cl_0" and outcome.labels["cl_0"].extra == {}
    assert outcome.labels["cl_1"].label == "Tents"
    assert errors_of(outcome) == [
        {"error": "LLM answer does not follow response_shape: confidence must be at most 1", "clusters": ["cl_0"]}]


def test_a_string_response_shape_is_described_in_the_prompt_and_extra_fields_kept(table) -> None:
    fake = FakeOpenAi(lambda body: {"clusters": [
        {"cluster_id": "cl_0", "label": "Laptops", "sentiment": "positive", "entities": ["Dell"]}]})
    shape = "Generate cluster theme, sentiment (positive/negative/neutral), and list of key entities"
    outcome = labeler_for(table, fake).label(NS, [cluster("cl_0")], {**OPENAI, "response_shape": shape})

    assert "Each cluster's object must also contain: " + shape in fake.prompts[0]
    assert outcome.labels["cl_0"].extra == {"sentiment": "positive", "entities": ["Dell"]}


# -- candidate_labels ------------------------------------------------------------------------------------------------


def test_candidate_labels_are_listed_enforced_by_the_schema_and_matched_to_their_spelling(table) -> None:
    fake = FakeOpenAi(lambda body: {"clusters": [
        {"cluster_id": "cl_0", "label": "electronics"}, {"cluster_id": "cl_1", "label": "Electronics"}]})
    config = {**OPENAI, "candidate_labels": {"Electronics": "devices and gadgets", "Outdoor": "camping, hiking"}}
    outcome = labeler_for(table, fake).label(NS, [cluster("cl_0"), cluster("cl_1")], config)

    assert "- Electronics: devices and gadgets\n- Outdoor: camping, hiking" in fake.prompts[0]
    item = fake.requests[0]["response_format"]["json_schema"]["schema"]["properties"]["clusters"]["items"]
    assert item["properties"]["label"] == {"type": "string", "enum": ["Electronics", "Outdoor"]}
    # Both clusters may carry the same candidate: no de-duplication against a fixed vocabulary.
    assert [outcome.labels[c].label for c in ("cl_0", "cl_1")] == ["Electronics", "Electronics"]
    assert outcome.errors == []


def test_a_label_outside_the_candidates_keeps_the_fallback_and_is_reported(table) -> None:
    fake = FakeOpenAi(lambda body: {"clusters": [
        {"cluster_id": "cl_0", "label": "Gadgets"}, {"cluster_id": "cl_1", "label": "Outdoor"}]})
    outcome = labeler_for(table, fake).label(NS, [cluster("cl_0"), cluster("cl_1")],
                                             {**OPENAI, "candidate_labels": ["Electronics", "Outdoor"]})

    assert outcome.labels["cl_0"].label == "offline cl_0"
    assert outcome.labels["cl_1"].label == "Outdoor"
    assert errors_of(outcome) == [{"error": "LLM label is not one of candidate_labels: Gadgets", "clusters": ["cl_0"]}]


# -- de-duplication --------------------------------------------------------------------------------------------------


def fixed_labels(*labels: str, keywords: list[list[str]] | None = None) -> FakeOpenAi:
    def answer(body: dict[str, Any]) -> dict[str, Any]:
        ids = [c["cluster_id"] for c in sent_clusters(body)]
        return {"clusters": [{"cluster_id": cid, "label": label, "summary": "s",
                              "keywords": (keywords or [[]] * len(ids))[i]}
                             for i, (cid, label) in enumerate(zip(ids, labels))]}  # fmt: skip

    return FakeOpenAi(answer)


def test_near_duplicate_labels_keep_the_first_and_append_a_keyword_to_the_other(table) -> None:
    fake = fixed_labels("Gaming Laptops", "Laptops for Gaming", "Camping Tents",
                        keywords=[["laptops"], ["gaming", "budget"], ["tents"]])
    outcome = labeler_for(table, fake).label(NS, [cluster("cl_0"), cluster("cl_1"), cluster("cl_2")], OPENAI)

    assert [outcome.labels[c].label for c in ("cl_0", "cl_1", "cl_2")] == [
        "Gaming Laptops", "Laptops for Gaming (budget)", "Camping Tents"]


def test_exact_duplicates_without_a_new_keyword_get_a_number(table) -> None:
    fake = fixed_labels("Gaming Laptops", "gaming laptops", "Gaming Laptops",
                        keywords=[["gaming"], ["laptop"], ["Laptops", "the"]])
    outcome = labeler_for(table, fake).label(NS, [cluster("cl_0"), cluster("cl_1"), cluster("cl_2")],
                                             {**OPENAI, "use_embedding_dedup": False})

    assert [outcome.labels[c].label for c in ("cl_0", "cl_1", "cl_2")] == [
        "Gaming Laptops", "gaming laptops (2)", "Gaming Laptops (3)"]


def test_labels_below_the_jaccard_threshold_are_left_alone(table) -> None:
    fake = fixed_labels("Gaming Laptops", "Gaming Mice", keywords=[["a"], ["b"]])
    outcome = labeler_for(table, fake).label(NS, [cluster("cl_0"), cluster("cl_1")],
                                             {**OPENAI, "embedding_similarity_threshold": 0.5})

    assert [outcome.labels[c].label for c in ("cl_0", "cl_1")] == ["Gaming Laptops", "Gaming Mice"]  # 1/3 < 0.5


def test_embedding_dedup_uses_cosine_of_the_label_embeddings(table) -> None:
    vectors = {"Notebook Computers": [1.0, 0.0], "Portable PCs": [0.95, 0.1], "Camping Gear": [0.0, 1.0]}
    embedded: list[list[str]] = []

    def embed(labels: list[str]) -> list[list[float]]:
        embedded.append(labels)
        return [vectors[label] for label in labels]

    fake = fixed_labels(*vectors, keywords=[["notebook"], ["travel"], ["tents"]])
    labeler = labeler_for(table, fake, embed_labels=embed)
    outcome = labeler.label(NS, [cluster("cl_0"), cluster("cl_1"), cluster("cl_2")], OPENAI)

    assert embedded == [list(vectors)]
    assert [outcome.labels[c].label for c in ("cl_0", "cl_1", "cl_2")] == [
        "Notebook Computers", "Portable PCs (travel)", "Camping Gear"]  # no shared token, cosine 0.99


def test_without_use_embedding_dedup_the_embedder_is_not_used(table) -> None:
    called: list[Any] = []
    fake = fixed_labels("Notebook Computers", "Portable PCs")
    labeler = labeler_for(table, fake, embed_labels=lambda labels: called.append(labels) or [[1.0], [1.0]])
    outcome = labeler.label(NS, [cluster("cl_0"), cluster("cl_1")], {**OPENAI, "use_embedding_dedup": False})

    assert called == []
    assert outcome.labels["cl_1"].label == "Portable PCs"


def test_a_failing_embedder_falls_back_to_token_overlap(table) -> None:
    def broken(labels: list[str]) -> list[list[float]]:
        raise RuntimeError("model not loaded")

    fake = fixed_labels("Gaming Laptops", "Gaming Laptop", keywords=[[], ["rgb"]])
    outcome = labeler_for(table, fake, embed_labels=broken).label(NS, [cluster("cl_0"), cluster("cl_1")], OPENAI)

    assert outcome.labels["cl_1"].label == "Gaming Laptop (rgb)"


# -- cache -----------------------------------------------------------------------------------------------------------


def test_a_cache_hit_skips_the_llm_and_is_stored_with_a_ttl(table, clock) -> None:
    fake = FakeOpenAi()
    labeler = labeler_for(table, fake, clock)
    first = labeler.label(NS, [cluster("cl_0", ["Laptops with RGB"])], OPENAI)
    assert len(fake.requests) == 1

    items = table.query("LABELCACHE#" + NS)
    assert len(items) == 1 and len(items[0]["sk"]) == 64
    assert items[0]["expires_at"] == int(START.timestamp()) + 604800
    assert items[0]["label"] == "Topic Laptops"

    clock.now = START + timedelta(days=6)
    # Same representative texts under another cluster id in a later run: still a hit.
    second = labeler.label(NS, [cluster("cl_9", ["Laptops with RGB"])], OPENAI)
    assert len(fake.requests) == 1
    hit = second.labels["cl_9"]
    assert (hit.label, hit.summary, hit.keywords, hit.source) == (
        first.labels["cl_0"].label, first.labels["cl_0"].summary, first.labels["cl_0"].keywords, "cache")


def test_only_cache_misses_are_sent(table, clock) -> None:
    fake = FakeOpenAi()
    labeler = labeler_for(table, fake, clock)
    labeler.label(NS, [cluster("cl_0", ["Laptops with RGB"])], OPENAI)
    outcome = labeler.label(NS, [cluster("cl_0", ["Laptops with RGB"]), cluster("cl_1", ["Tents for camping"])], OPENAI)

    assert len(fake.requests) == 2
    assert [c["cluster_id"] for c in sent_clusters(fake.requests[1])] == ["cl_1"]
    assert '"Topic Laptops"' in fake.prompts[1]  # the cached label is listed as already used
    assert outcome.labels["cl_0"].source == "cache" and outcome.labels["cl_1"].source == "llm"


def test_after_the_ttl_the_llm_is_called_again(table, clock) -> None:
    fake = FakeOpenAi()
    labeler = labeler_for(table, fake, clock)
    config = {**OPENAI, "cache_ttl_seconds": 3600}
    labeler.label(NS, [cluster("cl_0")], config)

    clock.now = START + timedelta(seconds=3599)
    labeler.label(NS, [cluster("cl_0")], config)
    assert len(fake.requests) == 1

    clock.now = START + timedelta(seconds=3600)
    outcome = labeler.label(NS, [cluster("cl_0")], config)
    assert len(fake.requests) == 2
    assert outcome.labels["cl_0"].source == "llm"
    (item,) = table.query("LABELCACHE#" + NS)
    assert item["expires_at"] == int(START.timestamp()) + 7200  # rewritten from the new call


def test_cache_ttl_zero_neither_reads_nor_writes_the_cache(table, clock) -> None:
    fake = FakeOpenAi()
    labeler = labeler_for(table, fake, clock)
    labeler.label(NS, [cluster("cl_0")], OPENAI)  # fills the cache
    labeler.label(NS, [cluster("cl_1")], {**OPENAI, "cache_ttl_seconds": 0})
    labeler.label(NS, [cluster("cl_0")], {**OPENAI, "cache_ttl_seconds": 0})

    assert len(fake.requests) == 3
    assert len(table.query("LABELCACHE#" + NS)) == 1


@pytest.mark.parametrize("change", [
    {"model_name": "gpt-4o-2024-08-06"}, {"labeling_context": "retail"}, {"custom_prompt": "Label as JSON"},
    {"include_summary": False}, {"sample_text_max_length": 60}, {"parameters": {"temperature": 0}},
    {"response_shape": "add a sentiment"}, {"candidate_labels": ["Topic cl_0"]},
])  # fmt: skip
def test_anything_that_changes_the_prompt_misses_the_cache(table, clock, change) -> None:
    fake = FakeOpenAi(lambda body: [{"cluster_id": "cl_0", "label": "Topic cl_0", "sentiment": "ok"}])
    labeler = labeler_for(table, fake, clock)
    labeler.label(NS, [cluster("cl_0")], OPENAI)
    labeler.label(NS, [cluster("cl_0")], {**OPENAI, **change})

    assert len(fake.requests) == 2


def test_the_cache_is_per_namespace_and_per_texts(table, clock) -> None:
    fake = FakeOpenAi()
    labeler = labeler_for(table, fake, clock)
    labeler.label(NS, [cluster("cl_0", ["alpha text"])], OPENAI)
    labeler.label("ns_other", [cluster("cl_0", ["alpha text"])], OPENAI)
    labeler.label(NS, [cluster("cl_0", ["alpha text changed"])], OPENAI)

    assert len(fake.requests) == 3


# -- failures --------------------------------------------------------------------------------------------------------


def test_a_provider_failure_keeps_the_offline_labels_and_names_the_clusters(table) -> None:
    fake = FakeOpenAi(status=500)
    outcome = labeler_for(table, fake).label(NS, [cluster("cl_0"), cluster("cl_1")], OPENAI)

    assert [outcome.labels[c].label for c in ("cl_0", "cl_1")] == ["offline cl_0", "offline cl_1"]
    assert errors_of(outcome) == [{
        "error": "LLM labeling failed for 2 clusters: OpenAI failed (HTTP 500): model overloaded",
        "clusters": ["cl_0", "cl_1"]}]
    assert table.query("LABELCACHE#" + NS) == []  # failures are not cached


def test_clusters_are_sent_in_batches_and_one_failing_batch_spares_the_others(table) -> None:
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 2:
            return httpx.Response(503, json={"error": {"message": "unavailable"}})
        return FakeOpenAi()(request)

    clusters = [cluster(f"cl_{i}", [f"word{i} text"]) for i in range(23)]
    outcome = labeler_for(table, flaky).label(NS, clusters, OPENAI)

    assert calls["n"] == 3  # 10 + 10 + 3
    failed = [f"cl_{i}" for i in range(10, 20)]
    assert errors_of(outcome) == [{
        "error": "LLM labeling failed for 10 clusters: OpenAI failed (HTTP 503): unavailable", "clusters": failed}]
    assert all(outcome.labels[c].source == "fallback" for c in failed)
    assert outcome.labels["cl_0"].label == "Topic word0" and outcome.labels["cl_22"].label == "Topic word22"


def test_clusters_missing_from_the_answer_or_without_a_label_are_reported(table) -> None:
    fake = FakeOpenAi(lambda body: {"clusters": [{"cluster_id": "cl_0", "label": "Laptops"}, {"cluster_id": "cl_1"}]})
    outcome = labeler_for(table, fake).label(NS, [cluster("cl_0"), cluster("cl_1"), cluster("cl_2")], OPENAI)

    assert outcome.labels["cl_0"].label == "Laptops"
    assert outcome.labels["cl_1"].label == "offline cl_1" and outcome.labels["cl_2"].label == "offline cl_2"
    assert errors_of(outcome) == [{"error": "LLM answer has no label", "clusters": ["cl_1"]},
                                  {"error": "LLM answer did not include these clusters", "clusters": ["cl_2"]}]


def test_an_unconfigured_provider_is_reported_without_a_call(table) -> None:
    seen: list[httpx.Request] = []
    client = GoogleClient(None, transport=httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200)))
    outcome = ClusterLabeler(LabelCacheRepository(table), {"google": client}).label(NS, [cluster("cl_0")], {"enabled": True})

    assert seen == []
    assert errors_of(outcome) == [{"error": "LLM provider google is not configured: set OPENPEEK_GOOGLE_API_KEY",
                                   "clusters": ["cl_0"]}]
    assert outcome.labels["cl_0"].label == "offline cl_0"


def test_an_invalid_config_at_run_time_is_reported_not_raised(table) -> None:
    fake = FakeOpenAi()
    outcome = labeler_for(table, fake).label(NS, [cluster("cl_0")], {"enabled": True, "provider": "typesafe"})

    assert fake.requests == []
    (error,) = errors_of(outcome)
    assert "typesafe" in error["error"] and error["clusters"] == ["cl_0"]


def test_the_google_client_works_end_to_end_with_the_default_model(table) -> None:
    seen: list[httpx.Request] = []

    def gemini(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = {"cluster_id": "cl_0", "label": "Hiking Boots", "summary": "s", "keywords": []}
        text = json.dumps({"clusters": [answer]})
        return httpx.Response(200, json={"candidates": [{"content": {"parts": [{"text": text}], "role": "model"}}]})

    client = GoogleClient("AIza-test", transport=httpx.MockTransport(gemini))
    labeler = ClusterLabeler(LabelCacheRepository(table), {"google": client})
    outcome = labeler.label(NS, [cluster("cl_0", ["boots for hiking"])], {"enabled": True})

    assert seen[0].url.path == "/v1beta/models/gemini-2.5-flash-lite:generateContent"
    assert "boots for hiking" in json.loads(seen[0].content)["contents"][0]["parts"][0]["text"]
    assert outcome.labels["cl_0"].label == "Hiking Boots"
    assert outcome.labels["cl_0"].keywords == ["kw_cl_0"]  # an empty keyword list keeps the offline keywords


# -- config validation -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("config", "expected"), [
    ({"enabled": True}, ("google", "gemini-2.5-flash-lite")),
    ({"enabled": True, "model_name": "claude-3-5-haiku-20241022"}, ("anthropic", "claude-3-5-haiku-20241022")),
    ({"enabled": True, "model_name": "o3-mini-2025-01-31"}, ("openai", "o3-mini-2025-01-31")),
    ({"enabled": True, "provider": "openai"}, ("openai", "gpt-4o-mini-2024-07-18")),
])  # fmt: skip
def test_provider_is_inferred_from_the_model_and_defaults_to_gemini_flash_lite(config, expected) -> None:
    assert config_problems(config) == []
    assert resolve_provider_and_model(config) == expected


@pytest.mark.parametrize(("config", "fragment"), [
    ({"enabled": True, "provider": "typesafe", "candidate_labels": ["a"]}, "not supported"),
    ({"enabled": True, "model_name": "jev-latest"}, "not supported"),
    ({"enabled": True, "provider": "openai", "model_name": "gemini-2.5-pro"}, "is not a openai model"),
    ({"enabled": True, "model_name": "gpt-3.5-turbo"}, "unknown model_name: gpt-3.5-turbo"),
    ({"enabled": True, "provider": "mistral"}, "provider must be one of"),
    ({"enabled": True, "max_samples_per_cluster": 21}, "max_samples_per_cluster"),
    ({"enabled": True, "sample_text_max_length": 49}, "sample_text_max_length"),
    ({"enabled": True, "embedding_similarity_threshold": 0.4}, "embedding_similarity_threshold"),
    ({"enabled": True, "cache_ttl_seconds": 2592001}, "cache_ttl_seconds"),
    ({"enabled": True, "labeling_context": "x" * 2001}, "labeling_context"),
    ({"enabled": True, "response_shape": ["label"]}, "response_shape"),
    ({"enabled": True, "response_shape": {"type": "array"}}, "response_shape"),
    ({"enabled": True, "candidate_labels": []}, "candidate_labels"),
    ({"enabled": True, "candidate_labels": {"a": 1}}, "candidate_labels"),
])  # fmt: skip
def test_validate_config_rejects_what_cannot_run(config, fragment) -> None:
    with pytest.raises(LabelingConfigError) as caught:
        validate_config(config)

    assert any(fragment in problem for problem in caught.value.problems)
    assert isinstance(caught.value, BadRequest) and isinstance(caught.value, ValueError)
    assert caught.value.code == "invalid_llm_labeling" and caught.value.status == 400


def test_validate_config_accepts_a_full_valid_config_and_ignores_disabled_ones() -> None:
    validate_config({**OPENAI, "max_samples_per_cluster": 20, "sample_text_max_length": 500,
                     "embedding_similarity_threshold": 1, "cache_ttl_seconds": 0, "labeling_context": "x" * 2000,
                     "custom_prompt": "p", "response_shape": SHAPE, "parameters": {"temperature": 0},
                     "candidate_labels": {"A": "a"}})  # fmt: skip
    validate_config({"enabled": False, "provider": "typesafe"})
