"""A character's numbers: level/stage stats, then equipment, then unexpired buffs (each counted once).

Stage bonus: each stage above 1 adds `stage_stat_bonus` (25 %) of the level-1 stats, additively (stage 3 = +50 %,
not 1.25^2), rounded down, before the per-level gains of the rank are added.
Buffs never touch HP (the spec's HP effects are instant), so `hp_max` needs no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from server.game.catalog import BASE_CHARACTERS, EQUIPMENT, RANKS
from server.game.config import GameSettings
from server.game.scaling import exact, floor_times
from server.game.state import Buff, Character


@dataclass(frozen=True)
class StatLine:
    atk: int
    hp: int
    defense: int


def level_stats(base: str, rank: str, level: int, stage: int, settings: GameSettings) -> StatLine:
    """Stats from base, rank, level and stage alone (what a naked, unbuffed character has)."""
    return _level_stats(base, rank, level, stage, settings.stage_stat_bonus)


# Pure functions of their arguments (the catalog is constant), asked for by every round of every combat for each
# member: their exact arithmetic (`Fraction`) showed in every profile of a busy node (docs/PERFORMANCE.md, run 14), so
# each combination is computed once. Keyed by the one setting they read, not by GameSettings, whose hash walks every
# field. Bounded: bases, ranks, levels and stages are few.
@lru_cache(maxsize=256)
def _level_one_stats(base: str, stage: int, stage_stat_bonus: float) -> StatLine:
    b = BASE_CHARACTERS[base]
    factor = 1 + exact(stage_stat_bonus) * (stage - 1)
    return StatLine(floor_times(b.atk, factor), floor_times(b.hp, factor), floor_times(b.defense, factor))


@lru_cache(maxsize=4096)
def _level_stats(base: str, rank: str, level: int, stage: int, stage_stat_bonus: float) -> StatLine:
    one = _level_one_stats(base, stage, stage_stat_bonus)
    r = RANKS[rank]
    gained = level - 1
    return StatLine(one.atk + r.atk_per_level * gained, one.hp + r.hp_per_level * gained,
                    one.defense + r.def_per_level * gained)


def equipment_bonus(char: Character) -> StatLine:
    gear = [EQUIPMENT[item.code] for item in char.equipment.values()]
    return StatLine(sum(g.atk for g in gear), sum(g.hp for g in gear), sum(g.defense for g in gear))


def active_buffs(char: Character, now: float) -> list[Buff]:
    return [b for b in char.buffs if b.expires_at > now]


def buff_total(char: Character, stat: str, now: float) -> int:
    return sum(b.amount for b in active_buffs(char, now) if b.stat == stat)


def hp_max(char: Character, settings: GameSettings) -> int:
    return level_stats(char.base, char.rank, char.level, char.stage, settings).hp + equipment_bonus(char).hp


def effective_stats(char: Character, settings: GameSettings, now: float) -> StatLine:
    own = level_stats(char.base, char.rank, char.level, char.stage, settings)
    gear = equipment_bonus(char)
    return StatLine(
        atk=own.atk + gear.atk + buff_total(char, "atk", now),
        hp=own.hp + gear.hp,
        defense=own.defense + gear.defense + buff_total(char, "def", now),
    )


def xp_multiplier(char: Character, now: float) -> Fraction:
    """1 + the sum of unexpired XP buffs (their amount is a percentage)."""
    return 1 + Fraction(buff_total(char, "xp", now), 100)
