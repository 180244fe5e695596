"""Webhook rules: URL (SSRF) checks per runtime, event types against the SDK's enum, channel shapes, signatures."""

from __future__ import annotations

import time

import pytest
from mixpeek.models.webhook_event_type import WebhookEventType

from openpeek.domain import webhooks as rules
from openpeek.domain.errors import BadRequest
from openpeek.domain.webhooks import Webhook, check_headers, check_url, sign, verify_signature


def resolver_for(table: dict[str, list[str]]):
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"no such host {host}")
        return table[host]
    return resolve


PUBLIC = resolver_for({"hooks.example.com": ["93.184.216.34"], "dual.example.com": ["93.184.216.34", "2606:2800::1"],
                       "rebind.example.com": ["93.184.216.34", "10.0.0.5"], "v6.example.com": ["fd00::1"],
                       "meta.example.com": ["169.254.169.254"], "lo.example.com": ["127.0.0.1"]})


def code_of(url: str, *, deployed: bool, resolver=PUBLIC) -> str | None:
    try:
        check_url(url, deployed=deployed, resolver=resolver)
    except BadRequest as error:
        return error.code
    return None


# -- deployed (aws) ----------------------------------------------------------------------------------------------------


def test_deployed_accepts_https_public_hosts():
    checked = check_url("https://hooks.example.com/in?x=1", deployed=True, resolver=PUBLIC)
    assert checked.addresses == ("93.184.216.34",) and checked.port == 443 and checked.host == "hooks.example.com"
    assert code_of("https://dual.example.com:8443/x", deployed=True) is None
    assert code_of("https://93.184.216.34/x", deployed=True) is None


def test_deployed_requires_https():
    assert code_of("http://hooks.example.com/in", deployed=True) == "webhook_url_not_https"


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/x", "https://localhost/x", "https://[::1]/x", "https://0.0.0.0/x", "https://10.1.2.3/x",
    "https://172.16.0.1/x", "https://192.168.1.1/x", "https://169.254.169.254/latest/meta-data",
    "https://[fd12::1]/x", "https://[fe80::1]/x", "https://100.64.0.1/x", "https://[::ffff:127.0.0.1]/x",
    "https://[::ffff:10.0.0.1]/x", "https://metadata.google.internal/x", "https://224.0.0.1/x",
    "https://rebind.example.com/x", "https://v6.example.com/x", "https://meta.example.com/x",
    "https://lo.example.com/x", "https://app.localhost/x",
])
def test_deployed_refuses_non_public_targets(url):
    assert code_of(url, deployed=True) == "webhook_url_forbidden_host"


def test_every_resolved_address_is_checked():
    with pytest.raises(BadRequest) as refused:
        check_url("https://rebind.example.com/x", deployed=True, resolver=PUBLIC)
    assert refused.value.details == {"host": "rebind.example.com", "reason": "private"}


def test_unresolvable_and_malformed_urls():
    assert code_of("https://nowhere.example.com/x", deployed=True) == "webhook_url_unresolvable"
    for url in ("ftp://hooks.example.com/x", "hooks.example.com/x", "https://", "", "https://us:pw@hooks.example.com",
                "https://hooks.example.com:99999/x", "https://bad host/x", "https://-bad-.com/x"):
        assert code_of(url, deployed=True) == "invalid_webhook_url", url
    assert code_of(None, deployed=True) == "invalid_webhook_url"  # type: ignore[arg-type]


# -- embedded ----------------------------------------------------------------------------------------------------------


def test_embedded_allows_http_and_loopback():
    assert code_of("http://localhost:8080/hook", deployed=False) is None
    assert code_of("http://127.0.0.1:9/hook", deployed=False) is None
    assert code_of("http://[::1]:9/hook", deployed=False) is None
    assert code_of("http://hooks.example.com/x", deployed=False) is None
    assert code_of("http://lo.example.com/x", deployed=False) is None


def test_embedded_still_refuses_metadata_and_private_targets():
    assert code_of("http://169.254.169.254/latest", deployed=False) == "webhook_url_forbidden_host"
    assert code_of("http://meta.example.com/x", deployed=False) == "webhook_url_forbidden_host"
    assert code_of("http://metadata.google.internal/x", deployed=False) == "webhook_url_forbidden_host"
    assert code_of("http://0.0.0.0:8000/x", deployed=False) == "webhook_url_forbidden_host"
    assert code_of("http://10.0.0.1/x", deployed=False) == "webhook_url_forbidden_host"


# -- input rules ------------------------------------------------------------------------------------------------------


def test_event_types_are_the_sdk_enum_plus_the_seeds_own():
    assert rules.SDK_EVENT_TYPES == {member.value for member in WebhookEventType}
    assert rules.EVENT_TYPES == rules.SDK_EVENT_TYPES | {"batch.completed", "batch.failed", "namespace.created",
                                                         "namespace.updated", "namespace.deleted", "namespace.expired",
                                                         # what this deployment announces besides
                                                         "retriever.created", "retriever.updated", "retriever.deleted",
                                                         "namespace.promoted", "cluster.execution.canceled",
                                                         "webhook.created", "webhook.updated", "webhook.deleted",
                                                         "bucket.created", "bucket.updated", "bucket.deleted"}
    assert rules.check_event_types(["document.created", "cluster.execution.completed", "document.created"]) == (
        "document.created", "cluster.execution.completed")
    assert rules.check_event_types(["batch.completed", "batch.failed"]) == ("batch.completed", "batch.failed")
    for bad in (["batch.started"], [], "document.created", ["*"], [1]):
        with pytest.raises(BadRequest) as refused:
            rules.check_event_types(bad)
        assert refused.value.code in ("unknown_event_type", "invalid_event_types")
    with pytest.raises(BadRequest) as refused:
        rules.check_event_types(["document.created", "nope.never"])
    assert refused.value.code == "unknown_event_type" and refused.value.details["unknown"] == ["nope.never"]


def test_names_headers_timeouts_and_secrets():
    assert rules.check_name("  notify ") == "notify"
    for bad in ("", "  ", "x" * 201, "wh_0123456789abcdef", None):
        with pytest.raises(BadRequest):
            rules.check_name(bad)
    assert rules.check_headers({"Authorization": "Bearer t"}) == {"Authorization": "Bearer t"}
    for bad in ({"X-Openpeek-Signature": "x"}, {"content-type": "text/plain"}, {"A": "b\r\nc"}, {"a b": "c"}):
        with pytest.raises(BadRequest):
            rules.check_headers(bad)
    assert rules.check_timeout(None) == 10.0 and rules.check_timeout(2) == 2.0
    for bad in (0, 11, True, "5"):
        with pytest.raises(BadRequest):
            rules.check_timeout(bad)
    assert rules.check_secret("redacted") is None and rules.check_secret("") is None
    with pytest.raises(BadRequest):
        rules.check_secret("short")


def test_target_from_either_shape():
    seed = rules.target_from_request({"url": "https://hooks.example.com/x"})
    assert seed.url == "https://hooks.example.com/x" and seed.timeout_s == 10.0
    sdk = rules.target_from_request({"channels": [{"channel": "webhook", "configs": {
        "url": "https://hooks.example.com/y", "headers": {"X-Team": "a"}, "timeout": 5,
        "signing_secret": "redacted"}}]})
    assert (sdk.url, sdk.headers, sdk.timeout_s, sdk.secret) == (
        "https://hooks.example.com/y", {"X-Team": "a"}, 5, None)
    assert rules.target_from_request({"webhook_name": "x"}) is None
    for bad in ({"channels": [{"channel": "slack", "configs": {"webhook_url": "https://hooks.slack.com/x"}}]},
                {"channels": [{"channel": "webhook", "configs": {}}]},
                {"channels": [{"channel": "webhook", "configs": {"url": "https://a.example.com"}}] * 2},
                {"url": "https://a.example.com", "channels": [{"channel": "webhook", "configs": {"url": "x"}}]}):
        with pytest.raises(BadRequest):
            rules.target_from_request(bad)


def test_secrets_and_ids_have_their_formats():
    assert rules.new_secret().startswith("whsec_") and len(rules.new_secret()) > 30
    assert rules.new_secret() != rules.new_secret()
    import re
    assert re.fullmatch(r"wh_[0-9a-f]{16}", rules.new_webhook_id())


# -- signatures -------------------------------------------------------------------------------------------------------


def test_signature_round_trip_and_tampering():
    secret, body = "whsec_test", b'{"id":"evt_1","type":"document.created"}'
    now = int(time.time())
    header = sign(secret, body, now)
    assert header.startswith(f"t={now},v1=")
    assert verify_signature(secret, header, body)
    assert verify_signature(secret, header, body.decode())
    assert not verify_signature("whsec_other", header, body)
    assert not verify_signature(secret, header, body + b" ")
    assert not verify_signature(secret, None, body)
    assert not verify_signature(secret, "garbage", body)
    assert not verify_signature(secret, f"t=abc,v1={header.split('v1=')[1]}", body)
    # replay protection
    old = sign(secret, body, now - 301)
    assert not verify_signature(secret, old, body)
    assert verify_signature(secret, old, body, tolerance_s=600)
    assert not verify_signature(secret, header, body, now=now + 1000)
    # rotation: any v1 may match
    assert verify_signature(secret, f"{header},v1=deadbeef", body)


# -- subscriptions ----------------------------------------------------------------------------------------------------


def _webhook(**fields) -> Webhook:
    base = dict(webhook_id="wh_0123456789abcdef", org_id="org", webhook_name="n", url="https://a.example.com",
                secret="whsec_x", event_types=("document.created", "resource.executed"))
    return Webhook(**{**base, **fields})


def test_subscriptions_filter_by_type_namespace_state_and_resource_type():
    hooks = [_webhook(webhook_id="wh_a"), _webhook(webhook_id="wh_b", namespace_id="ns_1"),
             _webhook(webhook_id="wh_c", is_active=False),
             _webhook(webhook_id="wh_d", resource_types=("retriever",))]
    ids = lambda *args: [h.webhook_id for h in rules.subscribers(hooks, *args)]  # noqa: E731
    assert ids("document.created", "ns_1", {}) == ["wh_a", "wh_b"]
    assert ids("document.created", "ns_2", {}) == ["wh_a"]
    assert ids("document.deleted", "ns_1", {}) == []
    assert ids("resource.executed", None, {"resource_type": "retriever"}) == ["wh_a", "wh_d"]
    assert ids("resource.executed", None, {"resource_type": "taxonomy"}) == ["wh_a"]


def test_record_round_trip():
    hook = _webhook(namespace_id="ns_1", resource_types=("a",), headers={"X": "y"}, timeout_s=3.0)
    assert Webhook.from_record(hook.to_record(), 1) == hook


@pytest.mark.parametrize("address", ["2002:a00:1::1", "2002:7f00:1::", "2001:0:4136:e378:8000:63bf:f5ff:fffe",
                                     "::10.0.0.1", "64:ff9b:1::a00:1"])
def test_deployed_refuses_ipv6_ranges_that_embed_an_ipv4_address(address):
    resolver = resolver_for({"tunnel.example.com": [address]})
    assert code_of(f"https://[{address}]/x", deployed=True) == "webhook_url_forbidden_host"
    with pytest.raises(BadRequest) as refused:
        check_url("https://tunnel.example.com/x", deployed=True, resolver=resolver)
    assert refused.value.details["reason"] == "IPv4-embedding IPv6"


def test_header_values_an_http_client_cannot_send_are_refused_at_the_door():
    assert check_headers({"X-Team": "search", "Authorization": "Bearer abc.def"}) == {
        "X-Team": "search", "Authorization": "Bearer abc.def"}
    for headers in ({"X-Team": "💥" * 40}, {"X-Tëam": "x"}, {"X-Team": "\x00"}, {"X-Team": "a" * 9000}):
        with pytest.raises(BadRequest) as refused:
            check_headers(headers)
        assert refused.value.code == "invalid_webhook_headers"
