"""Stand-ins for dedicated Qdrant servers: qdrant-client's local engine (the real Qdrant implementation of the
client's API, in process), one per URL, kept across reconnects as a server keeps its data."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import httpx
from qdrant_client import QdrantClient

from openpeek.adapters.qdrant.server import QdrantServerStore


class LocalQdrantServers:
    """The `dedicated_vector_stores` factory for tests: records every (url, key) it was asked to connect with."""

    def __init__(self) -> None:
        self.engines: dict[str, QdrantClient] = {}
        self.connections: list[tuple[str, str | None]] = []
        self.closed: list[str] = []
        self.down: set[str] = set()  # URLs whose server refuses connections, as a stopped server does

    def __call__(self, url: str, api_key: str | None) -> Any:
        self.connections.append((url, api_key))
        engine = self.engines.setdefault(url, QdrantClient(location=":memory:"))
        servers = self

        class Connection(QdrantServerStore):
            def close(self) -> None:  # the engine is the "server": it outlives a client's connection
                servers.closed.append(url)

            @contextmanager
            def _call(self, collection: str) -> Iterator[None]:
                with QdrantServerStore._call(self, collection):
                    if url in servers.down:
                        raise httpx.ConnectError("connection refused")
                    yield

        return Connection(engine)

    def store(self, url: str) -> QdrantServerStore:
        """A client of the server at url, to look at what it holds."""
        return QdrantServerStore(self.engines[url])
