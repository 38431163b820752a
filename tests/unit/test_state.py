from __future__ import annotations

import json

from server.game.catalog import EQUIPMENT
from server.game.combat import start_combat
from server.game.gear import equip
from server.game.state import Buff, PlayerState, character_view, item_view
from tests.unit.factories import T0, fresh_player, hero, items_of, make_ctx


def test_round_trip_of_a_full_state() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    state = equip(state, hero(state).id, items_of(state, "daga-oxidada")[0].id, ctx).state
    hero(state).buffs.append(Buff("atk", 5, T0 + 60, "pan-de-campo"))
    state.stats.weekly["2025-W48"] = 10
    state = start_combat(state, "cueva-goblins", [hero(state).id], "manual", ctx).state
    data = json.loads(json.dumps(state.to_dict()))
    again = PlayerState.from_dict(data)
    assert again == state
    assert again.to_dict() == data


def test_character_view_counts_level_equipment_and_live_buffs_once() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    char = hero(state)
    view = character_view(char, ctx.settings, T0)
    assert {k: view[k] for k in ("level", "stage", "xp", "xp_next", "hp", "hp_max", "atk", "def", "wounded")} == {
        "level": 1, "stage": 1, "xp": 0, "xp_next": 100, "hp": 20, "hp_max": 20, "atk": 10, "def": 5,
        "wounded": False}
    state = equip(state, char.id, items_of(state, "daga-oxidada")[0].id, ctx).state
    char = hero(state)
    char.buffs += [Buff("atk", 5, T0 + 10, "pan-de-campo"), Buff("def", 20, T0 - 1, "fruto-divino")]
    view = character_view(char, ctx.settings, T0)
    assert view["atk"] == 10 + EQUIPMENT["daga-oxidada"].atk + 5
    assert view["def"] == 5  # the expired buff does not count
    assert view["equipment"]["weapon"]["code"] == "daga-oxidada"
    assert len(view["buffs"]) == 1
    assert character_view(char, ctx.settings, T0 + 11)["atk"] == 15


def test_item_view_has_the_protocol_fields() -> None:
    state = fresh_player(make_ctx())
    assert set(item_view(state.items[0])) == {"id", "code", "kind", "uses"}
