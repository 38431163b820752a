"""The queue between uvicorn's WebSocket protocol and the app (server/inbox.py): messages in order, a reader that
waits is woken by the next one, a reader given up on (a timeout) loses nothing, and one reader at a time."""

from __future__ import annotations

import asyncio

import pytest

from server.inbox import Inbox


async def test_messages_come_out_in_the_order_they_were_queued() -> None:
    inbox = Inbox(asyncio.get_running_loop())
    for i in range(3):
        inbox.put_nowait(i)
    assert inbox.qsize() == 3
    assert [await inbox.get() for _ in range(3)] == [0, 1, 2]
    assert inbox.empty()


async def test_a_waiting_reader_gets_the_next_message() -> None:
    inbox = Inbox(asyncio.get_running_loop())
    reader = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()
    inbox.put_nowait("hello")
    assert await asyncio.wait_for(reader, 1) == "hello"


async def test_a_reader_that_timed_out_loses_nothing() -> None:
    inbox = Inbox(asyncio.get_running_loop())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(inbox.get(), 0.01)
    inbox.put_nowait("late")
    assert await asyncio.wait_for(inbox.get(), 1) == "late"


async def test_a_second_reader_while_one_waits_is_an_error() -> None:
    inbox = Inbox(asyncio.get_running_loop())
    first = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await inbox.get()
    inbox.put_nowait(1)
    assert await asyncio.wait_for(first, 1) == 1
