"""Webhook deliveries over httpx, pinned to the address the URL rules checked (domain/webhooks.check_url): the URL is
rewritten to that address with Host (and the TLS server name / certificate name) kept as the host name, so a DNS
answer that changes between the check and the connection (DNS rebinding) cannot redirect the delivery. No proxies
from the environment and no redirects, for the same reason."""

from __future__ import annotations

from typing import Any

import httpx

from openpeek.domain.webhooks import CheckedUrl

USER_AGENT = "openpeek-webhooks/1"


class HttpxWebhookSender:
    def __init__(self, transport: httpx.BaseTransport | None = None) -> None:
        self._client = httpx.Client(transport=transport, follow_redirects=False, trust_env=False,
                                    headers={"User-Agent": USER_AGENT})

    def post(self, checked: CheckedUrl, body: bytes, headers: dict[str, str], *,
             timeout_s: float) -> tuple[int | None, str | None]:
        headers = dict(headers)
        url, extensions = _pinned(checked, headers)
        try:
            response = self._client.post(url, content=body, headers=headers, extensions=extensions, timeout=timeout_s)
        except httpx.TimeoutException as exc:
            return None, f"timeout after {timeout_s:g}s ({type(exc).__name__})"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        return response.status_code, None

    def close(self) -> None:
        self._client.close()


def _pinned(checked: CheckedUrl, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The URL rewritten to the first checked address, with Host (and TLS SNI / certificate name) kept as the host
    name, so what is connected to is what was checked."""
    parts = httpx.URL(checked.url)
    address = checked.addresses[0]
    default_port = 443 if checked.scheme == "https" else 80
    if address == checked.host:
        return checked.url, {}
    headers["Host"] = checked.host if checked.port == default_port else f"{checked.host}:{checked.port}"
    pinned = parts.copy_with(host=address)
    extensions: dict[str, Any] = {}
    if checked.scheme == "https":
        extensions["sni_hostname"] = checked.host
    return str(pinned), extensions
