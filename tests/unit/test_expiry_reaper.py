"""The TTL reaper on the embedded runtime (SQLite table, Qdrant Edge, folder blobs): what expired goes, whole; what did
not, or was extended, stays; a failed run is finished by the next."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.failures import DependencyUnavailable
from openpeek.repositories.namespaces import NamespaceRepository, owned_partition
from openpeek.services.expiry import ExpiryReaper
from openpeek.services.namespaces import NamespaceService
from openpeek.services.organizations import Principal


@pytest.fixture
def principal(services, tenant) -> Principal:
    return services.organizations.authenticate(f"Bearer {tenant.key}")


def _create(services, principal, name: str, ttl_seconds: int | None):
    request = {"namespace_name": name}
    if ttl_seconds is not None:
        request["ttl_seconds"] = ttl_seconds
    namespace = services.namespaces.create(principal, request).namespace
    services.table.put({"pk": owned_partition(namespace.namespace_id), "sk": "RET#ret_1", "name": "owned"})
    services.blobs.put(f"namespaces/{namespace.namespace_id}/clusters/input.parquet", b"PAR1")
    return namespace


def _gone(services, namespace) -> bool:
    return (
        services.table.get(f"ORG#{namespace.org_id}", f"NS#{namespace.namespace_id}") is None
        and services.table.query(owned_partition(namespace.namespace_id)) == []
        and not services.vectors.collection_exists(namespace.collection)
        and list(services.blobs.list(f"namespaces/{namespace.namespace_id}/")) == []
    )


def test_an_expired_namespace_is_deleted_with_everything_it_owns_and_announced(services, principal) -> None:
    expiring = _create(services, principal, "short-lived", ttl_seconds=60)
    lasting = _create(services, principal, "long-lived", ttl_seconds=3600)
    forever = _create(services, principal, "forever", ttl_seconds=None)

    result = services.expiry.reap(utcnow() + timedelta(minutes=5))

    assert (result.found, result.deleted, result.kept, result.failed) == (1, 1, 0, 0)
    assert _gone(services, expiring)
    assert sorted(n.namespace_name for n in services.namespaces.list(principal)) == ["forever", "long-lived"]
    assert services.vectors.collection_exists(lasting.collection) and services.vectors.collection_exists(
        forever.collection
    )
    expired_events = [e for e in services.events.recent() if e.type == "namespace.expired"]
    assert [(e.namespace_id, e.data["namespace_name"]) for e in expired_events] == [
        (expiring.namespace_id, "short-lived")
    ]
    # The name is free again.
    services.namespaces.create(principal, {"namespace_name": "short-lived"})


def test_reaping_twice_changes_nothing_the_second_time(services, principal) -> None:
    _create(services, principal, "short-lived", ttl_seconds=60)
    later = utcnow() + timedelta(minutes=5)

    first, second = services.expiry.reap(later), services.expiry.reap(later)

    assert first.deleted == 1
    assert (second.found, second.deleted) == (0, 0)


def test_a_namespace_whose_ttl_was_extended_after_the_index_was_read_is_kept(services, principal) -> None:
    namespace = _create(services, principal, "extended", ttl_seconds=60)
    # What a lagging index (DynamoDB's GSI is eventually consistent) shows: the old expiry in the index, the new one
    # in the record.
    item = services.table.get(f"ORG#{namespace.org_id}", f"NS#{namespace.namespace_id}")
    services.namespaces.patch(principal, namespace.namespace_id, {"ttl_seconds": 7200})
    fresh = services.table.get(f"ORG#{namespace.org_id}", f"NS#{namespace.namespace_id}")
    services.table.put({**fresh, "gsi1sk": item["gsi1sk"]})

    result = services.expiry.reap(utcnow() + timedelta(minutes=5))

    assert (result.found, result.kept, result.deleted) == (1, 1, 0)
    assert services.vectors.collection_exists(namespace.collection)


class _VectorStoreDownOnce:
    """The real vector store, except that the first drop fails as an unreachable Qdrant would."""

    def __init__(self, store) -> None:
        self._store = store
        self.failures_left = 1

    def drop_collection(self, collection: str) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise DependencyUnavailable("qdrant unreachable")
        self._store.drop_collection(collection)

    def __getattr__(self, name):
        return getattr(self._store, name)


def test_a_run_that_fails_half_way_is_finished_by_the_next(services, principal) -> None:
    first = _create(services, principal, "first", ttl_seconds=60)
    second = _create(services, principal, "second", ttl_seconds=120)
    flaky = _VectorStoreDownOnce(services.vectors)
    namespaces = NamespaceService(
        NamespaceRepository(services.table), flaky, services.blobs, services.events, is_enterprise=lambda _: False
    )
    reaper = ExpiryReaper(namespaces, NamespaceRepository(services.table), services.events)
    later = utcnow() + timedelta(minutes=5)

    failed_run = reaper.reap(later)
    assert (failed_run.deleted, failed_run.failed) == (1, 1)
    assert _gone(services, second) and not _gone(services, first)

    retry = reaper.reap(later)
    assert (retry.found, retry.deleted, retry.failed) == (1, 1, 0)
    assert _gone(services, first)


def test_the_expiry_index_lists_only_what_expired_before_now(services, principal) -> None:
    _create(services, principal, "soon", ttl_seconds=60)
    _create(services, principal, "later", ttl_seconds=600)
    repository_expired = NamespaceRepository(services.table).expired  # the query the reaper relies on

    assert [n.namespace_name for n in repository_expired(isoformat(utcnow()))] == []
    assert [n.namespace_name for n in repository_expired(isoformat(utcnow() + timedelta(minutes=2)))] == ["soon"]
    assert [n.namespace_name for n in repository_expired(isoformat(utcnow() + timedelta(hours=1)))] == ["soon", "later"]


def test_an_expired_namespace_takes_its_clusters_executions_tasks_and_their_files(services, principal, tmp_path) -> None:
    namespace = services.namespaces.create(principal, {"namespace_name": "mapped", "ttl_seconds": 60, "mode":
                                                       "standalone", "vector_configs": [{"name": "emb",
                                                                                         "dimension": 2}]}).namespace
    services.documents.upsert(principal, namespace.namespace_id, {"documents": [{"document_id": f"d{i}", "vectors": {"emb": [1.0, i / 10]}}
                                                        for i in range(4)]})
    cluster = services.clusters.create(namespace, {"vector_config": {
        "feature_uris": ["emb"], "clustering_method": "kmeans", "kmeans_parameters": {"n_clusters": 2}}})
    task = services.cluster_runs.execute(namespace, cluster.cluster_id, {"defer_visualization": True})
    services.orchestrator.wait_idle()
    assert services.table.get(f"TASKID#{task.task_id}", "TASK") is not None
    assert services.blobs.list(f"namespaces/{namespace.namespace_id}/clusters/")

    result = services.expiry.reap(utcnow() + timedelta(minutes=5))

    assert result.deleted == 1
    assert _gone(services, namespace)
    assert services.table.get(f"TASKID#{task.task_id}", "TASK") is None


def test_openpeek_reap_runs_the_reaper_once_by_hand(tmp_path, capsys) -> None:
    from openpeek import cli
    from openpeek.runtime import build_services
    from openpeek.settings import Settings

    services = build_services(Settings(runtime="embedded", data_dir=tmp_path, local_inference=False))
    org = services.organizations.ensure_org("acme")
    namespace = services.namespaces.create(Principal(org["org_id"], "k"), {"namespace_name": "brief",
                                                                           "ttl_seconds": 1}).namespace
    services.close()
    time.sleep(1.2)  # the shortest TTL is a second: let it pass

    assert cli.main(["reap", "--data-dir", str(tmp_path)]) == 0

    assert "1 deleted" in capsys.readouterr().out
    again = build_services(Settings(runtime="embedded", data_dir=tmp_path, local_inference=False))
    assert again.namespaces.list(Principal(org["org_id"], "k")) == []
    again.close()
