"""HTTP calls the retriever stages make to caller-named hosts (api_call), to an address already checked by the
webhook SSRF rules (domain/webhooks.check_url): the connection goes to the checked address, with Host (and the TLS
server name) kept as the host name, so a DNS answer that changes between check and call cannot redirect it.
Redirects are not followed (a redirect could lead anywhere); the body is read up to a byte limit."""

from __future__ import annotations

from typing import Any

import httpx

from openpeek.domain.webhooks import CheckedUrl
from openpeek.domain.failures import DependencyUnavailable


class PinnedHttpClient:
    def __init__(self, transport: httpx.BaseTransport | None = None) -> None:
        self._client = httpx.Client(follow_redirects=False, transport=transport)

    def request(self, checked: CheckedUrl, method: str, headers: dict[str, str], body: Any, *, timeout_s: float,
                max_bytes: int) -> tuple[int, bytes]:
        """(status, body). Failures (connection, timeout, a body past max_bytes) raise DependencyUnavailable whose
        message names the host only: never the URL's query or the headers, which may carry secrets."""
        url, extensions, sent = self._pinned(checked, dict(headers))
        try:
            with self._client.stream(method, url, headers=sent, json=body, timeout=timeout_s,
                                     extensions=extensions) as response:
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise DependencyUnavailable(f"{checked.host} answered more than {max_bytes} bytes")
                    chunks.append(chunk)
                return response.status_code, b"".join(chunks)
        except httpx.TimeoutException:
            raise DependencyUnavailable(f"{checked.host} did not answer within {timeout_s:g} s") from None
        except httpx.HTTPError as error:
            raise DependencyUnavailable(f"{checked.host}: {type(error).__name__}") from None

    @staticmethod
    def _pinned(checked: CheckedUrl, headers: dict[str, str]) -> tuple[str, dict[str, Any], dict[str, str]]:
        address = checked.addresses[0]
        if address == checked.host:
            return checked.url, {}, headers
        default_port = 443 if checked.scheme == "https" else 80
        headers["Host"] = checked.host if checked.port == default_port else f"{checked.host}:{checked.port}"
        pinned = httpx.URL(checked.url).copy_with(host=address)
        extensions = {"sni_hostname": checked.host} if checked.scheme == "https" else {}
        return str(pinned), extensions, headers

    def close(self) -> None:
        self._client.close()
