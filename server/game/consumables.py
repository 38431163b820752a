"""Using a consumable on a character, outside a combat (`use_item`) or as the team's combat action.

Decisions where the spec is silent:
- HP effects are instant and capped at hp_max; nothing revives (the elixir included), so a wounded or knocked-out
  target is refused with `character_wounded`.
- A consumable that would only heal is refused on a full-HP target (`conflict`), so a click never wastes it.
- Timed effects become buffs; using the same consumable again on the same character refreshes its buff (new expiry)
  instead of stacking it; different consumables stack.
- Outside a combat, a character that is fighting is refused (`in_combat`): in a fight an item is the team's action.
"""

from __future__ import annotations

from typing import Any

from protocol.codes import ErrorCode
from server.game.catalog import CONSUMABLES
from server.game.config import GameSettings
from server.game.errors import GameError, conflict
from server.game.inventory import require_character, require_free_item, require_not_in_combat
from server.game.outcome import Outcome, RuleContext
from server.game.state import Buff, Character, Item, PlayerState
from server.game.stats import hp_max
from server.game.views import character_view, item_view


def check_usable(item: Item, char: Character, settings: GameSettings) -> None:
    if item.kind != "consumable":
        raise conflict(f"item {item.id} ({item.code}) is not a consumable")
    if char.hp <= 0:
        raise GameError(ErrorCode.CHARACTER_WOUNDED, f"character {char.id} is down; items do not revive",
                        character=char.id)
    effect = CONSUMABLES[item.code]
    if not effect.has_timed_effect and char.hp >= hp_max(char, settings):
        raise conflict(f"character {char.id} is already at full HP")


def apply_consumable(state: PlayerState, item: Item, char: Character, settings: GameSettings,
                     now: float) -> dict[str, Any]:
    """Applies one use of `item` to `char` (both inside `state`) and spends the use. Returns what happened."""
    check_usable(item, char, settings)
    effect = CONSUMABLES[item.code]
    healed = 0
    if effect.heal:
        before = char.hp
        char.hp = min(hp_max(char, settings), char.hp + effect.heal)
        healed = char.hp - before
    if effect.has_timed_effect:
        expires_at = now + effect.duration_seconds
        # drop expired buffs and this consumable's own earlier buff: refresh, never stack the same source
        char.buffs = [b for b in char.buffs if b.expires_at > now and b.source != effect.code]
        for stat, amount in (("atk", effect.atk), ("def", effect.defense), ("xp", effect.xp_pct)):
            if amount:
                char.buffs.append(Buff(stat=stat, amount=amount, expires_at=expires_at, source=effect.code))
    item.uses -= 1
    if item.uses <= 0:
        state.items = [i for i in state.items if i.id != item.id]
    return {"item": item.id, "code": item.code, "target": char.id, "healed": healed, "uses_left": max(0, item.uses)}


def use_item(state: PlayerState, item_id: str, target_id: str, ctx: RuleContext) -> Outcome:
    out = Outcome.begin(state)
    item = require_free_item(out.state, item_id, "data.item")
    if item.kind != "consumable":
        raise conflict(f"item {item.id} ({item.code}) is not a consumable")
    char = require_character(out.state, target_id, "data.target")
    require_not_in_combat(out.state, char)
    used = apply_consumable(out.state, item, char, ctx.settings, ctx.now)
    remaining = out.state.item(item.id)
    out.reply = {**used, "character": character_view(char, ctx.settings, ctx.now),
                 "item_left": item_view(remaining) if remaining else None}
    return out
