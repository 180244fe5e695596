"""The engine's device, chosen per execution (`compute.device`: auto | cpu | gpu) and reported on the execution; on
this machine (no RAPIDS cuML, no CUDA device) `gpu` fails the run with a reason naming what is missing."""

from __future__ import annotations

from tests.api.test_clusters_api import create_cluster, ns, run, truth  # noqa: F401  (fixtures)


def test_an_auto_run_reports_the_cpu_and_why(client, ns, truth):
    cluster = create_cluster(client, ns)

    task = run(client, ns, cluster["cluster_id"], compute={"backend": "local", "device": "auto"},
               defer_visualization=True)

    assert task["status"] == "COMPLETED", task
    latest = client.get(f"/v1/clusters/{cluster['cluster_id']}/executions", headers=ns).json()
    assert latest["compute_device"]["device"] == "cpu"
    assert latest["compute_device"]["library"] == "scikit-learn"
    assert "cuml-cu12" in latest["compute_device"]["reason"]


def test_a_gpu_run_without_a_gpu_fails_naming_what_is_missing(client, ns, truth):
    cluster = create_cluster(client, ns)

    task = run(client, ns, cluster["cluster_id"], compute={"backend": "local", "device": "gpu"},
               defer_visualization=True)

    assert task["status"] == "FAILED"
    assert "RAPIDS cuML is not installed (pip install cuml-cu12)" in task["error"]
    latest = client.get(f"/v1/clusters/{cluster['cluster_id']}/executions", headers=ns).json()
    assert latest["status"] == "failed" and "'gpu' was asked for" in latest["error_message"]


def test_an_unknown_device_is_refused_before_anything_runs(client, ns, truth):
    cluster = create_cluster(client, ns)

    response = client.post(f"/v1/clusters/{cluster['cluster_id']}/execute", headers=ns,
                           json={"compute": {"backend": "local", "device": "tpu"}})

    assert response.status_code == 422
    executions = client.get(f"/v1/clusters/{cluster['cluster_id']}/executions", headers=ns)
    assert executions.status_code == 200 and executions.json() is None  # no execution was recorded
