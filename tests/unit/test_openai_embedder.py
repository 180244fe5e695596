"""OpenAiEmbedder against httpx.MockTransport: the exact request OpenAI would receive, its real response shape, and
failures that must become DependencyUnavailable without ever showing the API key."""

from __future__ import annotations

import json
from typing import Callable

import httpx
import pytest

from openpeek.adapters.inference.openai import OpenAiEmbedder
from openpeek.domain.failures import DependencyUnavailable

KEY = "sk-proj-openpeekTESTkey0123456789abcdef"


def vector(seed: float) -> list[float]:
    return [seed + i / 100_000 for i in range(1536)]


def openai_body(vectors: dict[int, list[float]], tokens: int = 8) -> dict:
    """The embeddings response as OpenAI sends it, items in the order given (which need not be input order)."""
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": index, "embedding": values} for index, values in vectors.items()],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def embedder_with(handler: Callable[[httpx.Request], httpx.Response]) -> OpenAiEmbedder:
    return OpenAiEmbedder(KEY, transport=httpx.MockTransport(handler))


def test_posts_the_documented_request_and_orders_vectors_by_index() -> None:
    seen: list[httpx.Request] = []
    first, second, third = vector(0.1), vector(0.2), vector(0.3)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        # Out of input order on purpose: only `index` ties a vector to its text.
        return httpx.Response(200, json=openai_body({2: third, 0: first, 1: second}))

    vectors = embedder_with(handler).embed_texts(["alpha", "beta", "gamma"])

    assert vectors == [first, second, third]
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "https://api.openai.com/v1/embeddings"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {"model": "text-embedding-3-small", "input": ["alpha", "beta", "gamma"]}


def test_describes_itself_as_a_usable_1536_d_text_service_when_it_has_a_key() -> None:
    service = OpenAiEmbedder(KEY).service

    assert (service.name, service.dimension, service.modality, service.provider, service.usable) == (
        "openai_text_3_small",
        1536,
        "text",
        "openai",
        True,
    )


@pytest.mark.parametrize("key", [None, ""])
def test_without_a_key_it_is_listed_as_unusable_and_never_calls_out(key: str | None) -> None:
    calls: list[httpx.Request] = []
    embedder = OpenAiEmbedder(key, transport=httpx.MockTransport(lambda r: calls.append(r) or httpx.Response(500)))

    assert embedder.service.usable is False
    assert embedder.service.how_to_enable == "set OPENPEEK_OPENAI_API_KEY"
    with pytest.raises(DependencyUnavailable, match="OPENPEEK_OPENAI_API_KEY"):
        embedder.embed_texts(["q"])
    assert calls == []


def test_no_texts_means_no_request() -> None:
    embedder = embedder_with(lambda request: pytest.fail("no request expected"))

    assert embedder.embed_texts([]) == []


def test_a_long_input_list_is_split_at_openais_per_request_limit() -> None:
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["input"]
        sizes.append(len(inputs))
        # Built as text from one encoded vector: json.dumps of 2048 x 1536 floats would dominate the test's time.
        values = json.dumps(vector(float(len(sizes))))
        items = ",".join(f'{{"object":"embedding","index":{i},"embedding":{values}}}' for i in range(len(inputs)))
        return httpx.Response(200, content=f'{{"object":"list","data":[{items}]}}'.encode())

    vectors = embedder_with(handler).embed_texts([f"t{i}" for i in range(2050)])

    assert sizes == [2048, 2]
    assert len(vectors) == 2050
    assert vectors[2048][0] == pytest.approx(2.0)  # the second request's vectors come after the first's


def test_a_rejected_key_is_a_dependency_failure_that_does_not_repeat_the_key() -> None:
    masked = f"{KEY[:8]}****{KEY[-4:]}"

    def handler(request: httpx.Request) -> httpx.Response:
        # OpenAI's real 401 body quotes the key partly masked.
        message = f"Incorrect API key provided: {masked}. You can find your API key at https://platform.openai.com."
        return httpx.Response(401, json={"error": {"message": message, "type": "invalid_request_error"}})

    with pytest.raises(DependencyUnavailable) as raised:
        embedder_with(handler).embed_texts(["q"])

    message = str(raised.value)
    assert "401" in message and "OPENPEEK_OPENAI_API_KEY" in message
    assert KEY not in message and KEY[-4:] not in message and masked not in message


def test_a_server_error_is_a_dependency_failure_with_openais_reason_and_no_key() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        message = f"The server had an error while processing your request (key {KEY})."
        return httpx.Response(500, json={"error": {"message": message, "type": "server_error"}})

    with pytest.raises(DependencyUnavailable) as raised:
        embedder_with(handler).embed_texts(["q"])

    message = str(raised.value)
    assert "HTTP 500" in message and "server had an error" in message
    assert KEY not in message and "sk-" not in message


def test_a_timeout_is_a_dependency_failure_that_does_not_repeat_the_key() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout(f"timed out talking to {request.url}", request=request)

    with pytest.raises(DependencyUnavailable, match="timed out") as raised:
        embedder_with(handler).embed_texts(["q"])

    assert KEY not in str(raised.value)


def test_an_unreachable_endpoint_is_a_dependency_failure() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution", request=request)

    with pytest.raises(DependencyUnavailable, match="could not be reached"):
        embedder_with(handler).embed_texts(["q"])


@pytest.mark.parametrize(
    "body",
    [
        {"data": [{"index": 0, "embedding": [0.1, 0.2]}]},  # wrong dimension
        {"data": []},  # fewer vectors than inputs
        {"unexpected": True},
    ],
)
def test_a_malformed_answer_is_refused_rather_than_stored(body: dict) -> None:
    with pytest.raises(DependencyUnavailable):
        embedder_with(lambda request: httpx.Response(200, json=body)).embed_texts(["q"])


def test_a_non_json_answer_is_a_dependency_failure() -> None:
    with pytest.raises(DependencyUnavailable, match="unreadable"):
        embedder_with(lambda request: httpx.Response(200, text="<html>bad gateway</html>")).embed_texts(["q"])
