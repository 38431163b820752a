"""Driving combats in time: the auto-mode pacing and the manual-mode timeout.

A combat lives in its player's stored state, so any node can drive it. A node drives the combats of the players
connected to it; each timed round is resolved only if the combat is still at the round the timer was set for,
and `claim_once` makes sure one node resolves it when several hold the player's sockets. While the player has no
socket anywhere the combat waits; on reconnect the node that takes the socket picks it up again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from persistence import Unavailable
from protocol import ErrorCode
from server.bus import Claims
from server.game.combat import TIMEOUT_ACTION, resolve_round
from server.game.errors import GameError
from server.game.outcome import Outcome, RuleContext
from server.game.state import PlayerState
from server.players import Players, Rule, release_claim

ROUND_ATTEMPTS = 3
CLAIM_SECONDS = 60  # a node that claimed a round and died holds it this long at most
log = logging.getLogger("valgame.combats")


class StaleRound(GameError):
    """The combat moved on (a player's action, another node) before the timer fired."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.CONFLICT, "round already resolved")


def resolve_timed_round(combat_id: str, expected_round: int) -> Rule:
    def rule(state: PlayerState, ctx: RuleContext) -> Outcome:
        combat = state.combat
        if combat is None or combat.id != combat_id or combat.round != expected_round:
            raise StaleRound()
        return resolve_round(state, TIMEOUT_ACTION, ctx, combat_id=combat_id)
    return rule


class CombatDriver:
    def __init__(self, players: Players, claims: Claims, connected: Callable[[str], bool],
                 fail_at: Callable[[str], None] = lambda point: None) -> None:
        self._players = players
        self._claims = claims
        self._connected = connected  # whether a player has a socket on this node
        self._fail_at = fail_at  # the test-only failpoint `timed_round` (server/failpoints.py)
        self._drivers: dict[str, asyncio.Task[None]] = {}
        self._nudges: dict[str, asyncio.Event] = {}

    def drive(self, player_id: str) -> None:
        """Make sure this node runs the timer of the player's combat, if there is one."""
        task = self._drivers.get(player_id)
        if task is not None and not task.done():
            self.nudge(player_id)
            return
        self._nudges[player_id] = asyncio.Event()
        self._drivers[player_id] = asyncio.create_task(self._drive(player_id), name=f"combat-{player_id}")

    def nudge(self, player_id: str) -> None:
        """The combat changed (an action was resolved): re-read its deadline."""
        event = self._nudges.get(player_id)
        if event is not None:
            event.set()

    def stop(self, player_id: str) -> None:
        task = self._drivers.pop(player_id, None)
        self._nudges.pop(player_id, None)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        for player_id in list(self._drivers):
            self.stop(player_id)

    async def _resolve(self, player_id: str, combat_id: str, round_: int) -> bool:
        """Resolve a timed round this node claimed. Storage that cannot commit in time (a dead node's transaction
        holds the player) is retried a few times: nobody else will, the claim is this node's. So is any other fault,
        logged: it must not end the driver, which would leave the combat still until its player acts. False when it
        was still not committed."""
        for attempt in range(1, ROUND_ATTEMPTS + 1):
            try:
                self._fail_at("timed_round")
                await self._players.apply(player_id, resolve_timed_round(combat_id, round_))
                return True
            except StaleRound:
                return True
            except Unavailable as exc:
                log.warning("timed round not committed yet", extra={"player": player_id, "error": str(exc)[:200]})
            except Exception:
                log.exception("timed round failed", extra={"player": player_id})
            if attempt < ROUND_ATTEMPTS:
                await asyncio.sleep(attempt)  # a pause before retrying, not a synchronisation
        return False

    async def _drive(self, player_id: str) -> None:
        nudge = self._nudges[player_id]
        try:
            while self._connected(player_id):
                _, state = await self._players.load(player_id)
                combat = state.combat
                if combat is None or combat.deadline is None:
                    return
                nudge.clear()
                try:
                    await asyncio.wait_for(nudge.wait(), max(0.0, combat.deadline - time.time()))
                    continue  # changed under us: read the new deadline
                except TimeoutError:
                    pass
                claim = f"combat:{combat.id}:{combat.round}"
                if not await self._claims.claim_once(claim, CLAIM_SECONDS):
                    await asyncio.sleep(0.05)  # another node resolves this round; look again shortly
                    continue
                if not await self._resolve(player_id, combat.id, combat.round):
                    # Not committed: the next pass (here, or on the node that gets the player's next socket) must be
                    # able to claim the round again, not wait out the claim's minute.
                    await release_claim(self._claims, claim)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("combat driver failed", extra={"player": player_id})
        finally:
            if self._drivers.get(player_id) is asyncio.current_task():
                self._drivers.pop(player_id, None)
                self._nudges.pop(player_id, None)
