"""Characters, items and energy: reads answer from the stored state, changes go through Players.apply."""

from __future__ import annotations

from typing import Any

from server.commands.registry import Call, handles
from server.game import consumables, gear, progression, shop
from server.game.catalog import catalog_as_dict
from server.game.energy import energy_view
from server.game.outcome import Outcome, RuleContext
from server.game.state import PlayerState
from server.game.views import character_view, characters_view, inventory_view
from server.players import Reply, Rule


@handles("catalog.get")
async def catalog_get(call: Call) -> dict[str, Any]:
    return {**catalog_as_dict(call.ctx.game), "settings": call.ctx.game.to_dict()}


@handles("character.list")
async def character_list(call: Call) -> dict[str, Any]:
    _, state = await call.ctx.players.load(call.player_id)
    return {"characters": characters_view(state, call.ctx.game, call.now)}


@handles("inventory.get")
async def inventory_get(call: Call) -> dict[str, Any]:
    _, state = await call.ctx.players.load(call.player_id)
    game = call.ctx.game
    return {"items": inventory_view(state),
            "limits": {"characters": game.max_characters, "equipment": game.max_equipment,
                       "consumables": game.max_consumable_stacks}}


@handles("energy.get")
async def energy_get(call: Call) -> dict[str, Any]:
    _, state = await call.ctx.players.load(call.player_id)
    return energy_view(state, call.ctx.game, call.now)


def _with_character(rule_outcome: Outcome, char_id: str, ctx: RuleContext) -> Outcome:
    """Make sure the reply shows the character as it is after the rule."""
    state: PlayerState = rule_outcome.state
    char = state.character(char_id)
    if char is not None:
        rule_outcome.reply.setdefault("character", character_view(char, ctx.settings, ctx.now,
                                                                  state.in_combat(char_id)))
    return rule_outcome


async def _change_character(call: Call, char_id: str, rule: Rule) -> Reply:
    """Apply a rule that changes one character, replying with that character as it is afterwards."""
    return await call.ctx.players.apply(
        call.player_id, lambda s, ctx: _with_character(rule(s, ctx), char_id, ctx), call.idem)


@handles("character.heal")
async def character_heal(call: Call) -> Reply:
    char = call.data["character"]
    return await _change_character(call, char, lambda s, ctx: progression.heal(s, char, ctx))


@handles("character.revive")
async def character_revive(call: Call) -> Reply:
    char = call.data["character"]
    return await _change_character(call, char, lambda s, ctx: progression.revive(s, char, ctx))


@handles("character.evolve")
async def character_evolve(call: Call) -> Reply:
    char = call.data["character"]
    return await _change_character(call, char, lambda s, ctx: progression.evolve(s, char, ctx))


@handles("character.equip")
async def character_equip(call: Call) -> Reply:
    char, item = call.data["character"], call.data["item"]
    return await _change_character(call, char, lambda s, ctx: gear.equip(s, char, item, ctx))


@handles("character.unequip")
async def character_unequip(call: Call) -> Reply:
    char, slot = call.data["character"], call.data["slot"]
    return await _change_character(call, char, lambda s, ctx: gear.unequip(s, char, slot, ctx))


@handles("item.use")
async def item_use(call: Call) -> Reply:
    item, char = call.data["item"], call.data["character"]
    return await _change_character(call, char, lambda s, ctx: consumables.use_item(s, item, char, ctx))


@handles("evo.buy")
async def evo_buy(call: Call) -> Reply:
    count = call.data["count"]
    return await call.ctx.players.apply(call.player_id, lambda s, ctx: shop.buy_evo(s, count, ctx), call.idem)
