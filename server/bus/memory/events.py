"""In-process events: per-player events (numbered by the storage's event log), topics and control messages,
delivered to this node."""

from __future__ import annotations

from typing import Any

from protocol import encode_event
from server.bus.memory.link import MemoryLink
from server.bus.memory.presence import MemoryPresence


class MemoryEvents:
    def __init__(self, link: MemoryLink, presence: MemoryPresence) -> None:
        self._link = link
        self._presence = presence  # a player's events are delivered only while they have a socket here

    def publish(self, player_id: str, frames: list[tuple[int, bytes]]) -> None:
        listener = self._link.listener
        if listener is None or not self._presence.is_present(player_id):
            return
        for seq, frame in frames:
            listener.deliver_player(player_id, seq, frame)

    async def broadcast(self, topic: str, event_type: str, data: dict[str, Any]) -> None:
        if self._link.listener is not None:
            self._link.listener.deliver_topic(topic, encode_event(event_type, data, topic=topic))

    async def control(self, message: dict[str, Any], node_id: str | None = None) -> None:
        if self._link.listener is not None and node_id in (None, self._link.node_id):
            self._link.listener.deliver_control(message)
