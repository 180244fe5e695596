"""The one-off feature search (`POST /v1/features/search`): a retriever of one feature_search stage, built for the
request and run through the ad-hoc execute path (the same checks, the same search, the ad-hoc execution history),
never stored. The named collections restrict the search to their documents; none searches the whole namespace (a
standalone namespace's directly upserted documents)."""

from __future__ import annotations

from typing import Any

from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import Namespace
from openpeek.services.collections.collections import CollectionService
from openpeek.services.retrieval import RetrievalService

STAGE_NAME = "feature_search"
# The query kinds the feature_search stage embeds or takes as they are; image and URL queries need a model that
# embeds them at query time, which the stage does not call.
_STAGE_MODE = {"text": "text", "vector": "vector"}


class OneOffFeatureSearch:
    def __init__(self, collections: CollectionService, retrieval: RetrievalService) -> None:
        self._collections = collections
        self._retrieval = retrieval

    def search(self, namespace: Namespace, request: dict[str, Any]) -> dict[str, Any]:
        """`request`: the SDK's FeatureSearchRequest as parsed. Unknown collections are 404, an unknown feature URI
        or an unusable query 400, before anything runs."""
        query = request["query"]
        mode = query.get("input_mode") or "text"
        if mode not in _STAGE_MODE:
            raise BadRequest(f"query.input_mode '{mode}' is not supported here; send a text or a vector query",
                             code="unsupported_input_mode", details={"input_mode": mode,
                                                                     "supported": sorted(_STAGE_MODE)})
        value = query.get(mode)
        if value is None or value == "":
            raise BadRequest(f"query.input_mode is '{mode}' but query.{mode} is empty", code="invalid_query",
                             details={"field": f"query.{mode}"})
        collection_ids = [self._collections.get(namespace, identifier).collection_id
                          for identifier in dict.fromkeys(request.get("collection_identifiers") or ())]
        search: dict[str, Any] = {"feature_uri": request["feature_uri"],
                                  "query": {"input_mode": _STAGE_MODE[mode], "value": value},
                                  "top_k": request["top_k"]}
        if collection_ids:
            search["filters"] = {"AND": [{"field": "collection_id", "operator": "in", "value": collection_ids}]}
        definition = {"stages": [{"stage_name": STAGE_NAME, "config": {
            "stage_id": "feature_search", "parameters": {"searches": [search], "final_top_k": request["top_k"]}}}],
            "collection_identifiers": collection_ids}
        execution: dict[str, Any] = {"limit": request["top_k"]}
        if request.get("filters"):
            execution["filters"] = request["filters"]
        return self._retrieval.execute_ad_hoc(namespace, definition, execution)
