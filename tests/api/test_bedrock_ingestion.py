"""Extractors on Amazon Titan through Bedrock, with the settings a deployment uses (OPENPEEK_BEDROCK_ENABLED, no local
model), on the embedded stores. Bedrock is the stand-in of tests/bedrock_standin.py behind a real boto3 client, so
every call is checked against the request body Bedrock documents.

- text_extractor runs on Titan Text V2: the catalogue, the collection's index and the documents say 1024-d and the
  Titan feature URI, and a retriever's text query is embedded by the same model;
- image_extractor / multimodal_extractor run on Titan Multimodal G1 (inputImage, with inputText when mapped);
- a Bedrock outage fails the objects as transient and `retry` finishes them;
- without OPENPEEK_BEDROCK_ENABLED the image extractors stay refused, naming the setting.
"""

from __future__ import annotations

import base64
import types
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient
from mixpeek.models.batch_model import BatchModel
from mixpeek.models.collection_response import CollectionResponse

from openpeek.adapters.aws import clients
from openpeek.api.app import create_app
from openpeek.runtime import build_services
from openpeek.settings import Settings
from tests.bedrock_standin import MULTIMODAL_MODEL, TEXT_MODEL, TitanStandIn, png_with_words
from tests.conftest import make_tenant

TITAN_TEXT_INDEX = "text_extractor_v1_titan_text_v2_embedding"
TITAN_IMAGE_INDEX = "image_extractor_v1_titan_multimodal_g1_embedding"
ARTICLES = {
    "volcano": "Volcanoes erupt when molten rock rises through the crust as lava.",
    "espresso": "Espresso is brewed by forcing hot water through finely ground coffee beans.",
    "glacier": "Glaciers are rivers of ice that carve deep valleys.",
}


@pytest.fixture
def bedrock(aws_credentials, monkeypatch) -> TitanStandIn:
    """Every bedrock-runtime client the runtime makes is a real one answered by the stand-in."""
    standin = TitanStandIn()
    real_session = boto3.session.Session

    class Session:
        def client(self, service: str, **kwargs: Any) -> Any:
            if service == "bedrock-runtime":
                return standin.client(kwargs.get("region_name") or "us-east-1")
            return real_session().client(service, **kwargs)

    monkeypatch.setattr(clients, "boto3", types.SimpleNamespace(session=types.SimpleNamespace(Session=Session)))
    return standin


def vectors(document: dict) -> dict:
    return document["vectors"]


class Api:
    def __init__(self, tmp_path, **settings: Any) -> None:
        self.services = build_services(Settings(runtime="embedded", data_dir=tmp_path / "data", **settings))
        self.client = TestClient(create_app(self.services), raise_server_exceptions=False)
        tenant = make_tenant(self.services, "acme")
        created = self.client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "media"})
        assert created.status_code == 200, created.text
        self.namespace = created.json()
        self.headers = {**tenant.headers, "X-Namespace": "media"}

    def post(self, path: str, body: dict) -> dict:
        answer = self.client.post(path, headers=self.headers, json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def bucket(self, properties: dict) -> None:
        self.post("/v1/buckets", {"bucket_name": "media", "bucket_schema": {"properties": properties}})

    def collection(self, name: str, extractor: str, mappings: dict) -> CollectionResponse:
        return CollectionResponse.from_dict(self.post("/v1/collections", {
            "collection_name": name, "source": {"type": "bucket", "bucket_ids": ["media"]},
            "feature_extractor": {"feature_extractor_name": extractor, "version": "v1", "input_mappings": mappings,
                                  "field_passthrough": [{"source_path": "topic"}]}}))

    def add(self, topic: str, blobs: list[dict]) -> str:
        return self.post("/v1/buckets/media/objects", {"blobs": blobs, "topic": topic})["object_id"]

    def run_batch(self, object_ids: list[str]) -> BatchModel:
        batch = self.post("/v1/buckets/media/batches", {"object_ids": object_ids})
        self.post(f"/v1/buckets/media/batches/{batch['batch_id']}/submit", {})
        return self.wait(batch["batch_id"])

    def wait(self, batch_id: str) -> BatchModel:
        assert self.services.batch_worker.wait_idle(60)
        answer = self.client.get(f"/v1/buckets/media/batches/{batch_id}", headers=self.headers)
        assert answer.status_code == 200, answer.text
        return BatchModel.from_dict(answer.json())

    def documents(self, collection_id: str) -> list[dict]:
        return self.post(f"/v1/collections/{collection_id}/documents/list",
                         {"return_vectors": True})["results"]

    def search(self, collection: str, feature_uri: str, text: str) -> list[dict]:
        retriever = self.post("/v1/retrievers", {
            "retriever_name": f"find-{collection}", "collection_identifiers": [collection],
            "input_schema": {"q": {"type": "string", "required": True}},
            "stages": [{"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {
                "searches": [{"feature_uri": feature_uri, "query": {"input_mode": "text", "value": "{{INPUT.q}}"},
                              "top_k": 3}]}}}]})
        return self.post(f"/v1/retrievers/{retriever['retriever_id']}/execute", {"inputs": {"q": text}})["documents"]

    def close(self) -> None:
        self.services.close()


@pytest.fixture
def deployed_inference(tmp_path, bedrock):
    """Inference as deployed: Bedrock on, no local model (the Lambda bundle has no torch)."""
    api = Api(tmp_path, bedrock_enabled=True, local_inference=False)
    yield api
    api.close()


def test_the_catalogue_reports_titan_models_and_dimensions_when_only_bedrock_is_usable(deployed_inference):
    answer = deployed_inference.client.get("/v1/collections/features/extractors")
    assert answer.status_code == 200, answer.text
    catalogue = {entry["feature_extractor_name"]: entry for entry in answer.json()}
    text = catalogue["text_extractor"]["required_vector_indexes"][0]
    assert text["feature_uri"] == "mixpeek://text_extractor@v1/titan_text_v2_v1"
    assert text["index"]["dimensions"] == 1024 and text["index"]["inference_name"] == "bedrock_titan_text_v2"
    image = catalogue["image_extractor"]["required_vector_indexes"][0]
    assert image["feature_uri"] == "mixpeek://image_extractor@v1/titan_multimodal_g1_v1"
    assert image["index"]["dimensions"] == 1024
    assert "Titan" in catalogue["image_extractor"]["description"]
    # The namespace's baseline text index is Titan's too, so a generic feature URI means Titan's index.
    assert deployed_inference.namespace["vector_inference_map"] == {TITAN_TEXT_INDEX: "bedrock_titan_text_v2"}


def test_text_extractor_embeds_documents_and_queries_with_titan_text_v2(deployed_inference, bedrock):
    api = deployed_inference
    api.bucket({"content": {"type": "text"}, "topic": {"type": "string"}})
    collection = api.collection("passages", "text_extractor", {"text": "content"})
    assert [(i.feature_uri, i.index["name"], i.index["dimensions"], i.index["inference_name"])
            for i in collection.vector_indexes] == [
        ("mixpeek://text_extractor@v1/titan_text_v2_v1", TITAN_TEXT_INDEX, 1024, "bedrock_titan_text_v2")]
    ids = {topic: api.add(topic, [{"property": "content", "type": "text", "data": text}])
           for topic, text in ARTICLES.items()}
    batch = api.run_batch(list(ids.values()))
    assert batch.status == "COMPLETED", batch.failure_reason
    assert batch.documents_written == 3
    assert {model for model, _ in bedrock.requests} == {TEXT_MODEL}
    texts = sorted(body["inputText"] for _, body in bedrock.requests)
    assert texts == sorted(ARTICLES.values())
    assert all(body == {"inputText": body["inputText"], "dimensions": 1024, "normalize": True}
               for _, body in bedrock.requests)
    documents = api.documents(collection.collection_id)
    assert len(documents) == 3
    assert {len(vectors(d)[TITAN_TEXT_INDEX]) for d in documents} == {1024}
    bedrock.requests.clear()
    found = api.search("passages", "mixpeek://text_extractor@v1/embedding", "how is coffee brewed?")
    assert found[0]["source_object_id"] == ids["espresso"]
    assert bedrock.requests == [(TEXT_MODEL, {"inputText": "how is coffee brewed?", "dimensions": 1024,
                                              "normalize": True})]


@pytest.fixture
def embedded_with_bedrock(tmp_path, bedrock):
    """`openpeek serve` with OPENPEEK_BEDROCK_ENABLED=true: the local text model and Titan through Bedrock."""
    api = Api(tmp_path, bedrock_enabled=True)
    yield api
    api.close()


def image_blob(data: bytes) -> dict:
    return {"property": "photo", "type": "image", "data": base64.b64encode(data).decode()}


def test_image_extractor_embeds_png_images_with_titan_multimodal_and_text_finds_them(embedded_with_bedrock,
                                                                                     bedrock):
    api = embedded_with_bedrock
    api.bucket({"photo": {"type": "image"}, "topic": {"type": "string"}})
    collection = api.collection("photos", "image_extractor", {"image": "photo"})
    assert [(i.feature_uri, i.index["dimensions"]) for i in collection.vector_indexes] == [
        ("mixpeek://image_extractor@v1/titan_multimodal_g1_v1", 1024)]
    ids = {"volcano": api.add("volcano", [image_blob(png_with_words("volcano lava eruption"))]),
           "espresso": api.add("espresso", [image_blob(png_with_words("espresso coffee cup"))]),
           "gif": api.add("gif", [image_blob(b"GIF89a not a png")])}
    batch = api.run_batch(list(ids.values()))
    assert batch.status == "COMPLETED_WITH_ERRORS", batch.failure_reason
    assert batch.documents_written == 2
    assert [(f.object_id, f.error_type) for f in batch.failed_objects] == [(ids["gif"], "permanent")]
    assert "PNG or JPEG" in batch.failed_objects[0].error
    sent = sorted(base64.b64decode(body["inputImage"]) for model, body in bedrock.requests)
    assert sent == sorted([png_with_words("volcano lava eruption"), png_with_words("espresso coffee cup")])
    assert {(model, tuple(sorted(body))) for model, body in bedrock.requests} == {
        (MULTIMODAL_MODEL, ("embeddingConfig", "inputImage"))}
    assert all(body["embeddingConfig"] == {"outputEmbeddingLength": 1024} for _, body in bedrock.requests)
    documents = api.documents(collection.collection_id)
    assert {len(vectors(d)[TITAN_IMAGE_INDEX]) for d in documents} == {1024}
    bedrock.requests.clear()
    found = api.search("photos", "mixpeek://image_extractor@v1/titan_multimodal_g1_v1", "a cup of coffee")
    assert found[0]["source_object_id"] == ids["espresso"]
    assert bedrock.requests == [(MULTIMODAL_MODEL, {"inputText": "a cup of coffee",
                                                    "embeddingConfig": {"outputEmbeddingLength": 1024}})]


def test_multimodal_extractor_embeds_an_image_with_its_caption_in_one_request(embedded_with_bedrock, bedrock):
    api = embedded_with_bedrock
    api.bucket({"photo": {"type": "image"}, "caption": {"type": "string"}, "topic": {"type": "string"}})
    collection = api.collection("scenes", "multimodal_extractor", {"image": "photo", "text": "caption"})
    object_id = api.post("/v1/buckets/media/objects", {
        "blobs": [image_blob(png_with_words("glacier ice"))], "caption": "a glacier at dawn", "topic": "ice"})[
        "object_id"]
    batch = api.run_batch([object_id])
    assert batch.status == "COMPLETED", batch.failure_reason
    assert bedrock.requests == [(MULTIMODAL_MODEL, {
        "inputText": "a glacier at dawn", "inputImage": base64.b64encode(png_with_words("glacier ice")).decode(),
        "embeddingConfig": {"outputEmbeddingLength": 1024}})]
    [document] = api.documents(collection.collection_id)
    assert document["text"] == "a glacier at dawn" and document["topic"] == "ice"


def test_a_bedrock_outage_fails_the_objects_as_transient_and_retry_finishes_them(embedded_with_bedrock, bedrock):
    api = embedded_with_bedrock
    api.bucket({"photo": {"type": "image"}, "topic": {"type": "string"}})
    collection = api.collection("photos", "image_extractor", {"image": "photo"})
    ids = [api.add(topic, [image_blob(png_with_words(topic))]) for topic in ("volcano", "espresso")]
    bedrock.throttle = True
    batch = api.run_batch(ids)
    assert batch.documents_written == 0
    assert sorted((f.object_id, f.error_type) for f in batch.failed_objects) == sorted(
        (object_id, "transient") for object_id in ids)
    assert all("ThrottlingException" in f.error for f in batch.failed_objects)
    assert api.documents(collection.collection_id) == []
    bedrock.throttle = False
    api.post(f"/v1/buckets/media/batches/{batch.batch_id}/retry", {})
    retried = api.wait(batch.batch_id)
    assert retried.status == "COMPLETED", retried.failure_reason
    assert len(api.documents(collection.collection_id)) == 2


def test_without_bedrock_image_extractors_are_refused_naming_the_setting(tmp_path):
    api = Api(tmp_path)
    try:
        api.bucket({"photo": {"type": "image"}, "topic": {"type": "string"}})
        for extractor in ("image_extractor", "multimodal_extractor"):
            refused = api.client.post("/v1/collections", headers=api.headers, json={
                "collection_name": extractor.replace("_", "-"), "source": {"type": "bucket", "bucket_ids": ["media"]},
                "feature_extractor": {"feature_extractor_name": extractor, "version": "v1",
                                      "input_mappings": {"image": "photo"}}})
            assert refused.status_code == 400, refused.text
            entry = api.client.get(f"/v1/collections/features/extractors/{extractor}_v1").json()
            assert entry["available"] is False and "OPENPEEK_BEDROCK_ENABLED" in entry["how_to_enable"]
    finally:
        api.close()


def test_a_text_titan_refuses_fails_alone_as_permanent_and_the_others_are_written(deployed_inference, bedrock):
    api = deployed_inference
    api.bucket({"content": {"type": "text"}, "topic": {"type": "string"}})
    api.collection("passages", "text_extractor", {"text": "content"})
    ids = {topic: api.add(topic, [{"property": "content", "type": "text", "data": text}])
           for topic, text in ARTICLES.items()}
    ids["endless"] = api.add("endless", [{"property": "content", "type": "text", "data": "lava " * 12_000}])
    batch = api.run_batch(list(ids.values()))
    assert batch.status == "COMPLETED_WITH_ERRORS", batch.failure_reason
    assert batch.documents_written == 3
    [failure] = batch.failed_objects
    assert (failure.object_id, failure.error_type) == (ids["endless"], "permanent")
    assert "ValidationException" in failure.error


def test_a_query_titan_refuses_is_a_400_not_an_outage(deployed_inference, bedrock):
    api = deployed_inference
    api.bucket({"content": {"type": "text"}, "topic": {"type": "string"}})
    api.collection("passages", "text_extractor", {"text": "content"})
    retriever = api.post("/v1/retrievers", {
        "retriever_name": "find", "collection_identifiers": ["passages"],
        "input_schema": {"q": {"type": "string", "required": True}},
        "stages": [{"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {
            "searches": [{"feature_uri": "mixpeek://text_extractor@v1/embedding",
                          "query": {"input_mode": "text", "value": "{{INPUT.q}}"}, "top_k": 3}]}}}]})
    answer = api.client.post(f"/v1/retrievers/{retriever['retriever_id']}/execute", headers=api.headers,
                             json={"inputs": {"q": "lava " * 12_000}})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "embedding_input_rejected"
    assert "ValidationException" in answer.json()["error"]["message"]
