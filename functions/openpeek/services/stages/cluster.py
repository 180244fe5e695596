"""cluster: group the working set by its vectors with the clustering engine's k-means, each cluster labelled by
c-TF-IDF over its members' text (the engine's labels_by_ctfidf, as cluster runs label theirs).

The engine (scikit-learn) is imported inside `run`, not at module import: the API Lambda path imports this module to
list and check stages and never pays for scikit-learn unless a retriever with a cluster stage executes. Only k-means
runs here: the engine's density methods first reduce with UMAP, whose compilation takes seconds per process — too
slow for a request (a cluster resource runs them)."""

from __future__ import annotations

from typing import Literal, Optional

import numpy as np
from pydantic import Field

from openpeek.domain import retrievers as rules
from openpeek.domain.documents import present
from openpeek.domain.errors import BadRequest, DependencyFailed
from openpeek.domain.namespace import Namespace
from openpeek.domain.stages.candidates import Candidate, dense_matrix, synthetic, value_at, with_value
from openpeek.domain.vectors import VectorPoint
from openpeek.services.stages.base import RunContext, Stage, StageParameters, invalid

TEXT_FIELDS = ("content", "text", "title", "description", "summary")
SEED = 42


class ClusterParameters(StageParameters):
    algorithm: Literal["kmeans"] = "kmeans"
    n_clusters: Optional[int] = Field(default=None, ge=2, le=100)
    min_cluster_size: int = Field(default=5, ge=2, le=100)
    feature_uri: Optional[str] = None
    output_mode: Literal["clusters", "labeled", "representatives"] = "clusters"
    include_centroids: bool = True
    max_members_per_cluster: int = Field(default=50, ge=1, le=500)


class Cluster(Stage):
    stage_id = "cluster"
    category = "reduce"
    icon = "boxes"
    description = ("Clusters the documents on their vectors (the previous search's index unless feature_uri names "
                   "another) with k-means — n_clusters, or chosen by silhouette when omitted — and labels each cluster "
                   "by c-TF-IDF keywords of its members' text (content, text, title, description or summary). "
                   "output_mode clusters: one document per cluster with its members; labeled: every document with "
                   "cluster_id and cluster_score; representatives: the member closest to each centre. Only "
                   "algorithm 'kmeans' runs inside a retriever.")
    Parameters = ClusterParameters
    cost_tier = "moderate"
    example = {"stage_name": "themes", "config": {"stage_id": "cluster", "parameters": {
        "n_clusters": 5, "output_mode": "clusters", "include_centroids": False}}}

    def check(self, namespace: Namespace, stage_name: str, parameters: dict) -> dict:
        if parameters.get("algorithm", "kmeans") != "kmeans":
            raise invalid(stage_name, self.stage_id, "algorithm",
                          f"'{parameters.get('algorithm')}' does not run inside a retriever here; use 'kmeans' (density "
                          "and graph methods need a UMAP reduction too slow for a request: run a cluster resource)")
        return super().check(namespace, stage_name, parameters)

    def check_references(self, namespace: Namespace, stage_name: str, parameters: ClusterParameters) -> None:
        if parameters.feature_uri:
            try:
                rules.resolve_feature_uri(namespace, parameters.feature_uri)
            except BadRequest as error:
                raise invalid(stage_name, self.stage_id, "feature_uri", error.message,
                              code="unknown_feature_uri") from None

    def reads_vectors(self, parameters: dict) -> bool:
        return True

    def run(self, context: RunContext, parameters: ClusterParameters, candidates: list[Candidate]) -> list[Candidate]:
        if not candidates:
            return []
        uri = parameters.feature_uri or context.search_index
        if uri is None:
            raise invalid(context.stage_name, self.stage_id, "feature_uri", "no previous feature_search to take the "
                          "vectors from; name the index", code="invalid_query")
        index = rules.resolve_feature_uri(context.namespace, uri)
        rows = dense_matrix([c.vectors.get(index) for c in candidates])
        if rows is None:
            raise invalid(context.stage_name, self.stage_id, "feature_uri", f"the documents carry no dense '{index}' "
                          "vectors (cluster needs a feature_search before it on that index)", code="invalid_query")
        try:
            from openpeek.engine import processing as engine
        except ImportError as error:  # a deployment without the clustering engine's packages
            raise DependencyFailed("the cluster stage needs the clustering engine (openpeek[cluster]) installed",
                                   code="clustering_engine_missing") from error
        points = rows  # a new matrix (dense_matrix copies), normalised in place below
        points /= np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)
        if len(points) < 3:
            labels = np.zeros(len(points), dtype=np.int32)
        else:
            method, options = ("kmeans", {"n_clusters": min(parameters.n_clusters, len(points))}) \
                if parameters.n_clusters else ("auto", {})
            labels, _ = engine.cluster(points, method, options, SEED)
        count = int(labels.max()) + 1
        centroids = engine.centroids_of(points, labels, count)
        distance = 1.0 - np.einsum("ij,ij->i", points, centroids[labels] /
                                   np.maximum(np.linalg.norm(centroids[labels], axis=1, keepdims=True), 1e-12))
        texts = [_text(c) for c in candidates]
        labelled = engine.labels_by_ctfidf(texts, labels, count)
        context.metadata.update({"algorithm": "kmeans", "num_clusters": count, "feature_index": index})
        members = [sorted(np.flatnonzero(labels == k), key=lambda i: distance[i]) for k in range(count)]
        if parameters.output_mode == "labeled":
            return [with_value(with_value(c, "cluster_id", int(labels[i])), "cluster_score",
                               round(float(distance[i]), 6)) for i, c in enumerate(candidates)]
        if parameters.output_mode == "representatives":
            return [with_value(candidates[m[0]], "cluster_id", k) for k, m in enumerate(members) if m]
        found = []
        for k, chosen in enumerate(members):
            keywords, label = labelled[k]
            fields = {"cluster_id": k, "label": label, "keywords": keywords, "member_count": len(chosen),
                      "members": [present(VectorPoint(candidates[i].document_id, {}, candidates[i].payload),
                                          with_vectors=False) | {"score": candidates[i].score,
                                                                 "cluster_score": round(float(distance[i]), 6)}
                                  for i in chosen[: parameters.max_members_per_cluster]]}
            if parameters.include_centroids:
                fields["centroid"] = [round(float(x), 6) for x in centroids[k]]
            best = max((candidates[i].score for i in chosen), default=0.0)
            found.append(synthetic(f"cluster_{k}", best, fields))
        return sorted(found, key=lambda c: -c.payload["member_count"])


def _text(candidate: Candidate) -> str | None:
    for name in TEXT_FIELDS:
        value = value_at(candidate, name)
        if isinstance(value, str) and value.strip():
            return value
    return None


STAGE = Cluster
