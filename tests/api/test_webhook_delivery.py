"""Webhook delivery to a real HTTP receiver on loopback: signature, payload and headers, the SQS contract (a failed
attempt raises, a retry re-sends only what failed), the embedded dispatcher's retries and dead letters, the delivery
log, and the URL rules at delivery time (DNS rebinding, pinned address)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi.testclient import TestClient

from openpeek.embedded.webhook_dispatcher import LocalWebhookDispatcher
from openpeek.api.app import create_app
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.events import DomainEvent
from openpeek.services.organizations import Principal
from openpeek.services.webhook_delivery import WebhookDeliveryFailed, normalize_event, verify_signature
from openpeek.adapters.webhook_sender import HttpxWebhookSender
from openpeek.services.webhooks import build_webhooks


class Receiver:
    """http.server on 127.0.0.1 answering the scripted statuses in turn (the last one repeats)."""

    def __init__(self, statuses=(200,), delay_s: float = 0.0, headers: dict | None = None) -> None:
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        self.delay_s = delay_s
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                index = min(len(receiver.requests), len(receiver.statuses)) - 1
                self.send_response(receiver.statuses[index])
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(*args, **kwargs) -> Receiver:
        made.append(Receiver(*args, **kwargs))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def wired(services):
    # The runtime's own dispatcher would deliver every event too: these tests drive their own.
    services.webhook_dispatcher.stop()
    services.webhook_dispatcher = None
    return services


@pytest.fixture
def api(wired):
    return TestClient(create_app(wired), raise_server_exceptions=False)


@pytest.fixture
def org(tenant):
    return Principal(tenant.org_id, "test")


def make_webhook(wired, org, url, events=("document.created",), **fields):
    return wired.webhooks.create(org, {"webhook_name": fields.pop("webhook_name", "hook"), "url": url,
                                       "events": list(events), **fields})


def event(org, type_="document.created", namespace_id="ns_1", **data) -> DomainEvent:
    return DomainEvent(type=type_, org_id=org.org_id, namespace_id=namespace_id,
                       data={"document_id": "doc_1", **data}, occurred_at=isoformat(utcnow()))


def eventbridge(domain_event: DomainEvent, event_id: str = "6a7e8feb-b491-4cf7-a9f1-bf3703467718") -> dict:
    """What the SQS record body holds: the EventBridge event, as EventBridgeBus publishes it."""
    return {"version": "0", "id": event_id, "detail-type": domain_event.type, "source": "openpeek",
            "account": "123456789012", "time": domain_event.occurred_at, "region": "us-east-1", "resources": [],
            "detail": json.loads(json.dumps(dataclasses.asdict(domain_event)))}


def log(api, tenant, webhook_id):
    response = api.get(f"/v1/organizations/webhooks/{webhook_id}/deliveries", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["results"]


# -- one synchronous delivery (the SQS Lambda's path) ------------------------------------------------------------------


def test_delivers_signed_json_to_a_real_receiver(wired, org, receivers, api, tenant):
    receiver = receivers()
    webhook = make_webhook(wired, org, receiver.url, headers={"Authorization": "Bearer receiver-token"})
    domain_event = event(org, title="hello ✓")
    body = json.loads(json.dumps(eventbridge(domain_event)))  # exactly what json.loads(record["body"]) gives
    results = wired.webhook_delivery.deliver(body)
    assert [(r.ok, r.status_code, r.attempt) for r in results] == [(True, 200, 1)]

    [request] = receiver.requests
    headers = request["headers"]
    assert request["path"] == "/hook" and headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == "Bearer receiver-token"
    assert headers["X-Openpeek-Event"] == "document.created"
    assert headers["X-Openpeek-Delivery"] == results[0].delivery_id
    assert verify_signature(webhook.secret, headers["X-Openpeek-Signature"], request["body"])
    assert not verify_signature("whsec_wrong", headers["X-Openpeek-Signature"], request["body"])
    payload = json.loads(request["body"])
    assert payload == {"id": "evt_6a7e8feb-b491-4cf7-a9f1-bf3703467718", "type": "document.created",
                       "created_at": domain_event.occurred_at, "namespace_id": "ns_1",
                       "data": {"document_id": "doc_1", "title": "hello ✓"}}

    [entry] = log(api, tenant, webhook.webhook_id)
    assert entry["status"] == "delivered" and entry["status_code"] == 200 and entry["attempt"] == 1
    assert entry["event_type"] == "document.created" and entry["delivery_id"] == results[0].delivery_id
    assert entry["error"] is None and entry["started_at"] and entry["finished_at"]

    # SQS may deliver the record again: nothing is re-sent
    assert wired.webhook_delivery.deliver(body) == []
    assert len(receiver.requests) == 1


def test_only_subscribed_enabled_and_in_scope_webhooks_get_the_event(wired, org, receivers, tenant, api):
    receiver = receivers()
    ns_id = api.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "prod"}).json()["namespace_id"]
    make_webhook(wired, org, receiver.url + "?all", webhook_name="all")
    make_webhook(wired, org, receiver.url + "?prod", webhook_name="prod", namespace="prod")
    make_webhook(wired, org, receiver.url + "?off", webhook_name="off", is_active=False)
    make_webhook(wired, org, receiver.url + "?other", webhook_name="other", events=["document.deleted"])
    wired.webhook_delivery.deliver(event(org, namespace_id=ns_id))
    wired.webhook_delivery.deliver(event(org, namespace_id="ns_elsewhere"))
    assert sorted(r["path"] for r in receiver.requests) == ["/hook?all", "/hook?all", "/hook?prod"]
    # another organisation's event reaches none of them
    wired.webhook_delivery.deliver(event(Principal("org_other", "k")))
    assert len(receiver.requests) == 3


def test_a_failed_attempt_raises_and_a_retry_resends_only_what_failed(wired, org, receivers, api, tenant):
    flaky, steady = receivers(statuses=(500, 200)), receivers()
    bad = make_webhook(wired, org, flaky.url, webhook_name="flaky")
    good = make_webhook(wired, org, steady.url, webhook_name="steady")
    body = eventbridge(event(org))
    with pytest.raises(WebhookDeliveryFailed) as failed:
        wired.webhook_delivery.deliver(body)
    assert [(r.webhook_id, r.status_code) for r in failed.value.results] == [(bad.webhook_id, 500)]
    assert len(steady.requests) == 1
    # SQS redelivers the record: only the failed webhook is tried again, as attempt 2, with the same delivery id
    [retry] = wired.webhook_delivery.deliver(body)
    assert (retry.webhook_id, retry.attempt, retry.ok) == (bad.webhook_id, 2, True)
    assert len(steady.requests) == 1 and len(flaky.requests) == 2
    assert len({r["headers"]["X-Openpeek-Delivery"] for r in flaky.requests}) == 1
    entries = log(api, tenant, bad.webhook_id)
    assert [(e["attempt"], e["status"], e["status_code"]) for e in entries] == [(2, "delivered", 200),
                                                                                (1, "failed", 500)]
    assert entries[1]["error"] == "HTTP 500"
    assert [e["status"] for e in log(api, tenant, good.webhook_id)] == ["delivered"]


def test_timeouts_redirects_and_refused_connections_are_failures(wired, org, receivers, api, tenant):
    slow = receivers(delay_s=1.5)
    redirect = receivers(statuses=(302,), headers={"Location": "http://169.254.169.254/"})
    hooks = [
        wired.webhooks.create(org, {"webhook_name": "slow", "events": ["document.created"], "channels": [
            {"channel": "webhook", "configs": {"url": slow.url, "timeout": 0.3}}]}),
        make_webhook(wired, org, redirect.url, webhook_name="redirect"),
        make_webhook(wired, org, "http://127.0.0.1:9/closed", webhook_name="closed"),
    ]
    with pytest.raises(WebhookDeliveryFailed) as failed:
        wired.webhook_delivery.deliver(event(org))
    by_hook = {r.webhook_id: r for r in failed.value.results}
    assert "timeout" in by_hook[hooks[0].webhook_id].error
    assert by_hook[hooks[1].webhook_id].status_code == 302
    assert by_hook[hooks[2].webhook_id].status_code is None and "Connect" in by_hook[hooks[2].webhook_id].error
    assert len(redirect.requests) == 1  # the redirect was not followed
    assert log(api, tenant, hooks[2].webhook_id)[0]["status"] == "failed"


# -- the embedded dispatcher -------------------------------------------------------------------------------------------


def test_dispatcher_retries_after_500s_and_delivers_on_attempt_3(wired, org, receivers, api, tenant):
    receiver = receivers(statuses=(500, 500, 200))
    webhook = make_webhook(wired, org, receiver.url)
    with LocalWebhookDispatcher(wired.webhook_delivery, wired.events, max_attempts=5, base_delay_s=0.01,
                                jitter=0.1) as dispatcher:
        wired.events.publish(event(org))
        wired.events.publish(event(org, type_="namespace.created"))  # the webhook did not subscribe to it
        assert dispatcher.wait_idle(10)
    assert len(receiver.requests) == 3
    assert len({r["headers"]["X-Openpeek-Delivery"] for r in receiver.requests}) == 1
    for request in receiver.requests:
        assert verify_signature(webhook.secret, request["headers"]["X-Openpeek-Signature"], request["body"])
    entries = log(api, tenant, webhook.webhook_id)
    assert [(e["attempt"], e["status"], e["status_code"]) for e in entries] == [
        (3, "delivered", 200), (2, "failed", 500), (1, "failed", 500)]


def test_dispatcher_dead_letters_after_the_last_attempt(wired, org, receivers, api, tenant):
    receiver = receivers(statuses=(500,))
    webhook = make_webhook(wired, org, receiver.url)
    dispatcher = LocalWebhookDispatcher(wired.webhook_delivery, wired.events, max_attempts=3, base_delay_s=0.01)
    try:
        wired.events.publish(event(org))
        assert dispatcher.wait_idle(10)
    finally:
        dispatcher.stop()
    assert len(receiver.requests) == 3
    entries = log(api, tenant, webhook.webhook_id)
    assert [(e["attempt"], e["status"], e["status_code"]) for e in entries] == [
        (3, "dead", 500), (3, "failed", 500), (2, "failed", 500), (1, "failed", 500)]
    assert "gave up after 3 attempt(s)" in entries[0]["error"]
    # newest first, through the seed's route too (the webhook is org-wide, so the namespace route does not see it)
    assert api.get(f"/v1/webhooks/{webhook.webhook_id}/deliveries",
                   headers={**tenant.headers, "X-Namespace": "nope"}).status_code == 404
    page = api.get(f"/v1/organizations/webhooks/{webhook.webhook_id}/deliveries?page_size=2",
                   headers=tenant.headers).json()
    assert page["total"] == 4 and [e["status"] for e in page["results"]] == ["dead", "failed"]
    # after stop, events are no longer taken
    wired.events.publish(event(org))
    time.sleep(0.1)
    assert len(receiver.requests) == 3


def test_dispatcher_stops_retrying_a_disabled_webhook(wired, org, receivers):
    receiver = receivers(statuses=(500,))
    make_webhook(wired, org, receiver.url)
    with LocalWebhookDispatcher(wired.webhook_delivery, wired.events, max_attempts=5, base_delay_s=0.3) as dispatcher:
        wired.events.publish(event(org))
        deadline = time.monotonic() + 5
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        wired.webhooks.update(org, "hook", {"is_active": False})
        assert dispatcher.wait_idle(10)
    assert len(receiver.requests) == 1


def test_retry_delays_grow_with_jitter(wired):
    dispatcher = LocalWebhookDispatcher(wired.webhook_delivery, wired.events, base_delay_s=1, factor=2,
                                        jitter=0.2, max_delay_s=10, autostart=False)
    assert 0.8 <= dispatcher.retry_delay(1) <= 1.2
    assert 3.2 <= dispatcher.retry_delay(3) <= 4.8
    assert 8 <= dispatcher.retry_delay(10) <= 12
    with pytest.raises(ValueError):
        LocalWebhookDispatcher(wired.webhook_delivery, wired.events, max_attempts=0, autostart=False)


# -- URL rules at delivery time ----------------------------------------------------------------------------------------


def _aws_delivery(services, answers: dict[str, list[str]], seen: list[httpx.Request]):
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    return build_webhooks(services.table, services.events, runtime="aws",
                          sender=HttpxWebhookSender(transport=httpx.MockTransport(handler)),
                          resolver=lambda host, port: answers[host])


def test_delivery_connects_to_the_checked_address(services, org):
    answers, seen = {"hooks.example.com": ["93.184.216.34"]}, []
    service, delivery = _aws_delivery(services, answers, seen)
    webhook = service.create(org, {"webhook_name": "w", "url": "https://hooks.example.com:8443/in?a=1",
                                   "events": ["document.created"]})
    [result] = delivery.deliver(event(org))
    assert result.ok and result.status_code == 204
    [request] = seen
    assert request.url.host == "93.184.216.34" and request.url.port == 8443 and request.url.scheme == "https"
    assert request.url.raw_path == b"/in?a=1"
    assert request.headers["Host"] == "hooks.example.com:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
    assert verify_signature(webhook.secret, request.headers["X-Openpeek-Signature"], request.content)
    delivery.close()


def test_dns_rebinding_is_refused_at_delivery_time(services, org, api, tenant):
    answers, seen = {"hooks.example.com": ["93.184.216.34"]}, []
    service, delivery = _aws_delivery(services, answers, seen)
    webhook = service.create(org, {"webhook_name": "w", "url": "https://hooks.example.com/in",
                                   "events": ["document.created"]})
    answers["hooks.example.com"] = ["93.184.216.34", "169.254.169.254"]  # re-pointed after creation
    with pytest.raises(WebhookDeliveryFailed) as failed:
        delivery.deliver(event(org))
    assert seen == []  # nothing was sent anywhere
    assert "target refused" in failed.value.results[0].error and "link-local" in failed.value.results[0].error
    [entry] = log(api, tenant, webhook.webhook_id)
    assert entry["status"] == "failed" and entry["status_code"] is None
    delivery.close()


def test_event_shapes_normalize_to_the_same_ids(org):
    domain_event = event(org)
    derived = normalize_event(domain_event)
    assert derived.event_id.startswith("evt_") and derived == normalize_event(dataclasses.asdict(domain_event))
    bridged = normalize_event(eventbridge(domain_event))
    assert bridged.event_id == "evt_6a7e8feb-b491-4cf7-a9f1-bf3703467718"
    assert (bridged.type, bridged.org_id, bridged.namespace_id, bridged.data, bridged.created_at) == (
        derived.type, derived.org_id, derived.namespace_id, derived.data, derived.created_at)
    string_detail = {**eventbridge(domain_event), "detail": json.dumps(dataclasses.asdict(domain_event))}
    assert normalize_event(string_detail) == bridged
    with pytest.raises(ValueError):
        normalize_event({"detail-type": "document.created", "detail": {}})


def test_the_sqs_handler_contract(wired, org, receivers, monkeypatch):
    """handlers/webhook_delivery.py hands json.loads(record["body"]) to deliver; a failure is that record's alone."""
    from openpeek.handlers import webhook_delivery as lambda_handler

    monkeypatch.setattr(lambda_handler, "services", wired)
    good, bad = receivers(), receivers(statuses=(503,))
    make_webhook(wired, org, good.url, webhook_name="good", events=["document.created"])
    make_webhook(wired, org, bad.url, webhook_name="bad", events=["document.deleted"])
    records = [{"messageId": "m1", "body": json.dumps(eventbridge(event(org), "e1"))},
               {"messageId": "m2", "body": json.dumps(eventbridge(event(org, type_="document.deleted"), "e2"))}]
    assert lambda_handler.handler({"Records": records}, None) == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert len(good.requests) == 1 and len(bad.requests) == 1
