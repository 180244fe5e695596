"""OpenFGA over its HTTP API (https://openfga.dev/api/service), with httpx.

Plain httpx rather than `openfga-sdk`: the SDK's client is asynchronous first (its synchronous twin still pulls in
aiohttp-era machinery and its own retry loop and configuration objects), while the retrieval path is synchronous and
needs three POSTs with a bearer header; httpx is already a core dependency, so the API Lambda carries nothing new.

Calls used: ListObjects (POST /stores/{id}/list-objects), Check (POST /stores/{id}/check) and BatchCheck
(POST /stores/{id}/batch-check, OpenFGA ≥ 1.8). A server without BatchCheck (404/501 on that route) is remembered and
asked with one Check per object instead. Every failure (unreachable, timeout, non-2xx, malformed answer, an error
inside a batch item) is raised as `FgaUnavailable`: the caller fails closed.
"""

from __future__ import annotations

import threading
from typing import Any, Iterable

import httpx

BATCH_CHECK_SIZE = 50  # OpenFGA's default maxChecksPerBatchCheck
DEFAULT_TIMEOUT_S = 5.0


class FgaUnavailable(Exception):
    """OpenFGA could not answer (the request failed, or the answer could not be used)."""


class OpenFgaClient:
    """One OpenFGA store. `http` is shared between clients (a connection pool); `token` goes as a bearer header."""

    def __init__(self, api_url: str, store_id: str, *, model_id: str | None = None, token: str | None = None,
                 http: httpx.Client | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._base = f"{api_url.rstrip('/')}/stores/{store_id}"
        self._model_id = model_id
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = http or httpx.Client(timeout=timeout_s)
        self._timeout = timeout_s
        self._batch_check = True
        self._lock = threading.Lock()

    # -- the three calls ------------------------------------------------------------------------------------------

    def list_objects(self, *, user: str, relation: str, object_type: str) -> list[str]:
        """The object ids (without the `type:` prefix) the user has `relation` on."""
        answer = self._post("list-objects", {"type": object_type, "relation": relation, "user": user})
        objects = answer.get("objects")
        if not isinstance(objects, list) or not all(isinstance(o, str) for o in objects):
            raise FgaUnavailable("OpenFGA list-objects answered without an objects list")
        prefix = f"{object_type}:"
        return [o[len(prefix):] for o in objects if o.startswith(prefix)]

    def check(self, *, user: str, relation: str, object_id: str, object_type: str) -> bool:
        answer = self._post("check", {"tuple_key": {"user": user, "relation": relation,
                                                    "object": f"{object_type}:{object_id}"}})
        allowed = answer.get("allowed")
        if not isinstance(allowed, bool):
            raise FgaUnavailable("OpenFGA check answered without 'allowed'")
        return allowed

    def check_many(self, *, user: str, relation: str, object_ids: Iterable[str], object_type: str) -> dict[str, bool]:
        """Decisions for each object id: BatchCheck in chunks, or Check one by one where BatchCheck is missing."""
        ids = list(dict.fromkeys(object_ids))
        decisions: dict[str, bool] = {}
        for start in range(0, len(ids), BATCH_CHECK_SIZE):
            chunk = ids[start: start + BATCH_CHECK_SIZE]
            if self._batch_check:
                found = self._batch(user, relation, chunk, object_type)
                if found is not None:
                    decisions.update(found)
                    continue
            for object_id in chunk:
                decisions[object_id] = self.check(user=user, relation=relation, object_id=object_id,
                                                  object_type=object_type)
        return decisions

    # -- plumbing ---------------------------------------------------------------------------------------------------

    def _batch(self, user: str, relation: str, chunk: list[str], object_type: str) -> dict[str, bool] | None:
        checks = [{"tuple_key": {"user": user, "relation": relation, "object": f"{object_type}:{object_id}"},
                   "correlation_id": f"c{position}"} for position, object_id in enumerate(chunk)]
        try:
            answer = self._post("batch-check", {"checks": checks})
        except _MissingRoute:
            with self._lock:
                self._batch_check = False  # an OpenFGA before 1.8: Check per object from now on
            return None
        results = answer.get("result")
        if not isinstance(results, dict):
            raise FgaUnavailable("OpenFGA batch-check answered without a result map")
        decisions = {}
        for position, object_id in enumerate(chunk):
            item = results.get(f"c{position}")
            if not isinstance(item, dict) or item.get("error") or not isinstance(item.get("allowed", False), bool):
                raise FgaUnavailable(f"OpenFGA batch-check gave no decision for {object_type}:{object_id}")
            decisions[object_id] = bool(item.get("allowed", False))
        return decisions

    def _post(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._model_id:
            body = {**body, "authorization_model_id": self._model_id}
        try:
            response = self._http.post(f"{self._base}/{route}", json=body, headers=self._headers,
                                       timeout=self._timeout)
        except httpx.HTTPError as error:
            raise FgaUnavailable(f"OpenFGA {route} failed: {type(error).__name__}") from None
        if route == "batch-check" and response.status_code in (404, 501) and not _is_fga_error(response):
            raise _MissingRoute()
        if response.status_code != 200:
            raise FgaUnavailable(f"OpenFGA {route} answered {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            raise FgaUnavailable(f"OpenFGA {route} answered something other than JSON") from None
        if not isinstance(answer, dict):
            raise FgaUnavailable(f"OpenFGA {route} answered something other than an object")
        return answer


class _MissingRoute(Exception):
    pass


def _is_fga_error(response: httpx.Response) -> bool:
    """A 404 that OpenFGA itself wrote about a store or model (`{"code": "store_id_not_found", ...}`) is a real
    failure, not a missing route."""
    try:
        body = response.json()
    except ValueError:
        return False
    code = body.get("code") if isinstance(body, dict) else None
    return isinstance(code, str) and code not in ("undefined_endpoint", "unimplemented", "not_found", "5")


class OpenFgaClients:
    """Builds OpenFgaClient objects for AccessControl (its `client_factory`): one shared HTTP connection pool for
    every OpenFGA endpoint a namespace names."""

    def __init__(self, timeout_s: float = 5.0) -> None:
        self._timeout_s = timeout_s
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()

    def __call__(self, config: dict, token: str | None) -> OpenFgaClient:
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(timeout=self._timeout_s)
        return OpenFgaClient(config["api_url"], config["store_id"], model_id=config.get("model_id"), token=token,
                             http=self._http)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
