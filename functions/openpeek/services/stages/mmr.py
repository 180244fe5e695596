"""mmr: re-order for diversity (maximal marginal relevance) on the documents' vectors or on field values."""

from __future__ import annotations

from typing import Callable, Literal, Optional

import numpy as np
from pydantic import Field

from openpeek.domain import retrievers as rules
from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import Namespace
from openpeek.domain.stages import mmr, projection
from openpeek.domain.stages.candidates import Candidate, dense_matrix, value_at, with_value
from openpeek.domain.stages.grouping import hashable
from openpeek.services.stages.base import RunContext, Stage, StageParameters, invalid


class DiversityFeature(StageParameters):
    feature_uri: str
    weight: float = Field(default=1.0, ge=0, le=1)


class MmrParameters(StageParameters):
    balance: float = Field(default=0.7, ge=0, le=1, alias="lambda")
    top_k: int = Field(default=25, ge=1, le=500)
    diversity_feature_uri: Optional[str] = None
    diversity_features: Optional[list[DiversityFeature]] = None
    diversity_fields: Optional[list[str]] = None
    diversity_field_weights: Optional[dict[str, float]] = None
    score_field: str = "score"
    mmr_score_field: str = "scores.mmr"
    similarity_metric: Literal["cosine", "dot"] = "cosine"


class Mmr(Stage):
    stage_id = "mmr"
    category = "sort"
    icon = "shuffle"
    description = ("Maximal marginal relevance: picks, one at a time, the document that best balances relevance "
                   "(lambda) against similarity to those already picked — on the documents' vectors (the previous "
                   "search's index unless diversity_feature_uri / diversity_features name others) or on field values "
                   "(diversity_fields). Keeps top_k and writes each one's MMR score to mmr_score_field.")
    Parameters = MmrParameters
    example = {"stage_name": "diversify", "config": {"stage_id": "mmr", "parameters": {"lambda": 0.6, "top_k": 10}}}
    use_cases = ("avoid near-duplicate results", "one result per category with diversity_fields")

    def check_references(self, namespace: Namespace, stage_name: str, parameters: MmrParameters) -> None:
        uris = ([parameters.diversity_feature_uri] if parameters.diversity_feature_uri else []) + [
            feature.feature_uri for feature in parameters.diversity_features or []]
        for uri in uris:
            try:
                rules.resolve_feature_uri(namespace, uri)
            except BadRequest as error:
                raise invalid(stage_name, self.stage_id, "diversity_feature_uri", error.message,
                              code="unknown_feature_uri") from None

    def reads_vectors(self, parameters: dict) -> bool:
        return not parameters.get("diversity_fields")

    def payload_fields(self, parameters: dict) -> frozenset[str] | None:
        parsed = self.stored_parameters(parameters)
        if parsed is None:
            return None
        return projection.top_level_keys([*(parsed.diversity_fields or ()), parsed.score_field])

    def run(self, context: RunContext, parameters: MmrParameters, candidates: list[Candidate]) -> list[Candidate]:
        if not candidates:
            return []
        if parameters.score_field == "score":
            relevance = np.fromiter((_number(c.score) for c in candidates), dtype=np.float64, count=len(candidates))
        else:
            relevance = np.array([_number(value_at(c, parameters.score_field)) for c in candidates], dtype=np.float64)
        relevance = mmr.normalised_relevance(relevance)
        if parameters.diversity_fields:
            weights = np.array([float((parameters.diversity_field_weights or {}).get(f, 1.0))
                                for f in parameters.diversity_fields])
            weights = weights / (weights.sum() or 1.0)
            keys = [tuple(hashable(value_at(c, f)) for f in parameters.diversity_fields) for c in candidates]
            codes = mmr.attribute_codes(keys)
            similarity_to = lambda i: (codes == codes[i]) @ weights  # noqa: E731
            context.metadata["diversity"] = "fields"
        else:
            similarity_to = self._vector_similarity(context, parameters, candidates)
        order, scores = mmr.select(relevance, similarity_to, parameters.balance, parameters.top_k)
        context.metadata["lambda"] = parameters.balance
        return [with_value(candidates[i], parameters.mmr_score_field, round(score, 6)) for i, score in zip(order, scores)]

    def _vector_similarity(self, context: RunContext, parameters: MmrParameters,
                           candidates: list[Candidate]) -> Callable[[int], np.ndarray]:
        features = [(f.feature_uri, f.weight) for f in parameters.diversity_features or []]
        if not features:
            uri = parameters.diversity_feature_uri or context.search_index
            if uri is None:
                raise invalid(context.stage_name, self.stage_id, "diversity_feature_uri",
                              "no previous feature_search to take the vectors from; name an index or use "
                              "diversity_fields", code="invalid_query")
            features = [(uri, 1.0)]
        total = sum(weight for _, weight in features) or 1.0
        spaces = []
        for uri, weight in features:
            index = rules.resolve_feature_uri(context.namespace, uri)
            # One float32 matrix for the whole stage: the store's float32 rows stacked, or its lists converted.
            vectors = dense_matrix([c.vectors.get(index) for c in candidates])
            if vectors is None:
                raise invalid(context.stage_name, self.stage_id, "diversity_feature_uri",
                              f"the documents carry no dense '{index}' vectors (mmr needs a feature_search before it "
                              "on that index)", code="invalid_query")
            spaces.append((mmr.unit_rows(vectors) if parameters.similarity_metric == "cosine" else vectors,
                           weight / total))
        context.metadata["diversity"] = [uri for uri, _ in features]
        if len(spaces) == 1 and spaces[0][1] == 1.0:
            only = spaces[0][0]
            return lambda i: only @ only[i]
        return lambda i: sum(weight * (vectors @ vectors[i]) for vectors, weight in spaces)


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


STAGE = Mmr
