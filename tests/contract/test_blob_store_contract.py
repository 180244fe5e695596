"""The BlobStore contract, run against every adapter: a folder (embedded runtime) and S3 (under moto).

Services write parquet inputs and cluster artifacts through this port and must see the same behaviour in both
runtimes; the adapter-specific tests at the end cover what only one adapter can get wrong.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from openpeek.adapters.aws.s3_blobs import S3BlobStore
from openpeek.adapters.local.folder_blobs import FolderBlobStore
from openpeek.domain.failures import BlobNotFound, DependencyUnavailable
from openpeek.ports import BlobStore

BUCKET = "openpeek-test-blobs"
REGION = "us-east-1"




@pytest.fixture(params=["folder", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path, aws_credentials: None):
    if request.param == "folder":
        yield FolderBlobStore(tmp_path / "blobs")
        return
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        # A store prefix, as a deployment sharing a bucket between environments would use.
        yield S3BlobStore(BUCKET, prefix="env-test")


def _put_all(store: BlobStore, keys: list[str]) -> None:
    for key in keys:
        store.put(key, key.encode())


# -- bytes in, bytes out ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00\xffbinary\r\n\x00", os.urandom(5 * 1024 * 1024)],
    ids=["empty", "binary", "5MB"],
)
def test_get_returns_exactly_the_bytes_put(store: BlobStore, data: bytes) -> None:
    store.put("clusters/clu_1/input.parquet", data, content_type="application/vnd.apache.parquet")

    assert store.get("clusters/clu_1/input.parquet") == data


def test_put_overwrites_an_existing_blob(store: BlobStore) -> None:
    store.put("artifacts/metrics.json", b'{"silhouette": 0.1, "padding": "a longer first version"}')
    store.put("artifacts/metrics.json", b'{"silhouette": 0.9}')

    assert store.get("artifacts/metrics.json") == b'{"silhouette": 0.9}'
    assert store.list("artifacts/") == ["artifacts/metrics.json"]


def test_get_of_a_missing_key_raises_blob_not_found(store: BlobStore) -> None:
    store.put("present/a", b"x")

    with pytest.raises(BlobNotFound):
        store.get("absent/a")
    with pytest.raises(BlobNotFound):
        store.get("present/b")


def test_get_of_a_folder_like_prefix_is_not_a_blob(store: BlobStore) -> None:
    store.put("runs/run_1/assignments.parquet", b"x")

    with pytest.raises(BlobNotFound):
        store.get("runs/run_1")
    assert store.exists("runs/run_1") is False


def test_exists_follows_put_and_delete(store: BlobStore) -> None:
    assert store.exists("layout/points.parquet") is False

    store.put("layout/points.parquet", b"")
    assert store.exists("layout/points.parquet") is True

    store.delete("layout/points.parquet")
    assert store.exists("layout/points.parquet") is False


# -- list ------------------------------------------------------------------------------------------------------------


def test_list_prefix_is_a_plain_string_prefix_not_a_folder(store: BlobStore) -> None:
    _put_all(store, ["clusters/clu_1/a", "clusters/clu_10/b", "clusters/clu_2/c", "clusters.txt", "other/x"])

    assert store.list("clusters/clu_1") == ["clusters/clu_1/a", "clusters/clu_10/b"]
    assert store.list("clusters/clu_1/") == ["clusters/clu_1/a"]
    assert store.list("clusters") == [
        "clusters.txt",
        "clusters/clu_1/a",
        "clusters/clu_10/b",
        "clusters/clu_2/c",
    ]
    assert store.list("clusters/clu_1/a") == ["clusters/clu_1/a"]


def test_list_without_prefix_returns_every_key_sorted_bytewise(store: BlobStore) -> None:
    # '-' < '.' < '/' < '0' < 'B' < 'a' in byte order; a directory walk would yield these in another order.
    keys = ["a/b", "a0", "a.b", "a-b", "a/B", "B", "a/c/d", "é"]
    _put_all(store, keys)

    assert store.list() == ["B", "a-b", "a.b", "a/B", "a/b", "a/c/d", "a0", "é"]


def test_list_of_a_prefix_matching_nothing_is_empty(store: BlobStore) -> None:
    store.put("clusters/clu_1/a", b"x")

    assert store.list("clusters/clu_2") == []
    assert store.list("nowhere/at/all/") == []
    assert store.list("clusters/clu_1/a/") == []


def test_list_of_an_empty_store_is_empty(store: BlobStore) -> None:
    assert store.list() == []


# -- delete ----------------------------------------------------------------------------------------------------------


def test_delete_of_a_missing_key_is_a_no_op(store: BlobStore) -> None:
    store.put("keep/me", b"x")

    store.delete("never/written")
    store.delete("keep")  # a folder-like prefix of a blob is not a blob

    assert store.get("keep/me") == b"x"


def test_delete_removes_only_that_key(store: BlobStore) -> None:
    _put_all(store, ["runs/run_1/a", "runs/run_1/b"])

    store.delete("runs/run_1/a")

    assert store.list() == ["runs/run_1/b"]
    with pytest.raises(BlobNotFound):
        store.get("runs/run_1/a")


def test_delete_prefix_counts_what_it_deleted_and_spares_the_rest(store: BlobStore) -> None:
    _put_all(store, ["runs/run_1/a", "runs/run_1/b/c", "runs/run_12/d", "runs/run_2/e", "runs.index"])

    assert store.delete_prefix("runs/run_1/") == 2
    assert store.list() == ["runs.index", "runs/run_12/d", "runs/run_2/e"]

    # A plain string prefix: run_1 also names run_12.
    store.put("runs/run_1/a", b"again")
    assert store.delete_prefix("runs/run_1") == 2
    assert store.list() == ["runs.index", "runs/run_2/e"]
    assert store.get("runs/run_2/e") == b"runs/run_2/e"


def test_delete_prefix_matching_nothing_returns_zero(store: BlobStore) -> None:
    store.put("keep/me", b"x")

    assert store.delete_prefix("gone/") == 0
    assert store.list() == ["keep/me"]


def test_delete_prefix_and_list_handle_more_than_one_page_of_keys(store: BlobStore) -> None:
    # S3 lists 1,000 keys a page and deletes at most 1,000 a call; one more forces a second of each.
    keys = [f"bulk/{index:05d}" for index in range(1_001)]
    for key in keys:
        store.put(key, b"")
    store.put("bulkhead", b"survives")

    assert store.list("bulk/") == keys
    assert store.delete_prefix("bulk/") == 1_001
    assert store.list() == ["bulkhead"]


def test_a_key_can_be_written_again_after_its_prefix_was_deleted(store: BlobStore) -> None:
    store.put("tmp/run_1/part", b"one")
    store.delete_prefix("tmp/")

    store.put("tmp/run_1/part", b"two")

    assert store.get("tmp/run_1/part") == b"two"


# -- folder adapter only ---------------------------------------------------------------------------------------------

ESCAPING_KEYS = [
    "",
    "/etc/passwd",
    "../outside",
    "a/../../outside",
    "..",
    "a//b",
    "a/./b",
    "a/",
    "a\\..\\outside",
    "a\x00b",
]


@pytest.mark.parametrize("key", ESCAPING_KEYS, ids=repr)
def test_folder_refuses_keys_that_could_escape_the_root(tmp_path: Path, key: str) -> None:
    store = FolderBlobStore(tmp_path / "root")

    with pytest.raises(ValueError):
        store.put(key, b"pwned")
    with pytest.raises(ValueError):
        store.get(key)
    with pytest.raises(ValueError):
        store.exists(key)
    with pytest.raises(ValueError):
        store.delete(key)

    assert sorted(path.name for path in tmp_path.iterdir()) == ["root"]
    assert list((tmp_path / "root").iterdir()) == []


def test_folder_list_with_an_escaping_prefix_finds_nothing_outside_the_root(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_bytes(b"not a blob")
    store = FolderBlobStore(tmp_path / "root")
    store.put("inside", b"x")

    assert store.list("../") == []
    assert store.list("/") == []
    assert store.delete_prefix("../") == 0
    assert (tmp_path / "secret.txt").exists()


def test_folder_keys_are_plain_files_under_the_root(tmp_path: Path) -> None:
    store = FolderBlobStore(tmp_path)

    store.put("clusters/clu_1/assignments.parquet", b"PAR1")

    assert (tmp_path / "clusters" / "clu_1" / "assignments.parquet").read_bytes() == b"PAR1"


def test_folder_delete_prefix_removes_the_folders_it_empties(tmp_path: Path) -> None:
    store = FolderBlobStore(tmp_path)
    _put_all(store, ["runs/run_1/a/b/c", "runs/run_1/d", "runs/run_2/e"])

    store.delete_prefix("runs/run_1/")

    assert not (tmp_path / "runs" / "run_1").exists()
    assert (tmp_path / "runs" / "run_2" / "e").exists()

    store.delete("runs/run_2/e")
    assert list(tmp_path.iterdir()) == []


def test_folder_refuses_a_key_that_would_turn_a_blob_into_a_folder(tmp_path: Path) -> None:
    store = FolderBlobStore(tmp_path)
    store.put("a", b"blob")

    with pytest.raises(ValueError):
        store.put("a/b", b"other")

    assert store.get("a") == b"blob"
    assert store.list() == ["a"]


def test_folder_readers_never_see_half_a_blob(tmp_path: Path) -> None:
    store = FolderBlobStore(tmp_path)
    versions = [bytes([fill]) * (1024 * 1024) for fill in (0x41, 0x42)]
    store.put("hot/key", versions[0])
    stop = threading.Event()

    def overwrite() -> None:
        index = 0
        while not stop.is_set():
            index ^= 1
            store.put("hot/key", versions[index])

    writer = threading.Thread(target=overwrite)
    writer.start()
    seen_partial: list[int] = []
    seen_keys: set[tuple[str, ...]] = set()
    try:
        for _ in range(200):
            data = store.get("hot/key")
            if data not in versions:
                seen_partial.append(len(data))
            seen_keys.add(tuple(store.list()))
    finally:
        stop.set()
        writer.join()

    assert seen_partial == []
    assert seen_keys == {("hot/key",)}  # the writer's temp files never show up as keys


# -- S3 adapter only -------------------------------------------------------------------------------------------------


def test_s3_store_prefix_keeps_other_environments_out_of_sight(aws_credentials: None) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="prod/runs/a", Body=b"prod data")
        store = S3BlobStore(BUCKET, prefix="dev")

        store.put("runs/a", b"dev data")

        assert store.list() == ["runs/a"]
        assert store.get("runs/a") == b"dev data"
        assert store.delete_prefix("") == 1
        assert s3.get_object(Bucket=BUCKET, Key="prod/runs/a")["Body"].read() == b"prod data"
        assert [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["prod/runs/a"]


def test_s3_missing_bucket_is_a_dependency_failure_not_a_missing_blob(aws_credentials: None) -> None:
    with mock_aws():
        store = S3BlobStore("no-such-bucket")

        with pytest.raises(DependencyUnavailable):
            store.get("a")
        with pytest.raises(DependencyUnavailable):
            store.put("a", b"x")
        with pytest.raises(DependencyUnavailable):
            store.list()
        with pytest.raises(DependencyUnavailable):
            store.delete_prefix("a")


def test_s3_unreachable_endpoint_is_a_dependency_failure(aws_credentials: None) -> None:
    client = boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",  # the discard port: nothing listens there
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1),
    )
    store = S3BlobStore(BUCKET, client=client)

    with pytest.raises(DependencyUnavailable):
        store.get("a")
    with pytest.raises(DependencyUnavailable):
        store.exists("a")
    with pytest.raises(DependencyUnavailable):
        store.list()
