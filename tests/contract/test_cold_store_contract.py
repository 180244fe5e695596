"""The ColdStore contract, run against every adapter: parquet parts in the blob store (embedded) and Amazon S3 Vectors
(moto for storage, plus an in-process stand-in for query_vectors that enforces the service's limits).

A demoted collection must answer a query exactly as the vector store would have: the same documents, the same
scores (cosine similarity, euclidean distance), the same filter semantics; and a resumed copy must never duplicate.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws
from openpeek.adapters.aws.s3_vectors_cold_store import S3VectorsColdStore, index_name
from openpeek.adapters.local.folder_blobs import FolderBlobStore
from openpeek.adapters.local.parquet_cold_store import ParquetColdStore
from openpeek.domain import filters as filter_rules
from openpeek.domain.conditions import Filter, MatchAny, MatchValue, Range
from openpeek.domain.tiering import ColdCollection
from openpeek.domain.vectors import SearchRequest, VectorIndexSpec, VectorPoint
from tests.s3vectors_standin import S3VectorsStandIn

DIM = 16
TEXT = VectorIndexSpec("text", DIM, "cosine")
IMAGE = VectorIndexSpec("image", 8, "euclidean")
TARGET = ColdCollection("ns_contract", "col_books", (TEXT, IMAGE))
VECTOR_BUCKET = "openpeek-test-vectors"


@pytest.fixture(params=["parquet", "s3vectors"])
def store(request: pytest.FixtureRequest, tmp_path: Path, aws_credentials: None):
    if request.param == "parquet":
        yield ParquetColdStore(FolderBlobStore(tmp_path / "blobs"))
        return
    with mock_aws():
        client = boto3.client("s3vectors", region_name="us-east-1")
        client.create_vector_bucket(vectorBucketName=VECTOR_BUCKET)
        yield S3VectorsColdStore(VECTOR_BUCKET, client=S3VectorsStandIn(client))


def points(count: int, start: int = 0, seed: int = 7) -> list[VectorPoint]:
    rng = np.random.default_rng(seed)
    text = rng.standard_normal((start + count, DIM)).astype(np.float32)
    image = rng.standard_normal((start + count, 8)).astype(np.float32)
    made = []
    for n in range(start, start + count):
        vectors = {"text": text[n].tolist()}
        if n % 3:  # not every document has every vector
            vectors["image"] = image[n].tolist()
        made.append(VectorPoint(f"doc_{n:04d}", vectors, {
            "collection_id": "col_books", "genre": ["sf", "crime", "poetry"][n % 3], "year": 1990 + n,
            "_internal": {"metadata": {"n": n}}}))
    return made


def exact_top(docs: list[VectorPoint], query: np.ndarray, k: int, metric: str, name: str,
              keep=lambda point: True) -> list[tuple[str, float]]:
    scored = []
    for point in docs:
        if name not in point.vectors or not keep(point):
            continue
        vector = np.asarray(point.vectors[name], dtype=np.float32)
        if metric == "cosine":
            score = float(vector @ query / (np.linalg.norm(vector) * np.linalg.norm(query)))
        else:
            score = float(np.linalg.norm(vector - query))
        scored.append((point.id, score))
    scored.sort(key=lambda pair: (pair[1] if metric == "euclidean" else -pair[1], pair[0]))
    return scored[:k]


def test_parts_round_trip_and_count(store):
    docs = points(250)
    store.write_part(TARGET, 0, docs[:120])
    store.write_part(TARGET, 1, docs[120:])
    assert store.count(TARGET) == 250
    read = [point for _, part in store.read_parts(TARGET) for point in part]
    assert sorted(point.id for point in read) == [point.id for point in docs]
    by_id = {point.id: point for point in read}
    for original in docs:
        back = by_id[original.id]
        assert back.payload == original.payload
        assert set(back.vectors) == set(original.vectors)
        np.testing.assert_allclose(back.vectors["text"], original.vectors["text"], rtol=1e-6)


def test_writing_a_part_again_never_duplicates(store):
    docs = points(40)
    store.write_part(TARGET, 0, docs[:20])
    store.write_part(TARGET, 1, docs[20:])
    store.write_part(TARGET, 1, docs[20:])  # a resumed copy repeats the part that was running
    assert store.count(TARGET) == 40
    assert len({p.id for _, part in store.read_parts(TARGET) for p in part}) == 40


def test_query_is_exact_with_the_vector_stores_scores(store):
    docs = points(300)
    for part, start in enumerate(range(0, 300, 100)):
        store.write_part(TARGET, part, docs[start: start + 100])
    query = np.random.default_rng(1).standard_normal(DIM).astype(np.float32)
    found = store.query(TARGET, SearchRequest("text", query.tolist(), limit=10))
    expected = exact_top(docs, query, 10, "cosine", "text")
    assert [hit.id for hit in found] == [doc for doc, _ in expected]
    np.testing.assert_allclose([hit.score for hit in found], [score for _, score in expected], rtol=1e-4, atol=1e-5)
    assert found[0].payload["genre"] in ("sf", "crime", "poetry") and found[0].payload["_internal"]["metadata"]

    image_query = np.random.default_rng(2).standard_normal(8).astype(np.float32)
    nearest = store.query(TARGET, SearchRequest("image", image_query.tolist(), limit=5))
    expected = exact_top(docs, image_query, 5, "euclidean", "image")
    assert [hit.id for hit in nearest] == [doc for doc, _ in expected]  # smaller distance first
    np.testing.assert_allclose([hit.score for hit in nearest], [score for _, score in expected], rtol=1e-4)


@pytest.mark.parametrize("condition, keep", [
    (Filter(must=(MatchValue("genre", "sf"),)), lambda p: p.payload["genre"] == "sf"),
    (Filter(must=(MatchAny("genre", ("crime", "poetry")), Range("year", gte=2100))),
     lambda p: p.payload["genre"] in ("crime", "poetry") and p.payload["year"] >= 2100),
    (Filter(must_not=(MatchValue("genre", "sf"),)), lambda p: p.payload["genre"] != "sf"),
    (Filter(should=(MatchValue("genre", "poetry"), Range("year", lt=2000))),
     lambda p: p.payload["genre"] == "poetry" or p.payload["year"] < 2000),
    (Filter(must=(Range("_internal.metadata.n", lt=50),)), lambda p: p.payload["_internal"]["metadata"]["n"] < 50),
])
def test_filters_agree_with_the_vector_store(store, condition, keep):
    docs = points(300)
    store.write_part(TARGET, 0, docs)
    query = np.random.default_rng(3).standard_normal(DIM).astype(np.float32)
    found = store.query(TARGET, SearchRequest("text", query.tolist(), limit=10, filter=condition))
    assert [hit.id for hit in found] == [doc for doc, _ in exact_top(docs, query, 10, "cosine", "text", keep)]


def test_a_payload_too_big_for_filterable_metadata_is_still_filtered_right(store):
    docs = points(30)
    for point in docs:
        point.payload["notes"] = "x" * 3000  # larger than S3 Vectors' 2 KB of filterable metadata
    store.write_part(TARGET, 0, docs)
    query = np.random.default_rng(4).standard_normal(DIM).astype(np.float32)
    condition = Filter(must=(MatchValue("genre", "crime"),))
    found = store.query(TARGET, SearchRequest("text", query.tolist(), limit=5, filter=condition))
    expected = exact_top(docs, query, 5, "cosine", "text", lambda p: p.payload["genre"] == "crime")
    assert [hit.id for hit in found] == [doc for doc, _ in expected]
    assert found[0].payload["notes"] == "x" * 3000


def test_threshold_unknown_vector_and_drop(store):
    docs = points(50)
    store.write_part(TARGET, 0, docs)
    query = np.random.default_rng(5).standard_normal(DIM).astype(np.float32)
    everything = store.query(TARGET, SearchRequest("text", query.tolist(), limit=50))
    cut = everything[4].score
    above = store.query(TARGET, SearchRequest("text", query.tolist(), limit=50, score_threshold=cut))
    assert [hit.id for hit in above] == [hit.id for hit in everything[:5]]
    assert store.query(TARGET, SearchRequest("absent", query.tolist(), limit=5)) == []
    store.drop(TARGET)
    assert store.count(TARGET) == 0
    assert store.query(TARGET, SearchRequest("text", query.tolist(), limit=5)) == []
    assert list(store.read_parts(TARGET)) == []
    store.drop(TARGET)  # dropping what is gone is a no-op


def test_read_parts_resumes_from_a_part(store):
    docs = points(60)
    for part in range(3):
        store.write_part(TARGET, part, docs[part * 20: part * 20 + 20])
    parts = list(store.read_parts(TARGET))
    assert sorted(p.id for _, part in parts for p in part) == [p.id for p in docs]
    numbers = [number for number, _ in parts]
    assert numbers == sorted(numbers)
    later = list(store.read_parts(TARGET, from_part=numbers[-1]))
    assert [number for number, _ in later] == numbers[-1:]
    assert [p.id for p in later[0][1]] == [p.id for p in parts[-1][1]]
    assert list(store.read_parts(TARGET, from_part=numbers[-1] + 1)) == []


def test_read_parts_without_vectors_gives_every_document_with_its_payload_only(store):
    docs = points(45)
    store.write_part(TARGET, 0, docs[:30])
    store.write_part(TARGET, 1, docs[30:])
    read = {point.id: point for _, part in store.read_parts(TARGET, with_vectors=False) for point in part}
    assert sorted(read) == sorted(doc.id for doc in docs)
    assert all(point.vectors == {} for point in read.values())
    assert all(read[doc.id].payload == doc.payload for doc in docs)


# -- what only the S3 Vectors adapter can get wrong ------------------------------------------------------------------


def test_select_gives_the_documents_that_pass_part_by_part_in_stored_order(store):
    docs = points(30)
    for part in range(3):
        store.write_part(TARGET, part, docs[part * 10: part * 10 + 10])
    stored = [point for _, part in store.read_parts(TARGET) for point in part]
    poetry = Filter(must=(MatchValue("genre", "poetry"),))
    for condition in (None, poetry, Filter(must=(Range("year", gte=2010.0),), must_not=(MatchValue("genre", "sf"),))):
        selections = list(store.select(TARGET, condition))
        chosen = [point for selection in selections for point in selection.read(0, selection.count)]
        expected = [point for point in stored if condition is None or filter_rules.matches(condition, point.payload,
                                                                                            point.id)]
        assert [(point.id, point.payload, point.vectors) for point in chosen] == [
            (point.id, point.payload, {}) for point in expected], condition
        assert sum(selection.count for selection in selections) == len(expected)
    by_id = {point.id: point for point in stored}
    [first, *_] = [selection for selection in store.select(TARGET, poetry) if selection.count >= 3]
    middle = first.read(1, 3, with_vectors=True)
    assert len(middle) == 2 and all(point.vectors == by_id[point.id].vectors for point in middle)
    assert all(point.payload["genre"] == "poetry" for point in middle)


def test_s3_vectors_writes_at_most_500_per_call_and_names_indexes_by_its_rules(aws_credentials):
    with mock_aws():
        client = boto3.client("s3vectors", region_name="us-east-1")
        client.create_vector_bucket(vectorBucketName=VECTOR_BUCKET)
        stand_in = S3VectorsStandIn(client)
        store = S3VectorsColdStore(VECTOR_BUCKET, client=stand_in)
        store.write_part(TARGET, 0, points(1_200))
        puts = [size for operation, size in stand_in.calls if operation == "put_vectors"]
        assert max(puts) <= 500 and sum(puts) == 1_200 + 800  # every text vector, and the 800 image vectors
        assert store.count(TARGET) == 1_200
        names = [index["indexName"] for index in client.list_indexes(vectorBucketName=VECTOR_BUCKET)["indexes"]]
        assert sorted(names) == sorted(index_name("ns_contract", "col_books", name) for name in ("text", "image"))
        import re
        assert all(re.fullmatch(r"[a-z0-9][a-z0-9-.]{1,61}[a-z0-9]", name) for name in names)
        long_name = index_name("ns_" + "x" * 80, "col_" + "Y_" * 60, "Some_Vector")
        assert len(long_name) <= 63 and re.fullmatch(r"[a-z0-9][a-z0-9-.]{1,61}[a-z0-9]", long_name)
        assert index_name("ns_a", "col_b", "v") != index_name("ns_b", "col_b", "v")
        query = np.random.default_rng(6).standard_normal(DIM).tolist()
        assert len(store.query(TARGET, SearchRequest("text", query, limit=500))) == 100  # topK ≤ 100


def test_s3_vectors_refuses_dot_product(aws_credentials):
    from openpeek.domain.failures import ColdStoreUnavailable

    with mock_aws():
        client = boto3.client("s3vectors", region_name="us-east-1")
        client.create_vector_bucket(vectorBucketName=VECTOR_BUCKET)
        store = S3VectorsColdStore(VECTOR_BUCKET, client=S3VectorsStandIn(client))
        dot = ColdCollection("ns_contract", "col_dot", (VectorIndexSpec("text", DIM, "dot"),))
        with pytest.raises(ColdStoreUnavailable, match="dot product"):
            store.write_part(dot, 0, points(3))


# -- what only the embedded adapter can get wrong --------------------------------------------------------------------


def test_parquet_scan_is_exact_across_chunk_boundaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from openpeek.adapters.local import parquet_cold_store

    monkeypatch.setattr(parquet_cold_store, "SCAN_CHUNK_BYTES", DIM * 4 * 7)  # 7 rows per read: parts span chunks
    store = ParquetColdStore(FolderBlobStore(tmp_path / "blobs"))
    docs = points(200)
    store.write_part(TARGET, 0, docs[:130])
    store.write_part(TARGET, 1, docs[130:])
    query = np.random.default_rng(8).standard_normal(DIM).astype(np.float32)
    found = store.query(TARGET, SearchRequest("text", query.tolist(), limit=12, with_vectors=True))
    expected = exact_top(docs, query, 12, "cosine", "text")
    assert [hit.id for hit in found] == [doc for doc, _ in expected]
    by_id = {doc.id: doc for doc in docs}
    np.testing.assert_allclose(found[3].vectors["text"], by_id[found[3].id].vectors["text"], rtol=1e-6)
    image_query = np.random.default_rng(9).standard_normal(8).astype(np.float32)
    nearest = store.query(TARGET, SearchRequest("image", image_query.tolist(), limit=7))
    assert [hit.id for hit in nearest] == [doc for doc, _ in exact_top(docs, image_query, 7, "euclidean", "image")]


def _damage(blobs: FolderBlobStore, suffix: str, position: int) -> tuple[str, bytearray]:
    """Flip every bit of one byte of the cold copy's file ending in `suffix`: its key and its damaged bytes."""
    key = next(key for key in blobs.list("namespaces/") if key.endswith(suffix))
    damaged = bytearray(blobs.get(key))
    damaged[position] ^= 0xFF
    blobs.put(key, bytes(damaged))
    return key, damaged


def test_parquet_vector_files_are_checked_not_trusted(tmp_path: Path):
    from openpeek.domain.failures import ColdStoreUnavailable

    blobs = FolderBlobStore(tmp_path / "blobs")
    store = ParquetColdStore(blobs)
    store.write_part(TARGET, 0, points(20))
    vector_file, damaged = _damage(blobs, ".text.f32", 0)
    with pytest.raises(ColdStoreUnavailable, match="checksum"):
        list(store.read_parts(TARGET))  # a rehydration never copies damaged vectors back
    blobs.put(vector_file, bytes(damaged[:-4]))
    with pytest.raises(ColdStoreUnavailable):
        store.query(TARGET, SearchRequest("text", [1.0] * DIM, limit=3))  # a short file is a store failure
    blobs.delete(vector_file)
    with pytest.raises(ColdStoreUnavailable, match="missing"):
        store.query(TARGET, SearchRequest("text", [1.0] * DIM, limit=3))


def write_part_in_the_earlier_layout(blobs: FolderBlobStore, target: ColdCollection, part: int,
                                     docs: list[VectorPoint]) -> None:
    """A part as the previous version of the embedded cold store wrote it (one parquet file: `document_id`, `payload`,
    and per vector `v:<name>` float32 bytes with `has:<name>`), byte for byte its writer."""
    import io
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {"document_id": pa.array([point.id for point in docs], pa.string()),
               "payload": pa.array([json.dumps(point.payload, default=str) for point in docs], pa.string())}
    for spec in target.vectors:
        matrix = np.zeros((len(docs), spec.dimension), dtype=np.float32)
        present = np.zeros(len(docs), dtype=bool)
        for row, point in enumerate(docs):
            if spec.name in point.vectors:
                matrix[row] = point.vectors[spec.name]
                present[row] = True
        columns[f"v:{spec.name}"] = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(spec.dimension * 4), len(docs), [None, pa.py_buffer(matrix.tobytes())])
        columns[f"has:{spec.name}"] = pa.array(present)
    sink = io.BytesIO()
    vector_columns = [name for name in columns if name.startswith("v:")]
    pq.write_table(pa.table(columns), sink,
                   compression={name: ("none" if name in vector_columns else "zstd") for name in columns},
                   use_dictionary=["document_id", "payload"], row_group_size=40)
    blobs.put(f"namespaces/{target.namespace_id}/cold/{target.collection_id}/part-{part:06d}.parquet", sink.getvalue())


def test_parts_of_the_earlier_layout_stay_readable_and_are_upgraded_in_place(tmp_path: Path):
    blobs = FolderBlobStore(tmp_path / "blobs")
    store = ParquetColdStore(blobs)
    docs = points(150)
    write_part_in_the_earlier_layout(blobs, TARGET, 0, docs[:100])  # demoted by the previous version
    store.write_part(TARGET, 1, docs[100:])  # and a part of this one beside it
    assert store.count(TARGET) == 150

    query = np.random.default_rng(8).standard_normal(DIM).astype(np.float32)
    found = store.query(TARGET, SearchRequest("text", query.tolist(), limit=10))
    assert [(hit.id, round(hit.score, 5)) for hit in found] == \
        [(doc, round(score, 5)) for doc, score in exact_top(docs, query, 10, "cosine", "text")]
    assert found[0].payload == next(doc.payload for doc in docs if doc.id == found[0].id)
    image_query = np.random.default_rng(9).standard_normal(8).astype(np.float32)
    nearest = store.query(TARGET, SearchRequest("image", image_query.tolist(), limit=7))
    assert [hit.id for hit in nearest] == [doc for doc, _ in exact_top(docs, image_query, 7, "euclidean", "image")]

    # Upgraded: the part now has its raw vector files, and a rehydration reads every document back whole.
    assert any(key.endswith("part-000000.text.f32") for key in blobs.list("namespaces/"))
    read = {point.id: point for _, part in store.read_parts(TARGET) for point in part}
    assert sorted(read) == sorted(doc.id for doc in docs)
    for doc in docs:
        assert read[doc.id].payload == doc.payload
        assert set(read[doc.id].vectors) == set(doc.vectors)  # a document without an image vector stays without
        np.testing.assert_allclose(read[doc.id].vectors["text"], doc.vectors["text"], rtol=1e-6)


def test_get_by_id_returns_the_documents_asked_for_and_nothing_else(store):
    docs = points(90)
    for part in range(3):
        store.write_part(TARGET, part, docs[part * 30: part * 30 + 30])
    asked = ["doc_0075", "doc_0003", "doc_missing", "doc_0031", "doc_0003"]
    found = store.get(TARGET, asked)
    assert [point.id for point in found] == ["doc_0075", "doc_0003", "doc_0031"]  # the order asked, missing left out
    by_id = {doc.id: doc for doc in docs}
    assert all(point.payload == by_id[point.id].payload and point.vectors == {} for point in found)
    whole = {point.id: point for point in store.get(TARGET, ["doc_0031", "doc_0033"], with_vectors=True)}
    assert set(whole["doc_0031"].vectors) == {"text", "image"} and set(whole["doc_0033"].vectors) == {"text"}
    np.testing.assert_allclose(whole["doc_0031"].vectors["image"], by_id["doc_0031"].vectors["image"], rtol=1e-6)
    assert store.get(TARGET, ["doc_missing"]) == []
    store.drop(TARGET)
    assert store.get(TARGET, ["doc_0003"]) == []


class CountingBlobs:
    """A blob store (not the folder store, so the cold store reads every file through get()) counting what is read."""

    def __init__(self, inner: FolderBlobStore) -> None:
        self._inner = inner
        self.read: list[str] = []

    def get(self, key: str) -> bytes:
        self.read.append(key)
        return self._inner.get(key)

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


def test_parquet_get_by_id_reads_only_the_part_that_holds_it(tmp_path: Path):
    blobs = CountingBlobs(FolderBlobStore(tmp_path / "blobs"))
    store = ParquetColdStore(blobs)
    docs = points(400)
    for part in range(20):
        store.write_part(TARGET, part, docs[part * 20: part * 20 + 20])
    whole_scan = {point.id: point for _, part in store.read_parts(TARGET, with_vectors=False) for point in part}

    blobs.read.clear()
    [found] = store.get(TARGET, ["doc_0257"])
    assert found.payload == whole_scan["doc_0257"].payload == docs[257].payload
    parts_read = [key for key in blobs.read if key.endswith(".parquet")]
    assert parts_read == [f"namespaces/ns_contract/cold/col_books/part-{257 // 20:06d}.parquet"]
    assert not any(key.endswith((".f32", ".norms")) for key in blobs.read)  # no vectors asked, none read

    blobs.read.clear()
    assert store.get(TARGET, ["doc_9999"]) == []
    assert not any(key.endswith(".parquet") for key in blobs.read)  # in no part's index: no part opened


def test_parquet_id_indexes_are_checked_not_trusted(tmp_path: Path):
    from openpeek.domain.failures import ColdStoreUnavailable

    blobs = FolderBlobStore(tmp_path / "blobs")
    store = ParquetColdStore(blobs)
    store.write_part(TARGET, 0, points(20))
    index, damaged = _damage(blobs, ".ids", 3)
    with pytest.raises(ColdStoreUnavailable, match="checksum"):
        store.get(TARGET, ["doc_0001"])
    from openpeek.adapters.local.parquet_cold_store import _hash, _hash_index

    # an index sound in itself (its own checksum holds) but not the one the part recorded: rows in another order
    blobs.put(index, _hash_index([_hash(point.id) for point in reversed(points(20))], range(20)))
    with pytest.raises(ColdStoreUnavailable, match="not the one its part recorded"):
        ParquetColdStore(blobs).get(TARGET, ["doc_0001"])
    store.write_part(TARGET, 0, points(20))
    _damage(blobs, ".terms", 5)
    with pytest.raises(ColdStoreUnavailable, match="checksum"):  # a fresh process checks an index on first use
        ParquetColdStore(blobs).query(TARGET, SearchRequest("text", [1.0] * DIM, limit=3, filter=Filter(
            must=(MatchValue("genre", "sf"),))))


def write_part_in_the_raw_layout_without_index(blobs: FolderBlobStore, target: ColdCollection, part: int,
                                               docs: list[VectorPoint]) -> None:
    """A part as the raw layout wrote it before id indexes and terms: vector files as now, a parquet of
    `document_id` and `payload` whose metadata records only the rows and the vector files' checksums."""
    import hashlib
    import io
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    ParquetColdStore(blobs).write_part(target, part, docs)  # the vector files are the same bytes
    prefix = f"namespaces/{target.namespace_id}/cold/{target.collection_id}/part-{part:06d}"
    blobs.delete(f"{prefix}.ids")
    checksums = {spec.name: hashlib.sha256(blobs.get(f"{prefix}.{spec.name}.f32")).hexdigest()
                 for spec in target.vectors}
    table = pa.table({"document_id": pa.array([point.id for point in docs], pa.string()),
                      "payload": pa.array([json.dumps(point.payload) for point in docs], pa.string())}
                     ).replace_schema_metadata({b"openpeek.cold": json.dumps({"rows": len(docs),
                                                                               "sha256": checksums})})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", row_group_size=128, use_dictionary=False)
    blobs.put(f"{prefix}.parquet", sink.getvalue())


def test_parts_without_an_id_index_get_one_on_first_read(tmp_path: Path):
    blobs = FolderBlobStore(tmp_path / "blobs")
    store = ParquetColdStore(blobs)
    docs = points(120)
    write_part_in_the_raw_layout_without_index(blobs, TARGET, 0, docs[:60])
    write_part_in_the_raw_layout_without_index(blobs, TARGET, 1, docs[60:])
    vectors_before = {key: blobs.get(key) for key in blobs.list("namespaces/") if key.endswith(".f32")}
    assert not any(key.endswith(".ids") for key in blobs.list("namespaces/"))

    [found] = store.get(TARGET, ["doc_0100"])
    assert found.payload == docs[100].payload
    assert sum(key.endswith(".ids") for key in blobs.list("namespaces/")) == 2
    assert {key: blobs.get(key) for key in vectors_before} == vectors_before  # vector files untouched
    query = np.random.default_rng(12).standard_normal(DIM).astype(np.float32)
    condition = Filter(must=(MatchValue("genre", "poetry"),))
    hits = store.query(TARGET, SearchRequest("text", query.tolist(), limit=8, filter=condition))
    assert [hit.id for hit in hits] == [doc for doc, _ in exact_top(
        docs, query, 8, "cosine", "text", lambda p: p.payload["genre"] == "poetry")]
    assert {point.id for _, part in store.read_parts(TARGET) for point in part} == {doc.id for doc in docs}


# -- filtered scans: the terms decide what they can, the evaluator the rest, and the answer never changes ----------


def _random_payload(rng: np.random.Generator, n: int) -> dict:
    choices = [lambda: int(rng.integers(0, 4)), lambda: float(rng.integers(0, 4)), lambda: bool(rng.integers(0, 2)),
               lambda: ["a", "b", "c", "1"][rng.integers(0, 4)], lambda: None,
               lambda: [int(rng.integers(0, 4)), ["a", "b"][rng.integers(0, 2)]], lambda: {"k": "a"},
               lambda: "a" * 300 if rng.integers(0, 2) else "b" * 300, lambda: 2.5]
    payload = {"collection_id": "col_books", "n": n}
    for key in ("x", "y", "z"):
        if rng.random() < 0.85:
            payload[key] = choices[rng.integers(0, len(choices))]()
    payload["nested"] = {"x": int(rng.integers(0, 3))}
    return payload


def _random_condition(rng: np.random.Generator, depth: int = 0):
    from openpeek.domain.conditions import HasIds, IsEmpty

    key = ["x", "y", "z", "nested.x", "absent"][rng.integers(0, 5)]
    values = [0, 1, 2, 3, "a", "b", "1", True, False, "a" * 300]
    pick = rng.integers(0, 8 if depth < 2 else 5)
    if pick == 0:
        return MatchValue(key, values[rng.integers(0, len(values))])
    if pick == 1:
        return MatchAny(key, tuple(values[i] for i in rng.choice(len(values), size=2, replace=False)))
    if pick == 2:
        return Range(key, gte=float(rng.integers(0, 3)))
    if pick == 3:
        return HasIds(tuple(f"doc_{i:04d}" for i in rng.integers(0, 200, size=20)))
    if pick == 4:
        return IsEmpty(key)
    children = lambda: tuple(_random_condition(rng, depth + 1) for _ in range(rng.integers(0, 3)))  # noqa: E731
    return Filter(must=children(), should=children(), must_not=children())


@pytest.mark.parametrize("colliding", [False, True])
def test_filtered_scans_agree_with_the_evaluator_on_random_payloads_and_filters(tmp_path: Path, colliding: bool,
                                                                                monkeypatch: pytest.MonkeyPatch):
    """The evaluator (domain.filters, which agrees with Qdrant) is the judge: every filtered query must return exactly
    the brute-force top k among the documents it lets through, whatever the indexes decided, even when every hash
    collides with others (`colliding`: a hash of three bits). And a filter the terms index decides alone decodes no
    payload."""
    from openpeek.domain import filters as filter_rules

    rng = np.random.default_rng(20)
    store, docs, decoded = _random_payload_store(tmp_path, monkeypatch, rng, colliding, [0, 90])
    query = np.random.default_rng(21).standard_normal(DIM).astype(np.float32)
    for _ in range(300 if not colliding else 100):
        condition = Filter(must=(_random_condition(rng),), must_not=(_random_condition(rng),))
        found = store.query(TARGET, SearchRequest("text", query.tolist(), limit=200, filter=condition))
        expected = exact_top(docs, query, 200, "cosine", "text",
                             lambda p: filter_rules.matches(condition, p.payload, p.id))
        assert [hit.id for hit in found] == [doc for doc, _ in expected], condition
    decoded.clear()
    if colliding:
        assert store.get(TARGET, ["doc_0042", "doc_0199"])[1].payload == docs[199].payload
        return
    decided = Filter(must=(MatchAny("n", (3, 50, 150, 170, 171)),), must_not=(MatchValue("n", 171),))
    found = store.query(TARGET, SearchRequest("text", query.tolist(), limit=10, filter=decided))
    assert sorted(hit.id for hit in found) == ["doc_0003", "doc_0050", "doc_0150", "doc_0170"]
    assert sum(decoded) == 4  # the terms index decided the filter: only the four hits' payloads were decoded
    read: list[str] = []
    real_chunks = ParquetColdStore._chunks
    monkeypatch.setattr(ParquetColdStore, "_chunks", lambda self, key, *rest: read.append(key) or
                        real_chunks(self, key, *rest))
    only_second = store.query(TARGET, SearchRequest("text", query.tolist(), limit=3, filter=Filter(
        must=(MatchAny("n", (120, 130)),))))
    assert sorted(hit.id for hit in only_second) == ["doc_0120", "doc_0130"]
    assert [key.rsplit("/", 1)[1] for key in read] == ["part-000001.text.f32"]  # a part none of whose rows pass
    decoded.clear()
    store.query(TARGET, SearchRequest("text", query.tolist(), limit=190, filter=Filter(
        must_not=(MatchValue("n", 17),))))
    assert sum(decoded) == 190  # the hits only: the index proved which row holds n = 17 and which do not


def _random_payload_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator, colliding: bool,
                          part_starts: list[int]) -> tuple[ParquetColdStore, list, list[int]]:
    """200 documents with random payloads in parts starting at `part_starts`; `colliding`: term hashes of three bits.
    Also the list that records how many payloads each decode reads."""
    from openpeek.adapters.local import parquet_cold_store

    if colliding:
        real_hash = parquet_cold_store._hash
        monkeypatch.setattr(parquet_cold_store, "_hash", lambda text: real_hash(text) % 8)
    docs = points(200)
    for point in docs:
        point.payload = _random_payload(rng, int(point.id[4:]))
    store = ParquetColdStore(FolderBlobStore(tmp_path / "blobs"))
    for part, (start, end) in enumerate(zip(part_starts, [*part_starts[1:], len(docs)])):
        store.write_part(TARGET, part, docs[start:end])
    decoded: list[int] = []
    real_rows = parquet_cold_store._rows
    monkeypatch.setattr(parquet_cold_store, "_rows", lambda parquet, rows: decoded.append(len(rows)) or
                        real_rows(parquet, rows))
    return store, docs, decoded


@pytest.mark.parametrize("colliding", [False, True])
def test_filtered_selections_agree_with_the_evaluator_and_decode_only_what_is_read(
        tmp_path: Path, colliding: bool, monkeypatch: pytest.MonkeyPatch):
    """A listing's selection is the evaluator's choice whatever the indexes decided (even when every hash collides),
    it counts every payload it decodes, an exact filter decodes only the documents read, never a part that holds
    none of them, and undecided rows are decoded a slice at a time, as far as the caller reads."""
    from openpeek.adapters.local import parquet_cold_store

    monkeypatch.setattr(parquet_cold_store, "SELECT_ROWS", 16)  # parts of 40: slices of 16, 16 and 8
    rng = np.random.default_rng(22)
    store, docs, decoded = _random_payload_store(tmp_path, monkeypatch, rng, colliding, list(range(0, 200, 40)))
    for _ in range(200 if not colliding else 80):
        condition = Filter(must=(_random_condition(rng),), must_not=(_random_condition(rng),))
        decoded.clear()
        selections = list(store.select(TARGET, condition))
        chosen = [point.id for selection in selections for point in selection.read(0, selection.count)]
        assert chosen == [point.id for point in docs if filter_rules.matches(condition, point.payload, point.id)]
        assert sum(selection.decoded for selection in selections) == sum(decoded) <= len(docs)
    if colliding:
        return
    decoded.clear()
    rare = Filter(must=(MatchAny("n", (3, 30, 51, 170)),), must_not=(MatchValue("n", 51),))
    selections = list(store.select(TARGET, rare))  # parts of 40: 3 and 30 in part 0, 51 (excluded) in 1, 170 in 4
    assert [selection.count for selection in selections] == [2, 1] and decoded == []  # counted, nothing decoded
    assert [point.id for point in selections[0].read(1, 2)] == ["doc_0030"] and decoded == [1]
    assert selections[0].decoded == 1 and selections[1].decoded == 0
    decoded.clear()
    undecided = store.select(TARGET, Filter(must=(Range("n", gte=0.0),)))  # a range: no index can decide it
    first = next(undecided)
    assert first.count == 16 and decoded == [16]  # the first slice only, until the caller asks for more
    assert [point.id for point in first.read(14, 16)] == ["doc_0014", "doc_0015"] and decoded == [16]
