"""Experience and levels: `base(n) * n` XP from level n to n + 1, several levels at once, capped.

`Character.xp` is the progress inside the current level (it restarts at 0 on each level-up), so it is always below
`xp_to_next(level)`. At the level cap XP is dropped and stays 0.
A level-up heals fully, except a character already down at 0 HP (knocked out in the fight that earned the XP): a
level-up does not revive, the character is wounded like any other member left at 0 HP.
"""

from __future__ import annotations

from server.game.config import GameSettings
from server.game.state import Character
from server.game.stats import hp_max


def xp_base(level: int, settings: GameSettings) -> int:
    for max_level, value in zip(settings.xp_base_max_levels, settings.xp_base_values, strict=False):
        if level <= max_level:
            return value
    return settings.xp_base_values[-1]


def xp_to_next(level: int, settings: GameSettings) -> int:
    """XP needed to go from `level` to `level + 1`; 0 at the level cap (there is no next level)."""
    if level >= settings.level_cap:
        return 0
    return xp_base(level, settings) * level


def gain_xp(char: Character, xp: int, settings: GameSettings) -> int:
    """Adds XP to `char` in place and returns the number of levels gained."""
    if xp < 0:
        raise ValueError("xp must be >= 0")
    if char.level >= settings.level_cap:
        char.xp = 0
        return 0
    gained = 0
    char.xp += xp
    while char.level < settings.level_cap and char.xp >= xp_to_next(char.level, settings):
        char.xp -= xp_to_next(char.level, settings)
        char.level += 1
        gained += 1
    if char.level >= settings.level_cap:
        char.xp = 0
    if gained and char.hp > 0:
        char.hp = hp_max(char, settings)
    return gained
