"""Document-level access control at retrieval (seed 000's NamespaceAuthorizationConfig, seed 003's document ACLs).

A namespace opts in with `infrastructure.authorization.enabled`; without it nothing here runs (no filter, no call).
For an enabled namespace, `AccessControl.plan(namespace, subject)` decides once per execution how its searches are
restricted, and `AccessPlan.query` runs them:

- push: every search also needs `_internal._acl.public` true or the subject in `_internal._acl.read` (the ACL stored
  with the document, PATCH .../acl). No subject: public documents only. A document without an ACL matches neither.
- pull_list_objects: OpenFGA ListObjects(user "<user_type>:<subject>", relation, object_type) → a document-id
  pre-filter (HasIds).
- pull_batch_check: each search fetches top_k × over_fetch_factor, OpenFGA checks the hits (BatchCheck, or Check per
  id on an OpenFGA without it), the allowed ones stay; when too few remain and the store had more, it fetches again,
  larger, a bounded number of times.
- auto: ListObjects; when it returns list_objects_max objects or more, batch-check post-filtering instead.

Fail-closed throughout: a pull mode without a subject finds nothing; an OpenFGA failure is a 503 (DependencyFailed),
never unfiltered results. Decisions are cached per (namespace, config, subject) for cache_ttl_seconds (0: off).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from openpeek.domain.errors import BadRequest, DependencyFailed
from openpeek.domain.namespace import Namespace
from openpeek.domain.conditions import Filter, HasIds, MatchValue
from openpeek.domain.vectors import ScoredPoint, SearchRequest
from openpeek.ports import Authorizer, AuthorizerFactory

ACL_PUBLIC_KEY = "_internal._acl.public"
ACL_READ_KEY = "_internal._acl.read"
MAX_SUBJECT_LENGTH = 256
MAX_REFETCH_ROUNDS = 3  # batch-check: further, larger fetches when too few hits survive the check
MAX_FETCH = 1000  # the most hits one search asks the store for while post-filtering (the API's MAX_TOP_K)
MAX_CACHED_SUBJECTS = 10_000
MAX_CACHED_DECISIONS = 100_000
TOKEN_TTL_S = 300  # a secret read (Secrets Manager in AWS) is reused this long
DEFAULTS: dict[str, Any] = {"mode": "auto", "object_type": "document", "relation": "viewer", "user_type": "user",
                            "list_objects_max": 1000, "over_fetch_factor": 2, "cache_ttl_seconds": 30}

SecretReader = Callable[[str, str], "str | None"]  # (organisation id, secret name) → its value
RunQuery = Callable[[Sequence[SearchRequest]], list[list[ScoredPoint]]]


def env_secret(ref: str) -> str | None:
    """The embedded runtime's secret store: environment variable OPENPEEK_SECRET_<REF> (REF upper-cased, anything
    but letters and digits as `_`)."""
    return os.environ.get("OPENPEEK_SECRET_" + re.sub(r"[^A-Za-z0-9]", "_", ref).upper()) or None


def authorization_config(namespace: Namespace) -> dict[str, Any] | None:
    """The namespace's authorization config with defaults filled in, or None when enforcement is off."""
    config = (namespace.infrastructure or {}).get("authorization")
    if not isinstance(config, dict) or not config.get("enabled"):
        return None
    return {**DEFAULTS, **{key: value for key, value in config.items() if value is not None}}


def _unavailable(message: str) -> DependencyFailed:
    return DependencyFailed(message, code="authorization_unavailable", details={"provider": "openfga"})


# --------------------------------------------------------------------------------------------------------------------
# Per-execution plans
# --------------------------------------------------------------------------------------------------------------------


class AccessPlan(ABC):
    """How one execution's searches are restricted. `query(run, requests)` stands in for `vectors.query`."""

    @abstractmethod
    def query(self, run: RunQuery, requests: Sequence[SearchRequest]) -> list[list[ScoredPoint]]:
        """The searches' results, with only what the subject may read."""


@dataclass
class NothingVisible(AccessPlan):
    """Fail-closed: the subject may see nothing (no subject in a pull mode, or an empty grant). The store is not
    asked."""

    reason: str = ""

    def query(self, run: RunQuery, requests: Sequence[SearchRequest]) -> list[list[ScoredPoint]]:
        return [[] for _ in requests]


@dataclass
class PreFilter(AccessPlan):
    """push and pull_list_objects: a condition every search must also meet, applied by the store."""

    condition: Filter | HasIds

    def query(self, run: RunQuery, requests: Sequence[SearchRequest]) -> list[list[ScoredPoint]]:
        return run([replace(r, filter=_and(r.filter, self.condition)) for r in requests])


@dataclass
class PostCheck(AccessPlan):
    """pull_batch_check: over-fetch, check the hits, keep the allowed ones; fetch again (bounded) when too few
    remain. `allowed(ids)` gives the allowed subset of ids."""

    allowed: Callable[[list[str]], set[str]]
    over_fetch_factor: int
    rounds: int = field(default=0)  # further fetches done (for tests and statistics)

    def query(self, run: RunQuery, requests: Sequence[SearchRequest]) -> list[list[ScoredPoint]]:
        wanted = [r.limit for r in requests]
        limits = [_bounded(r.limit * self.over_fetch_factor, r.limit) for r in requests]
        kept: list[list[ScoredPoint]] = [[] for _ in requests]
        pending = list(range(len(requests)))
        round_ = 0
        while pending:
            answers = run([replace(requests[i], limit=limits[i]) for i in pending])
            allowed = self.allowed(list(dict.fromkeys(hit.id for hits in answers for hit in hits)))
            again = []
            for i, hits in zip(pending, answers):
                kept[i] = [hit for hit in hits if hit.id in allowed]
                more_in_store = len(hits) >= limits[i] and limits[i] < MAX_FETCH
                if len(kept[i]) < wanted[i] and more_in_store and round_ < MAX_REFETCH_ROUNDS:
                    limits[i] = _bounded(limits[i] * max(2, self.over_fetch_factor), wanted[i])
                    again.append(i)
            pending = again
            round_ += 1 if again else 0
        self.rounds = round_
        return [hits[: wanted[i]] for i, hits in enumerate(kept)]


def _bounded(limit: int, wanted: int) -> int:
    return max(wanted, min(limit, MAX_FETCH))


def _and(existing: Filter | None, condition: Filter | HasIds) -> Filter:
    if existing is None:
        return condition if isinstance(condition, Filter) else Filter(must=(condition,))
    return Filter(must=(existing, condition))


def push_condition(subject: str | None) -> Filter:
    """public is true OR subject in _acl.read; without a subject, public only. A document without an ACL has
    neither field and is excluded."""
    public = MatchValue(ACL_PUBLIC_KEY, True)
    if subject is None:
        return Filter(must=(public,))
    return Filter(should=(public, MatchValue(ACL_READ_KEY, subject)))


# --------------------------------------------------------------------------------------------------------------------
# The service
# --------------------------------------------------------------------------------------------------------------------


class _TtlCache:
    """A bounded map whose entries expire; thread-safe."""

    def __init__(self, capacity: int, clock: Callable[[], float]) -> None:
        self._entries: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._capacity = capacity
        self._clock = clock
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: Any, value: Any, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            self._entries[key] = (self._clock() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_TOO_MANY = object()  # auto mode: ListObjects reached list_objects_max, so this subject is post-checked


class AccessControl:
    """Builds each execution's AccessPlan from the namespace's authorization config.

    `secrets` reads api_token_secret_ref as a secret of the namespace's own organisation (the runtime wires its
    organisation secret reader; by default, `env_secret`).
    `client_factory(config, token)` builds the Authorizer (the runtime passes adapters.openfga.OpenFgaClients;
    without one, the pull modes answer 503)."""

    def __init__(self, secrets: SecretReader | None = lambda org_id, name: env_secret(name), *,
                 client_factory: AuthorizerFactory | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._secrets = secrets
        self._client_factory = client_factory
        self._clients: dict[tuple, Authorizer] = {}
        self._lock = threading.Lock()
        self._listed = _TtlCache(MAX_CACHED_SUBJECTS, clock)  # (scope, subject) → frozenset of ids | _TOO_MANY
        self._decisions = _TtlCache(MAX_CACHED_DECISIONS, clock)  # (scope, subject, id) → bool
        self._tokens = _TtlCache(256, clock)  # (organisation, secret ref) → token

    def plan(self, namespace: Namespace, subject: str | None) -> AccessPlan | None:
        """None when the namespace does not enforce authorization (then nothing changes)."""
        config = authorization_config(namespace)
        if config is None:
            return None
        subject = check_subject(subject)
        mode = config["mode"]
        if mode == "push":
            return PreFilter(push_condition(subject))
        if subject is None:
            return NothingVisible("no acting subject (X-Acting-Subject)")
        scope = _scope(namespace, config)
        org_id = namespace.org_id
        if mode == "pull_batch_check":
            return self._post_check(config, scope, subject, org_id)
        listed = self._list(config, scope, subject, org_id)
        if listed is _TOO_MANY:
            if mode == "auto":
                return self._post_check(config, scope, subject, org_id)
            raise AssertionError("pull_list_objects never records _TOO_MANY")
        if not listed:
            return NothingVisible("no document is granted to this subject")
        return PreFilter(HasIds(tuple(sorted(listed))))

    def clear_cache(self) -> None:
        self._listed.clear()
        self._decisions.clear()

    # -- ListObjects ------------------------------------------------------------------------------------------------

    def _list(self, config: dict[str, Any], scope: tuple, subject: str, org_id: str) -> Any:
        key = (scope, subject)
        cached = self._listed.get(key) if config["cache_ttl_seconds"] > 0 else None  # 0: the cache is off
        if cached is not None:
            return cached
        client = self._client(config, org_id)
        try:
            objects = client.list_objects(user=_user(config, subject), relation=config["relation"],
                                          object_type=config["object_type"])
        except Exception as error:  # noqa: BLE001 — any failure of the provider: fail closed
            raise _unavailable(f"authorization provider failed: {error}") from None
        if config["mode"] == "auto" and len(objects) >= config["list_objects_max"]:
            value: Any = _TOO_MANY
        else:
            value = frozenset(objects)
        self._listed.put(key, value, config["cache_ttl_seconds"])
        return value

    # -- Check / BatchCheck -----------------------------------------------------------------------------------------

    def _post_check(self, config: dict[str, Any], scope: tuple, subject: str, org_id: str) -> PostCheck:
        ttl = config["cache_ttl_seconds"]

        def allowed(ids: list[str]) -> set[str]:
            decided: dict[str, bool] = {}
            unknown = []
            for document_id in ids:
                cached = self._decisions.get((scope, subject, document_id)) if ttl > 0 else None
                if cached is None:
                    unknown.append(document_id)
                else:
                    decided[document_id] = cached
            if unknown:
                client = self._client(config, org_id)
                try:
                    fresh = client.check_many(user=_user(config, subject), relation=config["relation"],
                                              object_ids=unknown, object_type=config["object_type"])
                except Exception as error:  # noqa: BLE001 — fail closed
                    raise _unavailable(f"authorization provider failed: {error}") from None
                for document_id in unknown:
                    verdict = bool(fresh.get(document_id, False))
                    decided[document_id] = verdict
                    self._decisions.put((scope, subject, document_id), verdict, ttl)
            return {document_id for document_id, verdict in decided.items() if verdict}

        return PostCheck(allowed, max(1, int(config["over_fetch_factor"])))

    # -- the client -------------------------------------------------------------------------------------------------

    def _client(self, config: dict[str, Any], org_id: str) -> Authorizer:
        token = self._token(config, org_id)
        key = (config.get("api_url"), config.get("store_id"), config.get("model_id"), token)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                if not config.get("api_url") or not config.get("store_id"):
                    raise _unavailable("authorization needs api_url and store_id for this mode")
                if self._client_factory is None:
                    raise _unavailable("no OpenFGA client is configured in this deployment")
                client = self._client_factory(config, token)
                if len(self._clients) > 64:
                    self._clients.clear()
                self._clients[key] = client
            return client

    def _token(self, config: dict[str, Any], org_id: str) -> str | None:
        """The OpenFGA token: given inline, or named by api_token_secret_ref — a secret of the namespace's own
        organisation, never another's."""
        if config.get("api_token"):
            return config["api_token"]
        ref = config.get("api_token_secret_ref")
        if not ref:
            return None
        token = self._tokens.get((org_id, ref))
        if token is not None:
            return token
        try:
            token = self._secrets(org_id, ref) if self._secrets is not None else None
        except Exception:  # noqa: BLE001 — the secret store failed: fail closed
            token = None
        if not token:
            raise _unavailable(f"the OpenFGA token secret '{ref}' could not be read")
        self._tokens.put((org_id, ref), token, TOKEN_TTL_S)
        return token

    def close(self) -> None:
        close = getattr(self._client_factory, "close", None)
        if close is not None:
            close()


def _scope(namespace: Namespace, config: dict[str, Any]) -> tuple:
    """What a cached decision depends on: the namespace and the parts of its config that change the answer."""
    return (namespace.namespace_id, config.get("api_url"), config.get("store_id"), config.get("model_id"),
            config["object_type"], config["relation"], config["user_type"], config["mode"],
            config["list_objects_max"])


def _user(config: dict[str, Any], subject: str) -> str:
    return f"{config['user_type']}:{subject}"


def check_subject(subject: str | None) -> str | None:
    """The acting subject as given in X-Acting-Subject: None when absent or blank; 400 when it could not be an
    OpenFGA user id (whitespace, control characters, '#' or ':', or longer than 256 characters)."""
    if subject is None or not subject.strip():
        return None
    subject = subject.strip()
    if len(subject) > MAX_SUBJECT_LENGTH or re.search(r"[\s#:\x00-\x1f\x7f]", subject):
        raise BadRequest("X-Acting-Subject must be a principal id of at most 256 characters without whitespace, "
                         "'#' or ':'", code="invalid_acting_subject")
    return subject
