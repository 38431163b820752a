"""Equipping and unequipping: one item per slot, the character's level must reach the item's minimum level.

Equipped items leave the free inventory but still count against `max_equipment`, so neither direction needs room.
Equipping into an occupied slot swaps: the previous item returns to the free inventory. Unequipping clamps current HP
to the new (lower) max. A character in a combat cannot change gear (`in_combat`).
"""

from __future__ import annotations

from protocol.codes import ErrorCode
from server.game.catalog import EQUIPMENT, SLOTS
from server.game.errors import GameError, bad_request, conflict
from server.game.inventory import require_character, require_free_item, require_not_in_combat
from server.game.outcome import Outcome, RuleContext
from server.game.state import PlayerState
from server.game.stats import hp_max
from server.game.views import character_view, inventory_view


def equip(state: PlayerState, char_id: str, item_id: str, ctx: RuleContext) -> Outcome:
    out = Outcome.begin(state)
    char = require_character(out.state, char_id)
    require_not_in_combat(out.state, char)
    item = require_free_item(out.state, item_id)
    if item.kind != "equipment":
        raise conflict(f"item {item.id} ({item.code}) cannot be equipped")
    gear = EQUIPMENT[item.code]
    if char.level < gear.min_level:
        raise GameError(ErrorCode.LEVEL_TOO_LOW, f"{item.code} needs level {gear.min_level}, character is "
                        f"level {char.level}", need=gear.min_level, have=char.level)
    out.state.items = [i for i in out.state.items if i.id != item.id]
    previous = char.equipment.get(gear.slot)
    if previous is not None:
        out.state.items.append(previous)
    char.equipment[gear.slot] = item
    char.hp = min(char.hp, hp_max(char, ctx.settings))
    out.reply = {"character": character_view(char, ctx.settings, ctx.now),
                 "unequipped": previous.id if previous else None, "items": inventory_view(out.state)}
    return out


def unequip(state: PlayerState, char_id: str, slot: str, ctx: RuleContext) -> Outcome:
    out = Outcome.begin(state)
    if slot not in SLOTS:
        raise bad_request("data.slot", f"slot must be one of {', '.join(SLOTS)}")
    char = require_character(out.state, char_id)
    require_not_in_combat(out.state, char)
    item = char.equipment.pop(slot, None)
    if item is None:
        raise conflict(f"nothing is equipped in slot {slot}")
    out.state.items.append(item)
    char.hp = min(char.hp, hp_max(char, ctx.settings))
    out.reply = {"character": character_view(char, ctx.settings, ctx.now), "item": item.id,
                 "items": inventory_view(out.state)}
    return out
