"""A player's personal events: written to the storage's event log in the commit that causes them, then published.

The log is the source of truth for what a player must see. Storage numbers each player's events in the commit
(`seq` 1, 2, ... with no gap), so an event exists exactly when the change that caused it does. Publishing on the
bus afterwards is only the fast path to the player's sockets; whatever it misses (a node killed between commit and
publish, a Redis restart, a dropped pub/sub message) is read back from the log:

- a session that receives seq n + 2 after n reads n + 1 from the log (`catch_up`);
- every node checks, every `event_check_seconds`, the heads of its players against what their sockets have (`check`);
- `resume` replays from the log what the client missed, within the replay window.

Events that no commit causes (an energy regeneration tick, an operator's message to one player) go through
`append`: a commit of their own, so they are numbered and kept like the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from persistence import Change, EventWrite, GameStore, LoggedEvent
from protocol import encode_event
from server.bus import Events

log = logging.getLogger("valgame.events")

Frames = list[tuple[int, bytes]]
PAGE = 200  # events read from the log at a time while a socket catches up
MAX_PAGES = 50  # a socket further behind than this is closed: its client resumes or re-reads its state
CATCH_UP_ATTEMPTS = 3


class Reader(Protocol):
    """What catching up needs of a socket (server/session.py's Session)."""

    player_id: str
    last_seq: int
    closed: bool

    def caught_up(self, frames: Frames, complete: bool) -> bool: ...

    def lost_events(self) -> None: ...


def frames_of(logged: list[LoggedEvent]) -> Frames:
    return [(event.seq, encode_event(event.type, event.data, seq=event.seq)) for event in logged]


class EventLog:
    def __init__(self, storage: GameStore, events: Events, replay_limit: int, replay_seconds: float,
                 exit_at: Callable[[str], None] = lambda point: None) -> None:
        self._storage = storage
        self._events = events
        self.replay_limit = replay_limit
        self.replay_seconds = replay_seconds
        self._exit_at = exit_at

    async def append(self, player_id: str, events: list[tuple[str, dict[str, Any]]],
                     now: float | None = None) -> list[int]:
        """Log events no other change causes, then publish them; return their seqs."""
        change = Change(events=[EventWrite(player_id, kind, data) for kind, data in events],
                        at=time.time() if now is None else now)
        logged = await self._storage.commit(change)
        self.publish(logged)
        return [event.seq for event in logged]

    def publish(self, logged: list[LoggedEvent]) -> None:
        """Hand committed events to the bus (without waiting: the log already has them)."""
        self._exit_at("after_commit")  # TEST ONLY: a node killed between a commit and its publish
        by_player: dict[str, list[LoggedEvent]] = {}
        for event in logged:
            by_player.setdefault(event.player_id, []).append(event)
        for player_id, events in by_player.items():
            self._events.publish(player_id, frames_of(events))

    async def head(self, player_id: str) -> int:
        return (await self._storage.event_heads([player_id]))[player_id]

    async def heads(self, player_ids: list[str]) -> dict[str, int]:
        return await self._storage.event_heads(player_ids)

    async def can_resume(self, player_id: str, after_seq: int, head: int) -> bool:
        """Whether a client that saw up to `after_seq` can be given exactly what it missed: at most `replay_limit`
        events, none older than the replay window, and all still in the log."""
        if after_seq > head:
            return False  # the client saw events this store never logged (e.g. a store restored from a backup)
        if after_seq == head:
            return True
        if head - after_seq > self.replay_limit:
            return False
        first = await self._storage.events_after(player_id, after_seq, 1)
        return bool(first) and first[0].seq == after_seq + 1 and first[0].at >= time.time() - self.replay_seconds

    async def catch_up(self, reader: Reader) -> None:
        """Give a socket, from the log, every event after its last one, until it has all it knows exist (what the
        bus showed it, the head it was told of). A storage error is retried a few times; then the socket is closed
        (its client resumes, on this node or another, once storage answers)."""
        for attempt in range(1, CATCH_UP_ATTEMPTS + 1):
            try:
                await self._catch_up(reader)
                return
            except Exception as exc:  # whatever the adapter raises when it cannot reach its server
                log.warning("catch-up failed", extra={"player": reader.player_id, "error": repr(exc)})
                if attempt < CATCH_UP_ATTEMPTS:
                    await asyncio.sleep(0.2 * attempt)  # a pause before retrying, not a synchronisation
        reader.lost_events()

    async def _catch_up(self, reader: Reader) -> None:
        page: list[LoggedEvent] = []
        for _ in range(MAX_PAGES):
            if reader.closed or reader.caught_up(frames_of(page), complete=len(page) < PAGE):
                return
            after = reader.last_seq
            page = await self._storage.events_after(reader.player_id, after, PAGE)
            if (page and page[0].seq != after + 1) or (not page and not reader.caught_up([], complete=True)):
                # Trimmed (the socket fell further behind than the log keeps), or never logged (a store that lost
                # a commit it acknowledged): the client must re-read its state.
                log.warning("events missing from the log", extra={"player": reader.player_id, "after": after})
                reader.lost_events()
                return
            if not page:
                return  # a full page was the last one
        reader.lost_events()
