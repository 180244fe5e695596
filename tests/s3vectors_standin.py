"""An in-process stand-in for the parts of Amazon S3 Vectors that moto lacks or does not police: `query_vectors`
(moto has no implementation: getmoto/moto#9097) and the service's documented limits on the calls moto does serve.

Everything else is delegated to the moto client, so vectors are stored, listed and deleted by moto. The limits below
are the service's (AWS documentation, "Limitations and restrictions" of S3 Vectors); a call beyond them fails as the
service fails it, with a ValidationException.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from botocore.exceptions import ClientError

MAX_PUT = 500
MAX_DELETE = 500
MAX_GET = 100
MAX_LIST = 1000
MAX_TOP_K = 100
MAX_FILTERABLE_BYTES = 2048
MAX_METADATA_KEYS = 50
OPERATORS = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"}


def _invalid(operation: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": "ValidationException", "Message": message}}, operation)


class S3VectorsStandIn:
    def __init__(self, moto_client: Any) -> None:
        self._client = moto_client
        self.calls: list[tuple[str, int]] = []  # (operation, items in the call), for tests of batching
        self._hidden: dict[tuple[str, str], set[str]] = {}  # moto does not keep an index's metadataConfiguration

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _non_filterable(self, bucket: str, index: str) -> set[str]:
        return self._hidden.get((bucket, index), set())

    def create_index(self, **arguments: Any) -> Any:
        answer = self._client.create_index(**arguments)
        configuration = arguments.get("metadataConfiguration") or {}
        self._hidden[(arguments["vectorBucketName"], arguments["indexName"])] = set(
            configuration.get("nonFilterableMetadataKeys") or [])
        return answer

    def delete_index(self, **arguments: Any) -> Any:
        answer = self._client.delete_index(**arguments)
        self._hidden.pop((arguments["vectorBucketName"], arguments["indexName"]), None)
        return answer

    def put_vectors(self, **arguments: Any) -> Any:
        vectors = arguments["vectors"]
        self.calls.append(("put_vectors", len(vectors)))
        if not 1 <= len(vectors) <= MAX_PUT:
            raise _invalid("PutVectors", f"1 to {MAX_PUT} vectors per call; got {len(vectors)}")
        hidden = self._non_filterable(arguments["vectorBucketName"], arguments["indexName"])
        for vector in vectors:
            metadata = vector.get("metadata") or {}
            if len(metadata) > MAX_METADATA_KEYS:
                raise _invalid("PutVectors", f"at most {MAX_METADATA_KEYS} metadata keys")
            filterable = {key: value for key, value in metadata.items() if key not in hidden}
            if len(json.dumps(filterable).encode()) > MAX_FILTERABLE_BYTES:
                raise _invalid("PutVectors", f"filterable metadata of {vector['key']} exceeds 2 KB")
        return self._client.put_vectors(**arguments)

    def delete_vectors(self, **arguments: Any) -> Any:
        if not 1 <= len(arguments["keys"]) <= MAX_DELETE:
            raise _invalid("DeleteVectors", f"1 to {MAX_DELETE} keys per call")
        return self._client.delete_vectors(**arguments)

    def get_vectors(self, **arguments: Any) -> Any:
        if not 1 <= len(arguments["keys"]) <= MAX_GET:
            raise _invalid("GetVectors", f"1 to {MAX_GET} keys per call")
        return self._client.get_vectors(**arguments)

    def list_vectors(self, **arguments: Any) -> Any:
        """Pages of at most maxResults (≤ 1000) with a nextToken, which moto does not do."""
        size = arguments.pop("maxResults", MAX_LIST)
        if not 1 <= size <= MAX_LIST:
            raise _invalid("ListVectors", f"maxResults is 1 to {MAX_LIST}")
        start = int(arguments.pop("nextToken", "0") or 0)
        everything = self._client.list_vectors(**arguments).get("vectors", [])
        page = everything[start: start + size]
        answer: dict[str, Any] = {"vectors": page}
        if start + size < len(everything):
            answer["nextToken"] = str(start + size)
        return answer

    def query_vectors(self, *, vectorBucketName: str, indexName: str, queryVector: dict, topK: int,
                      filter: dict | None = None, returnMetadata: bool = False, returnDistance: bool = False) -> Any:
        if not 1 <= topK <= MAX_TOP_K:
            raise _invalid("QueryVectors", f"topK is 1 to {MAX_TOP_K}; got {topK}")
        described = self._client.get_index(vectorBucketName=vectorBucketName, indexName=indexName)["index"]
        query = np.asarray(queryVector["float32"], dtype=np.float32)
        if query.shape[0] != described["dimension"]:
            raise _invalid("QueryVectors", "query dimension does not match the index")
        hidden = self._non_filterable(vectorBucketName, indexName)
        if filter is not None:
            _check_filter(filter, hidden)
        rows = self._client.list_vectors(vectorBucketName=vectorBucketName, indexName=indexName, returnData=True,
                                         returnMetadata=True).get("vectors", [])
        kept = [row for row in rows if filter is None or _matches(filter, row.get("metadata") or {})]
        if not kept:
            return {"vectors": [], "distanceMetric": described["distanceMetric"]}
        matrix = np.asarray([row["data"]["float32"] for row in kept], dtype=np.float32)
        if described["distanceMetric"] == "cosine":
            norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(query) or 1.0)
            norms[norms == 0] = 1.0
            distances = 1.0 - (matrix @ query) / norms
        else:
            distances = np.linalg.norm(matrix - query, axis=1)
        order = np.argsort(distances, kind="stable")[:topK]
        answer = []
        for row_number in order:
            row = kept[int(row_number)]
            found: dict[str, Any] = {"key": row["key"]}
            if returnMetadata:
                found["metadata"] = row.get("metadata") or {}
            if returnDistance:
                found["distance"] = float(distances[row_number])
            answer.append(found)
        return {"vectors": answer, "distanceMetric": described["distanceMetric"]}


def _check_filter(condition: Any, hidden: set[str]) -> None:
    if not isinstance(condition, dict) or not condition:
        raise _invalid("QueryVectors", "a filter is a non-empty object")
    for key, value in condition.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise _invalid("QueryVectors", f"{key} takes a non-empty list")
            for item in value:
                _check_filter(item, hidden)
            continue
        if key.startswith("$"):
            raise _invalid("QueryVectors", f"unknown operator {key}")
        if key in hidden:
            raise _invalid("QueryVectors", f"{key} is non-filterable metadata")
        if isinstance(value, dict):
            unknown = set(value) - OPERATORS
            if unknown:
                raise _invalid("QueryVectors", f"unknown operators {sorted(unknown)}")


def _matches(condition: dict, metadata: dict) -> bool:
    for key, value in condition.items():
        if key == "$and":
            if not all(_matches(item, metadata) for item in value):
                return False
            continue
        if key == "$or":
            if not any(_matches(item, metadata) for item in value):
                return False
            continue
        operators = value if isinstance(value, dict) else {"$eq": value}
        present = key in metadata
        stored = metadata.get(key)
        values = stored if isinstance(stored, list) else [stored]
        for operator, wanted in operators.items():
            if operator == "$exists":
                ok = present == bool(wanted)
            elif not present:
                ok = operator in ("$ne", "$nin")
            elif operator == "$eq":
                ok = wanted in values
            elif operator == "$ne":
                ok = wanted not in values
            elif operator == "$in":
                ok = any(v in wanted for v in values)
            elif operator == "$nin":
                ok = not any(v in wanted for v in values)
            else:
                numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
                compare = {"$gt": lambda a: a > wanted, "$gte": lambda a: a >= wanted, "$lt": lambda a: a < wanted,
                           "$lte": lambda a: a <= wanted}[operator]
                ok = any(compare(v) for v in numbers)
            if not ok:
                return False
    return True
