"""Decoded player states a node has recently read or written, so that reads skip storage and decoding.

Storage stays the truth. The cache is kept current by three things:
- this node's own commits put the new state in (`put`, with the version the commit gave it);
- every node's commits are announced to every node through the bus (`changed`), which drops older entries here;
- an entry is trusted for at most `max_age` seconds, which bounds staleness should an announcement be lost
  (the bus down); on the bus's recovery the whole cache is dropped.
Writes are safe whatever the cache holds: `Storage.commit` checks the version read, so a stale entry costs one
retry (`Players.transact` drops it on `Conflict`). Cached states are shared: rules never mutate their input
(`Outcome.begin` copies it) and views only read.
"""

from __future__ import annotations

import time

from persistence import PlayerDoc
from server.game.state import PlayerState


class StateCache:
    __slots__ = ("_entries", "_reading", "max_age", "size")

    def __init__(self, size: int, max_age: float) -> None:
        self.size = size
        self.max_age = max_age
        # player -> (version, monotonic time stored, (doc, state)); None for the pair marks a version announced by
        # another node and not read here yet, so that a read that started before the announcement cannot store
        # older data. The pair is what `get` returns: made once when stored, not on every hit.
        self._entries: dict[str, tuple[int, float, tuple[PlayerDoc, PlayerState] | None]] = {}
        self._reading: dict[str, int] = {}  # player -> storage reads in flight

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, player_id: str) -> tuple[PlayerDoc, PlayerState] | None:
        entry = self._entries.get(player_id)
        if entry is None or entry[2] is None or time.monotonic() - entry[1] > self.max_age:
            return None
        return entry[2]

    def put(self, doc: PlayerDoc, state: PlayerState) -> None:
        """Keep `state` at `doc.version`, unless a newer version is already known."""
        if self.size <= 0:
            return
        entries = self._entries
        known = entries.get(doc.id)
        if known is not None:
            if known[0] > doc.version:
                return
            del entries[doc.id]  # re-inserted last: the oldest entries are the first evicted
        else:
            self._make_room()
        entries[doc.id] = (doc.version, time.monotonic(), (doc, state))

    def _make_room(self) -> None:
        if len(self._entries) >= self.size:
            del self._entries[next(iter(self._entries))]

    def reading(self, player_id: str) -> None:
        """A storage read of the player starts; announcements meanwhile are remembered until `read`."""
        self._reading[player_id] = self._reading.get(player_id, 0) + 1

    def read(self, player_id: str, loaded: tuple[PlayerDoc, PlayerState] | None) -> None:
        """The read that `reading` announced ended (with what it found, or None on failure)."""
        left = self._reading.pop(player_id) - 1
        if left:
            self._reading[player_id] = left
        if loaded is not None:
            self.put(*loaded)

    def changed(self, player_id: str, version: int) -> None:
        """Some node committed `version` of the player: forget anything older."""
        known = self._entries.get(player_id)
        if known is not None:
            if known[0] < version:
                self._entries[player_id] = (version, known[1], None)
        elif player_id in self._reading and self.size > 0:
            self._make_room()
            self._entries[player_id] = (version, 0.0, None)

    def drop(self, player_id: str) -> None:
        self._entries.pop(player_id, None)

    def clear(self) -> None:
        self._entries.clear()
