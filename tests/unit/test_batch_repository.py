"""The batch repository keeps a batch's id lists beside its item, a thousand ids per item: a batch of 50,000 objects
fits DynamoDB's 400 KB item limit, and the lists round-trip, shrink and go with the batch."""

from __future__ import annotations

import json

from openpeek.adapters.local.sqlite_table import SqliteTable
from openpeek.domain.batches import DRAFT, Batch
from openpeek.domain.clock import utcnow
from openpeek.repositories.batches import BatchRepository
from openpeek.repositories.namespaces import owned_partition


def test_a_50000_object_batch_round_trips_with_a_small_item(tmp_path):
    table = SqliteTable(tmp_path / "t.db")
    repository = BatchRepository(table)
    ids = tuple(f"obj_{n:020d}" for n in range(50_000))
    batch = Batch(batch_id="btch_big", org_id="org_1", namespace_id="ns_1", bucket_id="bkt_1", status=DRAFT,
                  object_ids=ids, created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z")
    table.transact_write(repository.creation(batch))
    item = table.get(owned_partition("ns_1"), "BATCH#btch_big")
    assert "object_ids" not in item and len(json.dumps(item)) < 10_000
    stored = repository.get("ns_1", "btch_big")
    assert stored.object_ids == ids

    retried = repository.save(stored.stamped(utcnow(), retrying=ids[:1500], object_ids=ids[:1200]), stored)
    again = repository.get("ns_1", "btch_big")
    assert again.object_ids == ids[:1200] and again.retrying == ids[:1500] and again.version == retried.version
    assert len(table.query(owned_partition("ns_1"), "BATCHIDS#btch_big#object_ids#")) == 2  # 48 stale items gone

    repository.delete(again)
    assert table.query(owned_partition("ns_1"), "BATCH") == []
    assert repository.get("ns_1", "btch_big") is None
