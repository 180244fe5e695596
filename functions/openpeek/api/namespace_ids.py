"""Answers show namespaces by their public ids (domain/namespace.py: public id and storage id).

Records a namespace owns (retrievers, clusters, tasks, batches, webhooks, collections, ...) refer to it by its storage
id, and presenters show what the record holds. The two ids differ only for a namespace stored under a relocated id
(its caller chose an id another namespace was stored under), and such an id says so by its prefix: this middleware
finds those in an answer's strings (`*namespace_id` fields, and ids inside messages, task errors or index names) and
shows the caller's public id instead. Every other answer passes through untouched after one substring test of its
body; a streamed answer always does."""

from __future__ import annotations

from typing import Any, Callable

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.types import Message, Receive, Scope, Send

from openpeek.domain.namespace import RELOCATED_PREFIX, show_public_ids

CALLER = "openpeek_principal"  # the scope state entry auth.principal fills: whose ids an answer may show
_MARK = RELOCATED_PREFIX.encode()  # anywhere in a string, not only at its start: "Collection 'nsr_…' …"


def remember_caller(state: Any, principal: Any) -> None:
    setattr(state, CALLER, principal)


class PublicNamespaceIds:
    """ASGI middleware: relocated storage ids in a JSON answer become the caller's public ids."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        held: Message | None = None

        async def present(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                held = message
                return
            if held is not None:
                start, held = held, None
                body = message.get("body", b"")
                if message["type"] == "http.response.body" and not message.get("more_body") and _MARK in body \
                        and _is_json(start) and state.get(CALLER) is not None:
                    shown = await run_in_threadpool(_with_public_ids, scope, state[CALLER], body)
                    if shown is not None:
                        start = {**start, "headers": [
                            *((name, value) for name, value in start.get("headers", [])
                              if name.lower() != b"content-length"),
                            (b"content-length", str(len(shown)).encode()),
                        ]}
                        message = {**message, "body": shown}
                await send(start)
            await send(message)

        await self.app(scope, receive, present)


def _is_json(start: Message) -> bool:
    return any(name.lower() == b"content-type" and value.startswith(b"application/json")
               for name, value in start.get("headers", []))


def _with_public_ids(scope: Scope, principal: Any, body: bytes) -> bytes | None:
    """The body with the caller's relocated storage ids replaced, or None when it holds none."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    namespaces = scope["app"].state.services.namespaces
    changed = show_public_ids(document, lambda namespace_id: namespaces.public_id_of(principal, namespace_id))
    return orjson.dumps(document) if changed else None
