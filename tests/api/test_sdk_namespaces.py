"""The official mixpeek SDK (1.3.783) against a live `openpeek serve`: every response must parse."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import mixpeek
import pytest
from mixpeek import Mixpeek
from mixpeek.exceptions import ApiException
from mixpeek.models import (
    BaseFeatureExtractorModelInput,
    BYOUpsertRequest,
    CreateNamespaceRequest,
    ListNamespacesRequest,
    PatchNamespaceRequest,
    PayloadIndexConfigInput,
    UpdateNamespaceRequest,
)

from tests.api.conftest import sdk_client

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def namespaces_api(server):
    client = sdk_client(server).api_client
    return mixpeek.NamespacesApi(client)


def _start_and_read_banner(data_dir: Path) -> tuple[subprocess.Popen, str]:
    """Start serve and return it with everything it printed up to its 'serving on' line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "openpeek.cli", "serve", "--port", str(_free_port()), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    printed = ""
    for _ in range(20):
        line = process.stdout.readline()
        printed += line
        if not line or "serving on" in line:
            break
    return process, printed


def test_first_start_prints_a_key_once_and_it_works(server, tmp_path):
    base, key, _ = server
    assert httpx.get(f"{base}/v1/namespaces", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    first, printed_first = _start_and_read_banner(tmp_path / "fresh")
    first.terminate()
    first.wait(timeout=20)
    second, printed_second = _start_and_read_banner(tmp_path / "fresh")
    second.terminate()
    second.wait(timeout=20)
    assert re.search(r"sk_[A-Za-z0-9_-]{20,}", printed_first)
    assert "serving on" in printed_second and "sk_" not in printed_second


def test_generated_namespaces_api_end_to_end(namespaces_api):
    created = namespaces_api.create_namespace(
        CreateNamespaceRequest(
            namespace_name="sdk-products",
            description="made by the SDK",
            feature_extractors=[BaseFeatureExtractorModelInput(feature_extractor_name="text_extractor", version="v1")],
            payload_indexes=[PayloadIndexConfigInput(field_name="metadata.title", type="text")],
            ttl_seconds=3600,
        )
    )
    assert created.namespace_name == "sdk-products"
    assert created.mode == "managed"
    assert created.feature_extractors[0].feature_extractor_id == "text_extractor_v1"
    assert created.vector_inference_map == {"text_extractor_v1_embedding": "all_minilm_l6_v2"}
    assert created.expires_at is not None
    assert created.namespace_ready is True

    by_name = namespaces_api.get_namespace("sdk-products")
    by_id = namespaces_api.get_namespace(created.namespace_id)
    assert by_name.namespace_id == by_id.namespace_id == created.namespace_id
    assert by_name.payload_index_count == 1
    assert {index.field_name for index in by_name.payload_indexes} >= {"internal_id", "metadata.title"}

    listed = namespaces_api.list_namespaces(list_namespaces_request=ListNamespacesRequest(search="sdk-"))
    assert [ns.namespace_name for ns in listed.results] == ["sdk-products"]
    assert listed.total_count == 1
    listed_get = namespaces_api.list_namespaces_get(limit=10)
    assert created.namespace_id in [ns.namespace_id for ns in listed_get.results]

    patched = namespaces_api.patch_namespace(
        "sdk-products",
        PatchNamespaceRequest(
            description="patched",
            auto_create_indexes=True,
            feature_extractors=[BaseFeatureExtractorModelInput(feature_extractor_name="image_extractor", version="v1")],
        ),
    )
    assert patched.description == "patched" and patched.auto_create_indexes is True
    assert [ref.feature_extractor_id for ref in patched.feature_extractors] == [
        "text_extractor_v1",
        "image_extractor_v1",
    ]

    replaced = namespaces_api.update_namespace(
        created.namespace_id,
        UpdateNamespaceRequest(
            namespace_name="sdk-catalog", payload_indexes=[PayloadIndexConfigInput(field_name="sku", type="keyword")]
        ),
    )
    assert replaced.namespace_name == "sdk-catalog"
    assert [index.field_name for index in replaced.payload_indexes if not index.is_protected] == ["sku"]

    stats = namespaces_api.get_namespace_stats("sdk-catalog")
    assert stats.namespace_id == created.namespace_id and stats.document_count == 0

    namespaces_api.delete_namespace("sdk-catalog")
    with pytest.raises(ApiException) as missing:
        namespaces_api.get_namespace(created.namespace_id)
    assert missing.value.status == 404
    with pytest.raises(ApiException) as again:
        namespaces_api.delete_namespace(created.namespace_id)
    assert again.value.status == 404


def test_sdk_sees_validation_errors(namespaces_api):
    namespaces_api.create_namespace(CreateNamespaceRequest(namespace_name="sdk-dupe"))
    with pytest.raises(ApiException) as taken:
        namespaces_api.create_namespace(CreateNamespaceRequest(namespace_name="sdk-dupe"))
    assert taken.value.status == 409
    assert '"namespace_name_taken"' in taken.value.body
    with pytest.raises(ApiException) as unknown:
        namespaces_api.patch_namespace(
            "sdk-dupe",
            PatchNamespaceRequest(
                feature_extractors=[BaseFeatureExtractorModelInput(feature_extractor_name="ghost", version="v1")]
            ),
        )
    assert unknown.value.status == 400 and '"feature_extractor_not_found"' in unknown.value.body


def test_feature_extractor_routes_parse(server):
    api = mixpeek.FeatureExtractorsApi(sdk_client(server).api_client)
    listed = api.list_feature_extractors()
    by_id = {extractor.feature_extractor_id: extractor for extractor in listed}
    # Listed: what this deployment can run (embedded: the bundled MiniLM and passthrough, no CLIP or Bedrock).
    assert set(by_id) == {"text_extractor_v1", "passthrough_extractor_v1"}
    text = api.get_feature_extractor_by("text_extractor_v1")
    assert text.feature_extractor_name == "text_extractor" and text.version == "v1"
    assert text.required_vector_indexes[0].name == "embedding"
    # The others still answer by id, so a namespace can name them; they say they cannot run here.
    assert api.get_feature_extractor_by("multimodal_extractor_v1").feature_extractor_name == "multimodal_extractor"


def test_high_level_client(server):
    base, key, _ = server
    client = Mixpeek(key, base_url=f"{base}/v1")
    created = client.namespaces.create(name="sdk-high-level")
    assert created["namespace_name"] == "sdk-high-level" and created.mode == "managed"
    assert client.namespaces.get("sdk-high-level")["namespace_id"] == created["namespace_id"]
    names = [ns["namespace_name"] for ns in client.namespaces.list()["results"]]
    assert "sdk-high-level" in names
    client.namespaces.delete(created["namespace_id"])
    with pytest.raises(Exception) as missing:
        client.namespaces.get(created["namespace_id"])
    assert getattr(missing.value, "status", None) == 404


def test_keys_cli_creates_lists_and_revokes(server):
    base, _, data_dir = server
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "openpeek.cli", "keys", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    key = run("create", "--org", "cli-org").stdout.strip()
    assert re.fullmatch(r"sk_[A-Za-z0-9_-]{20,}", key)
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{base}/v1/namespaces", headers=headers).status_code == 200
    listing = run("list", "--org", "cli-org").stdout
    key_id = listing.split()[0]
    assert key_id.startswith("key_") and "active" in listing and key not in listing
    run("revoke", key_id, "--org", "cli-org")
    assert httpx.get(f"{base}/v1/namespaces", headers=headers).status_code == 401
    assert "revoked" in run("list", "--org", "cli-org").stdout


def test_data_dir_from_environment(tmp_path):
    env = {**os.environ, "OPENPEEK_DATA_DIR": str(tmp_path / "from-env")}
    result = subprocess.run(
        [sys.executable, "-m", "openpeek.cli", "keys", "create", "--org", "envorg"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert result.stdout.startswith("sk_")
    assert (Path(tmp_path / "from-env") / "openpeek.db").exists()


def test_two_organisations_recreate_a_namespace_with_the_same_known_id(server):
    """The SDK's namespace_id on create ("recovery/migration when recreating a namespace with a known ID") is the
    caller's own: another organisation holding the same id neither blocks it nor shows through."""
    base, first_key, data_dir = server
    second_key = subprocess.run(
        [sys.executable, "-m", "openpeek.cli", "keys", "create", "--org", "sdk-second-org", "--data-dir",
         str(data_dir)], capture_output=True, text=True, check=True).stdout.strip()
    clients = [sdk_client((base, key)).api_client
               for key in (first_key, second_key)]
    for position, client in enumerate(clients):
        created = mixpeek.NamespacesApi(client).create_namespace(
            CreateNamespaceRequest(namespace_name=f"recovered-{position}", namespace_id="sdk-known-id",
                                   vector_configs=[{"name": "dense", "dimension": 2}]))
        assert created.namespace_id == "sdk-known-id" and created.namespace_name == f"recovered-{position}"
        documents = mixpeek.BYODocumentsApi(client)
        documents.upsert_documents_byo_namespaces("sdk-known-id", BYOUpsertRequest.from_dict({"documents": [
            {"document_id": "doc", "vectors": {"dense": [1.0, 0.0]}, "payload": {"owner": position}}]}))
    with pytest.raises(ApiException) as taken:
        mixpeek.NamespacesApi(clients[0]).create_namespace(
            CreateNamespaceRequest(namespace_name="recovered-again", namespace_id="sdk-known-id"))
    assert taken.value.status == 409 and '"namespace_id_taken"' in taken.value.body

    for position, client in enumerate(clients):
        document = mixpeek.BYODocumentsApi(client).get_document_byo_namespaces("sdk-known-id", "doc")
        assert document["owner"] == position and document["namespace_id"] == "sdk-known-id"
        stats = mixpeek.NamespacesApi(client).get_namespace_stats("sdk-known-id")
        assert stats.namespace_id == "sdk-known-id" and stats.document_count == 1

    mixpeek.NamespacesApi(clients[0]).delete_namespace("sdk-known-id")
    with pytest.raises(ApiException) as gone:
        mixpeek.NamespacesApi(clients[0]).get_namespace("sdk-known-id")
    assert gone.value.status == 404
    survivor = mixpeek.NamespacesApi(clients[1]).get_namespace("sdk-known-id")
    assert survivor.namespace_name == "recovered-1" and survivor.document_count == 1
    assert mixpeek.BYODocumentsApi(clients[1]).get_document_byo_namespaces("sdk-known-id", "doc")["owner"] == 1
