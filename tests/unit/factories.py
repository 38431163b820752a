"""Builders shared by the unit tests: contexts with a fixed clock and seed, and ready-made players."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import pytest

from protocol.codes import ErrorCode
from server.game.config import GameSettings
from server.game.errors import GameError
from server.game.outcome import RuleContext
from server.game.progression import make_character, new_player
from server.game.state import Character, Item, PlayerState
from server.game.stats import hp_max

T0 = 1_764_400_000.0  # 2025-11-29, a Saturday


def make_ctx(now: float = T0, seed: int = 1, settings: GameSettings | None = None) -> RuleContext:
    counter = itertools.count(1)
    return RuleContext(settings=settings or GameSettings(), now=now, rng=random.Random(seed),
                       make_id=lambda prefix: f"{prefix}{next(counter)}")


def at(ctx: RuleContext, now: float) -> RuleContext:
    """The same context (same id counter and generator) at another time."""
    return RuleContext(settings=ctx.settings, now=now, rng=ctx.rng, make_id=ctx.make_id)


def fresh_player(ctx: RuleContext) -> PlayerState:
    return new_player(ctx).state


def hero(state: PlayerState) -> Character:
    return state.characters[0]


def add_character(state: PlayerState, ctx: RuleContext, base: str = "arbol-caos", rank: str = "SSS",
                  level: int = 1) -> Character:
    char = make_character(ctx.make_id("c"), base, rank, ctx.settings)
    state.characters.append(char)
    if level > 1:
        char.level = level
        char.hp = hp_max(char, ctx.settings)
    return char


def error_code(rule: Callable[..., object], *args: object) -> ErrorCode:
    """The protocol code of the GameError that `rule(*args)` raises (fails the test when it does not raise)."""
    with pytest.raises(GameError) as err:
        rule(*args)
    return err.value.code


def items_of(state: PlayerState, code: str) -> list[Item]:
    return [i for i in state.items if i.code == code]
