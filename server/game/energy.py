"""Energy regenerates lazily: the state stores (energy, energy_at) and the current value is computed on read.

One point arrives every `energy_regen_seconds` after `energy_at` while below max. Spending materialises the
regeneration but keeps the progress towards the next point (energy_at moves by whole ticks only). When energy is at
max nothing accrues, so spending from max starts the clock at `now`. A clock earlier than `energy_at` (another node
slightly behind) counts as no time elapsed.
"""

from __future__ import annotations

from typing import Any

from protocol.codes import ErrorCode
from server.game.config import GameSettings
from server.game.errors import GameError
from server.game.outcome import Outcome, RuleContext
from server.game.state import PlayerState


def _ticks(state: PlayerState, settings: GameSettings, now: float) -> int:
    elapsed = max(0.0, now - state.energy_at)
    return int(elapsed // settings.energy_regen_seconds)


def energy_now(state: PlayerState, settings: GameSettings, now: float) -> tuple[int, float | None]:
    """(current energy, epoch second of the next point or None at max)."""
    cap = settings.energy_max
    stored = max(0, state.energy)
    if stored >= cap:
        return cap, None
    ticks = _ticks(state, settings, now)
    energy = min(cap, stored + ticks)
    if energy >= cap:
        return cap, None
    return energy, state.energy_at + (ticks + 1) * settings.energy_regen_seconds


def energy_view(state: PlayerState, settings: GameSettings, now: float) -> dict[str, Any]:
    energy, next_at = energy_now(state, settings, now)
    return {"energy": energy, "max": settings.energy_max, "next_at": next_at}


def materialise_energy(state: PlayerState, settings: GameSettings, now: float) -> None:
    """Writes the regenerated energy into the state, keeping partial-tick progress."""
    energy, _ = energy_now(state, settings, now)
    if energy >= settings.energy_max:
        state.energy, state.energy_at = settings.energy_max, now
        return
    ticks = _ticks(state, settings, now)
    state.energy = energy
    state.energy_at = state.energy_at + ticks * settings.energy_regen_seconds


def spend_energy(outcome: Outcome, amount: int, ctx: RuleContext) -> None:
    if amount < 0:
        raise ValueError("amount must be >= 0")
    state, settings = outcome.state, ctx.settings
    materialise_energy(state, settings, ctx.now)
    if state.energy < amount:
        _, next_at = energy_now(state, settings, ctx.now)
        raise GameError(ErrorCode.INSUFFICIENT_ENERGY, f"need {amount} energy, have {state.energy}",
                        need=amount, have=state.energy, next_at=next_at)
    state.energy -= amount
    outcome.set_event("energy.updated", energy_view(state, settings, ctx.now))
