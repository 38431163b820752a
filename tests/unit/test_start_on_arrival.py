"""Commands started as their frames arrive, on the picows transport (server/transport/picows_socket.py,
`start_on_arrival`): a text frame that finds the endpoint waiting starts its command inside picows' read callback, as
a step of the socket's task (that task current, its context entered); a command that has to wait is finished by the
task before the next frame's; a frame that cannot start there (the writer is behind, or the call comes from within a
task) waits for the read loop; a cancellation of the task reaches a command started that way; and a fault there is
raised in the task.

The socket is the transport's own class; picows' connection and frames are stand-ins, and "picows' read callback"
is a plain loop callback, which is what picows' is: no real socket is needed to pin these orderings down (the
real-socket tests run the whole node on this transport with `--transport picows`).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any

import pytest
from picows import WSMsgType

from server.transport.picows_socket import PicowsSocket
from tests.support.picows_host import Host

ENDPOINT: contextvars.ContextVar[str] = contextvars.ContextVar("endpoint", default="outside")


class Frame:
    """What `PicowsSocket.on_ws_frame` reads of a picows text frame."""

    msg_type = WSMsgType.TEXT
    fin = True

    def __init__(self, text: str) -> None:
        self.text = text

    def get_payload_as_utf8_text(self) -> str:
        return self.text


class Starter:
    """A `FrameStarter` that notes where each command started and lets a test hold a command on a gate."""

    def __init__(self) -> None:
        self.is_ready = True
        self.in_read_callback = False  # set by `deliver` around the transport's callback
        self.started: list[tuple[str, bool, asyncio.Task[Any] | None, str]] = []
        self.done: list[str] = []
        self.cancelled: list[str] = []
        self.gates: dict[str, asyncio.Future[None]] = {}

    def ready(self) -> bool:
        return self.is_ready

    def start(self, raw: str | bytes) -> Coroutine[Any, Any, None] | None:
        assert isinstance(raw, str)
        if raw == "fault":
            raise RuntimeError("a fault before the command")
        self.started.append((raw, self.in_read_callback, asyncio.current_task(), ENDPOINT.get()))
        return self._run(raw)

    async def _run(self, raw: str) -> None:
        gate = self.gates.get(raw)
        try:
            if gate is not None:
                await gate
        except asyncio.CancelledError:
            self.cancelled.append(raw)
            raise
        self.done.append(raw)


async def endpoint(socket: PicowsSocket, starter: Starter) -> None:
    """The read loop of server/socket.py, reduced to what the transport sees of it."""
    ENDPOINT.set("the endpoint's")
    socket.start_on_arrival(starter)
    try:
        while (raw := await socket.receive()) is not None:
            command = starter.start(raw)
            if command is not None:
                await command
    finally:
        socket.start_on_arrival(None)


def deliver(socket: PicowsSocket, starter: Starter, text: str) -> None:
    """A frame as picows' read callback hands it over."""
    starter.in_read_callback = True
    try:
        socket.on_ws_frame(None, Frame(text))  # type: ignore[arg-type]
    finally:
        starter.in_read_callback = False


async def until(condition: Any, what: str) -> None:
    """Poll the loop, at most two seconds, until `condition()` holds."""
    deadline = asyncio.get_running_loop().time() + 2
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.001)


async def served() -> tuple[PicowsSocket, Starter, asyncio.Task[None]]:
    socket = PicowsSocket(Host())
    starter = Starter()
    task = socket.serve(endpoint(socket, starter))
    await until(lambda: socket._waiter is not None, "the endpoint to wait for a frame")
    return socket, starter, task


async def ended(socket: PicowsSocket, task: asyncio.Task[None]) -> None:
    socket.on_ws_disconnected(None)  # type: ignore[arg-type]
    await asyncio.wait_for(task, 2)


async def test_a_frame_finding_the_endpoint_waiting_starts_its_command_in_the_read_callback() -> None:
    socket, starter, task = await served()
    loop = asyncio.get_running_loop()
    called = loop.create_future()
    loop.call_soon(lambda: (deliver(socket, starter, "a"), called.set_result(None)))
    await called
    assert starter.started == [("a", True, task, "the endpoint's")]  # as a step of the socket's task, in its context
    assert starter.done == ["a"]  # done within the callback: the task was not woken for it
    deliver_again = loop.create_future()
    loop.call_soon(lambda: (deliver(socket, starter, "b"), deliver_again.set_result(None)))
    await deliver_again
    assert [s[:2] for s in starter.started] == [("a", True), ("b", True)]
    assert ENDPOINT.get() == "outside"  # the endpoint's context stayed its own
    await ended(socket, task)


async def test_a_command_that_waits_is_finished_by_the_task_before_the_next_frame_starts() -> None:
    socket, starter, task = await served()
    loop = asyncio.get_running_loop()
    gate = starter.gates["a"] = loop.create_future()
    loop.call_soon(deliver, socket, starter, "a")
    await until(lambda: starter.started, "a to start")
    loop.call_soon(deliver, socket, starter, "b")
    await until(lambda: socket._inbox == ["b"], "b to be queued behind a")
    assert [s[0] for s in starter.started] == ["a"] and starter.done == []
    gate.set_result(None)
    await until(lambda: starter.done == ["a", "b"], "a, then b")
    assert [(raw, in_callback) for raw, in_callback, _, _ in starter.started] == [("a", True), ("b", False)]
    await ended(socket, task)


async def test_a_frame_that_cannot_start_in_the_callback_waits_for_the_read_loop() -> None:
    socket, starter, task = await served()
    loop = asyncio.get_running_loop()
    starter.is_ready = False  # the writer is behind: the read loop lets it flush first
    loop.call_soon(deliver, socket, starter, "a")
    await until(lambda: starter.done == ["a"], "a")
    starter.is_ready = True
    deliver(socket, starter, "b")  # from within this test's task, not from a read callback
    await until(lambda: starter.done == ["a", "b"], "b")
    assert [(raw, in_callback, started_in) for raw, in_callback, started_in, _ in starter.started] == [
        ("a", False, task), ("b", False, task)]
    await ended(socket, task)


async def test_cancelling_the_task_reaches_a_command_started_in_the_callback() -> None:
    socket, starter, task = await served()
    loop = asyncio.get_running_loop()
    gate = starter.gates["a"] = loop.create_future()
    loop.call_soon(deliver, socket, starter, "a")
    await until(lambda: starter.started, "a to start")
    await until(lambda: socket._waiter is None, "the task to take a over")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert starter.cancelled == ["a"] and starter.done == []
    assert gate.cancelled()  # what the command waited on was cancelled, as a task's await is


async def test_a_fault_in_the_callback_ends_the_endpoints_task_as_it_would_in_the_task() -> None:
    socket, starter, task = await served()
    asyncio.get_running_loop().call_soon(deliver, socket, starter, "fault")
    with pytest.raises(RuntimeError, match="a fault before the command"):
        await asyncio.wait_for(task, 2)  # raised in the task (server/socket.py logs it and closes with 1011)
