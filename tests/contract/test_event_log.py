"""server/event_log.py on every storage adapter: a socket that misses events on the bus gets them from the log,
once and in order; resume rules; events gone from the log close the socket.

The socket is a real `Session` over a transport that collects what would go on the wire; the bus is the in-process
one.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from persistence import Change, EventWrite, Storage
from protocol import CloseCode
from server.bus import open_bus
from server.event_log import PAGE, EventLog, frames_of
from server.metrics import Metrics
from server.session import Session
from tests.contract.storage_builders import add_player


class Wire:
    """A transport (server/transport/port.py) that keeps what a session sent, decoded."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def send(self, payload: bytes) -> None:
        self.frames.append(orjson.loads(payload))

    async def receive(self) -> str | bytes | None:
        return None

    async def close(self, code: int, reason: str) -> None:
        pass

    def abort(self) -> bool:
        return False

    @property
    def seqs(self) -> list[int]:
        return [frame["seq"] for frame in self.frames]


def open_session(wire: Wire, player_id: str = "p1") -> Session:
    session = Session(wire, session_id="s1", player_id=player_id, name="Alice", role="player", max_frames=10_000,
                      max_bytes=10 << 20, rate=100, burst=100, metrics=Metrics())
    session.start_writer()
    return session


async def logged(storage: Storage, count: int, player_id: str = "p1", at: float | None = None) -> list[Any]:
    change = Change(events=[EventWrite(player_id, "tick", {"i": i}) for i in range(count)],
                    at=time.time() if at is None else at)
    return frames_of(await storage.commit(change))


@pytest.fixture
def event_log(storage: Storage) -> EventLog:
    return EventLog(storage, open_bus("memory://", "n1", 60).events, replay_limit=50, replay_seconds=60)


async def test_a_gap_on_the_bus_is_filled_from_the_log_once_and_in_order(storage: Storage,
                                                                          event_log: EventLog) -> None:
    await add_player(storage, "p1")
    wire = Wire()
    session = open_session(wire)
    session.start_from(0, 0)
    await event_log.catch_up(session)  # nothing to read yet: it takes events from the bus from now on
    frames = await logged(storage, 4)
    assert session.push_event(*frames[0]) is True
    assert session.push_event(*frames[2]) is False  # seq 2 never came: behind
    assert session.push_event(*frames[3]) is True  # noted, not sent, while behind
    await event_log.catch_up(session)
    for frame in frames:  # the bus's late copies are dropped
        assert session.push_event(*frame) is True
    assert wire.seqs == [1, 2, 3, 4]
    assert [frame["data"]["i"] for frame in wire.frames] == [0, 1, 2, 3]


@pytest.mark.parametrize("behind", [PAGE + 7, PAGE])
async def test_a_socket_told_of_a_head_reads_up_to_it_in_pages(storage: Storage, event_log: EventLog,
                                                               behind: int) -> None:
    """The periodic check (or a resume) finds a socket behind by a page or more: it reads them all."""
    await add_player(storage, "p1")
    wire = Wire()
    session = open_session(wire)
    session.start_from(0, 0)
    await event_log.catch_up(session)
    await logged(storage, behind)
    head = await event_log.head("p1")
    assert session.fell_behind(head) is True
    assert session.fell_behind(head) is False  # already catching up: one catch-up at a time
    await event_log.catch_up(session)
    assert wire.seqs == list(range(1, behind + 1))
    assert session.close_code is None
    assert session.fell_behind(head) is False


async def test_resume_is_refused_beyond_the_limit_the_window_or_the_head(storage: Storage,
                                                                        event_log: EventLog) -> None:
    await add_player(storage, "p1")
    await logged(storage, 2, at=time.time() - 3600)  # older than the 60 s window
    await logged(storage, 60)
    head = await event_log.head("p1")
    assert head == 62
    assert await event_log.can_resume("p1", head, head) is True
    assert await event_log.can_resume("p1", head + 1, head) is False  # a seq this store never gave
    assert await event_log.can_resume("p1", 2, head) is False  # 60 missed: more than the limit of 50
    assert await event_log.can_resume("p1", 12, head) is True
    limited = EventLog(storage, open_bus("memory://", "n1", 60).events, replay_limit=100, replay_seconds=60)
    assert await limited.can_resume("p1", 1, head) is False  # seq 2 is older than the window
    assert await limited.can_resume("p1", 2, head) is True


async def test_a_socket_whose_events_left_the_log_is_closed(storage: Storage, event_log: EventLog) -> None:
    await add_player(storage, "p1")
    wire = Wire()
    session = open_session(wire)
    session.start_from(0, 0)
    await event_log.catch_up(session)
    frames = await logged(storage, 3, at=1.0)
    await storage.trim_events(2.0)
    assert session.push_event(*frames[2]) is False
    await event_log.catch_up(session)
    assert session.close_code == CloseCode.DRAINING
    assert wire.seqs == []
