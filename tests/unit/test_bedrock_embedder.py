"""Titan embedders against a real bedrock-runtime client whose network is replaced by botocore's Stubber.

The Stubber checks each InvokeModel request against the service model, so these tests pin down the exact request
Bedrock would receive and parse the response in the shape Bedrock sends it (a streaming JSON body).
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any, Iterator

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from openpeek.adapters.inference.bedrock import BedrockTitanMultimodalEmbedder, BedrockTitanTextEmbedder
from openpeek.domain.failures import DependencyUnavailable

REGION = "us-east-1"


class JsonBody:
    """Matches a request body by its JSON value, so the test does not depend on key order or spacing."""

    def __init__(self, expected: dict[str, Any]) -> None:
        self.expected = expected

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (str, bytes)) and json.loads(other) == self.expected

    def __repr__(self) -> str:
        return f"JsonBody({self.expected!r})"




@pytest.fixture
def runtime(aws_credentials: None) -> Iterator[tuple[Any, Stubber]]:
    client = boto3.session.Session().client("bedrock-runtime", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def titan_response(payload: dict[str, Any]) -> dict[str, Any]:
    data = json.dumps(payload).encode()
    return {"body": StreamingBody(io.BytesIO(data), len(data)), "contentType": "application/json"}


def expect_invoke(stubber: Stubber, model_id: str, body: dict[str, Any], answer: dict[str, Any]) -> None:
    stubber.add_response(
        "invoke_model",
        titan_response(answer),
        expected_params={
            "modelId": model_id,
            "contentType": "application/json",
            "accept": "application/json",
            "body": JsonBody(body),
        },
    )


def vector(dimension: int, seed: float) -> list[float]:
    return [seed + i / 10_000 for i in range(dimension)]


def test_titan_text_v2_sends_one_normalized_request_per_text_and_returns_vectors_in_order(runtime) -> None:
    client, stubber = runtime
    first, second = vector(1024, 0.1), vector(1024, 0.2)
    expect_invoke(
        stubber,
        "amazon.titan-embed-text-v2:0",
        {"inputText": "red shoes", "dimensions": 1024, "normalize": True},
        {"embedding": first, "inputTextTokenCount": 3},
    )
    expect_invoke(
        stubber,
        "amazon.titan-embed-text-v2:0",
        {"inputText": "blue hat", "dimensions": 1024, "normalize": True},
        {"embedding": second, "inputTextTokenCount": 3},
    )
    embedder = BedrockTitanTextEmbedder(client=client)

    assert embedder.embed_texts(["red shoes", "blue hat"]) == [first, second]
    assert (embedder.service.name, embedder.service.dimension, embedder.service.modality) == (
        "bedrock_titan_text_v2",
        1024,
        "text",
    )


def test_titan_text_v2_asks_for_the_configured_smaller_dimension(runtime) -> None:
    client, stubber = runtime
    expect_invoke(
        stubber,
        "amazon.titan-embed-text-v2:0",
        {"inputText": "q", "dimensions": 256, "normalize": True},
        {"embedding": vector(256, 0.0), "inputTextTokenCount": 1},
    )
    embedder = BedrockTitanTextEmbedder(dimensions=256, client=client)

    assert embedder.service.dimension == 256
    assert len(embedder.embed_texts(["q"])[0]) == 256


def test_titan_text_v2_refuses_a_dimension_titan_cannot_return() -> None:
    with pytest.raises(ValueError, match="768"):
        BedrockTitanTextEmbedder(dimensions=768)  # type: ignore[arg-type]


def test_titan_multimodal_embeds_text_queries_with_the_embedding_config(runtime) -> None:
    client, stubber = runtime
    expected = vector(1024, 0.3)
    expect_invoke(
        stubber,
        "amazon.titan-embed-image-v1",
        {"inputText": "a red car", "embeddingConfig": {"outputEmbeddingLength": 1024}},
        {"embedding": expected, "inputTextTokenCount": 4, "message": None},
    )
    embedder = BedrockTitanMultimodalEmbedder(client=client)

    assert embedder.embed_texts(["a red car"]) == [expected]
    assert (embedder.service.name, embedder.service.dimension, embedder.service.modality) == (
        "bedrock_titan_multimodal_g1",
        1024,
        "multimodal",
    )


def test_titan_multimodal_sends_images_base64_encoded_alone_or_with_text(runtime) -> None:
    client, stubber = runtime
    image = b"\x89PNG\r\n\x1a\n not really a png"
    encoded = base64.b64encode(image).decode()
    image_vector, combined_vector = vector(1024, 0.4), vector(1024, 0.5)
    expect_invoke(
        stubber,
        "amazon.titan-embed-image-v1",
        {"inputImage": encoded, "embeddingConfig": {"outputEmbeddingLength": 1024}},
        {"embedding": image_vector, "message": None},
    )
    expect_invoke(
        stubber,
        "amazon.titan-embed-image-v1",
        {"inputText": "this car", "inputImage": encoded, "embeddingConfig": {"outputEmbeddingLength": 1024}},
        {"embedding": combined_vector, "inputTextTokenCount": 2, "message": None},
    )
    embedder = BedrockTitanMultimodalEmbedder(client=client)

    assert embedder.embed_images([image]) == [image_vector]
    assert embedder.embed_text_and_image("this car", image) == combined_vector


def test_throttling_becomes_dependency_unavailable(runtime) -> None:
    client, stubber = runtime
    stubber.add_client_error(
        "invoke_model",
        service_error_code="ThrottlingException",
        service_message="Too many requests, please wait before trying again.",
        http_status_code=429,
    )
    embedder = BedrockTitanTextEmbedder(client=client)

    with pytest.raises(DependencyUnavailable, match="ThrottlingException"):
        embedder.embed_texts(["q"])


def test_missing_model_access_says_how_to_grant_it(runtime) -> None:
    client, stubber = runtime
    stubber.add_client_error(
        "invoke_model",
        service_error_code="AccessDeniedException",
        service_message="You don't have access to the model with the specified model ID.",
        http_status_code=403,
    )
    embedder = BedrockTitanMultimodalEmbedder(client=client)

    with pytest.raises(DependencyUnavailable, match="enable access to this model"):
        embedder.embed_texts(["q"])


def test_a_vector_of_the_wrong_size_is_refused_rather_than_stored(runtime) -> None:
    client, stubber = runtime
    expect_invoke(
        stubber,
        "amazon.titan-embed-text-v2:0",
        {"inputText": "q", "dimensions": 1024, "normalize": True},
        {"embedding": vector(512, 0.0), "inputTextTokenCount": 1},
    )
    embedder = BedrockTitanTextEmbedder(client=client)

    with pytest.raises(DependencyUnavailable, match="512 values where 1024"):
        embedder.embed_texts(["q"])


def test_building_needs_no_aws_configuration_and_a_call_without_it_is_a_clean_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The registry is built at Lambda import time and in the embedded runtime, where no AWS settings exist.
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/openpeek-test-config")
    embedder = BedrockTitanTextEmbedder()

    with pytest.raises(DependencyUnavailable, match="amazon.titan-embed-text-v2:0"):
        embedder.embed_texts(["q"])
