"""Filtered listings of cold collections: the cold store picks a filter's documents on its parts' terms index (each
row certainly in, certainly out, or undecided: only those decoded), the listing finds a page by counting and decodes
only the documents on it, and the read limit (MAX_SCAN) bounds the payloads decoded, not the documents the index
ruled out. The answers are those of the path that decodes every cold document and evaluates the filter on each
(what an archived collection still does): the same documents in the same order, cursors, offsets, totals, sorts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from openpeek.adapters.local import parquet_cold_store
from openpeek.domain import filters as filter_rules
from openpeek.services.collections import documents as documents_module
from openpeek.services.collections.documents import CollectionDocumentService, ListQuery
from openpeek.services.tiering import lifecycle as lifecycle_module
from tests.api.test_collection_lifecycle_api import INDEX, headers, lifecycle  # noqa: F401 - `headers` is a fixture

LONG = "L" * 300  # longer than a term: a filter on it leaves the rows holding it undecided
VALUES = [0, 1, 2, 3, 2.0, 2.5, "a", "b", "1", True, False, LONG]
LISTED_VALUES = [value for value in VALUES if value != 2.5]  # `in` takes no decimal (a range does)


PAYLOADS: dict[str, dict] = {}  # every document's payload as written, by id


def upsert(client, headers, collection: str, payloads: list[dict], prefix: str) -> list[str]:
    collection_id = client.get(f"/v1/collections/{collection}", headers=headers).json()["collection_id"]
    rng = np.random.default_rng(len(payloads))
    documents = [{"document_id": f"{prefix}_{n:04d}", "vectors": {INDEX: rng.standard_normal(384).round(3).tolist()},
                  "payload": payload} for n, payload in enumerate(payloads)]
    PAYLOADS.update({document["document_id"]: document["payload"] for document in documents})
    for start in range(0, len(documents), 200):
        response = client.post("/v1/namespaces/tiers/documents/upsert", headers=headers,
                               json={"collection_id": collection_id, "documents": documents[start: start + 200]})
        assert response.status_code == 200, response.text
    return [document["document_id"] for document in documents]


def random_payload(rng: np.random.Generator, n: int) -> dict:
    choices = [lambda: int(rng.integers(0, 4)), lambda: 2.5, lambda: bool(rng.integers(0, 2)),
               lambda: ["a", "b", "1"][rng.integers(0, 3)], lambda: None, lambda: LONG,
               lambda: [int(rng.integers(0, 4)), ["a", "b"][rng.integers(0, 2)]], lambda: {"k": "a"}]
    payload: dict = {"n": n, "nested": {"x": int(rng.integers(0, 3))}}
    for key in ("x", "y"):
        if rng.random() < 0.85:
            payload[key] = choices[rng.integers(0, len(choices))]()
    return payload


def random_condition(rng: np.random.Generator, depth: int = 0) -> dict:
    field = ["x", "y", "nested.x", "absent"][rng.integers(0, 4)]
    pick = rng.integers(0, 9 if depth < 2 else 7)
    value = VALUES[rng.integers(0, len(VALUES))]
    if pick == 0:
        return {"field": field, "operator": "eq", "value": value}
    if pick == 1:
        return {"field": field, "operator": "ne", "value": value}
    if pick in (2, 3):
        chosen = [LISTED_VALUES[i] for i in rng.choice(len(LISTED_VALUES), size=2, replace=False)]
        return {"field": field, "operator": "in" if pick == 2 else "nin", "value": chosen}
    if pick == 4:
        return {"field": field, "operator": ["gte", "lt"][rng.integers(0, 2)], "value": int(rng.integers(0, 4))}
    if pick == 5:
        return {"field": field, "operator": "exists", "value": bool(rng.integers(0, 2))}
    if pick == 6:
        return {"field": "n", "operator": "in", "value": [int(i) for i in rng.integers(0, 90, size=6)]}
    children = lambda: [random_condition(rng, depth + 1) for _ in range(rng.integers(1, 3))]  # noqa: E731
    return {["AND", "OR", "NOT"][rng.integers(0, 3)]: children()}


def random_filter(rng: np.random.Generator) -> dict:
    return {"AND": [random_condition(rng)], "NOT": [random_condition(rng)]}


def decoding_everything(services) -> CollectionDocumentService:
    """The listing as it was: every cold document decoded and the filter evaluated on each (no `select`)."""
    def tiered_documents(namespace, collection_id):
        tiered = services.lifecycle.tiered_documents(namespace, collection_id)
        return dataclasses.replace(tiered, select=None) if tiered is not None else None

    return CollectionDocumentService(services.collections, services.vectors, services.events,
                                     tiered_documents=tiered_documents)


def namespace_of(services, tenant):
    caller = services.organizations.authenticate(f"Bearer {tenant.key}")
    return services.namespaces.resolve(caller, "tiers")


def listed(page) -> tuple:
    return ([document["document_id"] for document in page.documents], page.documents, page.next_cursor, page.total)


def make_tiers(client, headers, monkeypatch) -> np.random.Generator:
    """hotbooks (active, 12 documents), coldbooks (cold, 90 in parts of 7) and oldbooks (archived, 10), with random
    payloads; coldbooks' parts demoted under the hash the test runs with."""
    monkeypatch.setattr(lifecycle_module, "PAGE", 7)
    created = client.post("/v1/collections", headers=headers, json={
        "collection_name": "oldbooks", "source": {"type": "bucket", "bucket_ids": ["books"]},
        "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1"}})
    assert created.status_code == 200, created.text
    rng = np.random.default_rng(5)
    upsert(client, headers, "hotbooks", [random_payload(rng, 100 + n) for n in range(12)], "hot")
    upsert(client, headers, "coldbooks", [random_payload(rng, n) for n in range(90)], "cold")
    upsert(client, headers, "oldbooks", [random_payload(rng, 200 + n) for n in range(10)], "old")
    assert lifecycle(client, headers, "coldbooks", "cold").json()["lifecycle_state"] == "cold"
    assert lifecycle(client, headers, "oldbooks", "archived").json()["lifecycle_state"] == "archived"
    return rng


@pytest.mark.parametrize("colliding", [False, True])
def test_filtered_listings_answer_as_decoding_every_cold_document_does(services, tenant, monkeypatch, colliding,
                                                                       client, headers):
    """Random filters (exact values, exclusions, ranges, existence, nesting, values too long to be terms), on the
    collection's own listing and the namespace-wide one (hot, then cold, then archived): pages by offset and by
    cursor, totals and sorts agree document for document with the decode-everything path; `colliding` gives every
    term a hash of three bits, so most rows are undecided and go through the evaluator."""
    if colliding:
        real_hash = parquet_cold_store._hash
        monkeypatch.setattr(parquet_cold_store, "_hash", lambda text: real_hash(text) % 8)
    monkeypatch.setattr(parquet_cold_store, "SELECT_ROWS", 3)  # parts of 7: undecided rows judged 3, 3, 1 at a time
    rng = make_tiers(client, headers, monkeypatch)
    namespace = namespace_of(services, tenant)
    picked, everything = services.collection_documents, decoding_everything(services)
    stored = picked.list_collection(namespace, "coldbooks", ListQuery(limit=1000))
    cold_order = [document["document_id"] for document in stored.documents]
    assert len(cold_order) == 90
    nonempty = 0
    for _ in range(40 if not colliding else 20):
        filters = random_filter(rng)
        condition = filter_rules.parse_filter(filters)
        limit = int(rng.integers(1, 12))
        offset = int(rng.integers(0, 60))
        for query in (ListQuery(filters=filters, limit=limit, offset=offset),
                      ListQuery(filters=filters, limit=limit, offset=offset, include_total=True),
                      ListQuery(filters=filters, limit=limit, sort={"field": "n", "direction": "desc"}),
                      ListQuery(filters=filters, limit=limit, offset=offset // 2, return_vectors=True)):
            page = picked.list_collection(namespace, "coldbooks", query)
            assert listed(page) == listed(everything.list_collection(namespace, "coldbooks", query)), (filters, query)
            assert not query.return_vectors or all(document["vectors"] for document in page.documents)
            assert listed(picked.list_namespace(namespace, None, query)) == listed(
                everything.list_namespace(namespace, None, query)), (filters, query)
        # The collection's own listing followed to its end is the evaluator's choice among its stored documents
        # (the cold store's payloads judged one by one), and its total is their number.
        expected = [document_id for document_id in cold_order
                    if filter_rules.matches(condition, PAYLOADS[document_id], document_id)]
        nonempty += bool(expected)
        assert follow(picked.list_collection, namespace, "coldbooks", filters, limit) == expected, filters
        counted = picked.list_collection(namespace, "coldbooks", ListQuery(filters=filters, limit=limit,
                                                                           include_total=True))
        assert counted.total == len(expected)
        # The namespace-wide one, followed by cursor across the tiers, page for page as decoding everything does.
        whole = follow(picked.list_namespace, namespace, None, filters, limit, against=everything.list_namespace)
        counted = picked.list_namespace(namespace, None, ListQuery(filters=filters, limit=limit, include_total=True))
        assert counted.total == len(whole) and [i for i in whole if i.startswith("cold_")] == expected
    assert nonempty >= 10  # the filters chosen are not all empty


def follow(list_page, namespace, scope, filters: dict, limit: int, against=None) -> list[str]:
    """Every document id of a listing, page by page through its cursors (each page equal to `against`'s, given)."""
    found, cursor = [], None
    while True:
        query = ListQuery(filters=filters, limit=limit, cursor=cursor)
        page = list_page(namespace, scope, query)
        if against is not None:
            assert listed(page) == listed(against(namespace, scope, query)), (filters, cursor)
        assert page.documents or cursor is None  # a cursor is given only when another document follows
        found += [document["document_id"] for document in page.documents]
        cursor = page.next_cursor
        if cursor is None:
            return found
        assert len(found) < 1000


RARE = (3, 50, 51)  # the documents of the rare genre


def make_rare(client, headers, monkeypatch) -> list[str]:
    """coldbooks: 90 documents in parts of 7, three of them (RARE) of genre "rare"; hotbooks: one "rare" one."""
    monkeypatch.setattr(lifecycle_module, "PAGE", 7)
    upsert(client, headers, "hotbooks", [{"n": 500, "genre": "rare"}], "hot")
    ids = upsert(client, headers, "coldbooks", [{"n": n, "genre": "rare" if n in RARE else "common"}
                                                for n in range(90)], "cold")
    assert lifecycle(client, headers, "coldbooks", "cold").json()["lifecycle_state"] == "cold"
    return ids


def test_an_exact_filter_decodes_only_the_documents_on_the_page(client, headers, monkeypatch):
    """The terms index says which rows pass and how many; a page is found by counting, only its own documents are
    decoded, and a part without a passing row is never decoded at all."""
    ids = make_rare(client, headers, monkeypatch)
    order = [d["document_id"] for d in client.post("/v1/collections/coldbooks/documents/list", headers=headers,
                                                   json={"limit": 1000}).json()["results"]]  # the stored order
    found = sorted(order.index(ids[n]) for n in RARE)  # positions: part position // 7, row position % 7
    assert len({position // 7 for position in found}) >= 2  # the rare documents sit in different parts

    def rows_of(positions: list[int]) -> list[list[int]]:  # the rows decoded, one list per part read
        parts: dict[int, list[int]] = {}
        for position in positions:
            parts.setdefault(position // 7, []).append(position % 7)
        return list(parts.values())

    decoded: list[list[int]] = []
    real_rows = parquet_cold_store._rows
    monkeypatch.setattr(parquet_cold_store, "_rows", lambda parquet, rows: decoded.append(list(rows)) or
                        real_rows(parquet, rows))
    rare = {"AND": [{"field": "genre", "operator": "eq", "value": "rare"}]}

    first = client.post("/v1/collections/coldbooks/documents/list", headers=headers,
                        json={"filters": rare, "limit": 2, "include_total": True}).json()
    assert [d["document_id"] for d in first["results"]] == [order[position] for position in found[:2]]
    assert first["total_documents"] == 3 and first["pagination"]["next_cursor"]
    assert decoded == rows_of(found[:2])  # the page's two documents; nothing else
    decoded.clear()
    second = client.post(f"/v1/collections/coldbooks/documents/list?cursor={first['pagination']['next_cursor']}",
                         headers=headers, json={"filters": rare, "limit": 2}).json()
    assert [d["document_id"] for d in second["results"]] == [order[found[2]]]
    assert not second["pagination"]["next_cursor"] and decoded == rows_of(found[2:])

    decoded.clear()
    across = client.post("/v1/documents/list", headers=headers,
                         json={"filters": rare, "limit": 3, "include_total": True}).json()
    assert [d.get("_source_tier") for d in across["results"]] == [None, "cold", "cold"]
    assert [d["document_id"] for d in across["results"]][1:] == [order[position] for position in found[:2]]
    assert across["total_documents"] == 4 and decoded == rows_of(found[:2])
    decoded.clear()
    rest = client.post(f"/v1/documents/list?cursor={across['pagination']['next_cursor']}", headers=headers,
                       json={"filters": rare, "limit": 3}).json()
    assert [d["document_id"] for d in rest["results"]] == [order[found[2]]] and decoded == rows_of(found[2:])

    decoded.clear()
    none = client.post("/v1/collections/coldbooks/documents/list", headers=headers, json={
        "filters": {"AND": [{"field": "genre", "operator": "eq", "value": "absent"}]}, "include_total": True}).json()
    assert none["results"] == [] and none["total_documents"] == 0 and decoded == []


def test_the_read_limit_counts_documents_decoded_not_those_the_index_ruled_out(client, headers, monkeypatch):
    """A cold collection larger than the read limit: a rare exact value lists (and counts, and sorts) its few
    documents, an unfiltered page deep in it is found by counting; a filter that would decode more documents than
    the limit, or a sort of more than it, is still a clear 400."""
    ids = make_rare(client, headers, monkeypatch)
    monkeypatch.setattr(documents_module, "MAX_SCAN", 40)  # the collection holds 90
    rare = {"AND": [{"field": "genre", "operator": "eq", "value": "rare"}]}
    for path in ("/v1/collections/coldbooks/documents/list", "/v1/documents/list"):
        for body in ({"filters": rare, "limit": 10, "include_total": True},
                     {"filters": rare, "limit": 10, "sort": {"field": "n", "direction": "desc"}}):
            listed_rare = client.post(path, headers=headers, json=body)
            assert listed_rare.status_code == 200, listed_rare.text
            cold = [d["document_id"] for d in listed_rare.json()["results"] if d.get("_source_tier") == "cold"]
            assert sorted(cold) == sorted(ids[n] for n in RARE)
    deep = client.post("/v1/collections/coldbooks/documents/list", headers=headers, json={"limit": 5, "offset": 80})
    assert deep.status_code == 200, deep.text
    assert len(deep.json()["results"]) == 5 and all(d["_source_tier"] == "cold" for d in deep.json()["results"])

    late = {"AND": [{"field": "n", "operator": "gte", "value": 85}]}  # a range: every row's payload is decoded
    sort_all = {"limit": 5, "sort": {"field": "n", "direction": "asc"}}
    for path, body in (("/v1/collections/coldbooks/documents/list", {"filters": late, "limit": 10}),
                       ("/v1/documents/list", {"filters": late, "limit": 10}),
                       ("/v1/collections/coldbooks/documents/list", sort_all),
                       ("/v1/documents/list", {"filters": {"AND": [{"field": "genre", "operator": "eq",
                                                                   "value": "common"}]}, "include_total": True})):
        refused = client.post(path, headers=headers, json=body)
        assert refused.status_code == 400, (path, body, refused.text)
        assert refused.json()["error"]["code"] == "too_many_documents"
        assert refused.json()["error"]["details"] == {"max_scan": 40}
