"""In-process events: per-player seqs and replay history, topics and control messages, delivered to this node."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from typing import Any

from protocol import encode_event
from server.bus.memory.link import MemoryLink
from server.bus.memory.presence import MemoryPresence


class MemoryEvents:
    def __init__(self, link: MemoryLink, presence: MemoryPresence, history_size: int = 500,
                 history_seconds: float = 900) -> None:
        self._link = link
        self._presence = presence  # a player's events are delivered only while they have a socket here
        self.history_size = history_size
        self.history_seconds = history_seconds
        self._seq: dict[str, int] = defaultdict(int)
        self._history: dict[str, deque[tuple[int, float, bytes]]] = {}

    async def publish(self, player_id: str, events: list[tuple[str, dict[str, Any]]]) -> list[int]:
        now = time.time()
        history = self._history.get(player_id)
        if history is None:
            history = self._history[player_id] = deque(maxlen=self.history_size)
        seqs = []
        listener = self._link.listener
        for event_type, data in events:
            self._seq[player_id] += 1
            seq = self._seq[player_id]
            frame = encode_event(event_type, data, seq=seq)
            history.append((seq, now, frame))
            seqs.append(seq)
            if listener is not None and self._presence.is_present(player_id):
                listener.deliver_player(player_id, seq, frame)
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

    async def broadcast(self, topic: str, event_type: str, data: dict[str, Any]) -> None:
        if self._link.listener is not None:
            self._link.listener.deliver_topic(topic, encode_event(event_type, data, topic=topic))

    async def control(self, message: dict[str, Any], node_id: str | None = None) -> None:
        if self._link.listener is not None and node_id in (None, self._link.node_id):
            self._link.listener.deliver_control(message)
