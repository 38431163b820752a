"""Exact arithmetic for the spec's rounded-down formulas.

Floats lie at the edges (40 * 1.15 is 45.99999999999999 in binary), so every `floor(base * factor)` of the spec goes
through `Fraction(repr(x))`, which reads a setting exactly as it is written (0.15 -> 3/20).
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

from server.game.config import GameSettings


@lru_cache(maxsize=256)  # settings, read again for every round; bounded whatever callers ask
def exact(x: float | int) -> Fraction:
    return Fraction(repr(x)) if isinstance(x, float) else Fraction(x)


def floor_times(value: int, factor: float | Fraction) -> int:
    """floor(value * factor), computed exactly."""
    f = factor if isinstance(factor, Fraction) else exact(factor)
    return math.floor(value * f)


def level_factor(per_level: float, level: int) -> Fraction:
    """1 + per_level * (level - 1): the spec's dungeon-level scaling."""
    return 1 + exact(per_level) * (level - 1)


def monster_stat(base: int, dungeon_level: int, settings: GameSettings) -> int:
    return floor_times(base, level_factor(settings.monster_scale_per_level, dungeon_level))


def reward_amount(base: int, dungeon_level: int, settings: GameSettings) -> int:
    return floor_times(base, level_factor(settings.reward_scale_per_level, dungeon_level))


def drop_multiplier(dungeon_level: int, settings: GameSettings) -> Fraction:
    """min(1 + 0.05 (L - 1), 2): drop chances grow with the dungeon level, up to the cap."""
    return min(level_factor(settings.drop_scale_per_level, dungeon_level), exact(settings.drop_scale_cap))


def dungeon_level_threshold(level: int, settings: GameSettings) -> int:
    """floor(100 * 1.5^(L - 1)): points needed to leave dungeon level L."""
    return max(1, floor_times(settings.dungeon_level_base_points, exact(settings.dungeon_level_growth) ** (level - 1)))
