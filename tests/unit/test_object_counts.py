"""A bucket's counts are kept with every object write (SQLite table): exact under concurrent writers, and they follow
deletes, replacements and status changes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from openpeek.adapters.local.sqlite_table import SqliteTable
from openpeek.domain.objects import BucketObject, new_object_id
from openpeek.repositories.objects import ObjectRepository


def blob(size: int) -> dict:
    return {"blob_id": "blob_1", "property": "body", "type": "text", "blob_key": "k", "size_bytes": size,
            "mime_type": "text/plain", "content_hash": "h"}


def make(size: int = 10, **more) -> BucketObject:
    return BucketObject(new_object_id(), "bkt_1", "ns_1", "org_1", blobs=(blob(size),),
                        created_at="2026-01-01T00:00:00Z", **more)


def test_concurrent_writers_leave_exact_counts(tmp_path):
    repository = ObjectRepository(SqliteTable(tmp_path / "t.db"))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: repository.create(make()), range(200)))
    counts = repository.bucket_counts("ns_1", "bkt_1")
    assert (counts["object_count"], counts["total_size_bytes"]) == (200, 2000)
    assert repository.count_by_bucket("org_1", "ns_1", "bkt_1") == 200 == sum(
        1 for _ in repository.iterate_bucket("org_1", "ns_1", "bkt_1"))


def test_counts_follow_deletes_replacements_and_failures(tmp_path):
    repository = ObjectRepository(SqliteTable(tmp_path / "t.db"))
    first, second = make(10), make(20)
    repository.create(first)
    repository.create(second)
    grown = repository.save(replace(second, blobs=(blob(50),)), second)
    repository.update_status("org_1", "ns_1", "bkt_1", first.object_id, "FAILED", error="unreadable")
    counts = repository.bucket_counts("ns_1", "bkt_1")
    assert (counts["object_count"], counts["failed_object_count"], counts["total_size_bytes"]) == (2, 1, 60)
    assert counts["last_upload_at"] == "2026-01-01T00:00:00Z"
    repository.delete(repository.get("org_1", "ns_1", "bkt_1", first.object_id))
    repository.delete(grown)
    repository.delete(grown)  # already gone: nothing changes twice
    assert repository.bucket_counts("ns_1", "bkt_1")["object_count"] == 0
    assert repository.bucket_counts("ns_1", "bkt_1")["failed_object_count"] == 0
