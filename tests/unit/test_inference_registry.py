"""The inference registry a deployment builds, and the query cache in front of every provider."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Sequence

import pytest

from openpeek.adapters.inference import local_minilm
from openpeek.adapters.inference.openai import OpenAiEmbedder
from openpeek.adapters.inference.registry import CachingEmbedder, StaticInferenceRegistry, default_registry
from openpeek.domain.failures import DependencyUnavailable
from openpeek.domain.inference import InferenceService, InferenceUnavailable

CATALOGUE_NOT_BUNDLED = {
    "clip_vit_b32",
    "google_siglip_base_v1",
    "multilingual_e5_large_instruct_v1",
    "vertex_multimodal_embedding",
    "laion_clip_vit_l_14_v1",
}


class CountingEmbedder:
    """A provider that records every text it is asked to embed; its vectors encode the service and the text."""

    def __init__(self, name: str = "fake_text", dimension: int = 3, usable: bool = True) -> None:
        self.service = InferenceService(
            name, dimension, "text", "local", usable=usable, how_to_enable=None if usable else "install the fake"
        )
        self.calls: list[list[str]] = []
        self._lock = threading.Lock()

    def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        with self._lock:
            self.calls.append(list(texts))
        return [[float(len(self.service.name)), float(len(text)), float(sum(map(ord, text)))] for text in texts]

    @property
    def embedded(self) -> list[str]:
        return [text for call in self.calls for text in call]


# -- registry -----------------------------------------------------------------------------------------------------


def test_default_registry_lists_every_catalogue_name_with_what_this_deployment_can_use() -> None:
    registry = default_registry(openai_api_key="sk-test", bedrock_enabled=True, local_enabled=True)

    services = {service.name: service for service in registry.services()}

    usable = {name for name, service in services.items() if service.usable}
    assert usable == {"all_minilm_l6_v2", "bedrock_titan_text_v2", "bedrock_titan_multimodal_g1", "openai_text_3_small"}
    assert set(services) == usable | CATALOGUE_NOT_BUNDLED
    assert (services["all_minilm_l6_v2"].dimension, services["all_minilm_l6_v2"].modality) == (384, "text")
    assert (services["bedrock_titan_multimodal_g1"].dimension, services["bedrock_titan_multimodal_g1"].modality) == (
        1024,
        "multimodal",
    )
    assert services["openai_text_3_small"].dimension == 1536
    assert services["clip_vit_b32"].dimension == 512  # what the image_extractor's vector index is built with
    for name in CATALOGUE_NOT_BUNDLED:
        assert "not bundled with openpeek" in (services[name].how_to_enable or "")


def test_default_registry_says_why_each_provider_is_off() -> None:
    registry = default_registry(openai_api_key=None, bedrock_enabled=False, local_enabled=False)

    assert [service.name for service in registry.services() if service.usable] == []
    with pytest.raises(InferenceUnavailable) as openai:
        registry.embedder("openai_text_3_small")
    assert openai.value.how_to_enable == "set OPENPEEK_OPENAI_API_KEY"
    with pytest.raises(InferenceUnavailable, match="Bedrock is not enabled"):
        registry.embedder("bedrock_titan_multimodal_g1")
    with pytest.raises(InferenceUnavailable, match="local inference is disabled"):
        registry.embedder("all_minilm_l6_v2")


def test_default_registry_without_the_embed_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # What a deployment without torch or the weights package sees: a module that cannot be found.
    monkeypatch.setattr(local_minilm, "_REQUIRED_MODULES", (*local_minilm._REQUIRED_MODULES, "openpeek_no_such_mod"))
    registry = default_registry(openai_api_key=None, bedrock_enabled=False, local_enabled=True)

    (service,) = [service for service in registry.services() if service.name == "all_minilm_l6_v2"]
    assert service.usable is False
    with pytest.raises(InferenceUnavailable) as raised:
        registry.embedder("all_minilm_l6_v2")
    assert raised.value.how_to_enable == "pip install 'openpeek[embed]'"


def test_default_registry_puts_a_cache_in_front_of_every_usable_provider() -> None:
    registry = default_registry(openai_api_key="sk-test", bedrock_enabled=True, local_enabled=True)

    for name in ("all_minilm_l6_v2", "bedrock_titan_text_v2", "bedrock_titan_multimodal_g1", "openai_text_3_small"):
        embedder = registry.embedder(name)
        assert isinstance(embedder, CachingEmbedder)
        assert embedder.service.name == name


def test_unknown_name_is_unavailable_and_lists_the_registered_names() -> None:
    registry = StaticInferenceRegistry(
        [CountingEmbedder("fake_text"), CountingEmbedder("fake_off", usable=False)],
        [InferenceService("clip_vit_b32", 512, "multimodal", "local", usable=False, how_to_enable="bring CLIP")],
    )

    with pytest.raises(InferenceUnavailable) as raised:
        registry.embedder("text-embedding-ada-002")

    assert raised.value.name == "text-embedding-ada-002"
    for registered in ("fake_text", "fake_off", "clip_vit_b32"):
        assert registered in raised.value.how_to_enable
    assert "usable here: fake_text" in raised.value.how_to_enable


def test_known_but_unusable_names_answer_with_their_own_how_to_enable() -> None:
    registry = StaticInferenceRegistry(
        [CountingEmbedder("fake_off", usable=False)],
        [InferenceService("clip_vit_b32", 512, "multimodal", "local", usable=False, how_to_enable="bring CLIP")],
    )

    with pytest.raises(InferenceUnavailable) as from_embedder:
        registry.embedder("fake_off")
    with pytest.raises(InferenceUnavailable) as from_catalogue:
        registry.embedder("clip_vit_b32")

    assert from_embedder.value.how_to_enable == "install the fake"
    assert from_catalogue.value.how_to_enable == "bring CLIP"
    assert {service.name: service.usable for service in registry.services()} == {
        "fake_off": False,
        "clip_vit_b32": False,
    }


def test_a_catalogue_entry_is_never_listed_as_usable_even_if_passed_as_such() -> None:
    registry = StaticInferenceRegistry([], [InferenceService("clip_vit_b32", 512, "multimodal", "local")])

    (service,) = registry.services()
    assert service.usable is False
    assert "not bundled" in (service.how_to_enable or "")


def test_a_name_registered_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        StaticInferenceRegistry([CountingEmbedder("fake_text"), CountingEmbedder("fake_text")])


def test_building_the_registry_does_not_import_torch() -> None:
    # The API Lambda builds the registry at import time and must stay free of torch and transformers.
    code = (
        "import sys\n"
        "from openpeek.adapters.inference.registry import default_registry\n"
        "r = default_registry(openai_api_key=None, bedrock_enabled=True, local_enabled=True)\n"
        "r.services()\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'tokenizers', 'sentence_transformers') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- cache --------------------------------------------------------------------------------------------------------


def test_repeated_queries_are_answered_from_the_cache() -> None:
    inner = CountingEmbedder()
    cached = CachingEmbedder(inner)

    first = cached.embed_texts(["red shoes", "blue hat"])
    again = cached.embed_texts(["blue hat", "red shoes"])

    assert inner.calls == [["red shoes", "blue hat"]]
    assert again == [first[1], first[0]]
    assert cached.service == inner.service


def test_only_the_texts_not_yet_cached_reach_the_provider_and_each_once() -> None:
    inner = CountingEmbedder()
    cached = CachingEmbedder(inner)
    cached.embed_texts(["a"])

    vectors = cached.embed_texts(["b", "a", "b", "c"])

    assert inner.calls == [["a"], ["b", "c"]]
    assert vectors == inner.embed_texts(["b", "a", "b", "c"])


def test_the_cache_is_per_service() -> None:
    text_model, other_model = CountingEmbedder("model_one"), CountingEmbedder("model_twelve")
    one, twelve = CachingEmbedder(text_model), CachingEmbedder(other_model)

    one.embed_texts(["same query"])
    from_twelve = twelve.embed_texts(["same query"])

    assert other_model.embedded == ["same query"]
    assert from_twelve == other_model.embed_texts(["same query"])
    assert from_twelve != one.embed_texts(["same query"])


def test_the_least_recently_used_query_is_evicted_first() -> None:
    inner = CountingEmbedder()
    cached = CachingEmbedder(inner, max_entries=2)
    cached.embed_texts(["a"])
    cached.embed_texts(["b"])
    cached.embed_texts(["a"])  # a is now more recent than b

    cached.embed_texts(["c"])  # evicts b
    cached.embed_texts(["a"])
    cached.embed_texts(["b"])

    assert inner.embedded == ["a", "b", "c", "b"]
    assert len(cached) == 2


def test_a_caller_changing_its_vector_does_not_change_the_cached_one() -> None:
    cached = CachingEmbedder(CountingEmbedder())
    original = cached.embed_texts(["q"])[0]
    expected = list(original)

    original[0] = -1.0
    repeated = cached.embed_texts(["q", "q"])
    repeated[0][1] = -2.0

    assert cached.embed_texts(["q"]) == [expected]
    assert repeated[1] == expected


def test_provider_failures_pass_through_and_are_not_cached() -> None:
    class FlakyEmbedder(CountingEmbedder):
        def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
            if not self.calls:
                self.calls.append(list(texts))
                raise DependencyUnavailable("provider down")
            return super().embed_texts(texts)

    inner = FlakyEmbedder()
    cached = CachingEmbedder(inner)

    with pytest.raises(DependencyUnavailable):
        cached.embed_texts(["q"])
    assert cached.embed_texts(["q"]) == [inner.embed_texts(["q"])[0]]


def test_a_provider_returning_the_wrong_number_of_vectors_is_a_dependency_failure() -> None:
    class ShortEmbedder(CountingEmbedder):
        def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
            return super().embed_texts(texts)[:-1]

    cached = CachingEmbedder(ShortEmbedder())

    with pytest.raises(DependencyUnavailable, match="1 vectors for 2 texts"):
        cached.embed_texts(["a", "b"])
    assert len(cached) == 0


def test_concurrent_callers_all_get_the_right_vectors() -> None:
    inner = CountingEmbedder()
    cached = CachingEmbedder(inner, max_entries=50)
    texts = [f"query {i}" for i in range(100)]
    expected = {text: inner.embed_texts([text])[0] for text in texts}
    inner.calls.clear()
    failures: list[str] = []

    def worker(offset: int) -> None:
        for round_ in range(20):
            batch = [texts[(offset + round_ * 7 + k) % len(texts)] for k in range(5)]
            for text, vector in zip(batch, cached.embed_texts(batch)):
                if vector != expected[text]:
                    failures.append(text)

    threads = [threading.Thread(target=worker, args=(i * 13,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert len(cached) <= 50


def test_the_openai_embedder_behind_the_cache_is_called_once_per_distinct_query() -> None:
    import httpx

    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"data": [{"index": 0, "embedding": [0.5] * 1536}]})

    cached = CachingEmbedder(OpenAiEmbedder("sk-test", transport=httpx.MockTransport(handler)))

    assert cached.embed_texts(["q"]) == cached.embed_texts(["q"]) == [[0.5] * 1536]
    assert len(requests) == 1
