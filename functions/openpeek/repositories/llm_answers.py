"""Answers of the retriever stages' LLM calls, cached by a hash of everything that shapes the answer (provider, model,
prompt, schema, parameters), in the partition of the namespace that asked (deleted with it): `LLMANSWER#<sha256>`,
expiring through the table's TTL attribute."""

from __future__ import annotations

import time
from typing import Any

from openpeek.ports import Table
from openpeek.repositories.namespaces import owned_partition


class LlmAnswerCache:
    def __init__(self, table: Table, ttl_seconds: int) -> None:
        self._table = table
        self._ttl_seconds = ttl_seconds

    def get(self, namespace_id: str, digest: str) -> Any | None:
        item = self._table.get(owned_partition(namespace_id), f"LLMANSWER#{digest}")
        if item is None or int(item.get("expires_at") or 0) <= time.time():
            return None
        return item["answer"]

    def put(self, namespace_id: str, digest: str, answer: Any) -> None:
        self._table.put({"pk": owned_partition(namespace_id), "sk": f"LLMANSWER#{digest}", "answer": answer,
                         "expires_at": int(time.time()) + self._ttl_seconds})
