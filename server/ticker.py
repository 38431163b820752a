"""Energy regeneration pushes: one timer for every connected player of this node, not one per player.

A heap holds (due time, player). Each entry is checked against the player's expected next tick, so entries made
stale by a spend are dropped when popped. When a tick comes, one node (claim_once) logs and pushes `energy.updated`.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Callable

from persistence import Unavailable
from server.bus import Claims
from server.event_log import EventLog
from server.game.config import GameSettings
from server.game.energy import energy_view
from server.players import Players

TICK_RETRY_SECONDS = 2.0
log = logging.getLogger("valgame.ticker")


class EnergyTicker:
    def __init__(self, players: Players, claims: Claims, event_log: EventLog, game: GameSettings,
                 connected: Callable[[str], bool]) -> None:
        self._players = players
        self._claims = claims
        self._event_log = event_log
        self._game = game
        self._connected = connected  # whether a player has a socket on this node
        self._heap: list[tuple[float, str]] = []
        self._expected: dict[str, float] = {}
        self._wake = asyncio.Event()

    def watch(self, player_id: str, next_at: float | None) -> None:
        """The player's next regeneration point is at `next_at` (None: at max, nothing to push)."""
        if next_at is None:
            self._expected.pop(player_id, None)
            return
        if self._expected.get(player_id) == next_at:
            return
        self._expected[player_id] = next_at
        heapq.heappush(self._heap, (next_at, player_id))
        if self._heap[0] == (next_at, player_id):
            self._wake.set()

    def forget(self, player_id: str) -> None:
        self._expected.pop(player_id, None)

    async def run(self) -> None:
        while True:
            self._wake.clear()
            timeout = self._heap[0][0] - time.time() if self._heap else None
            if timeout is None or timeout > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except TimeoutError:
                    pass
                continue
            due_at, player_id = heapq.heappop(self._heap)
            if self._expected.get(player_id) != due_at:
                continue  # stale: the player spent energy or left since this entry was made
            del self._expected[player_id]
            try:
                await self._tick(player_id, due_at)
            except Unavailable as exc:
                # storage could not commit in time (a dead node's transaction holds the player): try again shortly
                log.warning("energy tick not committed yet", extra={"player": player_id, "error": str(exc)[:200]})
                self.watch(player_id, time.time() + TICK_RETRY_SECONDS)
            except Exception:
                log.exception("energy tick failed", extra={"player": player_id})

    async def _tick(self, player_id: str, due_at: float) -> None:
        if not self._connected(player_id):
            return
        _, state = await self._players.load(player_id)
        view = energy_view(state, self._game, max(time.time(), due_at))
        if await self._claims.claim_once(f"energy:{player_id}:{due_at}", 3600):
            await self._event_log.append(player_id, [("energy.updated", view)])
        self.watch(player_id, view["next_at"])
