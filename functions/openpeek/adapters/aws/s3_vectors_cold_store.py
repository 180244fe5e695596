"""ColdStore on Amazon S3 Vectors (boto3 `s3vectors`): one vector bucket per environment (stacks/tiering.py), one
index per (collection, named vector).

The service's rules, and how this adapter keeps to them:
- index names are 3-63 characters of `[a-z0-9-.]`, starting and ending with a letter or digit: ours are a readable
  slug of namespace, collection and vector plus a hash of the three, so distinct collections never share an index;
- put_vectors and delete_vectors take at most 500 vectors per call; get_vectors at most 100 keys;
- query_vectors takes topK ≤ 100 and returns a distance: cosine distance becomes the similarity the vector store
  returns (1 − d), euclidean stays a distance (smaller first); S3 Vectors has no dot product, so a dot-product
  index cannot be demoted here (refused with that reason);
- filterable metadata is at most 2 KB per vector: the payload's top-level scalar fields go there while they fit,
  the whole payload is kept as non-filterable `_payload`, and a vector whose fields did not all fit is flagged
  `_partial`. The service filter is a superset of the caller's (what cannot be translated is left out, partial
  vectors are always let through) and every hit is checked again here with the filter evaluator the vector store
  path uses, so results are exact for what comes back.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Iterator, Sequence

from openpeek.domain import filters as filter_rules
from openpeek.domain.conditions import DatetimeRange, Filter, MatchAny, MatchValue, Range
from openpeek.domain.failures import ColdStoreUnavailable
from openpeek.domain.tiering import ColdCollection
from openpeek.domain.vectors import ScoredPoint, SearchRequest, SparseVector, VectorIndexSpec, VectorPoint

MAX_WRITE = 500
MAX_GET = 100
MAX_TOP_K = 100
MAX_FILTERABLE_BYTES = 2048
MAX_LIST_PAGE = 1000
PAYLOAD_KEY, PARTIAL_KEY = "_payload", "_partial"
_NAME_OK = re.compile(r"[^a-z0-9-]+")


def index_name(namespace_id: str, collection_id: str, vector: str) -> str:
    digest = hashlib.sha1(f"{namespace_id}/{collection_id}/{vector}".encode()).hexdigest()[:12]
    slug = _NAME_OK.sub("-", f"{collection_id}-{vector}".lower()).strip("-")[:63 - 13].strip("-")
    return f"{slug}-{digest}" if slug else f"c-{digest}"


def _filterable(payload: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Top-level scalar (and list of scalar) fields, in name order, while they fit in 2 KB; whether all fitted."""
    kept: dict[str, Any] = {}
    complete = True
    size = len(json.dumps({PARTIAL_KEY: True}))
    for key in sorted(payload):
        value = payload[key]
        scalar = isinstance(value, (str, int, float, bool)) or (
            isinstance(value, list) and value and all(isinstance(v, (str, int, float, bool)) for v in value))
        if not scalar or key.startswith("_"):
            continue
        grown = len(json.dumps({key: value})) + 2
        if size + grown > MAX_FILTERABLE_BYTES:
            complete = False
            continue
        kept[key], size = value, size + grown
    return kept, complete


def service_filter(condition: Any) -> dict[str, Any] | None:
    """The S3 Vectors filter for what can be translated (None: nothing); a superset of `condition`."""
    if isinstance(condition, Filter):
        must = [f for f in (service_filter(item) for item in condition.must) if f is not None]
        should = [service_filter(item) for item in condition.should]
        parts = list(must)
        if condition.should and all(f is not None for f in should):
            parts.append({"$or": should} if len(should) > 1 else should[0])
        for item in condition.must_not:
            if isinstance(item, MatchValue) and "." not in item.key:
                parts.append({item.key: {"$ne": item.value}})
            elif isinstance(item, MatchAny) and "." not in item.key:
                parts.append({item.key: {"$nin": list(item.values)}})
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else {"$and": parts}
    key = getattr(condition, "key", "")
    if "." in key or key.startswith("_"):
        return None
    if isinstance(condition, MatchValue):
        return {key: {"$eq": condition.value}}
    if isinstance(condition, MatchAny):
        return {key: {"$in": list(condition.values)}}
    if isinstance(condition, Range):
        bounds = {f"${name}": getattr(condition, name) for name in ("gt", "gte", "lt", "lte")
                  if getattr(condition, name) is not None}
        return {key: bounds} if bounds else None
    if isinstance(condition, DatetimeRange):
        return None  # S3 Vectors compares numbers, not RFC 3339 strings
    return None


class S3VectorsColdStore:
    def __init__(self, vector_bucket: str, client: Any = None) -> None:
        self._bucket = vector_bucket
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client("s3vectors", config=Config(retries={"mode": "standard", "max_attempts": 5}))
        self._client = client

    def index_name(self, target: ColdCollection) -> str:
        """The index of the collection's first vector (what LifecycleStatusResponse.s3_vector_index names)."""
        first = target.vectors[0].name if target.vectors else "none"
        return index_name(target.namespace_id, target.collection_id, first)

    def _call(self, operation: str, **arguments: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client, operation)(vectorBucketName=self._bucket, **arguments)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("NotFoundException", "ResourceNotFoundException", "NoSuchIndex"):
                raise LookupError(code) from error
            raise ColdStoreUnavailable(f"S3 Vectors {operation} failed: {code or error}") from error
        except BotoCoreError as error:
            raise ColdStoreUnavailable(f"S3 Vectors {operation} failed: {error}") from error

    def _ensure_index(self, target: ColdCollection, spec: VectorIndexSpec) -> str:
        if spec.metric == "dot":
            raise ColdStoreUnavailable(f"vector index '{spec.name}' uses dot product, which S3 Vectors does not "
                                       "offer (cosine or euclidean only); this collection cannot be demoted there")
        name = index_name(target.namespace_id, target.collection_id, spec.name)
        try:
            self._call("get_index", indexName=name)
        except LookupError:
            self._call("create_index", indexName=name, dataType="float32", dimension=spec.dimension,
                       distanceMetric=spec.metric,
                       metadataConfiguration={"nonFilterableMetadataKeys": [PAYLOAD_KEY]})
        return name

    def _dense(self, target: ColdCollection) -> list[VectorIndexSpec]:
        return [spec for spec in target.vectors if not spec.sparse]

    def write_part(self, target: ColdCollection, part: int, points: Sequence[VectorPoint]) -> None:
        for spec in self._dense(target):
            name = self._ensure_index(target, spec)
            rows = []
            for point in points:
                value = point.vectors.get(spec.name)
                if value is None or isinstance(value, SparseVector):
                    continue
                filterable, complete = _filterable(point.payload)
                metadata = {**filterable, PAYLOAD_KEY: json.dumps(point.payload, default=str)}
                if not complete:
                    metadata[PARTIAL_KEY] = True
                rows.append({"key": point.id, "data": {"float32": [float(x) for x in value]}, "metadata": metadata})
            for start in range(0, len(rows), MAX_WRITE):
                self._call("put_vectors", indexName=name, vectors=rows[start: start + MAX_WRITE])

    def _keys(self, name: str, *, with_data: bool = True) -> Iterator[list[dict[str, Any]]]:
        token = None
        while True:
            arguments: dict[str, Any] = {"indexName": name, "maxResults": MAX_LIST_PAGE, "returnData": with_data,
                                         "returnMetadata": True}
            if token:
                arguments["nextToken"] = token
            try:
                page = self._call("list_vectors", **arguments)
            except LookupError:
                return
            yield page.get("vectors", [])
            token = page.get("nextToken")
            if not token:
                return

    def count(self, target: ColdCollection) -> int:
        seen: set[str] = set()
        for spec in self._dense(target):
            name = index_name(target.namespace_id, target.collection_id, spec.name)
            for page in self._keys(name, with_data=False):
                seen.update(row["key"] for row in page)
        return len(seen)

    def read_parts(self, target: ColdCollection, *, from_part: int = 0,
                   with_vectors: bool = True) -> Iterator[tuple[int, list[VectorPoint]]]:
        """Pages of list_vectors over each index in turn; a document first met in one index gets its other vectors
        with get_vectors (≤ 100 keys a call). Without vectors: keys and metadata only, no get_vectors."""
        specs = self._dense(target)
        emitted: set[str] = set()
        part = 0
        for position, spec in enumerate(specs):
            name = index_name(target.namespace_id, target.collection_id, spec.name)
            for page in self._keys(name, with_data=with_vectors):
                fresh = [row for row in page if row["key"] not in emitted]
                emitted.update(row["key"] for row in fresh)
                if not fresh:
                    continue
                number, part = part, part + 1
                if number < from_part:
                    continue
                points = {row["key"]: VectorPoint(row["key"],
                                                  {spec.name: list(row["data"]["float32"])} if with_vectors else {},
                                                  json.loads(row["metadata"][PAYLOAD_KEY])) for row in fresh}
                for other in specs[position + 1:] if with_vectors else ():
                    other_name = index_name(target.namespace_id, target.collection_id, other.name)
                    keys = list(points)
                    for start in range(0, len(keys), MAX_GET):
                        try:
                            found = self._call("get_vectors", indexName=other_name, keys=keys[start: start + MAX_GET],
                                               returnData=True)
                        except LookupError:
                            break
                        for row in found.get("vectors", []):
                            points[row["key"]].vectors[other.name] = list(row["data"]["float32"])
                yield number, list(points.values())

    def select(self, target: ColdCollection, condition: Filter | None) -> Iterator["_ListedSelection"]:
        """list_vectors cannot filter (only query_vectors can, and only its top k): each listed page's documents are
        decoded and passed through the evaluator, and a page's vectors are fetched by key only when read with them."""
        for _, points in self.read_parts(target, with_vectors=False):
            passing = [point for point in points
                       if condition is None or filter_rules.matches(condition, point.payload, point.id)]
            yield _ListedSelection(self, target, passing, decoded=len(points))  # even empty: its cost counts

    def get(self, target: ColdCollection, document_ids: Sequence[str], *,
            with_vectors: bool = False) -> list[VectorPoint]:
        """get_vectors by key (≤ 100 a call) on each index in turn: a document missing from one index (it lacks that
        vector) is looked for in the next; with vectors, every index is asked for every document found."""
        wanted = list(dict.fromkeys(document_ids))
        found: dict[str, VectorPoint] = {}
        for spec in self._dense(target):
            keys = wanted if with_vectors else [key for key in wanted if key not in found]
            name = index_name(target.namespace_id, target.collection_id, spec.name)
            for start in range(0, len(keys), MAX_GET):
                try:
                    answer = self._call("get_vectors", indexName=name, keys=keys[start: start + MAX_GET],
                                        returnData=with_vectors, returnMetadata=True)
                except LookupError:
                    break
                for row in answer.get("vectors", []):
                    point = found.get(row["key"])
                    if point is None:
                        point = found[row["key"]] = VectorPoint(row["key"], {},
                                                                json.loads(row["metadata"][PAYLOAD_KEY]))
                    if with_vectors:
                        point.vectors[spec.name] = list(row["data"]["float32"])
        return [found[key] for key in wanted if key in found]

    def query(self, target: ColdCollection, request: SearchRequest) -> list[ScoredPoint]:
        spec = next((spec for spec in self._dense(target) if spec.name == request.vector_name), None)
        if spec is None or isinstance(request.vector, SparseVector):
            return []
        arguments: dict[str, Any] = {
            "indexName": index_name(target.namespace_id, target.collection_id, spec.name),
            "queryVector": {"float32": [float(x) for x in request.vector]},
            "topK": MAX_TOP_K if request.filter is not None else min(MAX_TOP_K, max(1, request.limit)),
            "returnMetadata": True, "returnDistance": True,
        }
        translated = service_filter(request.filter) if request.filter is not None else None
        if translated is not None:
            arguments["filter"] = {"$or": [translated, {PARTIAL_KEY: {"$eq": True}}]}
        try:
            found = self._call("query_vectors", **arguments)
        except LookupError:
            return []
        hits = []
        for row in found.get("vectors", []):
            payload = json.loads(row["metadata"][PAYLOAD_KEY])
            if request.filter is not None and not filter_rules.matches(request.filter, payload, row["key"]):
                continue
            distance = float(row["distance"])
            score = 1.0 - distance if spec.metric == "cosine" else distance
            if request.score_threshold is not None and (
                    score > request.score_threshold if spec.metric == "euclidean" else score < request.score_threshold):
                continue
            hits.append(ScoredPoint(row["key"], score, payload if request.with_payload else {}))
        return hits[: request.limit]

    def drop(self, target: ColdCollection) -> None:
        for spec in self._dense(target):
            try:
                self._call("delete_index", indexName=index_name(target.namespace_id, target.collection_id, spec.name))
            except LookupError:
                continue


class _ListedSelection:
    """A listed page's documents that pass a filter, every one of the page already decoded (`decoded`)."""

    def __init__(self, store: S3VectorsColdStore, target: ColdCollection, passing: list[VectorPoint], *,
                 decoded: int) -> None:
        self._store, self._target, self._passing = store, target, passing
        self.count = len(passing)
        self.decoded = decoded

    def read(self, start: int, stop: int, *, with_vectors: bool = False) -> list[VectorPoint]:
        wanted = self._passing[start:stop]
        if not with_vectors or not wanted:
            return list(wanted)
        found = {point.id: point for point in self._store.get(self._target, [point.id for point in wanted],
                                                                 with_vectors=True)}
        self.decoded += len(found)
        return [VectorPoint(point.id, found[point.id].vectors if point.id in found else {}, point.payload)
                for point in wanted]
