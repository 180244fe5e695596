"""What a cold collection still is besides a search target: the vector store gives its memory back after a demotion,
its documents can be listed, read and counted (from the cold copy, marked cold), the namespace's storage tier follows
its collections, and deleting a collection or a namespace leaves nothing in the cold store."""

from __future__ import annotations

from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.services.tiering import lifecycle as lifecycle_module
from tests.api.test_collection_lifecycle_api import add, headers, lifecycle  # noqa: F401 - `headers` is a fixture


def test_a_demotion_compacts_the_vector_store_so_its_memory_goes(client, headers, services, monkeypatch):
    monkeypatch.setattr(lifecycle_module, "RECLAIM_MIN_POINTS", 3)
    kept = add(client, headers, "hotbooks", 1, genre="sf", year=2001)
    for n in range(4):
        add(client, headers, "coldbooks", 10 + n, genre="sf", year=2010 + n)
    namespace = client.get("/v1/namespaces/tiers", headers=headers).json()
    store_collection = NamespaceRepository(services.table).get_by_id(namespace["namespace_id"]).collection
    builds_before = services.vectors.index_state(store_collection)["builds"]

    assert lifecycle(client, headers, "coldbooks", "cold").json()["lifecycle_state"] == "cold"
    # the namespace's shard was rebuilt without the dropped points: they no longer sit in its segments
    assert services.vectors.index_state(store_collection)["builds"] == builds_before + 1
    info = services.vectors.info(store_collection)
    assert info.points_count == 1 and info.indexed_vectors_count <= 1
    assert [p.id for p in services.vectors.retrieve(store_collection, [kept])] == [kept]


def test_the_namespace_storage_tier_follows_its_collections(client, headers):
    from mixpeek.models.lifecycle_status_response import LifecycleStatusResponse

    add(client, headers, "hotbooks", 1)
    add(client, headers, "coldbooks", 2)
    status = lifecycle(client, headers, "coldbooks").json()
    assert status["namespace_storage_tier"]["rung"] == "hot" and status["namespace_storage_tier"]["changed_at"] is None
    demoted = lifecycle(client, headers, "coldbooks", "cold").json()
    assert demoted["namespace_storage_tier"]["rung"] == "hot"  # hotbooks is still served from the vector store
    frozen = lifecycle(client, headers, "hotbooks", "frozen").json()
    tier = LifecycleStatusResponse.from_dict(frozen).namespace_storage_tier
    assert tier.rung == "warm"  # the hottest of cold (warm: the cold vector store) and frozen
    assert tier.changed_at is not None


def test_deleting_a_cold_collection_or_its_namespace_removes_its_s3_vectors_indexes(
        client, headers, services, monkeypatch, aws_credentials):
    import boto3
    from moto import mock_aws
    from openpeek.adapters.aws.s3_vectors_cold_store import S3VectorsColdStore
    from tests.s3vectors_standin import S3VectorsStandIn

    with mock_aws():
        s3vectors = boto3.client("s3vectors", region_name="us-east-1")
        s3vectors.create_vector_bucket(vectorBucketName="openpeek-test-vectors")
        monkeypatch.setattr(services.lifecycle, "_cold",
                            S3VectorsColdStore("openpeek-test-vectors", client=S3VectorsStandIn(s3vectors)))

        def indexes() -> list[str]:
            return [index["indexName"] for index in
                    s3vectors.list_indexes(vectorBucketName="openpeek-test-vectors")["indexes"]]

        add(client, headers, "hotbooks", 1)
        add(client, headers, "coldbooks", 2)
        assert lifecycle(client, headers, "coldbooks", "cold").json()["s3_vector_count"] == 1
        assert lifecycle(client, headers, "hotbooks", "cold").json()["s3_vector_count"] == 1
        assert len(indexes()) == 2
        assert client.delete("/v1/collections/coldbooks", headers=headers).status_code == 200
        assert len(indexes()) == 1
        assert client.delete("/v1/namespaces/tiers", headers=headers).status_code == 200
        assert indexes() == []


def test_a_cold_collections_documents_are_listed_read_and_counted_from_the_cold_copy(client, headers):
    from mixpeek.models.list_documents_response import ListDocumentsResponse

    ids = [add(client, headers, "coldbooks", n, genre="crime" if n % 2 else "sf", year=2000 + n) for n in range(6)]
    before = client.post("/v1/collections/coldbooks/documents/list", headers=headers, json={"limit": 10}).json()
    assert lifecycle(client, headers, "coldbooks", "cold").json()["vector_document_count"] == 0

    listed = client.post("/v1/collections/coldbooks/documents/list", headers=headers, json={"limit": 10})
    assert listed.status_code == 200, listed.text
    ListDocumentsResponse.from_dict(listed.json())
    documents = listed.json()["results"]
    assert sorted(d["document_id"] for d in documents) == sorted(ids)
    assert all(d["_source_tier"] == "cold" for d in documents)
    by_id = {d["document_id"]: d for d in before["results"]}
    for document in documents:  # the same document as the vector store returned, marked cold
        assert {k: v for k, v in document.items() if k != "_source_tier"} == by_id[document["document_id"]]

    crime = client.post("/v1/collections/coldbooks/documents/list", headers=headers,
                        json={"filters": {"AND": [{"field": "genre", "operator": "eq", "value": "crime"}]},
                              "limit": 2}).json()
    assert len(crime["results"]) == 2 and all(d["genre"] == "crime" for d in crime["results"])
    assert crime["pagination"]["next_cursor"]
    rest = client.post(f"/v1/collections/coldbooks/documents/list?cursor={crime['pagination']['next_cursor']}",
                       headers=headers, json={"filters": {"AND": [{"field": "genre", "operator": "eq",
                                                                    "value": "crime"}]}, "limit": 2}).json()
    assert len(rest["results"]) == 1
    assert {d["document_id"] for d in crime["results"] + rest["results"]} == set(ids[1::2])

    assert client.get("/v1/collections/coldbooks/documents/count", headers=headers).json()["count"] == 6
    one = client.get(f"/v1/collections/coldbooks/documents/{ids[3]}", headers=headers)
    assert one.status_code == 200 and one.json()["_source_tier"] == "cold" and one.json()["year"] == 2003
    assert client.get("/v1/collections/coldbooks/documents/doc_missing", headers=headers).status_code == 404

    assert lifecycle(client, headers, "coldbooks", "archived").json()["lifecycle_state"] == "archived"
    archived = client.post("/v1/collections/coldbooks/documents/list", headers=headers, json={"limit": 10}).json()
    assert sorted(d["document_id"] for d in archived["results"]) == sorted(ids)
    assert all(d["_source_tier"] == "archived" and "year" in d for d in archived["results"])
    assert client.get("/v1/collections/coldbooks/documents/count", headers=headers).json()["count"] == 6


def test_a_collection_tiering_override_is_checked_kept_and_shown_with_its_sources(client, headers):
    from mixpeek.models.collection_response import CollectionResponse

    assert client.patch("/v1/namespaces/tiers", headers=headers,
                        json={"tiering": {"idle_days": {"cold": 9}}}).status_code == 200
    plain = client.get("/v1/collections/hotbooks", headers=headers).json()
    assert plain["tiering"]["idle_days"] == {"cold": 9, "frozen": None} and plain["tiering"]["enabled"] is True
    assert plain["tiering"]["inherited_from"]["idle_days.cold"] == "namespace"
    assert plain["tiering"]["inherited_from"]["enabled"] == "default"

    patched = client.patch("/v1/collections/hotbooks", headers=headers,
                           json={"tiering": {"idle_days": {"frozen": 40}, "exempt": "legal hold"}})
    assert patched.status_code == 200, patched.text
    shown = CollectionResponse.from_dict(patched.json()).tiering
    assert (shown.idle_days.cold, shown.idle_days.frozen, shown.exempt) == (9, 40, "legal hold")
    assert shown.additional_properties["inherited_from"] == {
        "enabled": "default", "idle_days.cold": "namespace", "idle_days.frozen": "collection", "exempt": "collection"}
    assert client.get("/v1/collections/hotbooks", headers=headers).json()["tiering"]["exempt"] == "legal hold"
    assert client.get("/v1/collections/coldbooks", headers=headers).json()["tiering"]["exempt"] is None

    refused = client.patch("/v1/collections/hotbooks", headers=headers,
                           json={"tiering": {"idle_days": {"cold": 0}}, "description": "changed"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_tiering"
    after = client.get("/v1/collections/hotbooks", headers=headers).json()
    assert after["tiering"]["exempt"] == "legal hold" and after["description"] != "changed"  # nothing applied

    cleared = client.patch("/v1/collections/hotbooks", headers=headers, json={"tiering": {}}).json()
    assert cleared["tiering"]["exempt"] is None and cleared["tiering"]["inherited_from"]["exempt"] == "default"


def test_a_search_of_cold_collections_only_leaves_the_vector_store_alone(client, headers, services, monkeypatch):
    from tests.api.test_collection_lifecycle_api import execute, retriever

    add(client, headers, "hotbooks", 1)
    cold = add(client, headers, "coldbooks", 2)
    lifecycle(client, headers, "coldbooks", "cold")
    only_cold, both = retriever(client, headers, ["coldbooks"]), retriever(client, headers, ["coldbooks", "hotbooks"])
    asked: list[int] = []
    real_query = services.vectors.query
    monkeypatch.setattr(services.vectors, "query",
                        lambda *args, **kwargs: asked.append(1) or real_query(*args, **kwargs))

    found = execute(client, headers, only_cold, 2).json()["documents"]
    assert [d["document_id"] for d in found] == [cold] and found[0]["_source_tier"] == "cold"
    assert asked == []  # the namespace's shard was not searched (nor opened, after a restart)
    assert len(execute(client, headers, both, 2).json()["documents"]) == 2 and asked == [1]


def test_a_transition_record_rewound_after_the_flip_never_loses_the_new_copy(client, headers, services):
    from dataclasses import replace

    from openpeek.domain import tiering as rules
    from openpeek.repositories.tiering import TierStateRepository
    from tests.api.test_collection_lifecycle_api import execute, retriever

    ids = [add(client, headers, "coldbooks", n) for n in range(3)]
    assert lifecycle(client, headers, "coldbooks", "cold").json()["s3_vector_count"] == 3
    namespace = NamespaceRepository(services.table).get_by_id(
        client.get("/v1/namespaces/tiers", headers=headers).json()["namespace_id"])
    collection_id = client.get("/v1/collections/coldbooks", headers=headers).json()["collection_id"]
    tiers = TierStateRepository(services.table)
    tier = tiers.get(namespace.namespace_id, collection_id)
    # what a second runner resuming the demotion at an earlier step leaves: state cold, record back at VERIFY
    tiers.save(namespace.namespace_id, replace(tier, transition=rules.Transition(
        rules.ACTIVE, rules.COLD, step=rules.VERIFY, task_id=None)), tier)

    services.lifecycle.run(namespace.namespace_id, collection_id)
    status = lifecycle(client, headers, "coldbooks").json()
    assert status["lifecycle_state"] == "cold" and status["s3_vector_count"] == 3
    found = execute(client, headers, retriever(client, headers, ["coldbooks"]), 1).json()["documents"]
    assert sorted(d["document_id"] for d in found) == sorted(ids)


def test_reading_one_cold_document_opens_only_the_part_that_holds_it(client, headers, services, monkeypatch):
    from openpeek.adapters.local.parquet_cold_store import ParquetColdStore
    from tests.contract.test_cold_store_contract import CountingBlobs

    monkeypatch.setattr(lifecycle_module, "PAGE", 3)  # parts of three documents: a cold collection of many parts
    blobs = CountingBlobs(services.blobs)  # every file read through the blob port (no memory map), and counted
    monkeypatch.setattr(services.lifecycle, "_cold", ParquetColdStore(blobs))
    ids = [add(client, headers, "coldbooks", n, genre="sf", year=2000 + n) for n in range(24)]
    before = {document_id: client.get(f"/v1/collections/coldbooks/documents/{document_id}", headers=headers).json()
              for document_id in ids}
    assert lifecycle(client, headers, "coldbooks", "cold").json()["s3_vector_count"] == 24
    parts = {key for key in services.blobs.list("namespaces/") if key.endswith(".parquet") and "/cold/" in key}
    assert len(parts) == 8

    for document_id in (ids[0], ids[13], ids[23]):
        blobs.read.clear()
        got = client.get(f"/v1/collections/coldbooks/documents/{document_id}", headers=headers)
        assert got.status_code == 200, got.text
        assert {k: v for k, v in got.json().items() if k != "_source_tier"} == before[document_id]
        assert got.json()["_source_tier"] == "cold"
        assert len([key for key in blobs.read if key.endswith(".parquet")]) == 1  # one part of eight
        assert not any(key.endswith(".f32") for key in blobs.read)
    blobs.read.clear()
    assert client.get("/v1/collections/coldbooks/documents/doc_missing", headers=headers).status_code == 404
    assert not any(key.endswith(".parquet") for key in blobs.read)


def test_the_namespace_wide_listing_covers_cold_and_archived_collections_with_paging_across_tiers(client, headers):
    from mixpeek.models.list_documents_response import ListDocumentsResponse
    created = client.post("/v1/collections", headers=headers, json={
        "collection_name": "oldbooks", "source": {"type": "bucket", "bucket_ids": ["books"]},
        "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                              "field_passthrough": [{"source_path": "genre"}, {"source_path": "year"}]}})
    assert created.status_code == 200, created.text
    genre = lambda n: "crime" if n % 2 else "sf"  # noqa: E731
    hot = [add(client, headers, "hotbooks", n, genre=genre(n), year=2000 + n) for n in range(5)]
    cold = [add(client, headers, "coldbooks", n, genre=genre(n), year=2000 + n) for n in range(5, 12)]
    old = [add(client, headers, "oldbooks", n, genre=genre(n), year=2000 + n) for n in range(12, 16)]
    everything = client.post("/v1/documents/list", headers=headers, json={"limit": 100}).json()["results"]
    as_before = {document["document_id"]: document for document in everything}
    assert lifecycle(client, headers, "coldbooks", "cold").json()["lifecycle_state"] == "cold"
    assert lifecycle(client, headers, "oldbooks", "archived").json()["lifecycle_state"] == "archived"

    listed = client.post("/v1/documents/list", headers=headers, json={"limit": 100, "include_total": True})
    assert listed.status_code == 200, listed.text
    ListDocumentsResponse.from_dict(listed.json())
    documents = listed.json()["results"]
    assert sorted(d["document_id"] for d in documents) == sorted(hot + cold + old)
    assert listed.json()["total_documents"] == 16
    tiers = {d["document_id"]: d.get("_source_tier") for d in documents}
    assert {tiers[i] for i in hot} == {None} and {tiers[i] for i in cold} == {"cold"}
    assert {tiers[i] for i in old} == {"archived"}
    for document in documents:
        if document["document_id"] in cold:  # a cold document is the document it was, marked
            assert {k: v for k, v in document.items() if k != "_source_tier"} == as_before[document["document_id"]]
    order = [d["document_id"] for d in documents]
    assert order[:5] == [d for d in order if d in hot]  # the vector store's first, then each tier in turn

    def follow(body: dict) -> list[str]:
        pages, cursor = [], None
        while True:
            page = client.post("/v1/documents/list" + (f"?cursor={cursor}" if cursor else ""), headers=headers,
                               json=body).json()
            ListDocumentsResponse.from_dict(page)
            pages.append([d["document_id"] for d in page["results"]])
            cursor = page["pagination"]["next_cursor"]
            if not cursor:
                return [document_id for found in pages for document_id in found]
            assert len(pages) < 20

    for size in (1, 3, 4, 5, 7):  # pages that end inside the hot documents, on their last one, inside a tier
        assert follow({"limit": size}) == order, size
    for offset in (0, 3, 5, 9, 12, 15, 16, 40):
        page = client.post("/v1/documents/list", headers=headers, json={"limit": 4, "offset": offset}).json()
        assert [d["document_id"] for d in page["results"]] == order[offset: offset + 4], offset

    crime = {"AND": [{"field": "genre", "operator": "eq", "value": "crime"}]}
    expected = [d for d in order if as_before[d]["genre"] == "crime"]
    assert follow({"limit": 2, "filters": crime}) == expected
    counted = client.post("/v1/documents/list", headers=headers, json={"limit": 2, "filters": crime,
                                                                      "include_total": True}).json()
    assert counted["total_documents"] == len(expected)
    recent = {"AND": [{"field": "year", "operator": "gte", "value": 2009}]}
    assert follow({"limit": 3, "filters": recent}) == [d for d in order if as_before[d]["year"] >= 2009]
    by_year = client.post("/v1/documents/list", headers=headers,
                          json={"limit": 6, "sort": {"field": "year", "direction": "desc"}}).json()
    assert [d["year"] for d in by_year["results"]] == [2015, 2014, 2013, 2012, 2011, 2010]
    assert [d.get("_source_tier") for d in by_year["results"]] == ["archived"] * 4 + ["cold"] * 2
    coldbooks = client.get("/v1/collections/coldbooks", headers=headers).json()["collection_id"]
    hotbooks = client.get("/v1/collections/hotbooks", headers=headers).json()["collection_id"]
    only_cold = client.post("/v1/documents/list", headers=headers,
                            json={"limit": 100, "collection_ids": [coldbooks]}).json()["results"]
    assert sorted(d["document_id"] for d in only_cold) == sorted(cold)

    text = {"AND": [{"field": "genre", "operator": "text", "value": "crime"}]}
    refused = client.post("/v1/documents/list", headers=headers, json={"limit": 5, "filters": text})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "cold_tier_unsupported"
    assert "'coldbooks' (cold)" in refused.json()["error"]["message"]
    assert "'oldbooks' (archived)" in refused.json()["error"]["message"]
    hot_only = client.post("/v1/documents/list", headers=headers, json={"limit": 5, "filters": text,
                                                                       "collection_ids": [hotbooks]})
    assert hot_only.status_code == 200  # the vector store answers a text match for its own collections
    assert {d["document_id"] for d in hot_only.json()["results"]} == {d for d in hot if as_before[d]["genre"] == "crime"}


def test_the_namespace_scoped_get_finds_a_document_after_its_collection_went_cold_or_archived(client, headers):
    ids = [add(client, headers, "coldbooks", n, genre="sf", year=2010 + n) for n in range(3)]
    hot = client.get(f"/v1/documents/{ids[1]}", headers=headers)
    assert hot.status_code == 200 and "_source_tier" not in hot.json()

    lifecycle(client, headers, "coldbooks", "cold")
    cold = client.get(f"/v1/documents/{ids[1]}", headers=headers)
    assert cold.status_code == 200, cold.text
    assert cold.json()["_source_tier"] == "cold" and cold.json()["year"] == 2011
    assert {k: v for k, v in cold.json().items() if k != "_source_tier"} == hot.json()

    lifecycle(client, headers, "coldbooks", "archived")
    archived = client.get(f"/v1/documents/{ids[1]}", headers=headers)
    assert archived.status_code == 200 and archived.json()["_source_tier"] == "archived"
    assert client.get("/v1/documents/doc_missing", headers=headers).status_code == 404


def test_a_batch_over_hot_and_cold_collections_searches_once_and_counts_every_query(client, headers, services,
                                                                                     tenant, monkeypatch):
    """A batch on a namespace with collections sends every query's hot search to the vector store in one call (each
    query still reads the cold collection and tags its hits), and every query counts towards the collections' recent
    queries (what promotes a cold collection), once each."""
    from openpeek.repositories.tiering import TierStateRepository
    from tests.api.test_collection_lifecycle_api import retriever, vector

    hot = [add(client, headers, "hotbooks", seed) for seed in (1, 2)]
    cold = [add(client, headers, "coldbooks", seed) for seed in (11, 12)]
    lifecycle(client, headers, "coldbooks", "cold")
    both = retriever(client, headers, ["coldbooks", "hotbooks"], top_k=4)
    asked: list[int] = []
    real_query = services.vectors.query
    monkeypatch.setattr(services.vectors, "query",
                        lambda *args, **kwargs: asked.append(1) or real_query(*args, **kwargs))

    answer = client.post(f"/v1/retrievers/{both}/execute/batch", headers=headers,
                         json={"queries": [{"inputs": {"v": vector(seed)}} for seed in (1, 11, 2)]})

    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert asked == [1]  # the three hot searches in one store call
    for result, best in zip(results, (hot[0], cold[0], hot[1])):
        found = {d["document_id"]: d["_source_tier"] for d in result["documents"]}
        assert result["documents"][0]["document_id"] == best
        assert found == {**{h: "hot" for h in hot}, **{c: "cold" for c in cold}}
        assert result["stage_statistics"]["stages"]["search"]["metadata"]["batched_search"] is True
    namespace = NamespaceRepository(services.table).get_by_name(tenant.org_id, "tiers")
    states = TierStateRepository(services.table).list_in(namespace.namespace_id)
    assert sorted(state.recent_queries for state in states.values()) == [3, 3]
