"""Characters over time: the starting pack, heal, revive, evolve and the sweep of characters wounded too long.

Also re-exports the level, gear and consumable rules so callers find every character rule here.
Decisions where the spec is silent:
- Evolving keeps the damage taken: current HP rises by exactly the rise of max HP.
- A character lost to the sweep gives its equipment back to the free inventory (it already counted there).
- Revive costs no energy (the spec names none) and keeps the character's buffs.
"""

from __future__ import annotations

import math

from protocol.codes import ErrorCode
from server.game.catalog import BASE_CHARACTERS, RANKS, STARTING_CHARACTER, STARTING_ITEMS
from server.game.config import GameSettings
from server.game.consumables import use_item
from server.game.energy import spend_energy
from server.game.errors import GameError, conflict
from server.game.experience import gain_xp, xp_to_next
from server.game.gear import equip, unequip
from server.game.inventory import new_item, require_character, require_not_in_combat, require_not_wounded
from server.game.outcome import Outcome, RuleContext
from server.game.state import Character, PlayerState
from server.game.stats import hp_max
from server.game.views import character_view, inventory_view, wallet_view

__all__ = [
    "equip", "evolve", "gain_xp", "heal", "heal_cost", "make_character", "new_player", "next_sweep_at", "revive",
    "sweep_wounded", "unequip", "use_item", "xp_to_next",
]


def make_character(char_id: str, base: str, rank: str, settings: GameSettings) -> Character:
    """A new level-1, stage-1 character at full HP."""
    if base not in BASE_CHARACTERS or rank not in RANKS:
        raise ValueError(f"unknown character {base!r} of rank {rank!r}")
    char = Character(id=char_id, base=base, rank=rank)
    char.hp = hp_max(char, settings)
    return char


def new_player(ctx: RuleContext) -> Outcome:
    """The starting pack, given once at registration; VAL and EVO are credited through the ledger."""
    out = Outcome.begin(PlayerState(energy=ctx.settings.energy_max, energy_at=ctx.now))
    base, rank = STARTING_CHARACTER
    out.state.characters.append(make_character(ctx.make_id("c"), base, rank, ctx.settings))
    for code, count in STARTING_ITEMS:
        out.state.items.extend(new_item(code, ctx.make_id("i")) for _ in range(count))
    out.adjust("VAL", ctx.settings.start_val, "starting_pack")
    out.adjust("EVO", ctx.settings.start_evo, "starting_pack")
    out.reply = {**wallet_view(out.state), "characters": [character_view(c, ctx.settings, ctx.now)
                                                          for c in out.state.characters],
                 "items": inventory_view(out.state)}
    return out


def heal_cost(char: Character, settings: GameSettings) -> int:
    missing = hp_max(char, settings) - char.hp
    return math.ceil(missing / settings.heal_hp_step) * settings.heal_val_per_step


def heal(state: PlayerState, char_id: str, ctx: RuleContext) -> Outcome:
    out = Outcome.begin(state)
    char = require_character(out.state, char_id)
    require_not_in_combat(out.state, char)
    require_not_wounded(char)
    full = hp_max(char, ctx.settings)
    if char.hp >= full:
        raise conflict(f"character {char.id} is already at full HP")
    cost = heal_cost(char, ctx.settings)
    out.adjust("VAL", -cost, "heal", char.id)
    spend_energy(out, ctx.settings.heal_energy_cost, ctx)
    char.hp = full
    out.reply = {"character": character_view(char, ctx.settings, ctx.now), "cost": cost, "val": out.state.val}
    return out


def revive(state: PlayerState, char_id: str, ctx: RuleContext) -> Outcome:
    out = Outcome.begin(state)
    char = require_character(out.state, char_id)
    require_not_in_combat(out.state, char)
    if not char.wounded:
        raise conflict(f"character {char.id} is not wounded")
    out.adjust("VAL", -ctx.settings.revive_cost_val, "revive", char.id)
    char.wounded_at = None
    char.hp = hp_max(char, ctx.settings)
    out.reply = {"character": character_view(char, ctx.settings, ctx.now), "cost": ctx.settings.revive_cost_val,
                 "val": out.state.val}
    return out


def evolve(state: PlayerState, char_id: str, ctx: RuleContext) -> Outcome:
    out = Outcome.begin(state)
    settings = ctx.settings
    char = require_character(out.state, char_id)
    require_not_in_combat(out.state, char)
    require_not_wounded(char)
    if char.stage >= settings.max_stage:
        raise conflict(f"character {char.id} is already at the last stage ({settings.max_stage})")
    step = char.stage - 1  # index into the stage tables for the next stage
    need_level = settings.stage_min_levels[step]
    if char.level < need_level:
        raise GameError(ErrorCode.LEVEL_TOO_LOW, f"stage {char.stage + 1} needs level {need_level}, character is "
                        f"level {char.level}", need=need_level, have=char.level)
    out.adjust("VAL", -settings.stage_costs_val[step], "evolve", char.id)
    out.adjust("EVO", -settings.stage_costs_evo[step], "evolve", char.id)
    spend_energy(out, settings.evolve_energy_cost, ctx)
    old_max = hp_max(char, settings)
    char.stage += 1
    char.hp += hp_max(char, settings) - old_max
    out.reply = {"character": character_view(char, settings, ctx.now), **wallet_view(out.state)}
    return out


def sweep_wounded(state: PlayerState, ctx: RuleContext) -> Outcome:
    """Removes every character wounded for at least `wound_loss_seconds`, with a `character_lost` notification.

    Pure and idempotent on its input: running it twice on the same stored state removes nothing more, so the storage
    layer's compare-and-set write is what makes it happen once however many nodes run it.
    """
    out = Outcome.begin(state)
    limit = ctx.settings.wound_loss_seconds
    lost = [c for c in out.state.characters
            if c.wounded_at is not None and ctx.now - c.wounded_at >= limit and not out.state.in_combat(c.id)]
    for char in lost:
        out.state.items.extend(char.equipment.values())
        out.notify("character_lost", {"character": char.id, "base": char.base, "rank": char.rank,
                                      "level": char.level, "wounded_at": char.wounded_at})
    lost_ids = {c.id for c in lost}
    out.state.characters = [c for c in out.state.characters if c.id not in lost_ids]
    out.reply = {"lost": sorted(lost_ids)}
    if lost:
        out.emit("character.lost", {"characters": sorted(lost_ids)})
    return out


def next_sweep_at(state: PlayerState, settings: GameSettings) -> float | None:
    """When the next wounded character of this player will be lost, or None."""
    times = [c.wounded_at + settings.wound_loss_seconds for c in state.characters if c.wounded_at is not None]
    return min(times) if times else None
