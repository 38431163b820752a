"""The stack's true ceiling: the echo reference's dialect (bench/reference_echo.py `answer`) as a bare ASGI callable
on the node's exact uvicorn settings, with no Starlette in between (no router, no middleware, no `WebSocket`
wrapper and its state checks on every receive and send), as the node's own /ws is served.

    python -m bench.reference_plain --port 8101 [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from bench.reference_echo import answer, forget, relaying, run

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
NOT_FOUND = {"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]}


async def lifespan(redis_url: str | None, receive: Receive, send: Send) -> None:
    await receive()  # lifespan.startup
    async with relaying(redis_url):
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
    await send({"type": "lifespan.shutdown.complete"})


async def socket(receive: Receive, send: Send) -> None:
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})

    async def send_text(text: str) -> None:
        await send({"type": "websocket.send", "text": text})

    names: list[str] = []
    try:
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            frame = orjson.loads(message.get("text") or message.get("bytes") or b"{}")
            await send({"type": "websocket.send", "text": await answer(frame, send_text, names)})
    finally:
        forget(send_text, names)


def make_app(redis_url: str | None) -> Callable[[dict[str, Any], Receive, Send], Awaitable[None]]:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket" and scope["path"] == "/ws":
            await socket(receive, send)
        elif kind == "lifespan":
            await lifespan(redis_url, receive, send)
        elif kind == "http":
            await send(NOT_FOUND)
            await send({"type": "http.response.body", "body": b""})
        # another websocket path: returning without accepting closes it (403)

    return app


def main() -> None:
    run(make_app, __doc__)


if __name__ == "__main__":
    main()
