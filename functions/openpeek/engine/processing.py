"""The clustering engine: parquet in, result.json and assignments.parquet out (`run_job`). Arrays only: nothing here
knows about tables, stores or the API; it runs in the SageMaker container, or in a child process embedded. `run_job`
is the I/O at the edges (read the parquet input, write the output); `process` is the pipeline of steps on arrays
(cluster or assign → similarity and quality → layout → label), each step a function of arrays.

Modes: `full` (cluster), `assign` (nearest earlier centroid above a cosine threshold, else noise), `composite`
(cluster the centroids of earlier runs), `layout` (only the 2-D/3-D map, for a run whose map was deferred).

Scale: kmeans clusters up to a million points (MiniBatchKMeans past 200,000); the O(N²) and density methods cluster a
seeded sample (≤ 50,000; ≤ 10,000 for those that hold an N×N matrix) on a reduced representation (PCA, then UMAP to
a few dimensions: on raw 384-d vectors HDBSCAN takes many minutes), and every other point goes to its nearest
centroid. The map is UMAP fitted on a sample and extended to every point through its nearest sampled neighbours, so its
cost does not grow with N.

Device: k-means, HDBSCAN, DBSCAN, PCA and UMAP run on a CUDA device with RAPIDS cuML when the job's `compute_device`
(auto | cpu | gpu, engine/devices.py) allows it; the result's `device` says which ran the job.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from openpeek.engine.devices import CPU, ComputeDevice, select_device

KMEANS_FULL_MAX = 200_000  # beyond this, MiniBatchKMeans
MAX_POINTS = 1_000_000
DENSITY_CAP = 50_000
DENSE_MATRIX_CAP = 10_000  # agglomerative, spectral, mean shift: N×N memory or worse
METRIC_SAMPLE = 5_000  # silhouette is O(n²): 5,000 points give its value to ±0.01 here, in a quarter of the time
LAYOUT_SAMPLE = 10_000
AUTO_K_SAMPLE = 5_000
SEED_SAMPLE = 20_000  # kmeans past this many points is seeded from mini-batch runs on a sample of this size
DENSITY_METHODS = frozenset({"dbscan", "hdbscan", "optics"})
QUADRATIC_METHODS = frozenset({"agglomerative", "spectral", "mean_shift"})
NOISE = -1


class EngineInputError(ValueError):
    """The job's input or parameters cannot be clustered: the user's to fix (exit status 2 in the runner)."""


# -- input -------------------------------------------------------------------------------------------------------------


def read_vectors(parquet_files: Sequence[Path], features: list[dict[str, Any]], normalize: bool
                 ) -> tuple[list[str], np.ndarray, list[str | None]]:
    """document ids, the combined float32 matrix (each feature block L2-normalized when asked, then weighted, then
    concatenated), and the label texts. Read in record batches into one preallocated matrix."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    files = [pq.ParquetFile(str(path)) for path in parquet_files]
    total = sum(f.metadata.num_rows for f in files)
    if total > MAX_POINTS:
        raise EngineInputError(f"{total:,} points is more than the {MAX_POINTS:,} a run clusters")
    columns = [feature["column"] for feature in features]
    names = set(files[0].schema_arrow.names) if files else set()
    missing = [c for c in columns if c not in names]
    if missing:
        raise EngineInputError(f"the input has no column(s) {', '.join(missing)}")
    has_text = "text" in names
    ids: list[str] = []
    texts: list[str | None] = []
    matrix: np.ndarray | None = None
    row = 0
    for parquet in files:
        wanted = ["document_id", *columns] + (["text"] if has_text else [])
        for batch in parquet.iter_batches(batch_size=65_536, columns=wanted):
            count = batch.num_rows
            blocks = []
            for feature in features:
                column = batch.column(feature["column"])
                flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
                if column.null_count or (count and flat.size % count):
                    raise EngineInputError(f"column {feature['column']} has missing or unequal-length vectors")
                if not pa.types.is_fixed_size_list(column.type) and count:
                    lengths = pc.list_value_length(column)
                    if pc.min(lengths).as_py() != pc.max(lengths).as_py():
                        raise EngineInputError(f"column {feature['column']} has vectors of different lengths")
                blocks.append((flat.reshape(count, -1), float(feature.get("weight", 1.0))))
            width = sum(block.shape[1] for block, _ in blocks)
            if matrix is None:
                matrix = np.empty((total, width), dtype=np.float32)
            elif width != matrix.shape[1]:
                raise EngineInputError(f"vectors of {width} and of {matrix.shape[1]} dimensions in one input")
            # Each block goes straight into its place in the matrix (normalized, weighted) without temporaries: at a
            # million points every extra copy is gigabytes of fresh memory.
            start = 0
            for block, weight in blocks:
                target = matrix[row:row + count, start:start + block.shape[1]]
                if normalize:
                    _normalized(block, out=target)
                else:
                    target[...] = block
                if weight != 1.0:
                    target *= weight
                start += block.shape[1]
            if not np.isfinite(matrix[row:row + count]).all():
                raise EngineInputError("the input holds NaN or infinite values")
            row += count
            ids.extend(batch.column("document_id").to_pylist())
            texts.extend(batch.column("text").to_pylist() if has_text else [None] * count)
    if matrix is None:
        raise EngineInputError("the input holds no points")
    return ids, matrix, texts


def _normalized(block: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Each row scaled to unit length (all-zero rows stay zero); into `out` when given."""
    norms = np.linalg.norm(block, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.divide(block, norms, out=out)


# -- clustering --------------------------------------------------------------------------------------------------------


def _reduce(points: np.ndarray, seed: int, dimensions: int = 5, device: ComputeDevice = CPU) -> np.ndarray:
    """PCA to ≤ 50-d, then UMAP to 5-d: what density clustering works on (measured at 50k on 2 cores: sklearn's
    HDBSCAN, whose MST is O(N²), takes ~19 s in 5-d against ~34 s in 10-d, same ARI; 60 epochs past 20k points)."""
    from sklearn.decomposition import PCA

    reduced = points
    if points.shape[1] > 50 and len(points) > 50:
        reduced = (device.algorithms.pca(points, 50, seed) if device.gpu
                   else PCA(n_components=50, random_state=seed).fit_transform(points))
    if len(points) <= dimensions + 2:
        return reduced
    return _umap(reduced, dimensions, min_dist=0.0, seed=seed, epochs=60 if len(points) > 20_000 else 200,
                 device=device)


def _umap(points: np.ndarray, components: int, min_dist: float, seed: int, epochs: int = 200,
          device: ComputeDevice = CPU) -> np.ndarray:
    """UMAP with its k-nearest-neighbour graph computed exactly (brute force, by scikit-learn) and handed in:
    cheaper than pynndescent's JIT compilation in a fresh process (~10-50 s on 2 cores) at the ≤ 50,000 points it
    ever sees. Seeded, so the same data gives the same map (UMAP then runs on one thread)."""
    neighbours = min(15, len(points) - 1)
    if device.gpu:
        return device.algorithms.umap(points, components, neighbours, min_dist, seed, epochs)
    import warnings

    import umap
    from sklearn.neighbors import NearestNeighbors

    distances, indices = NearestNeighbors(n_neighbors=neighbours, algorithm="brute").fit(points).kneighbors(points)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no search index: transform unavailable" (never used), n_jobs under a seed
        model = umap.UMAP(n_components=components, n_neighbors=neighbours, min_dist=min_dist, random_state=seed,
                          n_jobs=1, n_epochs=epochs,
                          precomputed_knn=(indices.astype(np.int32), distances.astype(np.float32)))
        return model.fit_transform(points).astype(np.float32)


def _pick_k(points: np.ndarray, seed: int, upper: int = 12) -> int:
    """k by silhouette on a sample (2 ≤ k ≤ min(upper, n-1))."""
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    sample = points[rng.choice(len(points), min(AUTO_K_SAMPLE, len(points)), replace=False)]
    best_k, best_score = 2, -2.0
    for k in range(2, min(upper, len(sample) - 1) + 1):
        labels = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=2048).fit_predict(sample)
        if len(set(labels)) < 2:
            continue
        score = silhouette_score(sample, labels, metric="cosine")
        if score > best_score:
            best_k, best_score = k, score
    return best_k


def _seeds(points: np.ndarray, k: int, seed: int, starts: int, sample: int = SEED_SAMPLE) -> np.ndarray:
    """Initial centroids: the best of `starts` mini-batch k-means runs on a seeded sample (by inertia)."""
    from sklearn.cluster import MiniBatchKMeans

    chosen = points[np.random.default_rng(seed).choice(len(points), min(sample, len(points)), replace=False)]
    return MiniBatchKMeans(n_clusters=k, n_init=max(1, starts), random_state=seed, batch_size=4096,
                           max_iter=100).fit(chosen).cluster_centers_.astype(points.dtype)


def _n_clusters(params: dict[str, Any], n: int, default: int = 8) -> int:
    k = params.get("n_clusters", default)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise EngineInputError("n_clusters must be a positive integer")
    if k > n:
        raise EngineInputError(f"n_clusters ({k}) is more than the {n} points to cluster")
    return k


def cluster(points: np.ndarray, method: str, params: dict[str, Any], seed: int,
            device: ComputeDevice = CPU) -> tuple[np.ndarray, str]:
    """Labels (NOISE for noise) of every row of `points`, and the method actually used (k-means, HDBSCAN, DBSCAN
    and the reduction before the density methods on `device`)."""
    from sklearn import cluster as sk

    n = len(points)
    if method == "auto":
        method, params = "kmeans", {**params, "n_clusters": params.get("n_clusters") or _pick_k(points, seed)}
    if method == "kmeans":
        k = _n_clusters(params, n)
        if device.gpu:  # one full Lloyd run over every point: the GPU has no need of the mini-batch shortcut
            return device.algorithms.kmeans(points, k, seed, int(params.get("max_iter", 300)),
                                            max(1, int(params.get("n_init", 3)))), "kmeans"
        if n > KMEANS_FULL_MAX:
            model = sk.MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=8192,
                                       max_iter=int(params.get("max_iter", 100)))
        else:
            # Lloyd from one k-means++ start lands in a poor local optimum now and then (two true groups merged, one
            # split); several cheap mini-batch starts on a sample choose the seeds, one full run refines them.
            starts = max(1, int(params.get("n_init", 3)))
            small = n <= SEED_SAMPLE  # several full k-means++ starts cost nothing here
            model = sk.KMeans(n_clusters=k, init="k-means++" if small else _seeds(points, k, seed, starts),
                              n_init=starts if small else 1, random_state=seed,
                              max_iter=int(params.get("max_iter", 300)))
        return model.fit_predict(points).astype(np.int32), "kmeans"
    if method == "gaussian_mixture":
        from sklearn.decomposition import PCA
        from sklearn.mixture import GaussianMixture

        reduced = PCA(n_components=min(50, points.shape[1], n), random_state=seed).fit_transform(points)
        model = GaussianMixture(n_components=_n_clusters(params, n), covariance_type="diag", random_state=seed)
        return model.fit_predict(reduced).astype(np.int32), method
    reduced = _reduce(points, seed, device=device)
    if device.gpu and method == "hdbscan":
        return device.algorithms.hdbscan(reduced, params), method
    if device.gpu and method == "dbscan":
        return device.algorithms.dbscan(reduced, params), method
    if method == "hdbscan":
        model = sk.HDBSCAN(min_cluster_size=int(params.get("min_cluster_size", 5)),
                           min_samples=params.get("min_samples"),
                           cluster_selection_epsilon=float(params.get("cluster_selection_epsilon", 0.0)),
                           cluster_selection_method=params.get("cluster_selection_method", "eom"),
                           allow_single_cluster=bool(params.get("allow_single_cluster", False)), copy=True)
    elif method == "dbscan":
        model = sk.DBSCAN(eps=float(params.get("eps", 0.5)), min_samples=int(params.get("min_samples", 5)))
    elif method == "optics":
        model = sk.OPTICS(min_samples=int(params.get("min_samples", 5)), max_eps=float(params.get("max_eps", np.inf)))
    elif method == "agglomerative":
        model = sk.AgglomerativeClustering(n_clusters=_n_clusters(params, n),
                                           linkage=params.get("linkage", "ward"))
    elif method == "spectral":
        model = sk.SpectralClustering(n_clusters=_n_clusters(params, n), affinity="nearest_neighbors",
                                      n_neighbors=min(10, n - 1), random_state=seed, assign_labels="cluster_qr")
    elif method == "mean_shift":
        model = sk.MeanShift(bandwidth=params.get("bandwidth"), bin_seeding=True)
    else:
        raise EngineInputError(f"unknown clustering method '{method}'")
    return model.fit_predict(reduced).astype(np.int32), method


def _sample_cap(method: str, sample_size: int | None) -> int:
    cap = MAX_POINTS
    if method in DENSITY_METHODS:
        cap = DENSITY_CAP
    elif method in QUADRATIC_METHODS:
        cap = DENSE_MATRIX_CAP
    return min(cap, sample_size) if sample_size else cap


def centroids_of(points: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Mean of each cluster's members, L2-normalized (a sparse membership product: np.add.at takes seconds at 100k)."""
    from scipy import sparse

    members = np.flatnonzero(labels >= 0)
    membership = sparse.csr_matrix((np.ones(len(members), dtype=np.float32), (labels[members], members)),
                                   shape=(count, len(points)))
    return _normalized(np.asarray(membership @ points, dtype=np.float32))


def nearest(points: np.ndarray, centroids: np.ndarray, chunk: int = 65_536) -> tuple[np.ndarray, np.ndarray]:
    """Index of, and cosine similarity to, each point's nearest centroid (in chunks: bounded memory)."""
    unit = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    best = np.empty(len(points), dtype=np.int32)
    similarity = np.empty(len(points), dtype=np.float32)
    for start in range(0, len(points), chunk):
        block = points[start:start + chunk]
        norms = np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
        scores = (block / norms) @ unit.T
        best[start:start + chunk] = scores.argmax(axis=1)
        similarity[start:start + chunk] = scores.max(axis=1)
    return best, similarity


def _by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0..k-1 by size, largest first; noise stays NOISE."""
    found, counts = np.unique(labels[labels >= 0], return_counts=True)
    order = found[np.argsort(-counts, kind="stable")]
    mapping = np.full(labels.max() + 1 if len(found) else 1, NOISE, dtype=np.int32)
    mapping[order] = np.arange(len(order), dtype=np.int32)
    renumbered = np.full_like(labels, NOISE)
    renumbered[labels >= 0] = mapping[labels[labels >= 0]]
    return renumbered


# -- quality, layout, labels -------------------------------------------------------------------------------------------


def metrics(points: np.ndarray, labels: np.ndarray, seed: int) -> dict[str, float | None]:
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

    kept = np.flatnonzero(labels >= 0)
    empty = {"silhouette_score": None, "davies_bouldin_index": None, "calinski_harabasz_score": None}
    if len(kept) > METRIC_SAMPLE:
        kept = np.random.default_rng(seed).choice(kept, METRIC_SAMPLE, replace=False)
    distinct = len(np.unique(labels[kept]))
    if distinct < 2 or distinct >= len(kept):
        return empty
    sample, sample_labels = points[kept], labels[kept]
    from sklearn import config_context

    with config_context(working_memory=128):  # silhouette's distance chunks: 128 MiB, not the default GiB
        silhouette = float(silhouette_score(sample, sample_labels, metric="cosine"))
    return {"silhouette_score": silhouette,
            "davies_bouldin_index": float(davies_bouldin_score(sample, sample_labels)),
            "calinski_harabasz_score": float(calinski_harabasz_score(sample, sample_labels))}


def layout(points: np.ndarray, components: int, seed: int, k: int = 5, device: ComputeDevice = CPU) -> np.ndarray:
    """UMAP on a seeded sample, every other point placed at the similarity-weighted mean of its k nearest sampled
    neighbours (found in a 50-d PCA space, so the cost is N × sample × 50)."""
    from sklearn.decomposition import PCA

    n = len(points)
    if n <= components + 1:
        return np.zeros((n, components), dtype=np.float32)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, LAYOUT_SAMPLE, replace=False)) if n > LAYOUT_SAMPLE else np.arange(n)
    projector = PCA(n_components=min(50, points.shape[1], len(sample)), random_state=seed).fit(points[sample])
    sampled = projector.transform(points[sample]).astype(np.float32)
    embedded = _umap(sampled, components, min_dist=0.1, seed=seed, device=device)
    if len(sample) == n:
        return embedded
    coordinates = np.empty((n, components), dtype=np.float32)
    coordinates[sample] = embedded
    rest = np.setdiff1d(np.arange(n), sample)
    unit_sample = _normalized(sampled)
    for start in range(0, len(rest), 8192):
        rows = rest[start:start + 8192]
        scores = _normalized(projector.transform(points[rows]).astype(np.float32)) @ unit_sample.T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        weights = np.maximum(np.take_along_axis(scores, top, axis=1), 1e-6)
        coordinates[rows] = (embedded[top] * weights[..., None]).sum(axis=1) / weights.sum(axis=1, keepdims=True)
    return coordinates


def labels_by_ctfidf(texts: list[str | None], labels: np.ndarray, count: int, top: int = 10
                     ) -> list[tuple[list[str], str | None]]:
    """Per cluster: keywords by class-based TF-IDF (BERTopic's c-TF-IDF) over its members' texts, and a label of the
    leading keywords' words (at most three, title case), or no label when the cluster has no text. Documents are
    counted one by one and summed per cluster, so no bigram spans two documents."""
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

    rows, classes, seen = [], [], [0] * count
    for text, label in zip(texts, labels):
        if text and label >= 0 and seen[label] < 2_000:  # a sample per cluster bounds the cost
            rows.append(text)
            classes.append(int(label))
            seen[label] += 1
    if not rows:
        return [([], None)] * count
    vectorizer = CountVectorizer(stop_words="english", ngram_range=(1, 2), token_pattern=r"(?u)\b[^\W\d_]{2,}\b",
                                 max_features=50_000)
    try:
        per_document = vectorizer.fit_transform(rows)
    except ValueError:  # nothing but stop words
        return [([], None)] * count
    membership = sparse.csr_matrix((np.ones(len(rows)), (classes, np.arange(len(rows)))), shape=(count, len(rows)))
    counts = (membership @ per_document).astype(np.float64).tocsr()
    words = vectorizer.get_feature_names_out()
    term_frequency = sparse.diags(1.0 / np.maximum(np.asarray(counts.sum(axis=1)).ravel(), 1)) @ counts
    average_words = counts.sum() / count
    idf = np.log(1 + average_words / np.maximum(np.asarray(counts.sum(axis=0)).ravel(), 1))
    scores = (term_frequency @ sparse.diags(idf)).tocsr()
    found = []
    for row in range(count):
        values = scores.getrow(row).toarray().ravel()
        order = [i for i in np.argsort(-values)[:top * 3] if values[i] > 0]
        keywords = _distinct([str(words[i]) for i in order])[:top]
        label_words: list[str] = []
        for keyword in keywords:
            label_words += [w for w in keyword.split() if w not in label_words]
            if len(label_words) >= 3:
                break
        found.append((keywords, " ".join(w.title() for w in label_words[:3]) if label_words else None))
    return found


def _distinct(keywords: list[str]) -> list[str]:
    """Drop repeats, and a bigram whose words are both already among the kept keywords."""
    kept: list[str] = []
    for keyword in keywords:
        parts = keyword.split()
        if keyword in kept or (len(parts) > 1 and all(any(p in k.split() for k in kept) for p in parts)):
            continue
        kept.append(keyword)
    return kept


def _summary(text: str | None, limit: int) -> str | None:
    if not text:
        return None
    sentence = text.strip().split(". ")[0].strip()
    return sentence if len(sentence) <= limit else sentence[:limit - 1].rstrip() + "…"


# -- the job -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clustering:
    """What the cluster step decided: a label per point (NOISE for noise), the centroids and ids of the clusters, the
    method that ran, and how many points it clustered itself (the rest were assigned to their nearest centroid)."""

    labels: np.ndarray
    centroids: np.ndarray
    cluster_ids: list[str]
    method: str
    sampled: int


@dataclass(frozen=True)
class Assignments:
    """Per point: its cluster, its cosine similarity to that cluster's centroid (NaN for noise) and its place on the
    map (None when no map was asked for): what assignments.parquet holds."""

    labels: np.ndarray
    similarity: np.ndarray | None
    coordinates: np.ndarray | None


def run_job(parquet_files: Sequence[Path], params: dict[str, Any], output_dir: Path) -> dict[str, Any]:
    """The job's I/O around the pipeline: read the parquet input, run the steps on arrays, write the output."""
    clock = time.perf_counter()
    mode = params.get("mode", "full")
    seed = int(params.get("seed", 42))
    features = params.get("features") or [{"column": "feature_0", "weight": 1.0}]
    device = select_device(params.get("compute_device", "auto"))  # first: a refused device costs no input read
    ids, points, texts = read_vectors([Path(p) for p in parquet_files], features,
                                      bool(params.get("normalize_features", True)))
    timings: dict[str, float] = {"read": time.perf_counter() - clock}
    components = int(params.get("vis_n_components", 2))
    if components not in (2, 3):
        raise EngineInputError("vis_n_components must be 2 or 3")
    output_dir.mkdir(parents=True, exist_ok=True)
    if mode == "layout":
        clock = time.perf_counter()
        coordinates = layout(points, components, seed, device=device)
        _write_assignments(output_dir, ids, np.full(len(ids), NOISE, np.int32), None, coordinates, components)
        return {"mode": mode, "num_points": len(ids), "timings_s": {"layout": time.perf_counter() - clock},
                "device": device.report()}

    result, assignments = process(ids, points, texts, params, components=components, seed=seed, device=device,
                                  timings=timings)
    _write_assignments(output_dir, ids, assignments.labels, assignments.similarity, assignments.coordinates,
                       components)
    (output_dir / "result.json").write_text(json.dumps(result))
    return {"mode": mode, "method": result["method"], "num_points": len(ids), "num_clusters": result["num_clusters"],
            "timings_s": result["timings_s"], "device": device.report()}


def process(ids: list[str], points: np.ndarray, texts: list[str | None], params: dict[str, Any], *, components: int,
            seed: int, device: ComputeDevice = CPU, timings: dict[str, float] | None = None
            ) -> tuple[dict[str, Any], Assignments]:
    """The pipeline on arrays: cluster (or assign) → similarity and quality → layout → label. Returns result.json's
    content and the per-point assignments; `timings` (seconds per step) gains the steps' times."""
    timings = {} if timings is None else timings
    clock = time.perf_counter()
    mode = params.get("mode", "full")
    clustering = assign_step(points, params) if mode == "assign" else cluster_step(points, params, mode, seed, device)
    timings["cluster"], clock = time.perf_counter() - clock, time.perf_counter()

    similarity = similarity_to_centroids(points, clustering)
    quality = metrics(points, clustering.labels, seed) if mode != "assign" else {
        "silhouette_score": None, "davies_bouldin_index": None, "calinski_harabasz_score": None}
    timings["metrics"], clock = time.perf_counter() - clock, time.perf_counter()

    coordinates = layout(points, components, seed, device=device) if params.get("layout", True) else None
    timings["layout"], clock = time.perf_counter() - clock, time.perf_counter()

    clusters = describe_clusters(ids, texts, clustering, similarity, coordinates, components,
                                 params.get("labeling") or {})
    timings["labels"] = time.perf_counter() - clock

    labels, count = clustering.labels, len(clustering.cluster_ids)
    result = {"mode": mode, "method": clustering.method, "num_points": len(ids), "num_clusters": count,
              "noise_count": int((labels < 0).sum()), "sampled_points": clustering.sampled, "metrics": quality,
              "clusters": clusters, "layout": coordinates is not None, "vis_n_components": components,
              "timings_s": {name: round(value, 3) for name, value in timings.items()}, "device": device.report()}
    return result, Assignments(labels, similarity, coordinates)


def assign_step(points: np.ndarray, params: dict[str, Any]) -> Clustering:
    """Each point to the nearest centroid of an earlier run, when at least `assignment_threshold` similar; else
    noise."""
    centroids = np.asarray(params.get("centroids") or [], dtype=np.float32)
    if centroids.ndim != 2 or not len(centroids):
        raise EngineInputError("mode assign needs the centroids of an earlier run")
    if centroids.shape[1] != points.shape[1]:
        raise EngineInputError(f"the centroids have {centroids.shape[1]} dimensions, the points {points.shape[1]}")
    best, similarity = nearest(points, centroids)
    labels = np.where(similarity >= float(params.get("assignment_threshold", 0.5)), best, NOISE).astype(np.int32)
    cluster_ids = list(params.get("centroid_ids") or [f"cl_{i}" for i in range(len(centroids))])
    return Clustering(labels, centroids, cluster_ids, "assign", len(points))


def cluster_step(points: np.ndarray, params: dict[str, Any], mode: str, seed: int,
                 device: ComputeDevice = CPU) -> Clustering:
    """Cluster the points (a seeded sample past the method's cap, the rest to their nearest centroid), clusters
    numbered by size. `composite` clusters the centroids of earlier runs, with k chosen when not given."""
    method = params.get("method", "kmeans")
    method_params = dict(params.get("method_params") or {})
    if len(points) < 2:
        if mode == "composite":
            raise EngineInputError(f"a composite needs at least 2 source clusters, got {len(points)}")
        raise EngineInputError(f"Insufficient documents for clustering: {len(points)} point(s), need at least 2")
    if mode == "composite":
        if method == "auto" or "n_clusters" not in method_params:
            method = "kmeans"
            method_params["n_clusters"] = _pick_k(points, seed, upper=len(points) - 1) if len(points) > 2 else 1
        elif isinstance(method_params["n_clusters"], int) and method_params["n_clusters"] >= len(points):
            raise EngineInputError(f"a composite of {len(points)} clusters needs n_clusters below {len(points)}")
    cap = _sample_cap(method, params.get("sample_size"))
    chosen = np.arange(len(points))
    if len(points) > cap:
        chosen = np.sort(np.random.default_rng(seed).choice(len(points), cap, replace=False))
    sample_labels, used = cluster(points[chosen], method, method_params, seed, device=device)
    sample_labels = _by_size(sample_labels)
    count = int(sample_labels.max()) + 1 if (sample_labels >= 0).any() else 0
    centroids = centroids_of(points[chosen], sample_labels, count) if count else np.zeros((0, points.shape[1]))
    labels = np.full(len(points), NOISE, dtype=np.int32)
    labels[chosen] = sample_labels
    if len(chosen) < len(points) and count:
        rest = np.setdiff1d(np.arange(len(points)), chosen)
        labels[rest] = nearest(points[rest], centroids)[0]
    return Clustering(labels, centroids, [f"cl_{i}" for i in range(count)], used, len(chosen))


def similarity_to_centroids(points: np.ndarray, clustering: Clustering) -> np.ndarray:
    """Each member's cosine similarity to its cluster's centroid; NaN for noise."""
    labels, centroids = clustering.labels, clustering.centroids
    similarity = np.full(len(points), np.nan, dtype=np.float32)
    if clustering.cluster_ids:
        unit_centroids = _normalized(centroids.astype(np.float32))
        for start in range(0, len(points), 65_536):  # in chunks: no second copy of the matrix
            block, block_labels = points[start:start + 65_536], labels[start:start + 65_536]
            member = block_labels >= 0
            similarity[start:start + 65_536][member] = np.einsum(
                "ij,ij->i", _normalized(block[member]), unit_centroids[block_labels[member]])
    return similarity


def describe_clusters(ids: list[str], texts: list[str | None], clustering: Clustering, similarity: np.ndarray,
                      coordinates: np.ndarray | None, components: int, labeling: dict[str, Any]
                      ) -> list[dict[str, Any]]:
    """Per cluster: size, centroid, label and keywords (c-TF-IDF), its most central members and their texts, and
    its centre on the map."""
    labels, centroids, cluster_ids = clustering.labels, clustering.centroids, clustering.cluster_ids
    count = len(cluster_ids)
    per_cluster = int(labeling.get("max_samples_per_cluster") or 5)
    text_limit = int(labeling.get("sample_text_max_length") or 200)
    words = labels_by_ctfidf(texts, labels, count) if count else []
    clusters = []
    for index in range(count):
        members = np.flatnonzero(labels == index)
        central = members[np.argsort(-similarity[members])[:per_cluster]] if len(members) else members
        keywords, label = words[index] if words else ([], None)
        representative_texts = [(texts[i] or "")[:text_limit] for i in central]
        entry = {"cluster_id": cluster_ids[index], "index": index, "num_members": int(len(members)),
                 "centroid": [float(v) for v in centroids[index]], "label": label or f"Cluster {index}",
                 "keywords": keywords, "summary": _summary(next((t for t in representative_texts if t), None),
                                                           text_limit),
                 "representative_ids": [ids[i] for i in central], "representative_texts": representative_texts,
                 "x": None, "y": None, "z": None}
        if coordinates is not None and len(members):
            centre = coordinates[members].mean(axis=0)
            entry.update(x=float(centre[0]), y=float(centre[1]), z=float(centre[2]) if components == 3 else None)
        clusters.append(entry)
    return clusters


def _write_assignments(output_dir: Path, ids: list[str], labels: np.ndarray, similarity: np.ndarray | None,
                       coordinates: np.ndarray | None, components: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    def column(values: np.ndarray | None) -> pa.Array:
        if values is None:
            return pa.nulls(len(ids), pa.float32())
        return pa.array(values, pa.float32(), mask=np.isnan(values))

    table = pa.table({
        "document_id": pa.array(ids, pa.string()),
        "cluster": pa.array(labels, pa.int32()),
        "similarity": column(similarity),
        "x": column(coordinates[:, 0] if coordinates is not None else None),
        "y": column(coordinates[:, 1] if coordinates is not None else None),
        "z": column(coordinates[:, 2] if coordinates is not None and components == 3 else None),
    })
    pq.write_table(table, output_dir / "assignments.parquet")
