"""The embedded runtime writes the same CloudWatch EMF lines a Lambda prints, into <data_dir>/metrics.jsonl: documents
upserted per request, and the latency of a retriever's execution as the caller saw it."""

from __future__ import annotations

import json

from tests.api.test_retrievers_api import create, execute, ids, ns, search_stage, vec  # noqa: F401 - fixture ns


def _metrics(services) -> list[tuple[str, str, str, float]]:
    """(namespace, name, unit, value) of every EMF line written so far."""
    found = []
    for line in (services.settings.data_dir / "metrics.jsonl").read_text().splitlines():
        emf = json.loads(line)
        for directive in emf["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                for value in emf[metric["Name"]]:
                    found.append((directive["Namespace"], metric["Name"], metric["Unit"], value))
    return found


def test_upserts_and_retriever_executions_are_measured(client, ns, services):
    retriever = create(client, ns, [search_stage()]).json()
    assert ids(execute(client, ns, retriever["retriever_id"], {"query_vector": vec(22)})) == ["d2", "d3", "d1"]
    assert client.get(f"/v1/retrievers/{retriever['retriever_id']}", headers=ns).status_code == 200

    metrics = _metrics(services)

    assert ("openpeek/local", "DocumentsUpserted", "Count", 8.0) in metrics  # the fixture's one upsert of 8
    (latency,) = [m for m in metrics if m[1] == "RetrieverLatency"]  # one execution; the GET is not timed
    assert latency[0] == "openpeek/local" and latency[2] == "Milliseconds" and latency[3] > 0
