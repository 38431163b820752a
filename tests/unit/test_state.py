from __future__ import annotations

import json

from server.game.catalog import BASE_CHARACTERS, EQUIPMENT
from server.game.combat import start_combat
from server.game.config import GameSettings
from server.game.gear import equip
from server.game.state import Buff, DungeonProgress, PlayerState, Stats
from server.game.stats import level_stats
from server.game.views import character_view, item_view
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


def test_copy_is_equal_and_shares_nothing_it_changes() -> None:
    """Deep, except for a combat's recorded actions and rounds: entries never changed once appended
    (test_combat.py checks that rounds leave them alone), shared by the copy, which has lists of its own."""
    ctx = make_ctx()
    state = fresh_player(ctx)
    state = equip(state, hero(state).id, items_of(state, "daga-oxidada")[0].id, ctx).state
    hero(state).buffs.append(Buff("atk", 5, T0 + 60, "pan-de-campo"))
    state.stats = Stats(wins=3, losses=2, streak=1, points=40, weekly={"2025-W48": 10})
    state.dungeons["cueva-goblins"] = DungeonProgress(level=2, points=7)
    state = start_combat(state, "cueva-goblins", [hero(state).id], "manual", ctx).state
    assert state.combat is not None
    state.combat.actions.append({"action": "attack", "item": None, "target": None, "at": T0})
    state.combat.rounds.append({"round": 1, "log": [{"hp": 3}]})
    state.combat.round, state.combat.deadline = 1, T0 + 30
    state.characters[0].wounded_at = T0  # every field away from its default, so a field the copy forgets shows

    copied = state.copy()
    assert copied == state
    assert copied.to_dict() == state.to_dict()

    before = state.to_dict()
    copied.characters[0].equipment["weapon"].uses = 99
    copied.characters[0].buffs[0].amount = 99
    copied.items[0].uses = 99
    copied.dungeons["cueva-goblins"].points = 99
    copied.stats.weekly["2025-W48"] = 99
    copied.combat.team.append("x")  # type: ignore[union-attr]
    copied.combat.actions.append({"action": "defend", "item": None, "target": None, "at": T0 + 1})  # type: ignore[union-attr]
    copied.combat.rounds.append({"round": 2})  # type: ignore[union-attr]
    assert state.to_dict() == before
    assert copied.combat.rounds[0] is state.combat.rounds[0]  # type: ignore[union-attr]


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


def test_level_stats_follow_the_stage_bonus_of_the_settings_asked_with() -> None:
    """The level stats are computed once per combination (server/game/stats.py): the stage bonus is part of it."""
    plain, richer = GameSettings(), GameSettings().with_overrides({"stage_stat_bonus": 0.5})
    base = next(iter(BASE_CHARACTERS))
    stage_one = level_stats(base, "B", 1, 1, plain)
    assert level_stats(base, "B", 1, 1, richer) == stage_one
    assert level_stats(base, "B", 1, 3, plain).hp == BASE_CHARACTERS[base].hp * 3 // 2  # +25 % twice
    assert level_stats(base, "B", 1, 3, richer).hp == BASE_CHARACTERS[base].hp * 2  # +50 % twice
    assert level_stats(base, "B", 1, 3, plain).hp == BASE_CHARACTERS[base].hp * 3 // 2  # not the richer's, cached
