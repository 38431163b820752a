"""A protocol v1 client over a real WebSocket, as a game client would speak it."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed


class CommandFailed(Exception):
    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__(f"{reply.get('type')}: {reply['error']}")
        self.reply = reply
        self.code = reply["error"]["code"]


class Client:
    """Sends commands, matches replies by id, queues events; `close_code` is set once the server closed."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self._ids = itertools.count(1)
        self._pending: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self._event_signal = asyncio.Condition()
        self.replies: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self._reader = asyncio.create_task(self._read())
        self.closed = asyncio.Event()

    @classmethod
    async def connect(cls, url: str, **kwargs: Any) -> Client:
        conn = await websockets.connect(url, max_size=None, compression=None, **kwargs)
        return cls(conn)

    @classmethod
    async def open(cls, url: str, token: str, **auth: Any) -> tuple[Client, dict[str, Any]]:
        client = await cls.connect(url)
        reply = await client.call("auth", {"token": token, **auth})
        return client, reply

    async def _read(self) -> None:
        try:
            async for raw in self.conn:
                message = orjson.loads(raw)
                if "ok" in message:
                    self.replies.append(message)
                    future = self._pending.pop(message.get("id"), None)
                    if future is not None and not future.done():
                        future.set_result(message)
                else:
                    async with self._event_signal:
                        self.events.append(message)
                        self._event_signal.notify_all()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.conn.close_code
            self.closed.set()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"closed with {self.close_code}"))
            async with self._event_signal:
                self._event_signal.notify_all()

    async def send_raw(self, raw: str | bytes) -> None:
        await self.conn.send(raw)

    def expect_reply(self, frame_id: Any) -> asyncio.Future[dict[str, Any]]:
        """A future for the next reply carrying `frame_id` (None for frames whose id cannot be read)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[frame_id] = future
        return future

    async def raw_request(self, raw: str | bytes, frame_id: Any = None, timeout: float = 10) -> dict[str, Any]:
        """Send a hand-made frame and return the reply that carries `frame_id`."""
        future = self.expect_reply(frame_id)
        await self.conn.send(raw)
        return await asyncio.wait_for(future, timeout)

    async def request(self, type: str, data: dict[str, Any] | None = None, *, idem: str | None = None,
                      timeout: float = 10, frame_id: Any = None) -> dict[str, Any]:
        """Send a command and return its reply frame, whatever its outcome."""
        frame_id = next(self._ids) if frame_id is None else frame_id
        frame: dict[str, Any] = {"id": frame_id, "type": type, "data": data or {}}
        if idem is not None:
            frame["idem"] = idem
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[frame_id] = future
        await self.conn.send(orjson.dumps(frame).decode())
        return await asyncio.wait_for(future, timeout)

    async def call(self, type: str, data: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """Send a command and return its reply data; raise CommandFailed on an error reply."""
        reply = await self.request(type, data, **kwargs)
        if not reply["ok"]:
            raise CommandFailed(reply)
        return reply["data"]

    async def expect_error(self, type: str, data: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        reply = await self.request(type, data, **kwargs)
        assert not reply["ok"], f"expected an error, got {reply}"
        return reply["error"]

    async def wait_event(self, type: str, where: Callable[[dict[str, Any]], bool] | None = None,
                         timeout: float = 10, after: int = 0) -> dict[str, Any]:
        """The first event of `type` (at index ≥ after) matching `where`, waiting for it if needed."""
        async def find() -> dict[str, Any]:
            async with self._event_signal:
                while True:
                    for event in self.events[after:]:
                        if event["type"] == type and (where is None or where(event["data"])):
                            return event
                    if self.closed.is_set():
                        raise ConnectionError(f"closed with {self.close_code} before {type}")
                    await self._event_signal.wait()
        return await asyncio.wait_for(find(), timeout)

    async def wait_closed(self, timeout: float = 10) -> int | None:
        await asyncio.wait_for(self.closed.wait(), timeout)
        return self.close_code

    async def close(self) -> None:
        await self.conn.close()
        await self._reader


async def register(http: str, name: str, password: str = "correct horse battery") -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=http) as client:
        response = await client.post("/auth/register",
                                     json={"username": name, "email": f"{name}@example.test", "password": password})
        assert response.status_code == 201, response.text
        response = await client.post("/auth/login", json={"username": name, "password": password})
        assert response.status_code == 200, response.text
        return response.json()


_names = itertools.count(1)


def unique_name(prefix: str = "p") -> str:
    import os

    return f"{prefix}{os.getpid() % 10000}_{next(_names)}"
