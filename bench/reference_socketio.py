"""What a Python team would pick instead: python-socketio's ASGI server with its Redis manager, on uvicorn with
the node's exact settings.

Events (Socket.IO 5 over the websocket transport, with acks as replies):
- `energy.get` -> ack `{"energy", "max", "next_at"}` (the light command);
- `sub` joins the room `market`; `pub` emits `market.listed` to the room (through Redis, as every emit does with
  the Redis manager) and acks;
- `hello {key}` joins the room `key`; `whisper {to, text}` emits `chat.message` to the room `to` (on whichever
  server holds it, through Redis) and acks.

    python -m bench.reference_socketio --port 8200 --redis redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
from typing import Any

import socketio
import uvicorn

from server.serve import uvicorn_config
from server.settings import Settings

ENERGY = {"energy": 100, "max": 100, "next_at": None}


def make_app(redis_url: str | None) -> Any:
    manager = socketio.AsyncRedisManager(redis_url) if redis_url else None
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager, cors_allowed_origins=[],
                               transports=["websocket"], max_http_buffer_size=64 * 1024)

    @sio.on("energy.get")
    async def energy_get(sid: str, data: Any = None) -> dict[str, Any]:
        return ENERGY

    @sio.on("sub")
    async def sub(sid: str, data: Any = None) -> dict[str, Any]:
        await sio.enter_room(sid, "market")
        return {"topic": "market"}

    @sio.on("pub")
    async def pub(sid: str, data: Any) -> dict[str, Any]:
        await sio.emit("market.listed", data, room="market")
        return {}

    @sio.on("hello")
    async def hello(sid: str, data: Any) -> dict[str, Any]:
        await sio.enter_room(sid, data["key"])
        return {}

    @sio.on("whisper")
    async def whisper(sid: str, data: Any) -> dict[str, Any]:
        await sio.emit("chat.message", {"from": "sender", "to": data["to"], "text": data["text"],
                                        "channel": "whisper"}, room=data["to"])
        return {}

    return socketio.ASGIApp(sio)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--redis", default=None)
    args = parser.parse_args()
    uvicorn.Server(uvicorn_config(make_app(args.redis), Settings(host="127.0.0.1", port=args.port))).run()


if __name__ == "__main__":
    main()
