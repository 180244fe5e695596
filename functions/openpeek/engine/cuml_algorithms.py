"""The engine's GPU implementations, with RAPIDS cuML: the same arguments as the CPU path in engine/processing.py and
numpy arrays of the same shapes and dtypes back (every estimator is built with output_type="numpy", so nothing
downstream sees a cupy array). cuML copies the float32 input to the device itself.

Covered: k-means (scalable k-means++ seeding, the GPU's counterpart of the CPU path's seeded Lloyd), HDBSCAN, DBSCAN,
UMAP and PCA. The other methods (agglomerative with ward linkage, spectral, OPTICS, mean shift, Gaussian mixtures) have
no cuML estimator with the same semantics (cuML's agglomerative is single-linkage only), so they stay on the CPU.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

GPU_METHODS = frozenset({"kmeans", "hdbscan", "dbscan"})


class CumlAlgorithms:
    def __init__(self, cuml: ModuleType) -> None:
        self._cuml = cuml

    def _module(self, name: str) -> ModuleType:
        import importlib

        return importlib.import_module(f"{self._cuml.__name__}.{name}")

    def kmeans(self, points: np.ndarray, k: int, seed: int, max_iter: int, n_init: int) -> np.ndarray:
        model = self._module("cluster").KMeans(n_clusters=k, random_state=seed, max_iter=max_iter, n_init=n_init,
                                               init="scalable-k-means++", output_type="numpy")
        return np.asarray(model.fit_predict(points), dtype=np.int32)

    def hdbscan(self, points: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        model = self._module("cluster").HDBSCAN(
            min_cluster_size=int(params.get("min_cluster_size", 5)), min_samples=params.get("min_samples"),
            cluster_selection_epsilon=float(params.get("cluster_selection_epsilon", 0.0)),
            cluster_selection_method=params.get("cluster_selection_method", "eom"),
            allow_single_cluster=bool(params.get("allow_single_cluster", False)), output_type="numpy")
        return np.asarray(model.fit_predict(points), dtype=np.int32)

    def dbscan(self, points: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        model = self._module("cluster").DBSCAN(eps=float(params.get("eps", 0.5)),
                                               min_samples=int(params.get("min_samples", 5)), output_type="numpy")
        return np.asarray(model.fit_predict(points), dtype=np.int32)

    def umap(self, points: np.ndarray, components: int, neighbours: int, min_dist: float, seed: int,
             epochs: int) -> np.ndarray:
        model = self._module("manifold").UMAP(n_components=components, n_neighbors=neighbours, min_dist=min_dist,
                                              random_state=seed, n_epochs=epochs, output_type="numpy")
        return np.asarray(model.fit_transform(points), dtype=np.float32)

    def pca(self, points: np.ndarray, components: int, seed: int) -> np.ndarray:
        model = self._module("decomposition").PCA(n_components=components, random_state=seed, output_type="numpy")
        return np.asarray(model.fit_transform(points), dtype=np.float32)
