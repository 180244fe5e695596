"""Document-level access control: the OpenFGA client against a small OpenFGA-protocol server on loopback, each mode's
plan, the decision cache, fail-closed cases, and the authorization config rules."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from openpeek.adapters.openfga import FgaUnavailable, OpenFgaClient, OpenFgaClients
from openpeek.domain.errors import BadRequest, DependencyFailed
from openpeek.domain.infrastructure import check_authorization
from openpeek.domain.namespace import Namespace
from openpeek.domain.conditions import Filter, HasIds, MatchValue
from openpeek.domain.vectors import ScoredPoint, SearchRequest
from openpeek.services.access_control import (
    AccessControl,
    NothingVisible,
    PostCheck,
    PreFilter,
    env_secret,
    push_condition,
)

STORE = "01STORE"
MODEL = "01MODEL"


# --------------------------------------------------------------------------------------------------------------------
# A fake OpenFGA: list-objects / check / batch-check over an in-memory tuple set, checking each request's shape
# --------------------------------------------------------------------------------------------------------------------


class FakeFga:
    """OpenFGA's HTTP protocol on 127.0.0.1, answering from `tuples` {(user, relation, object)}. `requests` logs
    (route, body, authorization header); `problems` lists every malformed request (tests assert it stays empty).
    `batch_check=False` answers 404 on /batch-check like an OpenFGA before 1.8; `down=True` answers 500."""

    def __init__(self, tuples: set[tuple[str, str, str]] | None = None, *, token: str | None = None,
                 model_id: str | None = None) -> None:
        self.tuples = set(tuples or ())
        self.token = token
        self.model_id = model_id
        self.requests: list[tuple[str, dict, str | None]] = []
        self.problems: list[str] = []
        self.batch_check = True
        self.down = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = None
                status, answer = fake.answer(self.path, body, self.headers.get("Authorization"))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls(self, route: str | None = None) -> list[tuple[str, dict, str | None]]:
        return [r for r in self.requests if route is None or r[0] == route]

    def answer(self, path: str, body: Any, authorization: str | None) -> tuple[int, dict]:
        prefix = f"/stores/{STORE}/"
        route = path[len(prefix):] if path.startswith(prefix) else path
        self.requests.append((route, body, authorization))
        if self.down:
            return 500, {"code": "internal_error", "message": "down"}
        if not path.startswith(prefix):
            return 404, {"code": "store_id_not_found", "message": "no such store"}
        if self.token is not None and authorization != f"Bearer {self.token}":
            return 401, {"code": "unauthenticated", "message": "bad token"}
        if not isinstance(body, dict):
            self.problems.append(f"{route}: body is not a JSON object")
            return 400, {"code": "validation_error"}
        if self.model_id is not None and body.get("authorization_model_id") != self.model_id:
            self.problems.append(f"{route}: authorization_model_id {body.get('authorization_model_id')!r}")
        if route == "list-objects":
            if set(body) - {"type", "relation", "user", "authorization_model_id"} or not all(
                    isinstance(body.get(k), str) for k in ("type", "relation", "user")):
                self.problems.append(f"list-objects: {body}")
                return 400, {"code": "validation_error"}
            objects = sorted(o for u, r, o in self.tuples
                             if u == body["user"] and r == body["relation"] and o.startswith(body["type"] + ":"))
            return 200, {"objects": objects}
        if route == "check":
            key = body.get("tuple_key")
            if not self._tuple_key_ok(key) or set(body) - {"tuple_key", "authorization_model_id"}:
                self.problems.append(f"check: {body}")
                return 400, {"code": "validation_error"}
            return 200, {"allowed": (key["user"], key["relation"], key["object"]) in self.tuples, "resolution": ""}
        if route == "batch-check":
            if not self.batch_check:
                return 404, {"code": 5, "message": "Not Found"}
            checks = body.get("checks")
            if not isinstance(checks, list) or not 1 <= len(checks) <= 50:
                self.problems.append(f"batch-check: {len(checks) if isinstance(checks, list) else checks} checks")
                return 400, {"code": "validation_error"}
            result = {}
            for item in checks:
                correlation = item.get("correlation_id")
                if not self._tuple_key_ok(item.get("tuple_key")) or not isinstance(correlation, str) \
                        or correlation in result:
                    self.problems.append(f"batch-check item: {item}")
                    return 400, {"code": "validation_error"}
                key = item["tuple_key"]
                result[correlation] = {"allowed": (key["user"], key["relation"], key["object"]) in self.tuples}
            return 200, {"result": result}
        return 404, {"code": 5, "message": "Not Found"}

    @staticmethod
    def _tuple_key_ok(key: Any) -> bool:
        return isinstance(key, dict) and set(key) == {"user", "relation", "object"} and all(
            isinstance(v, str) and ":" in v for k, v in key.items() if k != "relation")


@pytest.fixture
def fga():
    server = FakeFga({("user:alice", "viewer", f"document:d{i}") for i in (1, 3, 5)}
                     | {("user:bob", "viewer", "document:d2"), ("user:alice", "editor", "document:d7"),
                        ("user:alice", "viewer", "folder:d8")})
    yield server
    assert server.problems == []
    server.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def namespace(**authorization: Any) -> Namespace:
    config = {"enabled": True, **authorization} if authorization else None
    return Namespace(namespace_id="ns_1", namespace_name="acme-docs", org_id="org_1",
                     infrastructure={"authorization": config} if config else {"compute_tier": "shared"})


def pull(fga: FakeFga, mode: str, **more: Any) -> Namespace:
    return namespace(mode=mode, api_url=fga.url, store_id=STORE, **more)


def fake_store(count: int = 20):
    """A search over documents d0..d{count-1}, best first; records each limit it was asked for."""
    asked: list[int] = []

    def run(requests):
        results = []
        for request in requests:
            asked.append(request.limit)
            results.append([ScoredPoint(f"d{i}", 1 - i / 100) for i in range(min(count, request.limit))])
        return results

    return run, asked


def request(limit: int = 3, filter: Filter | None = None) -> SearchRequest:
    return SearchRequest(vector_name="emb", vector=[1.0, 0.0], limit=limit, filter=filter)


# --------------------------------------------------------------------------------------------------------------------
# The OpenFGA client
# --------------------------------------------------------------------------------------------------------------------


def test_client_speaks_list_objects_check_and_batch_check(fga):
    fga.token, fga.model_id = "tok", MODEL
    client = OpenFgaClient(fga.url, STORE, model_id=MODEL, token="tok")
    assert sorted(client.list_objects(user="user:alice", relation="viewer", object_type="document")) == \
        ["d1", "d3", "d5"]
    assert client.check(user="user:alice", relation="viewer", object_id="d3", object_type="document") is True
    assert client.check(user="user:alice", relation="viewer", object_id="d2", object_type="document") is False
    ids = [f"d{i}" for i in range(120)]
    decisions = client.check_many(user="user:alice", relation="viewer", object_ids=ids, object_type="document")
    assert {i for i, ok in decisions.items() if ok} == {"d1", "d3", "d5"} and len(decisions) == 120
    assert len(fga.calls("batch-check")) == 3  # chunks of 50
    assert all(auth == "Bearer tok" for _, _, auth in fga.requests)
    assert fga.calls("list-objects")[0][1] == {"type": "document", "relation": "viewer", "user": "user:alice",
                                               "authorization_model_id": MODEL}


def test_client_falls_back_to_check_where_batch_check_is_missing(fga):
    fga.batch_check = False
    client = OpenFgaClient(fga.url, STORE)
    decisions = client.check_many(user="user:bob", relation="viewer", object_ids=["d1", "d2"], object_type="document")
    assert decisions == {"d1": False, "d2": True}
    assert len(fga.calls("batch-check")) == 1 and len(fga.calls("check")) == 2
    client.check_many(user="user:bob", relation="viewer", object_ids=["d3"], object_type="document")
    assert len(fga.calls("batch-check")) == 1  # remembered: not asked again


def test_client_reports_every_failure_as_unavailable(fga):
    client = OpenFgaClient(fga.url, STORE)
    fga.down = True
    with pytest.raises(FgaUnavailable):
        client.list_objects(user="user:a", relation="viewer", object_type="document")
    with pytest.raises(FgaUnavailable):
        client.check_many(user="user:a", relation="viewer", object_ids=["d1"], object_type="document")
    with pytest.raises(FgaUnavailable):  # a store OpenFGA does not know is a failure, not "no batch-check"
        OpenFgaClient(fga.url, "other").check_many(user="user:a", relation="viewer", object_ids=["d1"],
                                                   object_type="document")
    with pytest.raises(FgaUnavailable):  # nothing listens there
        OpenFgaClient("http://127.0.0.1:9", STORE, timeout_s=1).check(user="user:a", relation="viewer",
                                                                     object_id="d1", object_type="document")


# --------------------------------------------------------------------------------------------------------------------
# Plans per mode
# --------------------------------------------------------------------------------------------------------------------


def test_disabled_namespace_gets_no_plan_and_no_call(fga):
    access = AccessControl(client_factory=OpenFgaClients())
    assert access.plan(namespace(), "alice") is None
    disabled = Namespace(namespace_id="ns_1", namespace_name="x", org_id="o",
                         infrastructure={"authorization": {"enabled": False, "api_url": fga.url, "store_id": STORE}})
    assert access.plan(disabled, "alice") is None
    assert fga.requests == []


def test_push_filters_on_public_or_subject_in_read():
    access = AccessControl(client_factory=OpenFgaClients())
    plan = access.plan(namespace(mode="push"), "alice")
    assert isinstance(plan, PreFilter)
    assert plan.condition == Filter(should=(MatchValue("_internal._acl.public", True),
                                            MatchValue("_internal._acl.read", "alice")))
    assert access.plan(namespace(mode="push"), None).condition == Filter(
        must=(MatchValue("_internal._acl.public", True),))
    assert access.plan(namespace(mode="push"), "   ").condition == push_condition(None)
    seen = []
    existing = Filter(must=(MatchValue("category", "a"),))
    plan.query(lambda requests: seen.extend(requests) or [[]], [request(filter=existing)])
    assert seen[0].filter == Filter(must=(existing, plan.condition)) and seen[0].limit == 3


def test_list_objects_becomes_a_document_id_prefilter(fga):
    access = AccessControl(client_factory=OpenFgaClients())
    plan = access.plan(pull(fga, "pull_list_objects"), "alice")
    assert isinstance(plan, PreFilter) and plan.condition == HasIds(("d1", "d3", "d5"))
    seen = []
    plan.query(lambda requests: seen.extend(requests) or [[]], [request()])
    assert seen[0].filter == Filter(must=(HasIds(("d1", "d3", "d5")),))
    assert fga.calls("list-objects")[0][1] == {"type": "document", "relation": "viewer", "user": "user:alice"}


def test_custom_types_and_relation_are_sent(fga):
    fga.tuples.add(("member:carol", "reader", "doc:x1"))
    plan = AccessControl(client_factory=OpenFgaClients()).plan(pull(fga, "pull_list_objects", user_type="member", relation="reader",
                                     object_type="doc"), "carol")
    assert plan.condition == HasIds(("x1",))


def test_pull_modes_without_subject_or_grant_find_nothing_and_skip_the_store(fga):
    access = AccessControl(client_factory=OpenFgaClients())
    for mode in ("pull_list_objects", "pull_batch_check", "auto"):
        assert isinstance(access.plan(pull(fga, mode), None), NothingVisible)
    assert fga.requests == []  # no subject: not even a question to OpenFGA
    nothing = access.plan(pull(fga, "pull_list_objects"), "nobody")
    assert isinstance(nothing, NothingVisible)
    assert nothing.query(lambda requests: pytest.fail("the store was asked"), [request(), request()]) == [[], []]


def test_batch_check_overfetches_and_keeps_the_page_full(fga):
    fga.tuples |= {("user:dave", "viewer", f"document:d{i}") for i in (0, 2, 4, 6, 8, 9)}
    plan = AccessControl(client_factory=OpenFgaClients()).plan(pull(fga, "pull_batch_check", over_fetch_factor=2), "dave")
    assert isinstance(plan, PostCheck)
    run, asked = fake_store()
    [hits] = plan.query(run, [request(limit=3)])
    assert [h.id for h in hits] == ["d0", "d2", "d4"]
    assert asked == [6] and plan.rounds == 0


def test_batch_check_fetches_again_when_too_few_remain(fga):
    fga.tuples |= {("user:erin", "viewer", f"document:d{i}") for i in (1, 15, 17, 30)}
    plan = AccessControl(client_factory=OpenFgaClients()).plan(pull(fga, "pull_batch_check", over_fetch_factor=2), "erin")
    run, asked = fake_store(count=40)
    [hits] = plan.query(run, [request(limit=3)])
    assert [h.id for h in hits] == ["d1", "d15", "d17"]
    assert asked == [6, 12, 24]  # over-fetched, then twice as many each round until the page was full
    checked = [item["tuple_key"]["object"] for _, body, _ in fga.calls("batch-check") for item in body["checks"]]
    assert len(checked) == len(set(checked)) == 24  # each document checked once (decisions cached)


def test_batch_check_stops_when_the_store_has_no_more_and_after_a_bounded_number_of_rounds(fga):
    plan = AccessControl(client_factory=OpenFgaClients()).plan(pull(fga, "pull_batch_check"), "bob")
    run, asked = fake_store(count=5)
    assert [[h.id for h in hits] for hits in plan.query(run, [request(limit=3)])] == [["d2"]]
    assert asked == [6]  # the store gave 5 < 6: there is nothing more to fetch
    plan = AccessControl(client_factory=OpenFgaClients()).plan(pull(fga, "pull_batch_check"), "nobody")
    run, asked = fake_store(count=10_000)
    assert plan.query(run, [request(limit=10)]) == [[]]
    assert asked == [20, 40, 80, 160]


def test_batch_check_without_batch_route_uses_check_per_id(fga):
    fga.batch_check = False
    plan = AccessControl(client_factory=OpenFgaClients()).plan(pull(fga, "pull_batch_check"), "alice")
    run, _ = fake_store()
    [hits] = plan.query(run, [request(limit=2)])
    assert [h.id for h in hits] == ["d1", "d3"]
    assert len(fga.calls("check")) >= 4


def test_auto_uses_list_objects_under_the_cap_and_batch_check_at_it(fga):
    access = AccessControl(client_factory=OpenFgaClients())
    plan = access.plan(pull(fga, "auto", list_objects_max=4), "alice")
    assert plan.condition == HasIds(("d1", "d3", "d5"))
    plan = access.plan(pull(fga, "auto", list_objects_max=3), "alice")
    assert isinstance(plan, PostCheck)
    run, _ = fake_store()
    assert [h.id for h in plan.query(run, [request(limit=2)])[0]] == ["d1", "d3"]
    # pull_list_objects has no cap: its set is used as listed
    assert AccessControl(client_factory=OpenFgaClients()).plan(pull(fga, "pull_list_objects", list_objects_max=1), "alice").condition == \
        HasIds(("d1", "d3", "d5"))


# --------------------------------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------------------------------


def test_list_objects_cache_honours_the_ttl(fga):
    clock = Clock()
    access = AccessControl(clock=clock, client_factory=OpenFgaClients())
    ns = pull(fga, "pull_list_objects", cache_ttl_seconds=30)
    access.plan(ns, "alice")
    access.plan(ns, "alice")
    assert len(fga.calls("list-objects")) == 1  # within the TTL: no request
    access.plan(ns, "bob")
    assert len(fga.calls("list-objects")) == 2  # per subject
    clock.now += 31
    access.plan(ns, "alice")
    assert len(fga.calls("list-objects")) == 3  # after the TTL: asked again


def test_batch_check_decisions_are_cached_per_document(fga):
    clock = Clock()
    access = AccessControl(clock=clock, client_factory=OpenFgaClients())
    ns = pull(fga, "pull_batch_check", cache_ttl_seconds=10)
    run, _ = fake_store()
    access.plan(ns, "alice").query(run, [request(limit=2)])
    before = len(fga.requests)
    access.plan(ns, "alice").query(run, [request(limit=2)])
    assert len(fga.requests) == before
    fga.tuples.discard(("user:alice", "viewer", "document:d1"))
    clock.now += 11
    [hits] = access.plan(ns, "alice").query(run, [request(limit=2)])
    assert len(fga.requests) > before and [h.id for h in hits] == ["d3", "d5"]


def test_ttl_zero_turns_the_cache_off(fga):
    access = AccessControl(client_factory=OpenFgaClients())
    ns = pull(fga, "pull_list_objects", cache_ttl_seconds=0)
    access.plan(ns, "alice")
    access.plan(ns, "alice")
    assert len(fga.calls("list-objects")) == 2


def test_a_config_change_does_not_reuse_cached_decisions(fga):
    access = AccessControl(client_factory=OpenFgaClients())
    access.plan(pull(fga, "pull_list_objects"), "alice")
    assert access.plan(pull(fga, "pull_list_objects", relation="editor"), "alice").condition == HasIds(("d7",))
    assert len(fga.calls("list-objects")) == 2


# --------------------------------------------------------------------------------------------------------------------
# Fail-closed
# --------------------------------------------------------------------------------------------------------------------


def test_fga_down_is_a_503_never_unfiltered(fga):
    fga.down = True
    access = AccessControl(client_factory=OpenFgaClients())
    for mode in ("pull_list_objects", "auto"):
        with pytest.raises(DependencyFailed) as raised:
            access.plan(pull(fga, mode), "alice")
        assert raised.value.status == 503 and raised.value.code == "authorization_unavailable"
    plan = access.plan(pull(fga, "pull_batch_check"), "alice")
    run, _ = fake_store()
    with pytest.raises(DependencyFailed):
        plan.query(run, [request()])


def test_missing_endpoint_or_token_secret_fails_closed(fga, monkeypatch):
    ns = namespace(mode="pull_list_objects")  # not accepted by check_authorization; a stored config may still lack it
    with pytest.raises(DependencyFailed):
        AccessControl(client_factory=OpenFgaClients()).plan(ns, "alice")
    fga.token = "s3cret"
    secret = pull(fga, "pull_list_objects", api_token_secret_ref="fga-token")
    monkeypatch.delenv("OPENPEEK_SECRET_FGA_TOKEN", raising=False)
    with pytest.raises(DependencyFailed):
        AccessControl(client_factory=OpenFgaClients()).plan(secret, "alice")
    assert fga.requests == []
    monkeypatch.setenv("OPENPEEK_SECRET_FGA_TOKEN", "s3cret")
    assert env_secret("fga-token") == "s3cret"
    assert AccessControl(client_factory=OpenFgaClients()).plan(secret, "alice").condition == HasIds(("d1", "d3", "d5"))
    assert fga.requests[-1][2] == "Bearer s3cret"
    reader = AccessControl(secrets=lambda org_id, ref: {"fga-token": "s3cret"}.get(ref), client_factory=OpenFgaClients())
    assert reader.plan(secret, "alice").condition == HasIds(("d1", "d3", "d5"))
    wrong = AccessControl(secrets=lambda org_id, ref: "wrong", client_factory=OpenFgaClients())
    with pytest.raises(DependencyFailed):  # OpenFGA refuses the token: 401 → 503
        wrong.plan(secret, "alice")


def test_plaintext_token_is_sent_as_bearer(fga):
    fga.token = "dev"
    assert AccessControl(client_factory=OpenFgaClients()).plan(pull(fga, "pull_list_objects", api_token="dev"), "alice").condition == \
        HasIds(("d1", "d3", "d5"))
    assert fga.requests[-1][2] == "Bearer dev"


def test_malformed_subject_is_a_400():
    for bad in ("user:alice", "a b", "a#b", "x" * 257):
        with pytest.raises(BadRequest):
            AccessControl(client_factory=OpenFgaClients()).plan(namespace(mode="push"), bad)


# --------------------------------------------------------------------------------------------------------------------
# Config rules
# --------------------------------------------------------------------------------------------------------------------


def test_push_mode_needs_no_endpoint_but_pull_modes_do():
    assert check_authorization({"enabled": True, "mode": "push"}) == {"enabled": True, "mode": "push"}
    for mode in ("pull_list_objects", "pull_batch_check", "auto", None):
        with pytest.raises(BadRequest):
            check_authorization({"enabled": True, "mode": mode, "api_url": "http://localhost:8080"})


def test_plaintext_token_only_for_a_local_openfga():
    base = {"enabled": True, "store_id": "s", "api_token": "t"}
    for url in ("http://localhost:8080", "http://fga.internal:8080", "https://127.0.0.1:8443"):
        assert check_authorization({**base, "api_url": url})["api_url"] == url
    for mode in ("auto", "push"):
        with pytest.raises(BadRequest):
            check_authorization({**base, "mode": mode, "api_url": "https://fga.example.com"})
    with pytest.raises(BadRequest):  # push without an endpoint: a token has nowhere local to go
        check_authorization({"enabled": True, "mode": "push", "api_token": "t"})
    assert check_authorization({**base, "api_url": "https://fga.example.com", "api_token": None,
                                "api_token_secret_ref": "ref"})["api_token_secret_ref"] == "ref"


def test_the_token_secret_is_read_once_per_ttl_not_per_execution(fga):
    fga.token = "s3cret"
    reads = []
    clock = Clock()
    access = AccessControl(secrets=lambda org_id, ref: reads.append(ref) or "s3cret", clock=clock,
                           client_factory=OpenFgaClients())
    ns = pull(fga, "pull_list_objects", api_token_secret_ref="fga-token", cache_ttl_seconds=0)
    for _ in range(3):
        assert access.plan(ns, "alice").condition == HasIds(("d1", "d3", "d5"))
    assert reads == ["fga-token"] and len(fga.calls("list-objects")) == 3
    clock.now += 301
    access.plan(ns, "alice")
    assert reads == ["fga-token", "fga-token"]
