from __future__ import annotations

import json

import pytest

from server.game.config import GameSettings


def test_defaults_match_the_spec() -> None:
    s = GameSettings()
    assert (s.start_val, s.start_evo, s.energy_max, s.energy_regen_seconds) == (100, 2, 100, 360)
    assert (s.dungeon_energy_cost, s.heal_energy_cost, s.evolve_energy_cost) == (5, 2, 10)
    assert (s.evo_price_val, s.revive_cost_val, s.wound_loss_seconds) == (100, 50, 24 * 3600)
    assert (s.max_characters, s.max_equipment, s.max_consumable_stacks) == (50, 20, 50)
    assert s.stage_min_levels == (40, 100) and s.stage_costs_val == (1000, 3000) and s.stage_costs_evo == (1, 1)
    assert s.max_stage == 3 and s.level_cap == 100 and s.stage_stat_bonus == 0.25
    assert (s.crit_chance, s.crit_multiplier, s.defend_multiplier) == (0.10, 1.5, 1.5)
    assert (s.manual_round_timeout_seconds, s.auto_round_delay_seconds, s.team_min, s.team_max) == (30, 1.0, 1, 3)
    assert (s.dungeon_win_points, s.dungeon_hp_bonus_points, s.dungeon_hp_bonus_ratio) == (30, 15, 0.70)
    assert s.recruit_chance("cueva-goblins") == 0.05 and s.recruit_chance("abismo-caos-eterno") == 0.10
    assert [s.market_min_price(k) for k in ("character", "equipment", "consumable")] == [100, 10, 5]
    assert (s.market_max_price, s.market_feature_cost, s.market_tax) == (1_000_000, 100, 0.05)
    assert s.market_listing_seconds == 7 * 24 * 3600
    assert (s.chat_max_chars, s.chat_history) == (500, 100)


def test_overrides_replace_numbers_and_keep_the_rest() -> None:
    s = GameSettings().with_overrides({"energy_regen_seconds": 1, "auto_round_delay_seconds": 0})
    assert s.energy_regen_seconds == 1.0 and isinstance(s.energy_regen_seconds, float)
    assert s.auto_round_delay_seconds == 0
    assert s.energy_max == 100


def test_recruit_override_merges_one_dungeon() -> None:
    s = GameSettings().with_overrides({"recruit_chances": {"cueva-goblins": 1}})
    assert s.recruit_chance("cueva-goblins") == 1.0
    assert s.recruit_chance("bosque-maldito") == 0.06


@pytest.mark.parametrize("overrides", [
    {"no_such_setting": 1},
    {"energy_max": "100"},
    {"energy_max": 1.5},
    {"energy_max": True},
    {"crit_chance": "x"},
    {"stage_costs_val": [1, "2"]},
    {"recruit_chances": [1, 2]},
    {"energy_regen_seconds": 0},
    {"crit_chance": 2},
    {"team_min": 3, "team_max": 2},
    {"stage_costs_val": [1000]},
])
def test_bad_overrides_are_refused(overrides: dict) -> None:
    with pytest.raises(ValueError):
        GameSettings().with_overrides(overrides)


def test_to_dict_is_json_and_round_trips_through_overrides() -> None:
    s = GameSettings().with_overrides({"energy_regen_seconds": 7, "stage_costs_val": [5, 6]})
    data = json.loads(json.dumps(s.to_dict()))
    assert GameSettings().with_overrides(data) == s
