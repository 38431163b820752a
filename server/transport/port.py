"""The transport port: what a session and the `/ws` endpoint need of one WebSocket connection, whatever serves it.

The session (server/session.py) writes its queue, write deadline, close and abort once, above this port; the
endpoint (server/socket.py) writes auth, caps and the read loop once. An adapter only moves frames:

- `send(payload)` hands a text frame (its UTF-8 payload: the encoded JSON as orjson made it, never decoded and
  encoded again on the way) over *without a task switch* when the transport can take it, and returns None.
  When the transport pushes back (its peer reads slowly) it returns an awaitable instead: awaiting it finishes that
  very send, and it is the session's writer task that does (later frames queue behind it). That return value is the
  writable / back-pressure signal: nothing is written past a transport that pushes back. A transport that is gone
  raises (any exception): the reader sees the disconnect and cleans up.
- `receive()` waits for the next event from the peer: a text frame (str), a binary frame (bytes), or None once
  the peer closed or the connection is gone (no more events follow).
- `close(code, reason)` sends a close frame (never raises: the peer may be gone already); `abort()` drops the
  connection at once, whatever is buffered (False when the server offers no way: the caller then stops writing).
- `start_on_arrival(starter)`: the endpoint's read loop offers a `FrameStarter` while it waits in `receive()`.
  A transport that reads in a callback of its own (picows) may then start a frame's command right there, as a step
  of the read loop's task, instead of waking that task for it: on light commands that wake-up (a future, a turn of
  the loop, the resumption of the loop's whole chain of coroutines) is a tenth of the node's CPU per command
  (docs/PERFORMANCE.md, run 15). A command that has to wait is finished by the read loop's task, before the next
  frame. A transport without such a callback (ASGI: frames come only through `receive()`) ignores the offer.

What is configured once per server rather than per call: the largest frame (`MAX_FRAME_BYTES`, 1009 beyond),
compression (off unless `ws_per_message_deflate`), keepalive pings (`KeepAlive`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any, Protocol

MAX_FRAME_BYTES = 64 * 1024  # the largest frame a client may send (protocol: 1009 beyond)


class FrameStarter(Protocol):
    """What the read loop offers a transport for frames that arrive while it waits (`Transport.start_on_arrival`)."""

    def ready(self) -> bool:
        """Whether a command may start now (False: the frame waits in the transport for the read loop)."""
        ...

    def start(self, raw: str | bytes) -> Coroutine[Any, Any, None] | None:
        """The frame's command as a coroutine not yet started, or None when the frame was answered at once (refused,
        or the socket is closing)."""
        ...


class Transport(Protocol):
    def send(self, payload: bytes) -> Awaitable[None] | None: ...

    async def receive(self) -> str | bytes | None: ...

    async def close(self, code: int, reason: str) -> None: ...

    def abort(self) -> bool: ...

    def start_on_arrival(self, starter: FrameStarter | None) -> None: ...


class Rest:
    """Awaits the rest of a coroutine that was started by hand and suspended, yielding `first` (PEP 380's
    `yield from`, without its first step), so a task can finish it."""

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self._coro, self._first = coro, first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, yielded = self._coro, self._first
        while True:
            try:
                value = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:
                try:
                    yielded = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    yielded = coro.send(value)
                except StopIteration as stop:
                    return stop.value


@dataclass(frozen=True)
class KeepAlive:
    """Server pings every `interval` seconds; a peer that does not answer one within `timeout` is dropped."""

    interval: float
    timeout: float

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.timeout <= 0:
            raise ValueError("ping_interval_seconds and ping_timeout_seconds must be positive")


class SocketServer(Protocol):
    """A server of `/ws` beside uvicorn (server/transport/picows.py), started and stopped with the node's app."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def open_count(self) -> int:
        """Its open connections, upgrading ones included (the node's connection limits count them)."""
        ...
