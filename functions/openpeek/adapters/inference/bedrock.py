"""Amazon Titan embeddings on Bedrock: the deployed runtime's query embedders, billed to the team's own account.

Titan has no batch API for on-demand calls, so each text is one InvokeModel request. Queries are one or a few texts,
so that is a few tens of milliseconds, and it keeps the API Lambda free of anything heavier than boto3.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Literal, Sequence

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from openpeek.adapters.aws.clients import LazyClient
from openpeek.domain.failures import DependencyUnavailable, EmbeddingInputRejected
from openpeek.domain.inference import InferenceService

TITAN_TEXT_V2_MODEL_ID = "amazon.titan-embed-text-v2:0"
TITAN_MULTIMODAL_G1_MODEL_ID = "amazon.titan-embed-image-v1"
TITAN_TEXT_V2_SERVICE = "bedrock_titan_text_v2"
TITAN_MULTIMODAL_G1_SERVICE = "bedrock_titan_multimodal_g1"
TitanTextDimensions = Literal[1024, 512, 256]
TitanMultimodalDimensions = Literal[1024, 384, 256]
_TEXT_DIMENSIONS = (1024, 512, 256)
_MULTIMODAL_DIMENSIONS = (1024, 384, 256)

# Standard mode retries throttling and transient 5xx with backoff before we give up and answer 503.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=30)
_MAX_ERROR_CHARS = 300
_ACCESS_HINT = "; grant bedrock:InvokeModel and enable access to this model in the Bedrock console for this region"


def _bedrock_failure(model_id: str, error: Exception) -> DependencyUnavailable:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code", "ClientError")
        message = f"Bedrock {model_id} refused the request: {code}: {details.get('Message', '')}".rstrip(": ")
        if code == "AccessDeniedException":
            message += _ACCESS_HINT
        if code == "ValidationException":
            # Bedrock's answer to an input the model cannot take (too many tokens, an unreadable image).
            return EmbeddingInputRejected(message[:_MAX_ERROR_CHARS])
    else:
        message = f"Bedrock {model_id} could not be reached: {error}"
    return DependencyUnavailable(message[:_MAX_ERROR_CHARS])


class _TitanInvoker:
    """The InvokeModel round trip both Titan models share: JSON in, JSON with `embedding` out, SDK errors mapped to
    DependencyUnavailable. The client is made on first use, so building the registry at Lambda import time needs no
    credentials and makes no call."""

    def __init__(self, model_id: str, dimension: int, region: str | None, client: Any) -> None:
        self._model_id = model_id
        self._dimension = dimension
        self._region = region
        self._client = LazyClient("bedrock-runtime", config=_CLIENT_CONFIG, region=region, client=client,
                                  setup_failed=lambda error: _bedrock_failure(model_id, error))

    def embed(self, body: dict[str, Any]) -> list[float]:
        try:
            response = self._runtime().invoke_model(
                modelId=self._model_id,
                contentType="application/json",
                accept="application/json",
                body=json.dumps(body),
            )
            payload = json.loads(response["body"].read())
        except (ClientError, BotoCoreError) as error:
            raise _bedrock_failure(self._model_id, error) from error
        except (ValueError, KeyError) as error:
            raise DependencyUnavailable(f"Bedrock {self._model_id} answered with an unreadable body") from error
        embedding = payload.get("embedding") if isinstance(payload, dict) else None
        if not isinstance(embedding, list) or len(embedding) != self._dimension:
            got = len(embedding) if isinstance(embedding, list) else "no"
            raise DependencyUnavailable(
                f"Bedrock {self._model_id} returned {got} values where {self._dimension} were expected"
            )
        return [float(value) for value in embedding]

    def _runtime(self) -> Any:
        return self._client.get()


class BedrockTitanTextEmbedder:
    """Embedder for `bedrock_titan_text_v2`: Titan Text Embeddings V2, normalized, 1024-d by default.

    `dimensions` picks one of the sizes Titan V2 can return; the vector index that stores them must have the same.
    `region` defaults to the SDK's (AWS_REGION in Lambda); `client` lets tests pass a stubbed bedrock-runtime client.
    """

    def __init__(
        self,
        *,
        dimensions: TitanTextDimensions = 1024,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        if dimensions not in _TEXT_DIMENSIONS:
            raise ValueError(f"Titan Text V2 returns {_TEXT_DIMENSIONS} dimensions, not {dimensions}")
        self._dimensions = dimensions
        self._invoker = _TitanInvoker(TITAN_TEXT_V2_MODEL_ID, dimensions, region, client)
        self.service = InferenceService(
            name=TITAN_TEXT_V2_SERVICE,
            dimension=dimensions,
            modality="text",
            provider="bedrock",
            description=f"Amazon Titan Text Embeddings V2 on Bedrock ({dimensions}-d, normalized).",
        )

    def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        return [
            self._invoker.embed({"inputText": text, "dimensions": self._dimensions, "normalize": True})
            for text in texts
        ]


class BedrockTitanMultimodalEmbedder:
    """Embedder for `bedrock_titan_multimodal_g1`: Titan Multimodal Embeddings G1, text and images in one space.

    Text queries go through `embed_texts` (the port); `embed_images` and `embed_text_and_image` serve image and
    combined queries, which land in the same 1024-d space so a text query finds images and the reverse.
    """

    def __init__(
        self,
        *,
        dimensions: TitanMultimodalDimensions = 1024,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        if dimensions not in _MULTIMODAL_DIMENSIONS:
            raise ValueError(f"Titan Multimodal G1 returns {_MULTIMODAL_DIMENSIONS} dimensions, not {dimensions}")
        self._dimensions = dimensions
        self._invoker = _TitanInvoker(TITAN_MULTIMODAL_G1_MODEL_ID, dimensions, region, client)
        self.service = InferenceService(
            name=TITAN_MULTIMODAL_G1_SERVICE,
            dimension=dimensions,
            modality="multimodal",
            provider="bedrock",
            description=f"Amazon Titan Multimodal Embeddings G1 on Bedrock ({dimensions}-d, text and images).",
        )

    def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._invoker.embed(self._body(text=text)) for text in texts]

    def embed_images(self, images: Sequence[bytes]) -> list[list[float]]:
        """One vector per image (PNG or JPEG bytes)."""
        return [self._invoker.embed(self._body(image=image)) for image in images]

    def embed_text_and_image(self, text: str, image: bytes) -> list[float]:
        """One vector for a text and an image together (Titan combines them into a single embedding)."""
        return self._invoker.embed(self._body(text=text, image=image))

    def _body(self, *, text: str | None = None, image: bytes | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if text is not None:
            body["inputText"] = text
        if image is not None:
            body["inputImage"] = base64.b64encode(image).decode("ascii")
        body["embeddingConfig"] = {"outputEmbeddingLength": self._dimensions}
        return body
