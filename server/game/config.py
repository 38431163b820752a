"""Every number of the game's rules as one frozen settings object, with the product specification's values as
defaults (docs/DESIGN.md records the choices where the specification is silent).

The rules never hold a literal of the spec: they read it from here, so a deployment (or a test) can change a number
with `GameSettings.with_overrides({...})` without touching code. Tables (stage costs, the XP base table, recruit
chances) are tuples so the object stays immutable and hashable; `to_dict()` gives JSON-able values.
The content of the world (base characters, items, dungeons and their stats) lives in `catalog.py`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

DAY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class GameSettings:
    # --- wallet and energy -------------------------------------------------------------------------------------
    start_val: int = 100
    start_evo: int = 2
    evo_price_val: int = 100
    energy_max: int = 100
    energy_regen_seconds: float = 360.0
    dungeon_energy_cost: int = 5
    heal_energy_cost: int = 2
    evolve_energy_cost: int = 10
    # --- characters ----------------------------------------------------------------------------------------------
    revive_cost_val: int = 50
    wound_loss_seconds: float = float(DAY_SECONDS)
    # heal costs ceil((max - current) / heal_hp_step) * heal_val_per_step VAL
    heal_hp_step: int = 10
    heal_val_per_step: int = 2
    max_characters: int = 50
    max_equipment: int = 20
    max_consumable_stacks: int = 50
    level_cap: int = 100
    # stage N+2 is reached with stage_min_levels[N], stage_costs_val[N], stage_costs_evo[N]
    stage_min_levels: tuple[int, ...] = (40, 100)
    stage_costs_val: tuple[int, ...] = (1000, 3000)
    stage_costs_evo: tuple[int, ...] = (1, 1)
    stage_stat_bonus: float = 0.25
    # XP from level n to n+1 is base(n) * n; base(n) = xp_base_values[i] for the first xp_base_max_levels[i] >= n,
    # else the last value of xp_base_values
    xp_base_max_levels: tuple[int, ...] = (20, 40, 60, 80)
    xp_base_values: tuple[int, ...] = (100, 200, 400, 800, 1600)
    # --- combat ------------------------------------------------------------------------------------------------
    crit_chance: float = 0.10
    crit_multiplier: float = 1.5
    defend_multiplier: float = 1.5
    manual_round_timeout_seconds: float = 30.0
    auto_round_delay_seconds: float = 1.0
    team_min: int = 1
    team_max: int = 3
    win_ranking_points: int = 10
    # --- dungeon progression -----------------------------------------------------------------------------------
    dungeon_win_points: int = 30
    dungeon_hp_bonus_points: int = 15
    dungeon_hp_bonus_ratio: float = 0.70
    dungeon_streak_step: int = 3
    dungeon_streak_bonus_points: int = 5
    dungeon_level_base_points: int = 100
    dungeon_level_growth: float = 1.5
    monster_scale_per_level: float = 0.15
    reward_scale_per_level: float = 0.10
    drop_scale_per_level: float = 0.05
    drop_scale_cap: float = 2.0
    recruit_chances: tuple[tuple[str, float], ...] = (
        ("cueva-goblins", 0.05),
        ("bosque-maldito", 0.06),
        ("fortaleza-caballero-negro", 0.07),
        ("templo-dragon-ancestral", 0.08),
        ("abismo-caos-eterno", 0.10),
    )
    # --- market ------------------------------------------------------------------------------------------------
    market_min_price_character: int = 100
    market_min_price_equipment: int = 10
    market_min_price_consumable: int = 5
    market_max_price: int = 1_000_000
    market_feature_cost: int = 100
    market_tax: float = 0.05
    market_listing_seconds: float = 7.0 * DAY_SECONDS
    market_page_max: int = 100
    # --- rankings and social -----------------------------------------------------------------------------------
    ranking_top_max: int = 100
    chat_max_chars: int = 500
    chat_history: int = 100

    def __post_init__(self) -> None:
        _check_values(self)

    # --- derived helpers -----------------------------------------------------------------------------------------
    @property
    def max_stage(self) -> int:
        return 1 + len(self.stage_min_levels)

    def recruit_chance(self, dungeon: str) -> float:
        return dict(self.recruit_chances).get(dungeon, 0.0)

    def market_min_price(self, kind: str) -> int:
        return {
            "character": self.market_min_price_character,
            "equipment": self.market_min_price_equipment,
            "consumable": self.market_min_price_consumable,
        }[kind]

    # --- (de)serialisation ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "recruit_chances":
                out[f.name] = dict(value)
            elif isinstance(value, tuple):
                out[f.name] = list(value)
            else:
                out[f.name] = value
        return out

    def with_overrides(self, overrides: dict[str, Any]) -> GameSettings:
        """A copy with some numbers replaced; unknown names or wrong types raise ValueError."""
        if not isinstance(overrides, dict):
            raise ValueError(f"game overrides must be an object, got {type(overrides).__name__}")
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown game setting(s): {', '.join(unknown)}")
        changes = {name: _coerce(name, getattr(self, name), value) for name, value in overrides.items()}
        return dataclasses.replace(self, **changes)


def _is_number(value: Any) -> bool:
    # bool is an int subclass, but `true` is never a sensible number of the game
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _coerce(name: str, default: Any, value: Any) -> Any:
    if isinstance(default, bool):  # pragma: no cover - no bool settings today
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be a boolean")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if not _is_number(value):
            raise ValueError(f"{name} must be a number, got {value!r}")
        return float(value)
    if name == "recruit_chances":
        # a partial mapping is merged onto the current table, so one dungeon can be tuned alone
        if not isinstance(value, dict):
            raise ValueError(f"{name} must be an object of dungeon -> chance")
        merged = dict(default)
        for key, chance in value.items():
            if not isinstance(key, str) or not _is_number(chance):
                raise ValueError(f"{name} must map dungeon ids to numbers")
            merged[key] = float(chance)
        return tuple(merged.items())
    if isinstance(default, tuple):
        if not isinstance(value, list | tuple) or not all(_is_int(v) for v in value):
            raise ValueError(f"{name} must be a list of integers, got {value!r}")
        return tuple(value)
    raise ValueError(f"{name} cannot be overridden")  # pragma: no cover


def _check_values(s: GameSettings) -> None:
    """Refuse settings that would break the rules' own invariants (division by zero, impossible tables)."""
    problems: list[str] = []
    positive = ("energy_regen_seconds", "energy_max", "level_cap", "heal_hp_step", "team_min", "dungeon_streak_step",
                "dungeon_level_base_points")
    problems += [f"{n} must be > 0" for n in positive if getattr(s, n) <= 0]
    non_negative = [f.name for f in fields(s) if _is_number(getattr(s, f.name))]
    problems += [f"{n} must be >= 0" for n in non_negative if getattr(s, n) < 0]
    chances = ("crit_chance", "dungeon_hp_bonus_ratio", "market_tax")
    problems += [f"{n} must be within 0..1" for n in chances if not 0 <= getattr(s, n) <= 1]
    problems += [f"recruit chance of {d} must be within 0..1" for d, c in s.recruit_chances if not 0 <= c <= 1]
    if s.team_max < s.team_min:
        problems.append("team_max must be >= team_min")
    if not len(s.stage_min_levels) == len(s.stage_costs_val) == len(s.stage_costs_evo):
        problems.append("stage_min_levels, stage_costs_val and stage_costs_evo must have the same length")
    if len(s.xp_base_values) != len(s.xp_base_max_levels) + 1:
        problems.append("xp_base_values needs one more entry than xp_base_max_levels")
    if any(v < 0 for v in (*s.stage_min_levels, *s.stage_costs_val, *s.stage_costs_evo, *s.xp_base_max_levels)):
        problems.append("stage and XP tables must not hold negative numbers")
    if any(v <= 0 for v in s.xp_base_values):
        problems.append("xp_base_values must be > 0")
    if s.drop_scale_cap < 1:
        problems.append("drop_scale_cap must be >= 1")
    if problems:
        raise ValueError("invalid game settings: " + "; ".join(problems))


DEFAULT_SETTINGS = GameSettings()
