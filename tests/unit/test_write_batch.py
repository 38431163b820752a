"""The picows transport's write batch (server/transport/picows_socket.py `WriteBatch`): what commands started on
arrival send to their own sockets during a turn of the loop reaches the transports together at its end, in the order
sent; other frames go at once, unless their socket has batched frames to follow; a close frame goes after what was
sent before it; a socket gone meanwhile gets nothing; and past `BATCH_BYTES` of one socket in a turn its frames go to
its transport at once, so the transport's back-pressure still judges a peer that reads nothing.

picows' connection is a stand-in that records what it is given (its real writes are the integration tests' on
`--transport picows`: tests/integration/test_stuck_sockets.py holds the bound against sockets that never read).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from server.transport.picows_socket import BATCH_BYTES, PicowsSocket
from tests.support.picows_host import Host


class Connection:
    """What a `PicowsSocket` uses of picows' `WSTransport`; what is written, in order, goes to `log`."""

    def __init__(self, name: str, log: list[tuple[str, Any]]) -> None:
        self.name, self.log = name, log
        self.is_disconnected = False
        self.is_close_frame_sent = False
        self.close_handshake = None

    def send(self, kind: Any, payload: bytes) -> None:
        self.log.append((self.name, payload))

    def send_close(self, code: Any, reason: bytes = b"") -> None:
        self.is_close_frame_sent = True
        self.log.append((self.name, f"close {int(code)}"))

    def disconnect(self, graceful: bool = True) -> None:
        self.is_disconnected = True


@contextmanager
def on_arrival(socket: PicowsSocket) -> Iterator[None]:
    """As while a command started in picows' read callback runs (what `PicowsSocket._start_now` marks)."""
    writes = socket._server.writes
    writes.collecting = socket
    try:
        yield
    finally:
        writes.collecting = None


async def sockets(*names: str) -> tuple[list[PicowsSocket], list[tuple[str, Any]]]:
    server, log = Host(), []
    made = []
    for name in names:
        socket = PicowsSocket(server)
        socket.ws = Connection(name, log)  # type: ignore[assignment]
        made.append(socket)
    return made, log


async def turn_ends() -> None:
    """One turn of the loop: the batch's flush was queued before this wait's callback."""
    await asyncio.sleep(0)


async def test_replies_of_a_turn_are_written_together_at_its_end_in_the_order_sent() -> None:
    (a, b), log = await sockets("a", "b")
    for socket, payload in ((a, b"1"), (b, b"2"), (a, b"3")):
        with on_arrival(socket):
            assert socket.send(payload) is None  # taken: nothing to await
    assert log == []  # not yet: the turn is still running
    await turn_ends()
    assert log == [("a", b"1"), ("b", b"2"), ("a", b"3")]


async def test_other_frames_go_at_once_unless_their_socket_has_batched_ones_to_follow() -> None:
    (a, b), log = await sockets("a", "b")
    with on_arrival(a):
        a.send(b"reply")
        b.send(b"broadcast")  # what a's command sends to another socket: at once
    assert log == [("b", b"broadcast")]
    a.send(b"event")  # from a task: behind a's reply
    assert log == [("b", b"broadcast")]
    await turn_ends()
    assert log == [("b", b"broadcast"), ("a", b"reply"), ("a", b"event")]


async def test_a_close_frame_follows_what_was_sent_before_it() -> None:
    (a, b), log = await sockets("a", "b")
    for socket, payload in ((b, b"to b"), (a, b"to a")):
        with on_arrival(socket):
            socket.send(payload)
    await a.close(1012, "node stopping")
    assert log == [("b", b"to b"), ("a", b"to a"), ("a", "close 1012")]


async def test_a_socket_gone_before_the_turn_ends_gets_nothing() -> None:
    (a, b), log = await sockets("a", "b")
    for socket, payload in ((a, b"lost"), (b, b"kept")):
        with on_arrival(socket):
            socket.send(payload)
    a.abort()
    await turn_ends()
    assert log == [("b", b"kept")]


async def test_past_the_bound_a_sockets_frames_go_to_its_transport_at_once() -> None:
    (a,), log = await sockets("a")
    frame = b"x" * 1024
    sent = 0
    with on_arrival(a):
        while sent <= BATCH_BYTES:
            a.send(frame)
            sent += len(frame)
        assert log == []  # up to the bound, all in the batch
        a.send(b"over")
        assert len(log) == BATCH_BYTES // len(frame) + 1  # the batch went out first: the transport judges now
        a.pause_writing()  # as a transport over its high-water mark does
        pending = a.send(b"held")
    assert pending is not None  # the session's writer waits on it, under the write deadline
    await turn_ends()
    assert log[-1] == ("a", b"over") and ("a", b"held") not in log
    a.resume_writing()
    await pending  # type: ignore[misc]
    await turn_ends()
    assert log[-1] == ("a", b"held")
