"""Where the engine runs a job: the device selection (auto | cpu | gpu) with RAPIDS cuML absent, as on this machine,
and the GPU branch driven through a recording test double of cuML (and of cupy's device count) put in sys.modules,
to prove it calls cuML with the job's parameters and gives the same outputs as the CPU path."""

from __future__ import annotations

import json
import sys
import types

import pytest
from sklearn.metrics import adjusted_rand_score

from openpeek.engine import devices
from openpeek.engine.devices import DeviceUnavailable, select_device
from openpeek.engine.processing import run_job

from test_processing import blobs, outputs, write


def test_without_cuml_auto_runs_on_the_cpu_and_says_why():
    assert not devices.cuml_installed()  # this machine: no RAPIDS

    device = select_device("auto")

    assert device.kind == "cpu" and device.library == "scikit-learn" and device.algorithms is None
    assert "cuml-cu12" in device.reason
    assert select_device(None).kind == "cpu"
    assert select_device("cpu").report() == {"device": "cpu", "library": "scikit-learn",
                                             "reason": "the job asked for the CPU"}


def test_gpu_without_cuml_is_refused_naming_what_is_missing():
    with pytest.raises(DeviceUnavailable, match=r"'gpu' was asked for, but RAPIDS cuML is not installed "
                                                r"\(pip install cuml-cu12\)"):
        select_device("gpu")
    with pytest.raises(DeviceUnavailable, match="compute_device must be one of auto, cpu, gpu"):
        select_device("tpu")


def test_a_refused_gpu_job_is_an_input_error_and_writes_nothing(tmp_path):
    points, _ = blobs()
    files = write(tmp_path / "in", points)

    with pytest.raises(ValueError, match="RAPIDS cuML is not installed"):
        run_job(files, {"method": "kmeans", "method_params": {"n_clusters": 3}, "compute_device": "gpu"},
                tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_cpu_run_reports_its_device(tmp_path):
    points, truth = blobs()
    files = write(tmp_path / "in", points)

    summary = run_job(files, {"method": "kmeans", "method_params": {"n_clusters": 3}, "layout": False},
                      tmp_path / "out")

    result, table = outputs(tmp_path / "out")
    assert summary["device"]["device"] == result["device"]["device"] == "cpu"
    assert adjusted_rand_score(truth, table["cluster"]) == pytest.approx(1.0)


# -- the GPU branch, through a test double of cuML -----------------------------------------------------------------


class RecordingCumlDouble:
    """Stands in for the `cuml` package (and `cupy` for the device count): each estimator records how it was built
    and computes its answer with scikit-learn (UMAP with PCA: its output shape is what the engine relies on), so the
    engine's outputs can be checked as well as its calls."""

    def __init__(self, devices_visible: int = 1) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.devices_visible = devices_visible

    def modules(self) -> dict[str, types.ModuleType]:
        from sklearn import cluster as sk
        from sklearn.decomposition import PCA

        double = self

        def estimator(name, fit):
            class Estimator:
                def __init__(self, **kwargs):
                    double.calls.append((name, kwargs))
                    self.kwargs = kwargs

                def fit_predict(self, points):
                    return fit(self.kwargs, points)

                fit_transform = fit_predict

            Estimator.__name__ = name
            return Estimator

        def strip(kwargs, *names):
            return {k: v for k, v in kwargs.items() if k not in ("output_type", *names)}

        cuml = types.ModuleType("cuml")
        cuml.__version__ = "0.0-test-double"
        cluster = types.ModuleType("cuml.cluster")
        cluster.KMeans = estimator("KMeans", lambda kw, x: sk.KMeans(
            n_clusters=kw["n_clusters"], random_state=kw["random_state"], n_init=kw["n_init"]).fit_predict(x))
        cluster.HDBSCAN = estimator("HDBSCAN", lambda kw, x: sk.HDBSCAN(**strip(kw)).fit_predict(x))
        cluster.DBSCAN = estimator("DBSCAN", lambda kw, x: sk.DBSCAN(**strip(kw)).fit_predict(x))
        manifold = types.ModuleType("cuml.manifold")
        manifold.UMAP = estimator("UMAP", lambda kw, x: PCA(n_components=kw["n_components"]).fit_transform(x))
        decomposition = types.ModuleType("cuml.decomposition")
        decomposition.PCA = estimator("PCA", lambda kw, x: PCA(**strip(kw)).fit_transform(x))
        cuml.cluster, cuml.manifold, cuml.decomposition = cluster, manifold, decomposition
        cupy = types.ModuleType("cupy")
        cupy.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: self.devices_visible))
        return {"cuml": cuml, "cuml.cluster": cluster, "cuml.manifold": manifold,
                "cuml.decomposition": decomposition, "cupy": cupy}

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def cuml_double(monkeypatch):
    double = RecordingCumlDouble()
    for name, module in double.modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    return double


def test_auto_with_cuml_and_a_device_picks_the_gpu(cuml_double):
    device = select_device("auto")

    assert device.gpu and device.library == "cuml 0.0-test-double"
    assert device.reason == "auto: 1 CUDA device(s) visible"
    assert select_device("cpu").kind == "cpu"  # the job's setting wins over the machine


def test_cuml_without_a_cuda_device_falls_back_or_is_refused(cuml_double):
    cuml_double.devices_visible = 0

    assert select_device("auto").kind == "cpu"
    assert "0 devices" in select_device("auto").reason
    with pytest.raises(DeviceUnavailable, match="the CUDA runtime reports 0 devices"):
        select_device("gpu")


def test_gpu_kmeans_calls_cuml_and_agrees_with_the_cpu_path(cuml_double, tmp_path):
    points, truth = blobs(per=80)
    files = write(tmp_path / "in", points)
    job = {"method": "kmeans", "method_params": {"n_clusters": 3, "max_iter": 50}, "layout": False, "seed": 7}

    run_job(files, {**job, "compute_device": "gpu"}, tmp_path / "gpu")
    run_job(files, {**job, "compute_device": "cpu"}, tmp_path / "cpu")

    (name, kwargs), = cuml_double.calls
    assert name == "KMeans"
    assert kwargs == {"n_clusters": 3, "random_state": 7, "max_iter": 50, "n_init": 3,
                      "init": "scalable-k-means++", "output_type": "numpy"}
    gpu_result, gpu_table = outputs(tmp_path / "gpu")
    cpu_result, cpu_table = outputs(tmp_path / "cpu")
    assert gpu_result["device"] == {"device": "gpu", "library": "cuml 0.0-test-double",
                                    "reason": "gpu: 1 CUDA device(s) visible"}
    assert cpu_result["device"]["device"] == "cpu"
    assert adjusted_rand_score(cpu_table["cluster"], gpu_table["cluster"]) >= 0.95
    assert adjusted_rand_score(truth, gpu_table["cluster"]) == pytest.approx(1.0)
    assert [c["num_members"] for c in gpu_result["clusters"]] == [c["num_members"] for c in cpu_result["clusters"]]


def test_gpu_hdbscan_reduces_with_cuml_pca_and_umap_then_clusters_and_maps(cuml_double, tmp_path):
    points, truth = blobs(per=80, dimension=64)
    files = write(tmp_path / "in", points)

    run_job(files, {"method": "hdbscan", "method_params": {"min_cluster_size": 10}, "compute_device": "auto",
                    "vis_n_components": 3}, tmp_path / "out")

    assert cuml_double.names() == ["PCA", "UMAP", "HDBSCAN", "UMAP"]  # reduce, cluster, then the map
    pca, reduce_umap, hdbscan, map_umap = (kwargs for _, kwargs in cuml_double.calls)
    assert pca["n_components"] == 50 and pca["output_type"] == "numpy"
    assert reduce_umap["n_components"] == 5 and reduce_umap["min_dist"] == 0.0
    assert hdbscan["min_cluster_size"] == 10 and hdbscan["output_type"] == "numpy"
    assert map_umap["n_components"] == 3 and map_umap["min_dist"] == 0.1
    result, table = outputs(tmp_path / "out")
    assert result["device"]["device"] == "gpu" and result["method"] == "hdbscan"
    assert adjusted_rand_score(truth, table["cluster"]) >= 0.95
    assert all(value is not None for value in table["z"])


def test_gpu_dbscan_and_the_deferred_map_run_on_cuml(cuml_double, tmp_path):
    points, _ = blobs(per=40)
    files = write(tmp_path / "in", points)

    run_job(files, {"method": "dbscan", "method_params": {"eps": 0.3, "min_samples": 4}, "layout": False,
                    "compute_device": "gpu"}, tmp_path / "cluster")
    summary = run_job(files, {"mode": "layout", "compute_device": "gpu"}, tmp_path / "map")

    assert cuml_double.names() == ["UMAP", "DBSCAN", "UMAP"]  # 16-d input: no PCA before the reduction
    assert cuml_double.calls[1][1] == {"eps": 0.3, "min_samples": 4, "output_type": "numpy"}
    assert summary["device"]["device"] == "gpu"
    assert json.loads((tmp_path / "cluster" / "result.json").read_text())["device"]["device"] == "gpu"
