"""The S3 Vectors cold store against the real service: what moto and the in-process stand-in cannot prove —
query_vectors' answers and distances, filters evaluated by the service, and index removal. Small data (a few
hundred 16-d vectors): cents, not dollars."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from openpeek.adapters.aws.s3_vectors_cold_store import S3VectorsColdStore
from openpeek.domain.conditions import Filter, MatchValue
from openpeek.domain.tiering import ColdCollection
from openpeek.domain.vectors import SearchRequest, VectorIndexSpec, VectorPoint

pytestmark = pytest.mark.live_aws

DIM = 16
TEXT = VectorIndexSpec("text", DIM, "cosine")


def points(count: int) -> list[VectorPoint]:
    vectors = np.random.default_rng(11).standard_normal((count, DIM)).astype(np.float32)
    return [VectorPoint(f"doc_{n:04d}", {"text": vectors[n].tolist()},
                        {"collection_id": "col_live", "genre": ["sf", "crime"][n % 2], "n": n})
            for n in range(count)]


def exact(docs: list[VectorPoint], query: np.ndarray, keep=lambda point: True) -> list[tuple[str, float]]:
    scored = []
    for point in docs:
        if keep(point):
            vector = np.asarray(point.vectors["text"])
            scored.append((point.id, float(vector @ query / (np.linalg.norm(vector) * np.linalg.norm(query)))))
    return sorted(scored, key=lambda pair: -pair[1])


def test_demoted_vectors_are_found_scored_filtered_and_dropped(live_vector_bucket):
    client, bucket = live_vector_bucket
    store = S3VectorsColdStore(bucket, client=client)
    target = ColdCollection(f"ns_live{uuid.uuid4().hex[:8]}", "col_live", (TEXT,))
    docs = points(300)
    try:
        store.write_part(target, 0, docs[:200])
        store.write_part(target, 1, docs[200:])
        assert store.count(target) == 300
        assert sorted(p.id for _, part in store.read_parts(target) for p in part) == [p.id for p in docs]

        query = np.random.default_rng(12).standard_normal(DIM).astype(np.float32)
        found = store.query(target, SearchRequest("text", query.tolist(), limit=10))
        expected = dict(exact(docs, query))
        best = exact(docs, query)[0][0]
        assert found[0].id == best
        for hit in found:  # the service's distance turned into the similarity the vector store returns
            assert hit.score == pytest.approx(expected[hit.id], abs=1e-3)

        crime = Filter(must=(MatchValue("genre", "crime"),))
        filtered = store.query(target, SearchRequest("text", query.tolist(), limit=5, filter=crime))
        assert filtered and all(hit.payload["genre"] == "crime" for hit in filtered)
        assert filtered[0].id == exact(docs, query, lambda p: p.payload["genre"] == "crime")[0][0]
    finally:
        store.drop(target)
    assert store.count(target) == 0
    names = [index["indexName"] for index in client.list_indexes(vectorBucketName=bucket).get("indexes", [])]
    assert store.index_name(target) not in names
