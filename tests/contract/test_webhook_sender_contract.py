"""The WebhookSender contract: the POST goes to the address the URL rules checked (Host and TLS name kept as the host
name), redirects are answers, not followed, and a target that cannot be reached is a reason, never an exception."""

from __future__ import annotations

import httpx
import pytest

from openpeek.adapters.webhook_sender import HttpxWebhookSender
from openpeek.domain.webhooks import CheckedUrl

CHECKED = CheckedUrl(url="https://hooks.example.com:8443/in?a=1", scheme="https", host="hooks.example.com", port=8443,
                     addresses=("93.184.216.34",))


def sender_answering(handler) -> HttpxWebhookSender:
    return HttpxWebhookSender(transport=httpx.MockTransport(handler))


def test_the_post_goes_to_the_checked_address_with_the_host_name_kept():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    sender = sender_answering(handler)
    headers = {"Content-Type": "application/json"}
    assert sender.post(CHECKED, b'{"a":1}', headers, timeout_s=5) == (204, None)
    [request] = seen
    assert request.method == "POST" and request.content == b'{"a":1}'
    assert request.url.host == "93.184.216.34" and request.url.port == 8443 and request.url.raw_path == b"/in?a=1"
    assert request.headers["Host"] == "hooks.example.com:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
    assert headers == {"Content-Type": "application/json"}  # the caller's headers are not changed
    sender.close()


def test_a_redirect_is_an_answer_and_is_not_followed():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data"})

    assert sender_answering(handler).post(CHECKED, b"{}", {}, timeout_s=5) == (302, None)
    assert len(seen) == 1


@pytest.mark.parametrize("failure, reason", [
    (httpx.ReadTimeout("slow"), "timeout after 5s (ReadTimeout)"),
    (httpx.ConnectError("refused"), "ConnectError: refused"),
])
def test_an_unreachable_target_is_a_reason(failure, reason):
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    assert sender_answering(handler).post(CHECKED, b"{}", {}, timeout_s=5) == (None, reason)
