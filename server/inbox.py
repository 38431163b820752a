"""The queue between uvicorn's WebSocket protocol and the app's `receive`, in place of its `asyncio.Queue`.

The protocol queues each message it reads (`put_nowait`) and the app's `receive` awaits the next (`get`); uvicorn
asks nothing else of the queue but `empty` (and the edge's read pause, server/edge.py, `qsize`). `asyncio.Queue.get`
looks the running loop up every time it has to wait, which on Python 3.11 makes a getpid system call: once per
command for a client that waits for each reply. Here the waiter is made on the protocol's loop, given once. It is
also smaller on every idle socket (one list, no deques).

One reader at a time, as an ASGI app reads its connection: a second `get` while one waits is an error.
"""

from __future__ import annotations

import asyncio
from typing import Any


class Inbox:
    __slots__ = ("_items", "_loop", "_waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # A list: it holds a message or two at a time (reading pauses at server/edge.py's INBOX_PAUSE).
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    async def get(self) -> Any:
        items = self._items
        while not items:
            if self._waiter is not None:
                raise RuntimeError("one reader at a time: another get() is waiting")
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return items.pop(0)
