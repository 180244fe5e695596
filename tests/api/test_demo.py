"""`openpeek demo` (and `serve --demo`): the shipped dataset lands in a namespace with a working text-search
retriever and a completed cluster run; loading twice changes nothing."""

from __future__ import annotations

import pytest

from openpeek import demo
from openpeek.services.organizations import Principal

pytestmark = pytest.mark.slow


def test_the_demo_dataset_loads_with_a_retriever_and_a_completed_cluster_run(client, services, tenant):
    principal = Principal(tenant.org_id, "test")
    summary = demo.load(services, principal, echo=lambda line: None)
    assert summary.created and summary.documents == len(demo.books()) >= 200
    assert summary.cluster_status == "COMPLETED"
    headers = {**tenant.headers, "X-Namespace": demo.NAMESPACE}
    found = client.post(f"/v1/retrievers/{summary.retriever_id}/execute", headers=headers,
                        json={"inputs": {"query": "a detective solves a murder"}})
    assert found.status_code == 200, found.text
    genres = [document["genre"] for document in found.json()["documents"]]
    assert len(genres) == 5 and genres.count("mystery") >= 3, genres
    groups = client.get(f"/v1/clusters/{summary.cluster_id}/groups", headers=headers)
    assert groups.status_code == 200, groups.text
    again = demo.load(services, principal, echo=lambda line: None)
    assert not again.created and again.documents == summary.documents
    assert again.retriever_id == summary.retriever_id
