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

from collections.abc import Callable

from starlette.types import Receive, Send

from server.transport.port import FrameStarter, Rest


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

    def send(self, payload: bytes) -> Rest | None:
        write_text = self._write_text
        if write_text is not None and write_text(payload):
            return None
        # ASGI's message takes the text as a str: decoded only here, where the transport pushes back or is closing
        coro = self._send({"type": "websocket.send", "text": payload.decode()})
        try:
            yielded = coro.send(None)
        except StopIteration:
            return None
        return Rest(coro, yielded)

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

    def start_on_arrival(self, starter: FrameStarter | None) -> None:
        """Frames come only through `receive()` (uvicorn's): nothing to start elsewhere."""

    def abort(self) -> bool:
        if self._abort is None:
            return False
        self._abort()
        return True
