"""The tests' protocol client: the SDK's asyncio shell (valgame_client.aio) with what tests need beside it.

A test client never reconnects by itself (tests check close codes); it keeps every reply it saw (`replies`) and can
send hand-made frames (`send_raw`, `raw_request`)."""

from __future__ import annotations

import asyncio
import itertools
import os
from typing import Any

import httpx
import orjson

from valgame_client import http as sdk_http
from valgame_client.aio import AsyncClient
from valgame_client.errors import CommandError

CommandFailed = CommandError  # the name this module gave error replies before the SDK (tests on other branches)


class Client(AsyncClient):
    """Sends commands, matches replies by id, queues events; `close_code` is set once the server closed."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.replies: list[dict[str, Any]] = []
        # the seq of every personal event as it came off the wire, duplicates included (the SDK drops those)
        self.wire_seqs: list[int] = []
        receive = self.core.receive

        def receive_and_note(raw: str | bytes) -> list[Any]:
            frame = orjson.loads(raw) if raw[:1] in ("{", b"{") else None
            if isinstance(frame, dict) and "ok" not in frame and isinstance(frame.get("seq"), int):
                self.wire_seqs.append(frame["seq"])
            return receive(raw)

        self.core.receive = receive_and_note  # type: ignore[method-assign]

    # The tests' constructors: `Client.connect(url)` for a bare socket, `Client.open(url, token)` for an
    # authenticated one (they shadow the SDK's instance `connect`, which a test client has no use for).
    @classmethod
    async def connect(cls, url: str, **options: Any) -> Client:  # type: ignore[override]
        client = cls(url, **options)
        await client.open_socket()  # no token: the test speaks `auth` itself
        return client

    @classmethod
    async def open(cls, url: str, token: str, **auth: Any) -> tuple[Client, dict[str, Any]]:
        client = await cls.connect(url)
        reply = await client.call("auth", {"token": token, **auth})
        return client, reply

    def _reply_received(self, frame: dict[str, Any]) -> None:
        self.replies.append(frame)

    async def raw_request(self, raw: str | bytes, frame_id: Any = None, timeout: float = 10) -> dict[str, Any]:
        """Send a hand-made frame and return the reply that carries `frame_id`."""
        future = self.expect_reply(frame_id)
        await self.send_raw(raw)
        return await asyncio.wait_for(future, timeout)

    async def expect_error(self, type: str, data: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        reply = await self.request(type, data, **kwargs)
        assert not reply["ok"], f"expected an error, got {reply}"
        return reply["error"]


def assert_no_gap(client: Client, after: int) -> None:
    """Every personal event the socket got came once, in seq order, starting right after seq `after`."""
    assert client.wire_seqs == list(range(after + 1, after + 1 + len(client.wire_seqs))), client.wire_seqs
    assert not client.resyncs, client.resyncs


BUSY_TRIES = 10  # a set-up request refused for load (429/503 with Retry-After) is sent at most this many times


async def send_when_served(client: httpx.AsyncClient, request: sdk_http.HttpRequest,
                           tries: int = BUSY_TRIES) -> httpx.Response:
    """Send a set-up request as a client should: refused for load (a saturated test machine hashing passwords for
    other tests), it comes back after `Retry-After`, at most `tries` times in all; the last answer is returned.
    Tests of the refusal itself send their requests directly."""
    for attempt in range(1, tries + 1):
        response = await client.request(request.method, request.path, content=request.content(),
                                        headers=request.headers())
        wait = sdk_http.retry_after_seconds(response.status_code, response.headers)
        if wait is None or attempt == tries:
            return response
        await asyncio.sleep(wait)
    raise ValueError("tries must be at least 1")


async def register(http: str, name: str, password: str = "correct horse battery") -> dict[str, Any]:
    """Register a player; the reply, which signs it in as a login's does (`access_token`, `player_id`, ...)."""
    async with httpx.AsyncClient(base_url=http) as client:
        response = await send_when_served(client, sdk_http.register_request(name, f"{name}@example.test", password))
        return sdk_http.parse_reply(response.status_code, response.content)


_names = itertools.count(1)


def unique_name(prefix: str = "p") -> str:
    return f"{prefix}{os.getpid() % 10000}_{next(_names)}"
