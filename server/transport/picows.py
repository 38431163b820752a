"""The transport port on picows (its core API: Cython framing, asyncio protocol callbacks), serving `/ws` on its own
port in the node's process and event loop, beside uvicorn's HTTP. Each upgraded connection is a `PicowsSocket`
(server/transport/picows_socket.py: reassembly, the inbox, back-pressure, the close handshake, commands started on
arrival).

What picows leaves to us as a server, and where it is done here:

- the edge of server/edge.py: a hard cap on open connections (dropped at accept) and the per-address rate, at
  `connection_made`; header bytes (431) while the upgrade request is read, header count (431), the header timeout
  (picows' handshake timeout), 1013 past `max_connections`. During the upgrade a thin Python protocol
  (`_Guarded`) counts the bytes in front of picows'; once upgraded the socket talks to picows' protocol directly.
- async auth: picows' listener callbacks are synchronous, so each upgraded connection gets a task running the
  endpoint (`handler`), as uvicorn gives each ASGI connection one;
- the close frame on shutdown (1012), after the node's drain.

Keepalive is picows' own auto-ping (idle pings every `ping_interval_seconds`, dropped without a pong within
`ping_timeout_seconds`), which requires the timeout not to exceed the interval: checked at start, since picows
otherwise fails every connection at accept, silently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from picows import WSAutoPingStrategy, WSUpgradeRequest, WSUpgradeResponse, WSUpgradeResponseWithListener
from picows.picows import WSProtocol  # type: ignore[attr-defined]

from protocol import CloseCode
from server.edge import EdgeLimits
from server.transport.picows_socket import PicowsSocket, WriteBatch
from server.transport.port import MAX_FRAME_BYTES, KeepAlive

log = logging.getLogger("valgame.picows")

PATH = "/ws"
READ_BUFFER = 4 * 1024  # picows' initial read buffer per socket (it grows as frames need): idle sockets stay small
# The longest upgrade request head (request line to blank line) picows reads: its parser's `_http_max_size`, fixed
# (no parameter sets it); past it picows drops the connection. `max_header_bytes` may not exceed it (checked at start).
UPGRADE_HEAD_BYTES = 16 * 1024

Handler = Callable[[PicowsSocket], Awaitable[None]]


class _Guarded(asyncio.BufferedProtocol):
    """In front of picows' protocol until the upgrade is done: the connection caps at accept, and the header byte
    limit (picows' read buffer would otherwise grow with whatever a client sends before its blank line)."""

    __slots__ = ("_header_bytes", "_inner", "_server", "_transport")

    def __init__(self, server: PicowsServer, inner: Any) -> None:
        self._server, self._inner = server, inner
        self._transport: Any = None
        self._header_bytes = 0

    def connection_made(self, transport: Any) -> None:  # asyncio's or uvloop's (which does not subclass asyncio's)
        server = self._server
        peer = transport.get_extra_info("peername")
        host = peer[0] if isinstance(peer, tuple) else None
        if server.open_connections() >= server.limits.hard_cap or not server.limits.admit_address(host):
            transport.abort()  # never counted: `_transport` stays None, so `connection_lost` counts nothing off
            return
        self._transport = transport
        server.accepting += 1
        self._inner.connection_made(transport)

    def get_buffer(self, sizehint: int) -> Any:
        return self._inner.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        self._header_bytes += nbytes
        # Not counted as upgrading while picows reads: if this read completes the upgrade, picows calls
        # `PicowsServer.connected` from within, which counts the socket among the open ones (once, not twice).
        server = self._server
        server.accepting -= 1
        try:
            self._inner.buffer_updated(nbytes)
        finally:
            upgraded = self._inner.listener is not None
            if not upgraded:
                server.accepting += 1
        transport = self._transport
        assert transport is not None
        if upgraded:  # picows' protocol takes the socket from here on
            self._transport = None
            transport.set_protocol(self._inner)
        elif self._header_bytes > self._server.limits.max_header_bytes and not transport.is_closing():
            transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n"
                            b"connection: close\r\n\r\n")
            transport.close()

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is None:
            return  # refused at accept (or already handed over)
        self._transport = None
        self._server.accepting -= 1
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class PicowsServer:
    """`/ws` on picows: listens on `port`, runs `handler` for each upgraded connection."""

    def __init__(self, handler: Handler, limits: EdgeLimits, keepalive: KeepAlive, *, host: str, port: int,
                 open_connections: Callable[[], int]) -> None:
        if keepalive.timeout > keepalive.interval:
            raise ValueError("with the picows transport, ping_timeout_seconds must not exceed ping_interval_seconds "
                             f"({keepalive.timeout} > {keepalive.interval}): picows would refuse every connection")
        if limits.max_header_bytes > UPGRADE_HEAD_BYTES:
            raise ValueError(f"with the picows transport, max_header_bytes ({limits.max_header_bytes}) must not "
                             f"exceed {UPGRADE_HEAD_BYTES}, the longest upgrade request picows reads: it would drop "
                             "longer ones")
        self.handler = handler
        self.limits = limits
        self.keepalive = keepalive
        self.host, self.port = host, port
        self.open_connections = open_connections  # the node's, on both servers (this one's included): the caps
        self.sockets: set[PicowsSocket] = set()
        self.accepting = 0  # connections accepted and not yet upgraded
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.loop: asyncio.AbstractEventLoop  # the loop it serves on, from `start`
        self.writes: WriteBatch  # its sockets' frames, written at the end of each turn of that loop
        picows_log = logging.getLogger("picows.server")
        picows_log.setLevel(max(picows_log.getEffectiveLevel(), logging.WARNING))  # not a line per connection
        self._logger = logging.LoggerAdapter(picows_log, {})  # an adapter: picows then makes no logger per socket

    def open_count(self) -> int:
        return len(self.sockets) + self.accepting

    async def start(self) -> None:
        loop = self.loop = asyncio.get_running_loop()
        self.writes = WriteBatch(loop)
        self._server = await loop.create_server(self._protocol, self.host, self.port, backlog=4096)

    def _protocol(self) -> _Guarded:
        keepalive = self.keepalive
        inner = WSProtocol(None, None, False, self._route, self._logger, True, self.limits.header_timeout,
                           True, keepalive.interval, keepalive.timeout, WSAutoPingStrategy.PING_WHEN_IDLE,
                           True, MAX_FRAME_BYTES, None, READ_BUFFER)
        return _Guarded(self, inner)

    def _route(self, request: WSUpgradeRequest) -> PicowsSocket | WSUpgradeResponseWithListener | None:
        if request.path.split(b"?", 1)[0] != PATH.encode():
            return None  # 404
        if len(request.headers) > self.limits.max_headers:
            return WSUpgradeResponseWithListener(
                WSUpgradeResponse.create_error_response(431, b"too many request headers"), None)
        return PicowsSocket(self)

    def connected(self, socket: PicowsSocket) -> None:
        self.sockets.add(socket)
        if self.open_connections() > self.limits.max_connections:
            task = asyncio.get_running_loop().create_task(
                socket.close(CloseCode.TRY_AGAIN_LATER, "node at capacity"))
        else:
            task = socket.serve(self._serve(socket))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def disconnected(self, socket: PicowsSocket) -> None:
        self.sockets.discard(socket)

    async def _serve(self, socket: PicowsSocket) -> None:
        try:
            await self.handler(socket)
        except Exception:
            log.exception("socket handler failed")
        finally:
            # The endpoint is done with it; a connection it did not close (the peer's went first, or a fault)
            # is closed normally.
            await socket.close(CloseCode.NORMAL, "")

    async def stop(self) -> None:
        """Stop listening; sockets still open (the node drained them with 1012 before) are closed with 1012."""
        if self._server is not None:
            self._server.close()
        for socket in list(self.sockets):
            await socket.close(CloseCode.DRAINING, "node stopping")
        deadline = asyncio.get_running_loop().time() + 2.0
        while self.sockets and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)  # the peers' close frames come back, or the close timeout drops them
        for socket in list(self.sockets):
            socket.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
