"""A promoted namespace's new objects join one automatic draft per bucket: concurrent registrations lose no object
and open one draft, each arrival pushes the submission later but never past the longest wait, and an automatic
draft is never reaped as an abandoned DRAFT."""

from __future__ import annotations

import threading
from datetime import timedelta

from openpeek.adapters.local.sqlite_table import SqliteTable
from openpeek.domain import batches as rules
from openpeek.domain.clock import parse, utcnow
from openpeek.domain.collections import Collection, CollectionSource, ExtractorConfig
from openpeek.domain.namespace import PROMOTED_AT, Namespace
from openpeek.repositories.batches import BatchRepository
from openpeek.repositories.collections import CollectionRepository
from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.services.ingestion.auto_processing import AutoProcessing

PROMOTED = Namespace(namespace_id="ns_1", org_id="org_1", namespace_name="promoted",
                     extra={PROMOTED_AT: "2026-01-01T00:00:00Z"})


def world(tmp_path, scheduled: list):
    table = SqliteTable(tmp_path / "t.db")
    if CollectionRepository(table).find_in("ns_1", "col_text") is None:
        CollectionRepository(table).create(Collection(
            collection_id="col_text", collection_name="text", namespace_id="ns_1",
            source=CollectionSource("bucket", bucket_ids=("bkt_1",)),
            feature_extractor=ExtractorConfig("text_extractor", "v1", {"text": "content"}, (), {}),
            input_schema={}, output_schema={}, vector_indexes=(), created_at="2026-01-01T00:00:00Z",
            updated_at="2026-01-01T00:00:00Z"))
    batches = BatchRepository(table)
    auto = AutoProcessing(table, batches, CollectionRepository(table), NamespaceRepository(table), None,
                          window=timedelta(seconds=2), longest=timedelta(seconds=30),
                          schedule=lambda namespace_id, batch_id, delay: scheduled.append((batch_id, delay)))
    return auto, batches, table


def test_concurrent_registrations_share_one_draft_and_lose_no_object(tmp_path):
    scheduled: list = []
    auto, batches, table = world(tmp_path, scheduled)
    groups = [[f"obj_{worker}_{n}" for n in range(10)] for worker in range(8)]
    threads = [threading.Thread(target=auto.objects_registered, args=(PROMOTED, "bkt_1", group)) for group in groups]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    [batch] = batches.list("ns_1")
    assert batch.status == rules.DRAFT and batch.automatic and batch.dedup_strategy == "replace"
    assert sorted(batch.object_ids) == sorted(object_id for group in groups for object_id in group)
    assert {batch_id for batch_id, _ in scheduled} == {batch.batch_id}
    assert all(0 < delay <= 2.0 for _, delay in scheduled)


def test_nothing_is_collected_when_not_promoted_or_no_collection_reads_the_bucket(tmp_path):
    scheduled: list = []
    auto, batches, table = world(tmp_path, scheduled)
    assert auto.objects_registered(Namespace(namespace_id="ns_1", org_id="org_1", namespace_name="plain"),
                                   "bkt_1", ["obj_1"]) is None
    assert auto.objects_registered(PROMOTED, "bkt_unread", ["obj_1"]) is None
    assert batches.list("ns_1") == [] and scheduled == []


def test_each_arrival_waits_longer_but_never_past_the_longest_wait():
    opened_at = utcnow().replace(microsecond=0)  # stamps keep milliseconds
    draft = rules.automatic_draft("btch_1", "org_1", "ns_1", "bkt_1", opened_at, timedelta(seconds=2))
    window, longest = timedelta(seconds=2), timedelta(seconds=30)
    joined = draft.collecting(["obj_1"], opened_at + timedelta(seconds=1), window, longest)
    assert parse(joined.submit_after) == opened_at + timedelta(seconds=3)
    late = joined.collecting(["obj_2"], opened_at + timedelta(seconds=29), window, longest)
    assert parse(late.submit_after) == opened_at + timedelta(seconds=30)
    assert late.object_ids == ("obj_1", "obj_2")
    assert not late.due(opened_at + timedelta(seconds=29)) and late.due(opened_at + timedelta(seconds=30))
    # An automatic draft is the server's to submit: the reaper of abandoned drafts leaves it alone.
    assert not late.draft_expired(opened_at + timedelta(hours=2))


def test_a_restarted_process_finds_the_automatic_drafts_left_waiting(tmp_path):
    scheduled: list = []
    auto, batches, table = world(tmp_path, scheduled)
    batch_id = auto.objects_registered(PROMOTED, "bkt_1", ["obj_1", "obj_2"])
    manual = rules.Batch(batch_id="btch_manual", org_id="org_1", namespace_id="ns_1", bucket_id="bkt_1",
                         status=rules.DRAFT, object_ids=("obj_3",), created_at="2026-01-01T00:00:00Z",
                         updated_at="2026-01-01T00:00:00Z")
    table.transact_write(batches.creation(manual))
    again, _, _ = world(tmp_path, [])
    assert [(namespace_id, found) for namespace_id, found, _ in again.pending()] == [("ns_1", batch_id)]


def test_an_overdue_draft_is_submitted_by_the_safety_net_and_a_waiting_one_is_not(tmp_path):
    scheduled: list = []
    auto, batches, table = world(tmp_path, scheduled)
    submitted: list = []

    class Submitter:
        def submit_draft(self, namespace, batch):
            submitted.append(batch.batch_id)

    waiting = auto.objects_registered(PROMOTED, "bkt_1", ["obj_1"])
    assert auto.submit_overdue() == 0 and submitted == []
    NamespaceRepository(table).create(PROMOTED)  # a submit reads the batch's namespace
    later = AutoProcessing(table, batches, CollectionRepository(table), NamespaceRepository(table), Submitter(),
                           window=timedelta(seconds=2), longest=timedelta(seconds=30),
                           clock=lambda: utcnow() + timedelta(minutes=1))
    assert later.submit_overdue() == 1 and submitted == [waiting]


def test_without_a_timer_each_registration_submits_its_batch_at_once(tmp_path):
    """The deployed runtime has no long-lived process to wait in: a request's objects go as one batch at once."""
    _, batches, table = world(tmp_path, [])
    NamespaceRepository(table).create(PROMOTED)
    submitted: list = []

    class Submitter:
        def submit_draft(self, namespace, batch):
            submitted.append(batch.object_ids)
            batches.save(batch.stamped(utcnow(), status=rules.PENDING), batch)

    deployed = AutoProcessing(table, batches, CollectionRepository(table), NamespaceRepository(table), Submitter(),
                              window=timedelta(seconds=2), longest=timedelta(seconds=30))
    first = deployed.objects_registered(PROMOTED, "bkt_1", ["obj_1", "obj_2"])
    second = deployed.objects_registered(PROMOTED, "bkt_1", ["obj_3"])
    assert first != second and submitted == [("obj_1", "obj_2"), ("obj_3",)]
