"""The end of a combat: rewards of a win, bookkeeping of a loss or a flight, wounds, dungeon progress.

Decisions where the spec is silent:
- Every team member gets the win's XP, also one knocked out during the fight; that one stays at 0 HP (a level-up
  does not revive) and is wounded like every member left at 0 HP, whatever the outcome (fleeing inflicts no new
  wound, but a member already down when the team fled is wounded).
- The streak bonus uses the streak *including* this win: the 3rd win in a row earns + floor(3/3) * 5.
- "Above 70 % of its HP" is strict: sum of members' current HP > 0.70 * sum of their max HP at the end.
- Rewards randomness continues the last round's generator (seeded by seed and round), so it replays too.
- Drops are rolled in catalog order; a recruit is rolled only when there is room for a character.
- A flight counts as a loss (losses + 1, streak reset) and earns nothing.
"""

from __future__ import annotations

import random
from typing import Any

from server.game.catalog import BASE_CHARACTERS, DUNGEONS, RANKS
from server.game.experience import gain_xp
from server.game.inventory import has_room_for_character, has_room_for_item, new_item
from server.game.outcome import Outcome, RuleContext
from server.game.progression import make_character
from server.game.rankings import add_ranking_points
from server.game.scaling import drop_multiplier, dungeon_level_threshold, exact, floor_times, reward_amount
from server.game.state import Character, Combat, DungeonProgress
from server.game.stats import hp_max, xp_multiplier
from server.game.views import character_view, item_view


def finish_combat(out: Outcome, combat: Combat, outcome: str, ctx: RuleContext, rng: random.Random) -> dict[str, Any]:
    """Applies the end of `combat` to `out.state` and returns the `combat.ended` payload."""
    state = out.state
    members = [c for c in (state.character(i) for i in combat.team) if c is not None]
    ended: dict[str, Any] = {
        "combat": combat.id, "outcome": outcome, "rounds": combat.round, "xp": {}, "level_ups": {}, "val": 0,
        "drops": [], "drops_lost": [], "recruited": None, "points": 0,
    }
    if outcome == "win":
        _reward_win(out, combat, members, ctx, rng, ended)
    else:
        state.stats.losses += 1
        state.stats.streak = 0
    for member in members:
        if member.hp <= 0:
            member.hp = 0
            member.wounded_at = ctx.now
    progress = state.dungeon_progress(combat.dungeon)
    ended["dungeon"] = {"id": combat.dungeon, "level": progress.level, "points": progress.points}
    ended["streak"] = state.stats.streak
    ended["team"] = {m.id: character_view(m, ctx.settings, ctx.now) for m in members}
    out.ended_combat = combat.to_dict()
    state.combat = None
    return ended


def _reward_win(out: Outcome, combat: Combat, members: list[Character], ctx: RuleContext, rng: random.Random,
                ended: dict[str, Any]) -> None:
    state, settings = out.state, ctx.settings
    dungeon = DUNGEONS[combat.dungeon]
    level = combat.dungeon_level

    xp_reward = reward_amount(dungeon.xp_base, level, settings)
    for member in members:
        xp = floor_times(xp_reward, xp_multiplier(member, ctx.now))
        ended["xp"][member.id] = xp
        if gain_xp(member, xp, settings):
            ended["level_ups"][member.id] = member.level
            out.notify("level_up", {"character": member.id, "base": member.base, "level": member.level})

    val = reward_amount(dungeon.val_base, level, settings)
    out.adjust("VAL", val, "dungeon_reward", combat.id)
    ended["val"] = val

    multiplier = drop_multiplier(level, settings)
    for drop in dungeon.drops:
        if rng.random() < exact(drop.chance) * multiplier:
            item = new_item(drop.code, ctx.make_id("i"))
            if has_room_for_item(state, item.kind, settings):
                state.items.append(item)
                ended["drops"].append(item_view(item))
            else:
                ended["drops_lost"].append(drop.code)

    if has_room_for_character(state, settings) and rng.random() < settings.recruit_chance(dungeon.code):
        recruit = _recruit(rng, ctx)
        state.characters.append(recruit)
        ended["recruited"] = character_view(recruit, settings, ctx.now)

    add_ranking_points(state, settings.win_ranking_points, ctx.now)
    ended["points"] = settings.win_ranking_points
    state.stats.wins += 1
    state.stats.streak += 1

    points = settings.dungeon_win_points
    if _team_above_ratio(members, ctx):
        points += settings.dungeon_hp_bonus_points
    points += (state.stats.streak // settings.dungeon_streak_step) * settings.dungeon_streak_bonus_points
    state.dungeons[combat.dungeon] = _add_dungeon_points(state.dungeon_progress(combat.dungeon), points, ctx)
    ended["dungeon_points"] = points


def _team_above_ratio(members: list[Character], ctx: RuleContext) -> bool:
    current = sum(m.hp for m in members)
    maximum = sum(hp_max(m, ctx.settings) for m in members)
    return current > exact(ctx.settings.dungeon_hp_bonus_ratio) * maximum


def _add_dungeon_points(progress: DungeonProgress, points: int, ctx: RuleContext) -> DungeonProgress:
    level, total = progress.level, progress.points + points
    while total >= (threshold := dungeon_level_threshold(level, ctx.settings)):
        total -= threshold
        level += 1
    return DungeonProgress(level=level, points=total)


def _recruit(rng: random.Random, ctx: RuleContext) -> Character:
    base = rng.choice(sorted(BASE_CHARACTERS))
    ranks = list(RANKS.values())
    roll = rng.random() * sum(r.weight for r in ranks)
    rank = ranks[-1].code
    for r in ranks:
        if roll < r.weight:
            rank = r.code
            break
        roll -= r.weight
    return make_character(ctx.make_id("c"), base, rank, ctx.settings)
