"""The in-process bus adapter: a single node's events, presence, claims, rankings and chat history, all in memory.

Nothing here survives a restart: rankings are rebuilt from storage at start (a player's events live in the
storage's event log, so a resume after a restart still replays them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from server.bus.memory.chat import MemoryChatHistory
from server.bus.memory.claims import MemoryClaims
from server.bus.memory.events import MemoryEvents
from server.bus.memory.leaderboards import MemoryLeaderboards
from server.bus.memory.link import MemoryLink
from server.bus.memory.presence import MemoryPresence
from server.bus.port import Bus


def open_memory_bus(node_id: str, history_seconds: float = 900,
                    sockets: Callable[[], int] = lambda: 0,
                    figures: Callable[[], dict[str, Any]] = dict) -> Bus:
    link = MemoryLink(node_id)
    presence = MemoryPresence(node_id, history_seconds, sockets, figures)
    return Bus(link=link, events=MemoryEvents(link, presence), presence=presence,
               claims=MemoryClaims(), leaderboards=MemoryLeaderboards(), chat=MemoryChatHistory())
