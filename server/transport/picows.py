"""The transport port on picows (its core API: Cython framing, asyncio protocol callbacks), serving `/ws` on its own
port in the node's process and event loop, beside uvicorn's HTTP.

What picows leaves to us, and where it is done here:

- the edge of server/edge.py: a hard cap on open connections (dropped at accept) and the per-address rate, at
  `connection_made`; header bytes (431) while the upgrade request is read, header count (431), the header timeout
  (picows' handshake timeout), 1013 past `max_connections`. During the upgrade a thin Python protocol
  (`_Guarded`) counts the bytes in front of picows'; once upgraded the socket talks to picows' protocol directly.
- message reassembly (fragments), capped at `MAX_FRAME_BYTES` for the whole message (1009), and invalid UTF-8
  in a text frame (1007), as uvicorn's websockets does;
- a bounded inbox: a client that pipelines faster than its commands run has its reads paused (the kernel's buffer
  and TCP flow control hold the rest), instead of growing the node's memory;
- back-pressure out: `pause_writing` / `resume_writing` of the asyncio transport make `send` return an awaitable
  (the session's writer waits on it, under its write deadline);
- the close handshake: a close frame we send is answered by the peer's (or the connection is dropped after
  `CLOSE_TIMEOUT`), a close frame the peer sends is answered with the same code;
- async auth: picows' listener callbacks are synchronous, so each upgraded connection gets a task running the
  endpoint (`handler`), as uvicorn gives each ASGI connection one.

Keepalive is picows' own auto-ping (idle pings every `ping_interval_seconds`, dropped without a pong within
`ping_timeout_seconds`), which requires the timeout not to exceed the interval: checked at start, since picows
otherwise fails every connection at accept, silently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from picows import (
    WSAutoPingStrategy,
    WSCloseCode,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
)
from picows.picows import WSProtocol  # type: ignore[attr-defined]

from protocol import CloseCode
from server.edge import ClientNoise, EdgeLimits
from server.transport.port import MAX_FRAME_BYTES, KeepAlive

log = logging.getLogger("valgame.picows")
noise = ClientNoise(log)  # what clients cause, logged once per kind per 10 s (as on the ASGI path)

PATH = "/ws"
CLOSE_TIMEOUT = 5.0  # after our close frame, how long the peer has to answer with its own before it is dropped
INBOX_PAUSE = 32  # frames received and not yet read by the endpoint before reading from the socket pauses
INBOX_RESUME = 8
READ_BUFFER = 4 * 1024  # picows' initial read buffer per socket (it grows as frames need): idle sockets stay small
# The longest upgrade request head (request line to blank line) picows reads: its parser's `_http_max_size`, fixed
# (no parameter sets it); past it picows drops the connection. `max_header_bytes` may not exceed it (checked at start).
UPGRADE_HEAD_BYTES = 16 * 1024
PROTOCOL_ERROR, INVALID_DATA = 1002, 1007  # RFC 6455 codes the protocol's CloseCode has no need to name
_TEXT, _BINARY, _CONTINUATION, _CLOSE = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION, WSMsgType.CLOSE

Handler = Callable[["PicowsSocket"], Awaitable[None]]


class _Gone(ConnectionError):
    """The connection is closed: nothing more can be sent on it."""


class PicowsSocket(WSListener):
    """One upgraded connection: picows' listener, and the `Transport` the session and the endpoint use."""

    __slots__ = ("_closing", "_inbox", "_parts", "_parts_size", "_parts_text", "_paused", "_reading_paused",
                 "_resumed", "_server", "_waiter", "ws")

    def __init__(self, server: PicowsServer) -> None:
        super().__init__()
        self._server = server
        self.ws: WSTransport | None = None
        # A list, not a deque: it holds a frame or two at a time (at most INBOX_PAUSE), and an empty deque costs
        # ~600 bytes on every idle socket against a list's 56.
        self._inbox: list[str | bytes | None] = []
        self._waiter: asyncio.Future[None] | None = None
        self._parts: list[bytes] | None = None  # a fragmented message being reassembled
        self._parts_size = 0
        self._parts_text = True
        self._paused = False  # the transport's write buffer is over its high-water mark
        self._resumed: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._closing: asyncio.TimerHandle | None = None

    # --- the Transport port --------------------------------------------------------------------------------------
    def send(self, payload: bytes) -> Awaitable[None] | None:
        ws = self.ws
        if ws is None or ws.is_disconnected or ws.is_close_frame_sent:
            raise _Gone()
        if self._paused:
            return self._send_when_writable(payload)
        ws.send(_TEXT, payload)
        return None

    async def _send_when_writable(self, payload: bytes) -> None:
        while self._paused:
            if self._resumed is None:
                self._resumed = asyncio.get_running_loop().create_future()
            await self._resumed  # raises _Gone when the connection is lost meanwhile
        self.send(payload)

    async def receive(self) -> str | bytes | None:
        inbox = self._inbox
        while not inbox:
            # The server's loop, not asyncio.get_running_loop(): on Python 3.11 that look-up makes a getpid system
            # call, once per command on a socket that waits for its next frame.
            self._waiter = self._server.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = inbox.pop(0)
        if self._reading_paused and len(inbox) <= INBOX_RESUME:
            self._reading_paused = False
            ws = self.ws
            if ws is not None and not ws.is_disconnected:
                ws.underlying_transport.resume_reading()
        return item

    async def close(self, code: int, reason: str) -> None:
        ws = self.ws
        if ws is None or ws.is_disconnected or ws.is_close_frame_sent:
            return
        ws.send_close(WSCloseCode(code), reason.encode()[:123])
        received = ws.close_handshake is not None and ws.close_handshake.recv is not None
        if received:  # the peer closed first: this was our answer, the connection ends here
            ws.disconnect()
        elif self._closing is None:
            self._closing = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, ws.disconnect)

    def abort(self) -> bool:
        ws = self.ws
        if ws is not None:
            ws.disconnect(graceful=False)
        return True

    # --- picows' callbacks ---------------------------------------------------------------------------------------
    def on_ws_connected(self, transport: WSTransport) -> None:
        self.ws = transport
        self._server.connected(self)

    def on_ws_frame(self, transport: WSTransport, frame: Any) -> None:
        kind = frame.msg_type
        if kind is _TEXT or kind is _BINARY:
            if self._parts is not None:
                self._fail(PROTOCOL_ERROR, "expected a continuation frame")
            elif not frame.fin:
                self._parts, self._parts_size = [frame.get_payload_as_bytes()], frame.payload_size
                self._parts_text = kind is _TEXT
            elif kind is _TEXT:
                try:
                    self._push(frame.get_payload_as_utf8_text())
                except UnicodeDecodeError:
                    noise.info("Invalid UTF-8 in a text frame")
                    self._fail(INVALID_DATA, "invalid UTF-8")
            else:
                self._push(frame.get_payload_as_bytes())
        elif kind is _CONTINUATION:
            self._continue(frame)
        elif kind is _CLOSE:
            self._closed_by_peer(transport, frame)

    def _continue(self, frame: Any) -> None:
        parts = self._parts
        if parts is None:
            self._fail(PROTOCOL_ERROR, "unexpected continuation frame")
            return
        self._parts_size += frame.payload_size
        if self._parts_size > MAX_FRAME_BYTES:
            self._parts = None
            self._fail(CloseCode.FRAME_TOO_LARGE, "message too big")
            return
        parts.append(frame.get_payload_as_bytes())
        if frame.fin:
            self._parts = None
            payload = b"".join(parts)
            if not self._parts_text:
                self._push(payload)
                return
            try:
                self._push(payload.decode())
            except UnicodeDecodeError:
                noise.info("Invalid UTF-8 in a text frame")
                self._fail(INVALID_DATA, "invalid UTF-8")

    def _closed_by_peer(self, transport: WSTransport, frame: Any) -> None:
        if transport.is_close_frame_sent:  # the answer to ours: done
            transport.disconnect()
        else:
            code = int(frame.get_close_code())
            transport.send_close(WSCloseCode(code) if code not in (0, 1005) else WSCloseCode.OK)
            transport.disconnect()
        self._push(None)

    def _fail(self, code: int, reason: str) -> None:
        """A protocol violation by the peer: close with `code`, and the endpoint sees the end."""
        ws = self.ws
        if ws is not None and not ws.is_close_frame_sent:
            ws.send_close(WSCloseCode(code), reason.encode())
            if self._closing is None:
                self._closing = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, ws.disconnect)
        self._push(None)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self._closing is not None:
            self._closing.cancel()
            self._closing = None
        self._push(None)
        resumed, self._resumed = self._resumed, None
        if resumed is not None and not resumed.done():
            resumed.set_exception(_Gone())
            resumed.exception()  # retrieved: no "never retrieved" warning when nobody was waiting any more
        self._server.disconnected(self)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        resumed, self._resumed = self._resumed, None
        if resumed is not None and not resumed.done():
            resumed.set_result(None)

    def _push(self, item: str | bytes | None) -> None:
        inbox = self._inbox
        if inbox and inbox[-1] is None:
            return  # ended: nothing follows the end
        inbox.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if len(inbox) >= INBOX_PAUSE and not self._reading_paused and item is not None:
            ws = self.ws
            if ws is not None and not ws.is_disconnected:
                self._reading_paused = True
                ws.underlying_transport.pause_reading()


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
        picows_log = logging.getLogger("picows.server")
        picows_log.setLevel(max(picows_log.getEffectiveLevel(), logging.WARNING))  # not a line per connection
        self._logger = logging.LoggerAdapter(picows_log, {})  # an adapter: picows then makes no logger per socket

    def open_count(self) -> int:
        return len(self.sockets) + self.accepting

    async def start(self) -> None:
        loop = self.loop = asyncio.get_running_loop()
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
            task = asyncio.get_running_loop().create_task(self._serve(socket))
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
