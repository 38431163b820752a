"""Views of a player's state as the protocol shows them (characters with their effective stats, items, wallet).

Apart from server/game/state.py so the state's dataclasses need nothing of the rules that compute with them
(experience, stats), which import the dataclasses.
"""

from __future__ import annotations

from typing import Any

from server.game.config import GameSettings
from server.game.experience import xp_to_next
from server.game.state import Character, Item, PlayerState
from server.game.stats import active_buffs, effective_stats


def item_view(item: Item) -> dict[str, Any]:
    return {"id": item.id, "code": item.code, "kind": item.kind, "uses": item.uses}


def character_view(char: Character, settings: GameSettings, now: float, in_combat: bool = False) -> dict[str, Any]:
    """The protocol's character: effective atk/def/hp_max (level + stage + equipment + unexpired buffs)."""
    eff = effective_stats(char, settings, now)
    xp_next = xp_to_next(char.level, settings)
    return {
        "id": char.id, "base": char.base, "rank": char.rank, "level": char.level, "stage": char.stage,
        "xp": char.xp, "xp_next": xp_next or None, "hp": char.hp, "hp_max": eff.hp, "atk": eff.atk,
        "def": eff.defense, "wounded": char.wounded, "wounded_at": char.wounded_at,
        "lost_at": char.wounded_at + settings.wound_loss_seconds if char.wounded_at is not None else None,
        "in_combat": in_combat,
        "equipment": {slot: item_view(item) for slot, item in sorted(char.equipment.items())},
        "buffs": [b.to_dict() for b in active_buffs(char, now)],
    }


def characters_view(state: PlayerState, settings: GameSettings, now: float) -> list[dict[str, Any]]:
    return [character_view(c, settings, now, state.in_combat(c.id)) for c in state.characters]


def inventory_view(state: PlayerState) -> list[dict[str, Any]]:
    return [item_view(i) for i in state.items]


def wallet_view(state: PlayerState) -> dict[str, int]:
    return {"val": state.val, "evo": state.evo}
