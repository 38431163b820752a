"""The transport port on an ASGI server (uvicorn, with the guarded protocols of server/edge.py).

uvicorn's `send` of a text frame writes it to the transport without suspending unless the transport pushes back;
`send` here steps that coroutine by hand once, so the common case costs no task switch, and hands the suspended
rest to the caller (the session's writer task finishes it) when it does push back.
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

    __slots__ = ("_abort", "_receive", "_send")

    def __init__(self, receive: Receive, send: Send, abort: Callable[[], None] | None) -> None:
        self._receive = receive
        self._send = send
        self._abort = abort  # the guarded protocol's transport abort (None under another ASGI server)

    def send(self, text: str) -> _Rest | None:
        coro = self._send({"type": "websocket.send", "text": text})
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
