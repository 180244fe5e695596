"""Limits every request meets before any route sees it: the body's size, and how deep a JSON (or YAML flow) body
nests. Parsers, validators, error handlers, template substitution and serialisers all recurse over a body's nesting;
a body nested thousands deep would exhaust the interpreter's stack in any of them (a 500 that also drops the
keep-alive connection), and one nested ~127 deep poisons the vector store (Qdrant cannot decode such a payload). So
depth is refused here, once, for every route, with the same 400 in the error envelope.

The depth is measured on the raw bytes with C-speed byte operations only (a thousand-vector upsert costs well under
a millisecond): escapes and strings are removed, everything but brackets is deleted, and innermost `[]`/`{}` pairs
are removed once per level; a body still holding brackets after MAX_JSON_DEPTH passes nests deeper than that."""

from __future__ import annotations

import logging
import re
from typing import Any, Awaitable, Callable

from openpeek.api.errors import envelope

logger = logging.getLogger("openpeek.api")

MAX_BODY_BYTES = 64 * 1024 * 1024
"""A thousand 1,536-dimension vectors (the largest upsert) are ~30 MB of JSON."""
MAX_JSON_DEPTH = 64
"""The deepest legitimate body is a retriever whose filters nest their 16 levels (2 JSON levels each) ~40 deep."""

_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_CHECKED_TYPES = ("json", "yaml", "yml", "text/plain")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def nesting_exceeds(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """True when a JSON (or YAML flow-style) text nests deeper than max_depth, or is malformed in a way that could
    make a parser recurse deeper than that (more unmatched opening brackets than max_depth)."""
    if b"[" not in body and b"{" not in body:
        return False
    unescaped = _ESCAPE.sub(b"", body) if b"\\" in body else body
    skeleton = _STRING.sub(b"", unescaped.translate(None, _NOT_STRUCTURE))
    for _ in range(max_depth):
        if not skeleton:
            return False
        reduced = skeleton.replace(b"[]", b"").replace(b"{}", b"")
        if reduced == skeleton:
            # Malformed (the parser will say so): harmless unless it could still open more levels than allowed.
            return skeleton.count(b"[") + skeleton.count(b"{") > max_depth
        skeleton = reduced
    return bool(skeleton)


def _checks_depth(scope: Scope) -> bool:
    content_type = ""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            content_type = value.decode("latin-1").lower()
    # FastAPI reads a body without a Content-Type as JSON; manifests arrive as YAML or text as well.
    return not content_type or any(kind in content_type for kind in _CHECKED_TYPES)


class RequestLimits:
    """ASGI middleware: 413 for a body over max_body_bytes, 400 for one nested deeper than max_depth; both in the
    error envelope, after the whole body was read, so the keep-alive connection stays usable. An unexpected exception
    becomes the envelope's 500 here, for the same reason."""

    def __init__(self, app: Callable, max_body_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await _answering_failures(self.app, scope, receive, send)
            return
        chunks: list[bytes] = []
        size, too_large = 0, False
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away: let the app see the disconnect as it would have.
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                too_large = True  # keep reading (and dropping) so the connection can carry the answer
            elif chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if too_large:
            response = envelope(413, f"The request body exceeds {self.max_body_bytes} bytes",
                                code="request_too_large", details={"max_bytes": self.max_body_bytes})
            await response(scope, receive, send)
            return
        body = b"".join(chunks)
        if body and _checks_depth(scope) and nesting_exceeds(body, self.max_depth):
            response = envelope(400, f"The request body nests deeper than {self.max_depth} levels",
                                code="request_too_deep", details={"max_depth": self.max_depth})
            await response(scope, receive, send)
            return
        await _answering_failures(self.app, scope, _replay([body], None, receive), send)


async def _answering_failures(app: Callable, scope: Scope, receive: Receive, send: Send) -> None:
    """The app, with an unexpected exception answered here as the envelope's 500 instead of re-raised: re-raised, the
    server would also drop the client's keep-alive connection (and every request queued on it)."""
    started = False

    async def tracking_send(message: Message) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, receive, tracking_send)
    except Exception:  # noqa: BLE001 - the last line of defence; the error is logged with its traceback
        logger.exception("unhandled error")
        if started:
            raise  # half an answer is out: only closing the connection can tell the client
        await envelope(500, "Internal server error", code="internal_error")(scope, receive, send)


def _replay(chunks: list[bytes], pending: Message | None, receive: Receive) -> Receive:
    """A receive that hands the buffered body over once, then defers to the server's (disconnects)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            if pending is not None:
                return pending
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        return await receive()

    return replay
