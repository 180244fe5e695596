"""BlobFetcher over httpx: a blob given by URL is fetched under the webhook SSRF rules (domain/webhooks.py).

https only; the host is resolved and every address checked (public addresses only when deployed); the request goes
to the address that was checked, with the host name kept for Host and TLS (no DNS rebinding between check and
connect); no redirects are followed (a redirect could lead anywhere); no proxies from the environment; the body is
read up to the limit and no further."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from openpeek.adapters.dns_resolver import system_resolver

from openpeek.domain import webhooks as url_rules
from openpeek.domain.errors import BadRequest
from openpeek.domain.transfers import FetchedBlob

TIMEOUT_S = 30.0
USER_AGENT = "openpeek-blob-fetcher/1"


def _refused(url: str, why: str, code: str = "blob_url_unreachable") -> BadRequest:
    return BadRequest(f"blob url '{url}' could not be fetched: {why}", code=code, details={"url": url})


class HttpsBlobFetcher:
    def __init__(self, *, deployed: bool, transport: httpx.BaseTransport | None = None,
                 resolver: url_rules.Resolver | None = None) -> None:
        self._deployed = deployed
        self._resolver = resolver or system_resolver
        self._transport = transport
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(transport=self._transport, follow_redirects=False, trust_env=False,
                                        headers={"User-Agent": USER_AGENT}, timeout=TIMEOUT_S)
        return self._client

    def fetch(self, url: str, *, max_bytes: int) -> FetchedBlob:
        if not url.lower().startswith("https://"):
            raise _refused(url, "only https URLs are fetched", "blob_url_not_https")
        try:
            checked = url_rules.check_url(url, deployed=self._deployed, resolver=self._resolver)
        except BadRequest as refused:
            raise BadRequest(f"blob url refused: {refused.message}", code="blob_url_forbidden",
                             details={"url": url, **(refused.details or {})}) from None
        target, headers, extensions = _pinned(checked)
        try:
            with self._http().stream("GET", target, headers=headers, extensions=extensions) as response:
                if response.status_code != 200:
                    raise _refused(url, f"it answered HTTP {response.status_code}")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise _refused(url, f"it is {declared} bytes, over the {max_bytes} allowed", "blob_too_large")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise _refused(url, f"it is over the {max_bytes} bytes allowed", "blob_too_large")
                content_type = response.headers.get("content-type")
        except httpx.HTTPError as error:
            raise _refused(url, f"{type(error).__name__}: {error}") from None
        name = os.path.basename(unquote(urlsplit(url).path)) or None
        return FetchedBlob(bytes(body), content_type, name)


def _pinned(checked: url_rules.CheckedUrl) -> tuple[str, dict[str, str], dict[str, Any]]:
    address = checked.addresses[0]
    if address == checked.host:
        return checked.url, {}, {}
    host_header = checked.host if checked.port == 443 else f"{checked.host}:{checked.port}"
    pinned = httpx.URL(checked.url).copy_with(host=address)
    return str(pinned), {"Host": host_header}, {"sni_hostname": checked.host}
