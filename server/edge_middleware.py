"""The edge's ASGI middleware: request bodies over the limit (413), the connection limit (503 / 1013) and the security
headers, around the whole app (see server/edge.py for the limits and the guarded uvicorn protocols)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from protocol import CloseCode
from server.edge import ClientNoise, EdgeLimits

SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                 b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


class EdgeMiddleware:
    """Body size limit, the connection limit (503 / 1013) and security headers, around the whole app.

    The connection limit is checked here rather than by uvicorn's `limit_concurrency`, which counts only uvicorn's
    own connections: with picows the node's sockets are on another server, and `open_connections` counts both."""

    def __init__(self, app: ASGIApp, limits: EdgeLimits, open_connections: Callable[[], int],
                 connect_src: str = "") -> None:
        self.app = app
        self.limits = limits
        self.open_connections = open_connections
        self.noise = ClientNoise(logging.getLogger("uvicorn.error"))  # the line uvicorn's own refusal logged
        # Sources the browser client may also connect to (the picows transport's socket port: 'self' is this one)
        self.headers = [(name, value.replace(b"connect-src 'self'", b"connect-src 'self' " + connect_src.encode())
                         if connect_src and name == b"content-security-policy" else value)
                        for name, value in SECURITY_HEADERS]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            if self.open_connections() > self.limits.max_connections:
                await _refuse_socket(receive, send)
                return
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.open_connections() > self.limits.max_connections:
            self.noise.warning("Exceeded concurrency limit.")
            await _unavailable(send, self.headers)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (name, value) for name, value in self.headers if name not in names]
            await send(message)

        body = await _read_body(scope, receive, self.limits.max_body_bytes)
        if body is None:
            await _too_large(send_with_headers, self.limits.max_body_bytes)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send_with_headers)


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it is known to exceed `limit` (declared or streamed)."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                if int(value) > limit:
                    return None
            except ValueError:
                return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _too_large(send: Send, limit: int) -> None:
    # The rest of the body is never read, so the connection cannot carry another request.
    body = b'{"error":{"code":"bad_request","message":"request body over ' + str(limit).encode() + b' bytes"}}'
    await _closing_response(send, 413, b"application/json", body)


async def _unavailable(send: Send, headers: list[tuple[bytes, bytes]]) -> None:
    """503 as uvicorn's `limit_concurrency` answers it (the connection is closed: that frees its slot)."""
    await _closing_response(send, 503, b"text/plain; charset=utf-8", b"Service Unavailable", headers)


async def _closing_response(send: Send, status: int, content_type: bytes, body: bytes,
                            headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """A whole response that ends its connection (`connection: close`)."""
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", content_type), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def _refuse_socket(receive: Receive, send: Send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": CloseCode.TRY_AGAIN_LATER, "reason": "node at capacity"})
