"""A stand-in for Amazon Bedrock's InvokeModel behind a real boto3 `bedrock-runtime` client (moto does not implement
bedrock-runtime).

The client is real: botocore validates and serialises every call as it would for AWS; a `before-call` hook then
answers in place of the network. The hook holds each request to the body Bedrock documents for the two Titan models
(Titan Text Embeddings V2: inputText, dimensions 256/512/1024, normalize; Titan Multimodal Embeddings G1: inputText
and/or a base64 inputImage, embeddingConfig.outputEmbeddingLength 256/384/1024) and refuses anything else with the
ValidationException Bedrock would send. It answers with the documented response body ({"embedding": [...],
"inputTextTokenCount": n}).

The vectors are a test device, not a model: a normalised bag of words over the words the request holds (an image's
words are those of its bytes after the PNG/JPEG header), so a query finds the document that shares its words. They
exist only so tests can check that ingestion and search hand the right inputs to the right model and store what
comes back.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import re
import threading
from typing import Any
from urllib.parse import unquote

import boto3
from botocore.exceptions import ClientError
from botocore.response import StreamingBody

TEXT_MODEL = "amazon.titan-embed-text-v2:0"
MULTIMODAL_MODEL = "amazon.titan-embed-image-v1"
TEXT_DIMENSIONS = (256, 512, 1024)
MULTIMODAL_DIMENSIONS = (256, 384, 1024)
TEXT_MAX_CHARACTERS = 50_000  # Titan Text Embeddings V2's documented input limit
PNG_HEADER = b"\x89PNG\r\n\x1a\n"
JPEG_HEADER = b"\xff\xd8\xff"


def png_with_words(words: str) -> bytes:
    """Bytes that start as a PNG does, carrying `words` (what the stand-in 'sees' in the image)."""
    return PNG_HEADER + words.encode()


def _words_vector(text: str, dimension: int) -> list[float]:
    vector = [0.0] * dimension
    for word in re.findall(r"[a-z]+", text.lower()):
        slot = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big") % dimension
        vector[slot] += 1.0
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return [value / norm for value in vector]


def _refuse(message: str, code: str = "ValidationException", status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "InvokeModel")


class TitanStandIn:
    """Attach to a bedrock-runtime client; `requests` records (model_id, body) of every call answered; set
    `throttle` to make the next calls fail as Bedrock does when throttled."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.throttle = False
        self._lock = threading.Lock()

    def client(self, region: str = "us-east-1") -> Any:
        client = boto3.session.Session().client("bedrock-runtime", region_name=region)
        client.meta.events.register("before-call.bedrock-runtime.InvokeModel", self._answer)
        return client

    def models(self) -> list[str]:
        with self._lock:
            return [model for model, _ in self.requests]

    def _answer(self, params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        model_id = unquote(params["url_path"].split("/")[2])
        headers = params.get("headers") or {}
        if headers.get("Content-Type") != "application/json" or headers.get("Accept") != "application/json":
            raise _refuse("contentType and accept must be application/json")
        body = json.loads(params["body"])
        if self.throttle:
            raise _refuse("Too many requests, please wait before trying again.", "ThrottlingException", 429)
        if model_id == TEXT_MODEL:
            embedding, tokens = self._text(body)
        elif model_id == MULTIMODAL_MODEL:
            embedding, tokens = self._multimodal(body)
        else:
            raise _refuse(f"The provided model identifier is invalid: {model_id}")
        with self._lock:
            self.requests.append((model_id, body))
        data = json.dumps({"embedding": embedding, "inputTextTokenCount": tokens}).encode()
        parsed = {"body": StreamingBody(io.BytesIO(data), len(data)), "contentType": "application/json",
                  "ResponseMetadata": {"HTTPStatusCode": 200}}
        return _Http(200), parsed

    @staticmethod
    def _text(body: dict[str, Any]) -> tuple[list[float], int]:
        unknown = set(body) - {"inputText", "dimensions", "normalize", "embeddingTypes"}
        if unknown:
            raise _refuse(f"extraneous key {sorted(unknown)} is not permitted")
        text = body.get("inputText")
        if not isinstance(text, str) or not text:
            raise _refuse("inputText is required")
        if len(text) > TEXT_MAX_CHARACTERS:
            raise _refuse(f"Malformed input request: expected maxLength: {TEXT_MAX_CHARACTERS}, actual: {len(text)}")
        dimension = body.get("dimensions", 1024)
        if dimension not in TEXT_DIMENSIONS:
            raise _refuse(f"dimensions must be one of {TEXT_DIMENSIONS}")
        if body.get("normalize", True) is not True:
            raise _refuse("this stand-in answers normalized embeddings only")
        return _words_vector(text, dimension), len(text.split())

    @staticmethod
    def _multimodal(body: dict[str, Any]) -> tuple[list[float], int]:
        unknown = set(body) - {"inputText", "inputImage", "embeddingConfig"}
        if unknown:
            raise _refuse(f"extraneous key {sorted(unknown)} is not permitted")
        if "inputText" not in body and "inputImage" not in body:
            raise _refuse("at least one of inputText or inputImage is required")
        config = body.get("embeddingConfig", {"outputEmbeddingLength": 1024})
        if set(config) != {"outputEmbeddingLength"} or config["outputEmbeddingLength"] not in MULTIMODAL_DIMENSIONS:
            raise _refuse(f"embeddingConfig.outputEmbeddingLength must be one of {MULTIMODAL_DIMENSIONS}")
        seen = body.get("inputText") or ""
        if "inputImage" in body:
            image = base64.b64decode(body["inputImage"], validate=True)
            for header in (PNG_HEADER, JPEG_HEADER):
                if image.startswith(header):
                    seen += " " + image[len(header):].decode(errors="ignore")
                    break
            else:
                raise _refuse("Unable to process provided image: only PNG and JPEG are supported")
        return _words_vector(seen, config["outputEmbeddingLength"]), len((body.get("inputText") or "").split())


class _Http:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = {}
        self.content = b""
