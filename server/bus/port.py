"""The bus port: events between nodes, presence, replay history, rankings and chat history.

Per-player events get the player's next `seq` and are kept for replay; they are routed to the nodes that hold the
player's sockets. Topic events (market feed, global chat, ops announcements) go to every node, encoded once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, Protocol


class BusListener(Protocol):
    """What a node's hub does with what the bus brings to this node."""

    def deliver_player(self, player_id: str, seq: int, frame: bytes) -> None: ...

    def deliver_topic(self, topic: str, frame: bytes) -> None: ...

    def deliver_control(self, message: dict[str, Any]) -> None: ...


class Bus(ABC):
    node_id: str
    local_sockets: Callable[[], int]  # set by the node: its socket count, for heartbeats
    stats: Callable[[], dict[str, Any]]  # set by the node: figures reported with heartbeats
    # set by the node: awaited when the bus connection is back after a loss, before any new delivery; its argument
    # says whether the bus lost its data meanwhile (replay history, presence, seqs), e.g. an empty restarted Redis
    on_recovered: Callable[[bool], Awaitable[None]] | None = None

    @abstractmethod
    async def start(self, listener: BusListener) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def ping(self) -> bool: ...

    # --- per-player events -------------------------------------------------------------------------------------
    @abstractmethod
    async def publish(self, player_id: str, events: list[tuple[str, dict[str, Any]]]) -> list[int]:
        """Give each event the player's next seq, keep it for replay and deliver it where the player is."""

    @abstractmethod
    async def replay(self, player_id: str, after_seq: int) -> list[tuple[int, bytes]] | None:
        """Events after `after_seq` in order, or None when they can no longer all be replayed."""

    @abstractmethod
    async def last_seq(self, player_id: str) -> int: ...

    # --- presence: which nodes hold a player's sockets ---------------------------------------------------------
    @abstractmethod
    async def attach(self, player_id: str, session_id: str) -> None: ...

    @abstractmethod
    async def detach(self, player_id: str, session_id: str) -> None: ...

    @abstractmethod
    async def sessions_of(self, player_id: str) -> list[tuple[str, str, float]]:
        """(session id, node id, opened at) of every open socket of the player, on every node."""

    @abstractmethod
    async def session_owner(self, session_id: str) -> str | None:
        """The player a session id (open or recently closed) belongs to; for resume."""

    # --- broadcast topics and control messages ----------------------------------------------------------------
    @abstractmethod
    async def broadcast(self, topic: str, event_type: str, data: dict[str, Any]) -> None: ...

    @abstractmethod
    async def control(self, message: dict[str, Any], node_id: str | None = None) -> None:
        """An operator's message (kick, drain) to one node or, with node_id None, to every node."""

    @abstractmethod
    async def claim_once(self, key: str, ttl_seconds: int) -> bool:
        """True for the first claim of `key` within its lifetime (deduplicates retried broadcasts)."""

    @abstractmethod
    async def release(self, key: str) -> None:
        """End a claim before its lifetime is over (a claim held as a lock while a keyed command runs)."""

    @abstractmethod
    async def add_count(self, key: str, amount: int, ttl_seconds: int) -> None:
        """Add to a shared counter (nodes acknowledge a broadcast with the sockets they reached)."""

    @abstractmethod
    async def get_count(self, key: str) -> tuple[int, int]:
        """(how many additions, their sum) of a shared counter."""

    @abstractmethod
    async def nodes(self) -> dict[str, dict[str, Any]]:
        """Every live node and its last reported figures (sockets, commands per second, bus lag)."""

    # --- rankings -------------------------------------------------------------------------------------------------
    @abstractmethod
    async def rank_set(self, board: str, scores: dict[str, float]) -> None: ...

    @abstractmethod
    async def rank_top(self, board: str, count: int) -> list[tuple[str, float]]: ...

    @abstractmethod
    async def rank_of(self, board: str, member: str) -> tuple[int, float] | None:
        """(1-based rank, score) or None when absent."""

    @abstractmethod
    async def rank_range(self, board: str, start: int, stop: int) -> list[tuple[str, float]]:
        """Members from 0-based position start to stop inclusive, best first."""

    @abstractmethod
    async def rank_clear(self, board: str) -> None: ...

    # --- chat history -----------------------------------------------------------------------------------------------
    @abstractmethod
    async def chat_append(self, message: dict[str, Any], keep: int) -> None: ...

    @abstractmethod
    async def chat_history(self, count: int) -> list[dict[str, Any]]: ...
