"""Host-name resolution for the SSRF rules (domain/webhooks.check_url takes a resolver so that the domain does no I/O;
this is the one that asks the system's resolver)."""

from __future__ import annotations

import socket


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (IPv4 and IPv6), deduplicated in resolver order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        address = info[4][0].split("%", 1)[0]  # drop an IPv6 zone id
        if address not in seen:
            seen.append(address)
    return seen
