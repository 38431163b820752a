"""The node's edge against hostile traffic: what a connection may cost before the app sees a request.

uvicorn bounds neither header size nor the time to send headers, and reads any request body it is handed. Here:

- `guarded_protocols(limits, open_connections)` returns uvicorn HTTP and WebSocket protocol classes that bound
  header bytes and count (431), the time from connect (or the end of the last response) to a complete header
  block (the connection is dropped: slowloris and silent connections), the rate of new connections per address,
  and a hard cap on open connections (dropped at accept); the WebSocket class lets the app abort its transport (a
  client that stopped reading is cut off, not drained) and write a text frame straight to it while nothing
  stands in the way (`socket_hooks_of`).
- `EdgeMiddleware` (server/edge_middleware.py) refuses request bodies over the limit (413, before more than the
  limit is read, chunked included), answers a request with 503 and a socket with 1013 while the node is past its
  connection limit, and adds the security headers to every HTTP response.

All numbers come from `EdgeLimits` (built from the node's settings). Addresses in `trusted` (the load balancer,
a load generator) are exempt from per-address limits: behind a proxy every client shares its address. The
connection limits count `open_connections()`: the node's open connections on every server it runs (uvicorn's, and
picows' on the socket port with `--transport picows`), the one being judged included. Up to `max_connections` are
served; a new one beyond is refused (503 / 1013), and beyond `hard_cap` dropped at accept.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Scope
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from server.inbox import Inbox
from server.ratelimit import WindowCounter

log = logging.getLogger("valgame.edge")
_OPEN = State.OPEN

SOCKET_EXTENSION = "valgame.socket"  # what the guarded WebSocket protocol offers the app beside ASGI
INBOX_PAUSE = 32  # messages received and not yet read by the app before reading from a socket pauses (as on picows)


@dataclass
class EdgeLimits:
    max_connections: int  # open connections (HTTP and sockets) before new ones are refused (503 / 1013)
    max_header_bytes: int
    max_headers: int
    header_timeout: float  # seconds from connect (or the last response) to a complete header block
    max_body_bytes: int
    connections_per_address_per_10s: int
    trusted: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(default_factory=list)
    limiter_keys: int = 100_000
    _rates: WindowCounter = field(init=False)

    def __post_init__(self) -> None:
        self._rates = WindowCounter(self.connections_per_address_per_10s, 10.0, self.limiter_keys)

    @property
    def hard_cap(self) -> int:
        """Past this many connections a new one is dropped at accept, without a reply: the clean refusal above
        costs a handshake, and a flood must not exhaust file descriptors getting it."""
        return self.max_connections + max(16, self.max_connections // 20)

    def trusted_address(self, host: str | None) -> bool:
        if host is None:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

    def admit_address(self, host: str | None) -> bool:
        """Count a new connection from `host`; False when the address is over its rate (nothing is counted)."""
        if self.connections_per_address_per_10s <= 0 or host is None or self.trusted_address(host):
            return True
        if self._rates.retry_after(host) > 0:
            return False
        self._rates.hit(host)
        return True


class ClientNoise(logging.LoggerAdapter):  # type: ignore[type-arg]
    """uvicorn's logger as its protocols use it, quiet about what clients cause: a malformed request, invalid
    UTF-8 in a text frame, an unsupported upgrade, a refusal at the connection limit. Each such kind is logged at
    most once per `every` seconds, as one line without a traceback, with the count of those left out meanwhile;
    anything else (a fault of the node) passes through untouched. One 7-byte frame used to log 774 bytes."""

    CLIENT_CAUSED = ("Invalid UTF-8", "Invalid HTTP request", "Unsupported upgrade", "Exceeded concurrency")

    def __init__(self, logger: logging.Logger, every: float = 10.0) -> None:
        super().__init__(logger, {})
        self.every = every
        self._last: dict[str, float] = {}
        self._dropped: dict[str, int] = {}

    @property
    def level(self) -> int:  # uvicorn reads `logger.level` to decide on trace logging
        return self.logger.level

    def log(self, level: int, msg: object, *args: object, **kwargs: object) -> None:
        text = str(msg)
        kind = next((k for k in self.CLIENT_CAUSED if text.startswith(k)), None)
        if kind is None:
            self.logger.log(level, msg, *args, **kwargs)  # type: ignore[arg-type]
            return
        now = time.monotonic()
        if now - self._last.get(kind, -self.every) < self.every:
            self._dropped[kind] = self._dropped.get(kind, 0) + 1
            return
        self._last[kind] = now
        dropped = self._dropped.pop(kind, 0)
        suffix = f" ({dropped} more in the last {self.every:.0f} s)" if dropped else ""
        self.logger.log(logging.WARNING, "client error: %s%s", text.strip().rstrip("."), suffix)


def parse_networks(spec: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """'127.0.0.1, 10.0.0.0/8' -> networks; a bad entry is a configuration error, raised at start."""
    return [ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip()]


def _plain_response(status: bytes, body: bytes) -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: "
            + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)


def guarded_protocols(limits: EdgeLimits, open_connections: Callable[[], int] | None = None
                      ) -> tuple[type[HttpToolsProtocol], type[WebSocketsSansIOProtocol]]:
    """uvicorn protocol classes enforcing `limits` (passed to `uvicorn.Config(http=..., ws=...)`). The hard cap
    counts `open_connections()`, the node's total; without it (a server of uvicorn alone, as bench/'s references),
    uvicorn's own connections."""
    noise = ClientNoise(logging.getLogger("uvicorn.error"))

    class GuardedHttp(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None
        _header_bytes = 0
        _header_count = 0
        _refused = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self.logger = noise  # type: ignore[assignment]
            super().connection_made(transport)
            host = self.client[0] if self.client else None
            count = open_connections() if open_connections is not None else len(self.connections)
            if count > limits.hard_cap or not limits.admit_address(host):
                self._refused = True
                transport.abort()
                return
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            reading_headers = self._header_timer is not None
            if reading_headers:
                self._header_bytes += len(data)
            super().data_received(data)
            # Checked after parsing: a read may hold the end of the headers and the start of the body. One read
            # (at most 256 KiB) is all the parser holds beyond the limit.
            if reading_headers and self._header_timer is not None and self._header_bytes > limits.max_header_bytes:
                self._refuse(b"431 Request Header Fields Too Large", b"request headers too large")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._header_count = 0
            if self._header_timer is None:
                self._header_bytes = 0
                self._arm_header_timer()

        def on_header(self, name: bytes, value: bytes) -> None:
            self._header_count += 1
            if self._header_count > limits.max_headers:
                self._refuse(b"431 Request Header Fields Too Large", b"too many request headers")
                return
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            if self._refused:
                return
            self._cancel_header_timer()
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            if not self._refused:
                super().on_body(body)

        def on_message_complete(self) -> None:
            if not self._refused:
                super().on_message_complete()

        def _refuse(self, status: bytes, message: bytes) -> None:
            self._refused = True
            self._cancel_header_timer()
            if not self.transport.is_closing():
                self.transport.write(_plain_response(status, message))
                self.transport.close()

        def _arm_header_timer(self) -> None:
            self._header_timer = self.loop.call_later(limits.header_timeout, self._header_timeout)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timeout(self) -> None:
            # A client that has not finished its headers in time (slowloris, a silent connection) gets no reply:
            # it would not read one anyway. The connection is dropped, not drained.
            self._header_timer = None
            self._refused = True
            if not self.transport.is_closing():
                self.transport.abort()

    class GuardedWebSocket(WebSocketsSansIOProtocol):
        def send_receive_event_to_app(self) -> None:
            """uvicorn pauses reading after every message it queues and resumes when the app has read them all: for
            a client that waits for its replies, a change of the socket's epoll registration per command, which
            libuv makes at its next poll (batched in io_uring_enter calls here). Reading pauses instead once
            `INBOX_PAUSE` messages wait (uvicorn resumes it when they are read), the bound picows' adapter keeps
            too. (uvicorn pauses only when `read_paused` is false: it is set for its call.)"""
            paused = self.read_paused
            self.read_paused = True
            try:
                super().send_receive_event_to_app()
            finally:
                self.read_paused = paused
            if not paused and self.queue.qsize() >= INBOX_PAUSE and not self.transport.is_closing():
                self.read_paused = True
                self.transport.pause_reading()

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.logger = noise  # type: ignore[assignment]
            self.queue = Inbox(self.loop)  # type: ignore[assignment]  # no loop look-up per message (server/inbox.py)
            super().connection_made(transport)

        def handle_connect(self, event: Any) -> None:
            super().handle_connect(event)
            scope = getattr(self, "scope", None)
            if scope is not None:
                scope["extensions"][SOCKET_EXTENSION] = {"abort": self.abort, "write_text": self.write_text}

        def write_text(self, payload: bytes) -> bool:
            """Write one text frame to the transport now, as `send` does with `websocket.send` on an open
            connection, without its ASGI message, its coroutines and websockets' per-frame objects (a fan-out pays
            them once per subscriber). False, having written nothing, when `send` must take it: the transport
            pushes back (`send` waits), the connection is not open (`send` refuses), or it compresses."""
            # OPEN: accepted, and no close frame sent or received (websockets moves on at either; uvicorn's
            # `close_sent` and `initial_response` are set only in other states). `disconnected`: the transport is
            # gone, which websockets' state does not follow.
            conn = self.conn
            if self.writable.is_set() and not self.disconnected and conn.state is _OPEN and not conn.extensions:
                self.transport.write(text_frame(payload))
                return True
            return False

        def abort(self) -> None:
            """Drop the connection now, whatever its send buffer holds: a peer that stopped reading would
            otherwise keep its socket (and the bytes queued for it) until the kernel gives up."""
            if self.transport is not None:
                self.transport.abort()

    return GuardedHttp, GuardedWebSocket


def socket_hooks_of(scope: Scope) -> tuple[Callable[[], None] | None, Callable[[bytes], bool] | None]:
    """The transport abort and the direct text frame write a guarded WebSocket protocol put in the scope (both None
    under another server)."""
    extension = scope.get("extensions", {}).get(SOCKET_EXTENSION)
    return (extension["abort"], extension["write_text"]) if extension else (None, None)


def text_frame(payload: bytes) -> bytes:
    """A server's text frame (RFC 6455 5.2): final, unmasked, no extension bits, then the UTF-8 payload."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload
