"""A namespace stored under a relocated `nsr_` id (its organisation chose an id another organisation had taken) is
never named by that storage id to an API caller: not in a message, a token, a cold index's name or a 404 for a record
whose namespace is gone. The operator commands name it as its organisation knows it, `<org>/<public id>`, with the
storage id in brackets, and take it by public id with `--org` or by storage id alone."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient

from openpeek import cli
from openpeek.api.app import create_app
from openpeek.domain.buckets import Bucket
from openpeek.domain.clock import utcnow
from openpeek.domain.namespace import RELOCATED_PREFIX, show_public_ids
from openpeek.repositories.buckets import BucketRepository
from openpeek.repositories.filter_usage import FilterUsageRepository
from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.runtime import build_services
from openpeek.services.filter_usage import FilterUsage
from openpeek.services.tiering.sweeper import TieringSweeper
from openpeek.settings import Settings
from tests.conftest import make_tenant

SHARED = "library"
URI = "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1"


def headers_for(tenant, namespace=SHARED):
    return {**tenant.headers, "X-Namespace": namespace}


def managed_with_collection(client, services, tenant, documents: int, tiering=None) -> str:
    """The tenant's managed namespace SHARED with a collection `shelf` of `documents` documents; its storage id."""
    created = client.post("/v1/namespaces", headers=tenant.headers, json={
        "namespace_name": f"{SHARED}-{tenant.org_id[-4:]}", "namespace_id": SHARED,
        **({"tiering": tiering} if tiering else {})})
    assert created.status_code == 200, created.text
    storage_id = NamespaceRepository(services.table).find(tenant.org_id, SHARED).namespace_id
    BucketRepository(services.table).create(Bucket(
        bucket_id=f"bkt_{tenant.org_id[-6:]}", bucket_name="books", namespace_id=storage_id, org_id=tenant.org_id,
        bucket_schema={"properties": {"content": {"type": "text"}}}, created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z"))
    collection = client.post("/v1/collections", headers=headers_for(tenant), json={
        "collection_name": "shelf", "source": {"type": "bucket", "bucket_ids": ["books"]},
        "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1"}})
    assert collection.status_code == 200, collection.text
    for seed in range(documents):
        vector = np.random.default_rng(seed).standard_normal(384).round(4).tolist()
        added = client.post("/v1/collections/shelf/documents", headers=headers_for(tenant),
                            json={"vectors": {URI: vector}, "metadata": {"seed": seed}})
        assert added.status_code == 200, added.text
    return storage_id


def standalone(client, tenant, namespace_id=SHARED):
    created = client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": namespace_id, "namespace_name": f"{namespace_id}-{tenant.org_id[-4:]}",
        "vector_configs": [{"name": "emb", "dimension": 2}]})
    assert created.status_code == 200, created.text


def test_texts_that_name_a_relocated_namespace_show_the_public_id(client, services, tenant, other_tenant):
    managed_with_collection(client, services, tenant, 2)
    relocated = managed_with_collection(client, services, other_tenant, 3)
    assert relocated.startswith(RELOCATED_PREFIX)

    # A write token names the namespace the caller wrote to.
    upserted = client.post(f"/v1/namespaces/{SHARED}/documents/upsert", headers=other_tenant.headers, json={
        "documents": [{"document_id": "d1", "payload": {"title": "x"}}], "options": {"write_token": True}})
    assert upserted.status_code == 200, upserted.text
    assert upserted.json()["write_token"].startswith(f"wt_{SHARED}_") and relocated not in upserted.text

    # A cold collection's index is named by the namespace its caller knows.
    demoted = client.patch("/v1/collections/shelf/lifecycle", headers=headers_for(other_tenant),
                           json={"lifecycle_state": "cold", "async_transition": False})
    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["s3_vector_index"].startswith(f"{SHARED}/") and relocated not in demoted.text
    shown = client.get("/v1/collections/shelf/lifecycle", headers=headers_for(other_tenant))
    assert shown.json()["lifecycle_state"] == "cold" and relocated not in shown.text
    task_id = demoted.json()["task_id"]
    assert relocated not in client.get(f"/v1/tasks/{task_id}", headers=other_tenant.headers).text

    # The namespace's record gone while the records it owns are not yet (a delete or the reaper half way): the task
    # found by id alone is not found, and the answer does not name where the namespace was stored.
    NamespaceRepository(services.table).delete(NamespaceRepository(services.table).find(other_tenant.org_id, SHARED))
    gone = client.get(f"/v1/tasks/{task_id}", headers=other_tenant.headers)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "task_not_found"
    assert RELOCATED_PREFIX not in gone.text


def test_a_batch_whose_relocated_namespace_is_gone_is_not_found_without_its_storage_id(client, services, tenant,
                                                                                    other_tenant):
    standalone(client, tenant)
    standalone(client, other_tenant)
    bucket = client.post("/v1/buckets", headers=headers_for(other_tenant), json={
        "bucket_name": "books", "bucket_schema": {"properties": {"content": {"type": "text"}}}})
    assert bucket.status_code == 200, bucket.text
    batch = client.post("/v1/buckets/books/batches", headers=headers_for(other_tenant), json={"batch_name": "b"})
    assert batch.status_code == 200, batch.text
    batch_id = batch.json()["batch_id"]
    namespace = NamespaceRepository(services.table).find(other_tenant.org_id, SHARED)
    assert namespace.namespace_id.startswith(RELOCATED_PREFIX)

    NamespaceRepository(services.table).delete(namespace)
    gone = client.get(f"/v1/batches/{batch_id}", headers=other_tenant.headers)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "batch_not_found"
    assert RELOCATED_PREFIX not in gone.text


def test_relocated_ids_inside_messages_and_lists_are_shown_as_the_callers_public_ids():
    storage_id = f"{RELOCATED_PREFIX}abcdefgh12345678"
    others = f"{RELOCATED_PREFIX}zzzzzzzz99999999"
    answer = {"success": False, "error": {"message": f"Collection '{storage_id}' is unavailable",
                                          "details": {"collections": [storage_id, others], "index": f"{storage_id}/c"}},
              "namespace_id": storage_id}
    mine = {storage_id: "library"}.get

    assert show_public_ids(answer, mine)

    assert answer == {"success": False, "error": {"message": "Collection 'library' is unavailable",
                                                  "details": {"collections": ["library", others],
                                                              "index": "library/c"}},
                      "namespace_id": "library"}
    assert not show_public_ids({"message": f"{storage_id}x and x{storage_id} are other words"}, mine)


# -- the operator commands ------------------------------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "cli-data"


@pytest.fixture
def offline(data_dir):
    """Services on the data dir for setting up, closed before a command opens the dir itself (as an operator runs
    one with no server)."""
    built = build_services(Settings(runtime="embedded", data_dir=data_dir))
    acme, globex = make_tenant(built, "acme"), make_tenant(built, "globex")
    yield built, TestClient(create_app(built), raise_server_exceptions=False), acme, globex
    built.close()


def test_openpeek_tier_names_namespaces_as_their_organisations_know_them(offline, data_dir, monkeypatch, capsys):
    services, client, acme, globex = offline
    managed_with_collection(client, services, acme, 2, tiering={"idle_days": {"cold": 1}})
    relocated = managed_with_collection(client, services, globex, 3, tiering={"idle_days": {"cold": 1}})
    services.close()

    built_by_the_command = cli._services

    def two_days_on(requested):  # the collections have been idle for two days when the sweep runs
        built = built_by_the_command(requested)
        built.tiering_sweeper = TieringSweeper(built.table, built.lifecycle,
                                               clock=lambda: utcnow() + timedelta(days=2))
        return built

    monkeypatch.setattr(cli, "_services", two_days_on)
    assert cli.main(["tier", "--data-dir", str(data_dir)]) == 0

    lines = [line for line in capsys.readouterr().out.splitlines() if "→" in line]
    assert len(lines) == 2, lines
    assert any(line.startswith("openpeek tier: acme/library: collection ") and "active → cold" in line
               for line in lines), lines
    assert any(line.startswith(f"openpeek tier: globex/library [{relocated}]: collection ") for line in lines), lines


def test_openpeek_autoindex_names_namespaces_as_their_organisations_know_them(offline, data_dir, capsys):
    services, client, acme, globex = offline
    for tenant in (acme, globex):
        standalone(client, tenant)
        assert client.patch(f"/v1/namespaces/{SHARED}", headers=tenant.headers,
                            json={"auto_create_indexes": True}).status_code == 200
        upserted = client.post(f"/v1/namespaces/{SHARED}/documents/upsert", headers=tenant.headers, json={
            "documents": [{"document_id": f"d{i}", "vectors": {"emb": [1.0, i / 10]}, "payload": {"brand": f"b{i}"}}
                          for i in range(5)]})
        assert upserted.status_code == 200, upserted.text
    namespaces = NamespaceRepository(services.table)
    relocated = namespaces.find(globex.org_id, SHARED).namespace_id
    assert relocated.startswith(RELOCATED_PREFIX)
    usage = FilterUsage(FilterUsageRepository(services.table), flush_every_s=0)
    for storage_id in (SHARED, relocated):  # what 101 filtered searches in each would have counted
        usage.record(storage_id, ["brand"] * 101)
    assert usage.last_day()[relocated] == Counter({"brand": 101})
    services.close()

    assert cli.main(["autoindex", "--data-dir", str(data_dir)]) == 0

    out = capsys.readouterr().out
    assert "openpeek autoindex: acme/library: brand (keyword) indexed" in out
    assert f"openpeek autoindex: globex/library [{relocated}]: brand (keyword) indexed" in out


def test_openpeek_optimize_takes_a_public_id_with_its_organisation_or_a_storage_id(offline, data_dir, capsys):
    services, client, acme, globex = offline
    for tenant in (acme, globex):
        standalone(client, tenant)
    relocated = NamespaceRepository(services.table).find(globex.org_id, SHARED).namespace_id
    upserted = client.post(f"/v1/namespaces/{SHARED}/documents/upsert", headers=globex.headers, json={
        "documents": [{"document_id": f"d{i}", "vectors": {"emb": [1.0, i / 10]}} for i in range(7)]})
    assert upserted.status_code == 200, upserted.text
    services.close()

    assert cli.main(["optimize", "--collection", SHARED, "--org", "globex", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert f"openpeek optimize: globex/library [{relocated}]: " in out and " of 7 vectors indexed" in out
    assert "acme/" not in out

    assert cli.main(["optimize", "--collection", relocated, "--data-dir", str(data_dir)]) == 0
    assert f"openpeek optimize: globex/library [{relocated}]: " in capsys.readouterr().out

    assert cli.main(["optimize", "--collection", SHARED, "--org", "acme", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "openpeek optimize: acme/library: " in out and " of 0 vectors indexed" in out

    assert cli.main(["optimize", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "openpeek optimize: acme/library: " in out and f"openpeek optimize: globex/library [{relocated}]: " in out

    assert cli.main(["optimize", "--collection", SHARED, "--org", "initech", "--data-dir", str(data_dir)]) == 2
    assert "Organization 'initech' not found" in capsys.readouterr().err
    assert cli.main(["optimize", "--collection", "missing", "--org", "globex", "--data-dir", str(data_dir)]) == 2
    assert "Namespace 'globex/missing' not found" in capsys.readouterr().err
