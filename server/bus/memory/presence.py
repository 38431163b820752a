"""In-process presence: the sessions open on this (the only) node, and who owned the recently closed ones."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any


class MemoryPresence:
    def __init__(self, node_id: str, history_seconds: float = 900, sockets: Callable[[], int] = lambda: 0,
                 figures: Callable[[], dict[str, Any]] = dict) -> None:
        self.node_id = node_id
        self.history_seconds = history_seconds  # a closed session can be resumed for as long as its events last
        self._sockets = sockets
        self._figures = figures
        self._presence: dict[str, dict[str, float]] = defaultdict(dict)
        self._session_owner: dict[str, tuple[str, float]] = {}

    def is_present(self, player_id: str) -> bool:
        return player_id in self._presence

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

    async def nodes(self) -> dict[str, dict[str, Any]]:
        return {self.node_id: {"sockets": self._sockets(), "at": time.time(), **self._figures()}}
