"""The bus ports: what a node needs from the event bus, one narrow protocol per concern.

- `Events`: per-player events (numbered and kept by the storage's event log, routed here to the nodes holding the
  player's sockets), broadcast topics (market feed, global chat, rankings, announcements: to every node, encoded
  once) and control messages between nodes.
- `Presence`: which sessions of a player are open on which node, and which nodes are alive (heartbeats).
- `Claims`: short-lived exclusive keys (one node resolves a timed round, pushes an energy tick, runs a keyed
  command) and shared counters (nodes acknowledge a broadcast).
- `Leaderboards`: sorted boards of scores.
- `ChatHistory`: the last global chat messages.
- `Link`: the connection every port of one adapter shares: start, close, health.

Each adapter (in-process: `server/bus/memory/`, Redis: `server/bus/redis/`) implements every port in its own module;
`open_bus(url)` (server/bus/__init__.py) builds the set an URL names: a `Bus`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class BusUnavailable(Exception):
    """The bus cannot be reached now (raised where a caller must not go ahead without it: registering a socket)."""


class BusListener(Protocol):
    """What a node's hub does with what the bus brings to this node."""

    def deliver_player(self, player_id: str, seq: int, frame: bytes) -> None: ...

    def deliver_topic(self, topic: str, frame: bytes) -> None: ...

    def deliver_control(self, message: dict[str, Any]) -> None: ...


@dataclass(slots=True)
class Delivery:
    """Whether this node's own delivery path works, as its last probe found: a message it published to itself on
    the channel its players' events come by, received within the bound. `reason` says what failed."""

    ok: bool = True
    reason: str = ""
    probe_seconds: float = 0.0  # how long the last probe that arrived took
    failures: int = 0  # probes lost or late since the last one that arrived in time


class Link(Protocol):
    """The adapter's connection, shared by its ports."""

    delivery: Delivery

    async def start(self, listener: BusListener) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...


class Events(Protocol):
    def publish(self, player_id: str, frames: list[tuple[int, bytes]]) -> None:
        """Deliver a player's numbered events (seq, encoded frame) where the player has sockets, in order, without
        waiting: they are already in the storage's event log, so this is a fast path a node may miss."""
        ...

    async def broadcast(self, topic: str, event_type: str, data: dict[str, Any]) -> None: ...

    async def control(self, message: dict[str, Any], node_id: str | None = None) -> None:
        """An operator's or a node's message (kick, drain, players_changed) to one node or, with node_id None, to
        every node."""
        ...


class Presence(Protocol):
    async def attach(self, player_id: str, session_id: str) -> None: ...

    async def detach(self, player_id: str, session_id: str) -> None: ...

    async def sessions_of(self, player_id: str) -> list[tuple[str, str, float]]:
        """(session id, node id, opened at) of every open socket of the player, on every node."""
        ...

    async def session_owner(self, session_id: str) -> str | None:
        """The player a session id (open or recently closed) belongs to; for resume."""
        ...

    async def nodes(self) -> dict[str, dict[str, Any]]:
        """Every live node and its last reported figures (sockets, commands per second, bus lag)."""
        ...


class Claims(Protocol):
    async def claim_once(self, key: str, ttl_seconds: int) -> bool:
        """True for the first claim of `key` within its lifetime (deduplicates retried broadcasts)."""
        ...

    async def release(self, key: str) -> None:
        """End a claim before its lifetime is over (a claim held as a lock while a keyed command runs)."""
        ...

    async def add_count(self, key: str, amount: int, ttl_seconds: int) -> None:
        """Add to a shared counter (nodes acknowledge a broadcast with the sockets they reached)."""
        ...

    async def get_count(self, key: str) -> tuple[int, int]:
        """(how many additions, their sum) of a shared counter."""
        ...


class Leaderboards(Protocol):
    async def rank_set(self, board: str, scores: dict[str, float]) -> None: ...

    async def rank_top(self, board: str, count: int) -> list[tuple[str, float]]: ...

    async def rank_of(self, board: str, member: str) -> tuple[int, float] | None:
        """(1-based rank, score) or None when absent."""
        ...

    async def rank_range(self, board: str, start: int, stop: int) -> list[tuple[str, float]]:
        """Members from 0-based position start to stop inclusive, best first."""
        ...

    async def rank_clear(self, board: str) -> None: ...


class ChatHistory(Protocol):
    async def chat_append(self, message: dict[str, Any], keep: int) -> None: ...

    async def chat_history(self, count: int) -> list[dict[str, Any]]: ...


@dataclass(slots=True, frozen=True)
class Bus:
    """One adapter's ports, sharing its connection (`link`): services take the ports they use, the node starts and
    stops the whole."""

    link: Link
    events: Events
    presence: Presence
    claims: Claims
    leaderboards: Leaderboards
    chat: ChatHistory

    async def start(self, listener: BusListener) -> None:
        await self.link.start(listener)

    async def close(self) -> None:
        await self.link.close()

    async def ping(self) -> bool:
        return await self.link.ping()

    @property
    def delivery(self) -> Delivery:
        return self.link.delivery
