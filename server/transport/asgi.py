"""The transport port on an ASGI server (uvicorn, with the guarded protocols of server/edge.py).

A text frame goes out in one of two ways, the same frame on the wire:
- while the connection is open and writable (nearly always), the guarded protocol writes it to the transport at
  once (server/edge.py `write_text`): no ASGI message, no coroutine, no websockets frame object per send, which a
  fan-out would pay once per subscriber;
- otherwise through ASGI's `send`, which waits while the transport pushes back and knows every other state
  (closing, gone, compressing). `send` here steps that coroutine by hand once, so a send that does not suspend
  costs no task switch, and hands the suspended rest to the caller (the session's writer task finishes it).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from typing import Any

from starlette.types import Receive, Send


class _Rest:
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


class AsgiTransport:
    """One accepted ASGI WebSocket connection as a `Transport`."""

    __slots__ = ("_abort", "_receive", "_send", "_write_text")

    def __init__(self, receive: Receive, send: Send, abort: Callable[[], None] | None,
                 write_text: Callable[[bytes], bool] | None) -> None:
        self._receive = receive
        self._send = send
        # The guarded protocol's transport abort and direct frame write (None under another ASGI server)
        self._abort = abort
        self._write_text = write_text

    def send(self, payload: bytes) -> _Rest | None:
        write_text = self._write_text
        if write_text is not None and write_text(payload):
            return None
        # ASGI's message takes the text as a str: decoded only here, where the transport pushes back or is closing
        coro = self._send({"type": "websocket.send", "text": payload.decode()})
        try:
            yielded = coro.send(None)
        except StopIteration:
            return None
        return _Rest(coro, yielded)

    async def receive(self) -> str | bytes | None:
        message = await self._receive()
        if message["type"] != "websocket.receive":  # websocket.disconnect
            return None
        text = message.get("text")
        return text if text is not None else (message.get("bytes") or b"")

    async def close(self, code: int, reason: str) -> None:
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except Exception:
            pass  # the peer is gone already

    def abort(self) -> bool:
        if self._abort is None:
            return False
        self._abort()
        return True
