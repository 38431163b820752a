"""The stack's ceiling through Starlette: a bare Starlette-on-uvicorn JSON server with the node's exact uvicorn
settings. bench/reference_plain.py speaks the same dialect as a bare ASGI callable, without Starlette's wrappers.

The dialect (`answer`), in the same envelope as protocol v1:
- any command `{"id", "type", "data"}` is answered `{"id", "type", "ok": true, "data": {...}}` (orjson both ways);
- `sub` adds the socket to the market topic; `pub` encodes one `market.listed` event once and sends the same
  text to every subscriber in turn;
- `hello {key}` names the socket; `whisper {to, text}` delivers a `chat.message` to the socket named `to`, through
  Redis pub/sub when `--redis` is given (one awaited `PUBLISH` per message, on a blocking pool of 32 connections
  like the node's), so two processes measure the cross-node path.
There is no auth, no storage, no rate limit, no queue per socket: what the node does beyond this is its overhead.
A socket is known by its send function (`SendText`: Starlette's `WebSocket.send_text`, or the plain reference's
one `websocket.send`), so both references share the dialect and differ only in how frames reach it.

    python -m bench.reference_echo --port 8100 [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from server.serve import uvicorn_config
from server.settings import Settings

SendText = Callable[[str], Awaitable[None]]
CHANNEL = "echo:relay"
SUBSCRIBERS: set[SendText] = set()
NAMED: dict[str, SendText] = {}
STATE: dict[str, Any] = {"redis": None}
ENERGY = {"energy": 100, "max": 100, "next_at": None}


async def deliver(key: str, text: str) -> None:
    send_text = NAMED.get(key)
    if send_text is not None:
        try:
            await send_text(text)
        except Exception:
            pass


async def answer(frame: dict[str, Any], send_text: SendText, names: list[str]) -> str:
    """Do what one command asks and return its reply's text (`names`: the keys this socket took with `hello`)."""
    kind = frame.get("type")
    data: Any = {}
    if kind == "pub":
        text = orjson.dumps({"type": "market.listed", "topic": "market", "data": frame["data"]}).decode()
        for subscriber in tuple(SUBSCRIBERS):
            try:
                await subscriber(text)
            except Exception:
                SUBSCRIBERS.discard(subscriber)
        data = {"delivered": len(SUBSCRIBERS)}
    elif kind == "sub":
        SUBSCRIBERS.add(send_text)
    elif kind == "hello":
        names.append(frame["data"]["key"])
        NAMED[names[-1]] = send_text
    elif kind == "whisper":
        to = frame["data"]["to"]
        text = orjson.dumps({"type": "chat.message", "seq": 1, "data": {
            "from": "sender", "to": to, "text": frame["data"]["text"], "channel": "whisper"}}).decode()
        redis = STATE["redis"]
        if redis is not None:
            await redis.publish(CHANNEL, f"{to} {text}")
        else:
            await deliver(to, text)
    elif kind == "energy.get":
        data = ENERGY
    return orjson.dumps({"id": frame.get("id"), "type": kind, "ok": True, "data": data}).decode()


def forget(send_text: SendText, names: list[str]) -> None:
    """A socket closed: out of the topic and its names freed."""
    SUBSCRIBERS.discard(send_text)
    for name in names:
        if NAMED.get(name) == send_text:  # `==`: a bound method is a new object at each access
            del NAMED[name]


async def endpoint(ws: WebSocket) -> None:
    await ws.accept()
    send_text = ws.send_text
    names: list[str] = []
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            frame = orjson.loads(message.get("text") or message.get("bytes") or b"{}")
            await send_text(await answer(frame, send_text, names))
    finally:
        forget(send_text, names)


async def relay(url: str) -> None:
    import redis.asyncio as aioredis

    # A blocking pool, as the node's bus uses: redis-py's default pool raises past its limit under load.
    client = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(url, max_connections=32,
                                                                                     timeout=10))
    STATE["redis"] = client
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(CHANNEL)
    while True:
        message = await pubsub.get_message(timeout=None)
        if message is not None:
            key, _, text = message["data"].decode().partition(" ")
            if key in NAMED:
                await deliver(key, text)


@contextlib.asynccontextmanager
async def relaying(redis_url: str | None) -> AsyncIterator[None]:
    """The Redis relay for the server's lifetime, when there is a Redis."""
    task = asyncio.create_task(relay(redis_url)) if redis_url else None
    yield
    if task is not None:
        task.cancel()


def make_app(redis_url: str | None) -> Starlette:
    return Starlette(routes=[WebSocketRoute("/ws", endpoint)], lifespan=lambda app: relaying(redis_url))


def run(make: Callable[[str | None], Any], doc: str | None) -> None:
    """A reference's command line: the app `make` builds, served on the node's uvicorn settings."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--redis", default=None)
    args = parser.parse_args()
    config = uvicorn_config(make(args.redis), Settings(host="127.0.0.1", port=args.port))
    uvicorn.Server(config).run()


def main() -> None:
    run(make_app, __doc__)


if __name__ == "__main__":
    main()
