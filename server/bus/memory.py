"""The in-process bus adapter: a single node's events, presence, history and rankings, all in memory.

Nothing here survives a restart; after one a resume answers `resumed: false` and rankings are rebuilt from
storage at start.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

from protocol import encode_event
from server.bus.port import Bus, BusListener

CLAIMS_PURGE_MIN = 4096


class _Board:
    """A sorted set: members ordered by score descending, then by member id."""

    def __init__(self) -> None:
        self.scores: dict[str, float] = {}
        self.order: list[tuple[float, str]] = []  # (-score, member), ascending == best first

    def set(self, member: str, score: float) -> None:
        old = self.scores.get(member)
        if old is not None:
            index = bisect.bisect_left(self.order, (-old, member))
            del self.order[index]
        self.scores[member] = score
        bisect.insort(self.order, (-score, member))

    def rank(self, member: str) -> int | None:
        score = self.scores.get(member)
        if score is None:
            return None
        return bisect.bisect_left(self.order, (-score, member)) + 1


class MemoryBus(Bus):
    def __init__(self, node_id: str, history_size: int = 500, history_seconds: float = 900) -> None:
        self.node_id = node_id
        self.history_size = history_size
        self.history_seconds = history_seconds
        self._listener: BusListener | None = None
        self._seq: dict[str, int] = defaultdict(int)
        self._history: dict[str, deque[tuple[int, float, bytes]]] = {}
        self._presence: dict[str, dict[str, float]] = defaultdict(dict)
        self._session_owner: dict[str, tuple[str, float]] = {}
        self._boards: dict[str, _Board] = defaultdict(_Board)
        self._chat: deque[dict[str, Any]] = deque()
        self._claims: dict[str, float] = {}
        self._claims_purge_at = CLAIMS_PURGE_MIN
        self._counts: dict[str, tuple[int, int]] = {}
        self.local_sockets: Callable[[], int] = lambda: 0
        self.stats: Callable[[], dict[str, Any]] = dict

    async def start(self, listener: BusListener) -> None:
        self._listener = listener

    async def close(self) -> None:
        self._listener = None

    async def ping(self) -> bool:
        return self._listener is not None

    async def publish(self, player_id: str, events: list[tuple[str, dict[str, Any]]]) -> list[int]:
        now = time.time()
        history = self._history.get(player_id)
        if history is None:
            history = self._history[player_id] = deque(maxlen=self.history_size)
        seqs = []
        for event_type, data in events:
            self._seq[player_id] += 1
            seq = self._seq[player_id]
            frame = encode_event(event_type, data, seq=seq)
            history.append((seq, now, frame))
            seqs.append(seq)
            if self._listener is not None and player_id in self._presence:
                self._listener.deliver_player(player_id, seq, frame)
        return seqs

    async def replay(self, player_id: str, after_seq: int) -> list[tuple[int, bytes]] | None:
        last = self._seq.get(player_id, 0)
        if after_seq > last:
            return None  # the client saw events this node never issued: history was lost
        if after_seq == last:
            return []
        history = self._history.get(player_id)
        oldest_allowed = time.time() - self.history_seconds
        if not history or history[0][0] > after_seq + 1:
            return None
        kept = [(seq, frame) for seq, at, frame in history if seq > after_seq]
        if any(at < oldest_allowed for seq, at, _ in history if seq == after_seq + 1):
            return None
        return kept

    async def last_seq(self, player_id: str) -> int:
        return self._seq.get(player_id, 0)

    async def attach(self, player_id: str, session_id: str) -> None:
        now = time.time()
        self._presence[player_id][session_id] = now
        self._session_owner[session_id] = (player_id, now)

    async def detach(self, player_id: str, session_id: str) -> None:
        sessions = self._presence.get(player_id)
        if sessions is not None:
            sessions.pop(session_id, None)
            if not sessions:
                del self._presence[player_id]
        self._session_owner[session_id] = (player_id, time.time())
        self._forget_old_sessions()

    def _forget_old_sessions(self) -> None:
        horizon = time.time() - self.history_seconds
        while self._session_owner:
            session_id, (player_id, at) = next(iter(self._session_owner.items()))
            if at >= horizon or session_id in self._presence.get(player_id, {}):
                break
            del self._session_owner[session_id]

    async def sessions_of(self, player_id: str) -> list[tuple[str, str, float]]:
        return [(sid, self.node_id, at) for sid, at in self._presence.get(player_id, {}).items()]

    async def session_owner(self, session_id: str) -> str | None:
        entry = self._session_owner.get(session_id)
        return entry[0] if entry else None

    async def broadcast(self, topic: str, event_type: str, data: dict[str, Any]) -> None:
        if self._listener is not None:
            self._listener.deliver_topic(topic, encode_event(event_type, data, topic=topic))

    async def control(self, message: dict[str, Any], node_id: str | None = None) -> None:
        if self._listener is not None and node_id in (None, self.node_id):
            self._listener.deliver_control(message)

    async def claim_once(self, key: str, ttl_seconds: int) -> bool:
        now = time.time()
        expires = self._claims.get(key)
        if expires is not None and expires > now:
            return False
        self._claims[key] = now + ttl_seconds
        if len(self._claims) >= self._claims_purge_at:
            # Energy ticks and combat rounds claim a new key each time: forget the lapsed ones, as Redis expires
            # them, at a cost that stays constant per claim (the next purge waits for the table to double).
            self._claims = {k: at for k, at in self._claims.items() if at > now}
            self._claims_purge_at = max(CLAIMS_PURGE_MIN, 2 * len(self._claims))
        return True

    async def release(self, key: str) -> None:
        self._claims.pop(key, None)

    async def add_count(self, key: str, amount: int, ttl_seconds: int) -> None:
        calls, total = self._counts.get(key, (0, 0))
        self._counts[key] = (calls + 1, total + amount)

    async def get_count(self, key: str) -> tuple[int, int]:
        return self._counts.get(key, (0, 0))

    async def nodes(self) -> dict[str, dict[str, Any]]:
        return {self.node_id: {"sockets": self.local_sockets(), "at": time.time(), **self.stats()}}

    async def rank_set(self, board: str, scores: dict[str, float]) -> None:
        target = self._boards[board]
        for member, score in scores.items():
            target.set(member, score)

    async def rank_top(self, board: str, count: int) -> list[tuple[str, float]]:
        return await self.rank_range(board, 0, count - 1)

    async def rank_of(self, board: str, member: str) -> tuple[int, float] | None:
        target = self._boards.get(board)
        if target is None:
            return None
        rank = target.rank(member)
        return None if rank is None else (rank, target.scores[member])

    async def rank_range(self, board: str, start: int, stop: int) -> list[tuple[str, float]]:
        target = self._boards.get(board)
        if target is None:
            return []
        return [(member, -negative) for negative, member in target.order[max(start, 0): stop + 1]]

    async def rank_clear(self, board: str) -> None:
        self._boards.pop(board, None)

    async def chat_append(self, message: dict[str, Any], keep: int) -> None:
        self._chat.append(message)
        while len(self._chat) > keep:
            self._chat.popleft()

    async def chat_history(self, count: int) -> list[dict[str, Any]]:
        return list(self._chat)[-count:] if count > 0 else []
