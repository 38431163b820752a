"""The stack's ceiling: a bare Starlette-on-uvicorn JSON server with the node's exact uvicorn settings.

It does the least a JSON-over-WebSocket server can do, in the same envelope as protocol v1:
- any command `{"id", "type", "data"}` is answered `{"id", "type", "ok": true, "data": {...}}` (orjson both ways);
- `sub` adds the socket to the market topic; `pub` encodes one `market.listed` event once and sends the same
  text to every subscriber in turn;
- `hello {key}` names the socket; `whisper {to, text}` delivers a `chat.message` to the socket named `to`, through
  Redis pub/sub when `--redis` is given (one awaited `PUBLISH` per message, on a blocking pool of 32 connections
  like the node's), so two processes measure the cross-node path.
There is no auth, no storage, no rate limit, no queue per socket: what the node does beyond this is its overhead.

    python -m bench.reference_echo --port 8100 [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from server.serve import uvicorn_config
from server.settings import Settings

CHANNEL = "echo:relay"
SUBSCRIBERS: set[WebSocket] = set()
NAMED: dict[str, WebSocket] = {}
STATE: dict[str, Any] = {"redis": None}
ENERGY = {"energy": 100, "max": 100, "next_at": None}


async def deliver(key: str, text: str) -> None:
    ws = NAMED.get(key)
    if ws is not None:
        try:
            await ws.send_text(text)
        except Exception:
            pass


async def endpoint(ws: WebSocket) -> None:
    await ws.accept()
    names: list[str] = []
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            frame = orjson.loads(message.get("text") or message.get("bytes") or b"{}")
            kind = frame.get("type")
            data: Any = {}
            if kind == "pub":
                text = orjson.dumps({"type": "market.listed", "topic": "market", "data": frame["data"]}).decode()
                for subscriber in tuple(SUBSCRIBERS):
                    try:
                        await subscriber.send_text(text)
                    except Exception:
                        SUBSCRIBERS.discard(subscriber)
                data = {"delivered": len(SUBSCRIBERS)}
            elif kind == "sub":
                SUBSCRIBERS.add(ws)
            elif kind == "hello":
                names.append(frame["data"]["key"])
                NAMED[names[-1]] = ws
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
            await ws.send_text(orjson.dumps({"id": frame.get("id"), "type": kind, "ok": True, "data": data}).decode())
    finally:
        SUBSCRIBERS.discard(ws)
        for name in names:
            if NAMED.get(name) is ws:
                del NAMED[name]


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


def make_app(redis_url: str | None) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(relay(redis_url)) if redis_url else None
        yield
        if task is not None:
            task.cancel()

    return Starlette(routes=[WebSocketRoute("/ws", endpoint)], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--redis", default=None)
    args = parser.parse_args()
    config = uvicorn_config(make_app(args.redis), Settings(host="127.0.0.1", port=args.port))
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
