"""Turn-based combat: start, one round at a time, replay.

Determinism: the combat stores a seed drawn once from the context's generator; round k draws only from
`random.Random(f"{seed}:{k}")`, always three numbers in the same order (team miss, crit, monster miss) whatever the
action, and the end-of-combat rewards continue that generator. Each resolved action is stored with the time it was
resolved (`at`, which decides which buffs were active), so the state at start plus the actions replay exactly.

The mode only changes pacing: `deadline` is when the server resolves the next round by itself with `attack` (the
manual-mode timeout, or the auto-mode delay). The rules accept any action in either mode; the handler decides.
The seed is never shown to the client (it would reveal future rolls).
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

from protocol.codes import ErrorCode
from server.game.catalog import DUNGEONS
from server.game.combat_end import finish_combat
from server.game.config import GameSettings
from server.game.consumables import apply_consumable
from server.game.energy import spend_energy
from server.game.errors import GameError, bad_request, conflict, not_found
from server.game.inventory import require_character, require_free_item, require_id, require_not_wounded
from server.game.outcome import Outcome, RuleContext
from server.game.scaling import exact, floor_times, monster_stat
from server.game.state import Character, Combat, PlayerState
from server.game.stats import effective_stats

ACTIONS: tuple[str, ...] = ("attack", "defend", "item", "flee")
MODES: tuple[str, ...] = ("auto", "manual")
TIMEOUT_ACTION = "attack"


def _deadline(mode: str, settings: GameSettings, now: float) -> float:
    delay = settings.manual_round_timeout_seconds if mode == "manual" else settings.auto_round_delay_seconds
    return now + delay


def start_combat(state: PlayerState, dungeon: str, team_ids: list[str], mode: str, ctx: RuleContext) -> Outcome:
    out = Outcome.begin(state)
    s, settings = out.state, ctx.settings
    if s.combat is not None:
        raise GameError(ErrorCode.IN_COMBAT, f"combat {s.combat.id} is still running", combat=s.combat.id)
    spec = DUNGEONS.get(dungeon) if isinstance(dungeon, str) else None
    if spec is None:
        raise not_found("dungeon", dungeon, "data.dungeon")
    if mode not in MODES:
        raise bad_request("data.mode", f"mode must be one of {', '.join(MODES)}")
    if not isinstance(team_ids, list | tuple) or not all(isinstance(i, str) for i in team_ids):
        raise bad_request("data.team", "team must be a list of character ids")
    if not settings.team_min <= len(team_ids) <= settings.team_max:
        raise bad_request("data.team", f"a team has {settings.team_min} to {settings.team_max} characters")
    if len(set(team_ids)) != len(team_ids):
        raise bad_request("data.team", "a character cannot be twice in a team")
    members = [require_character(s, i, "data.team") for i in team_ids]
    for member in members:
        require_not_wounded(member)
        if member.level < spec.min_level:
            raise GameError(ErrorCode.LEVEL_TOO_LOW, f"{spec.code} needs level {spec.min_level}, {member.id} is "
                            f"level {member.level}", need=spec.min_level, have=member.level, character=member.id)
    spend_energy(out, settings.dungeon_energy_cost, ctx)
    for member in members:
        member.buffs = [b for b in member.buffs if b.expires_at > ctx.now]
    level = s.dungeon_progress(spec.code).level
    hp = monster_stat(spec.hp, level, settings)
    s.combat = Combat(
        id=ctx.make_id("b"), dungeon=spec.code, dungeon_level=level, mode=mode, seed=ctx.rng.getrandbits(63),
        team=list(team_ids), monster_hp=hp, monster_hp_max=hp, monster_atk=monster_stat(spec.atk, level, settings),
        monster_def=monster_stat(spec.defense, level, settings), started_at=ctx.now,
        deadline=_deadline(mode, settings, ctx.now),
    )
    view = combat_view(s.combat, s)
    out.emit("combat.started", view)
    out.reply = view
    return out


def round_rng(seed: int, round_number: int) -> random.Random:
    return random.Random(f"{seed}:{round_number}")


def resolve_round(state: PlayerState, action: str, ctx: RuleContext, item_id: str | None = None,
                  target_id: str | None = None, combat_id: str | None = None) -> Outcome:
    """Resolves the next round with the team's `action`; ends the combat on a win, a loss or a flight."""
    out = Outcome.begin(state)
    s, settings, now = out.state, ctx.settings, ctx.now
    combat = s.combat
    if combat is None:
        raise conflict("no combat is running")
    if combat_id is not None and combat_id != combat.id:
        # Ids are random, so another player's combat and one of ours that has ended look alike: neither is here.
        raise not_found("running combat", combat_id, "data.combat")
    if action not in ACTIONS:
        raise bad_request("data.action", f"action must be one of {', '.join(ACTIONS)}")
    spec = DUNGEONS[combat.dungeon]
    members = [c for c in (s.character(i) for i in combat.team) if c is not None]
    number = combat.round + 1
    rng = round_rng(combat.seed, number)
    team_roll, crit_roll, monster_roll = rng.random(), rng.random(), rng.random()

    record: dict[str, Any] = {
        "combat": combat.id, "round": number, "team_action": action, "monster_action": "none", "damage_dealt": 0,
        "damage_taken": {m.id: 0 for m in members}, "missed": False, "monster_missed": False, "crit": False,
        "item": None,
    }
    defending = False
    if action == "attack":
        _team_attack(combat, spec.team_miss, _living(members), team_roll, crit_roll, ctx, record)
    elif action == "defend":
        defending = True
    elif action == "item":
        record["item"] = _use_item_in_combat(s, combat, item_id, target_id, ctx)

    if action != "flee" and combat.monster_hp > 0:
        _monster_attack(combat, spec.monster_miss, _living(members), defending, monster_roll, ctx, record)

    record["monster_hp"] = combat.monster_hp
    record["team_hp"] = {m.id: m.hp for m in members}
    combat.round = number
    combat.actions.append({"action": action, "item": item_id if action == "item" else None,
                           "target": target_id if action == "item" else None, "at": now})
    combat.rounds.append(record)
    out.emit("combat.round", record)

    result = _result(action, combat, members)
    ended = None
    if result is None:
        combat.deadline = _deadline(combat.mode, settings, now)
    else:
        ended = finish_combat(out, combat, result, ctx, rng)
        out.emit("combat.ended", ended)
    out.reply = {**record, "outcome": result, "ended": ended}
    return out


def _living(members: list[Character]) -> list[Character]:
    return [m for m in members if m.hp > 0]


def _team_attack(combat: Combat, miss_chance: float, living: list[Character], team_roll: float, crit_roll: float,
                 ctx: RuleContext, record: dict[str, Any]) -> None:
    if team_roll < miss_chance:
        record["missed"] = True
        return
    atk = sum(effective_stats(m, ctx.settings, ctx.now).atk for m in living)
    damage = max(1, atk - combat.monster_def)
    if crit_roll < ctx.settings.crit_chance:
        record["crit"] = True
        damage = floor_times(damage, exact(ctx.settings.crit_multiplier))
    combat.monster_hp = max(0, combat.monster_hp - damage)
    record["damage_dealt"] = damage


def _monster_attack(combat: Combat, miss_chance: float, living: list[Character], defending: bool,
                    monster_roll: float, ctx: RuleContext, record: dict[str, Any]) -> None:
    record["monster_action"] = "attack"
    if monster_roll < miss_chance or not living:
        record["monster_missed"] = True
        return
    team_def = sum(effective_stats(m, ctx.settings, ctx.now).defense for m in living)
    if defending:
        team_def = floor_times(team_def, exact(ctx.settings.defend_multiplier))
    damage = max(1, combat.monster_atk - team_def)
    share = math.ceil(damage / len(living))
    for member in living:
        taken = min(share, member.hp)
        member.hp -= taken
        record["damage_taken"][member.id] = taken


def _use_item_in_combat(s: PlayerState, combat: Combat, item_id: str | None, target_id: str | None,
                        ctx: RuleContext) -> dict[str, Any]:
    item = require_free_item(s, item_id, "data.item")
    target = require_id(target_id, "data.target")
    if target not in combat.team:
        if s.character(target) is None:
            raise not_found("character", target, "data.target")
        raise conflict(f"character {target} is not in combat {combat.id}")
    char = s.character(target)
    assert char is not None
    return apply_consumable(s, item, char, ctx.settings, ctx.now)


def _result(action: str, combat: Combat, members: list[Character]) -> str | None:
    if action == "flee":
        return "fled"
    if combat.monster_hp <= 0:
        return "win"
    if not _living(members):
        return "loss"
    return None


def round_due(state: PlayerState, now: float) -> bool:
    """True when the server must resolve the next round itself (with `TIMEOUT_ACTION`)."""
    return state.combat is not None and state.combat.deadline is not None and now >= state.combat.deadline


def combat_view(combat: Combat, state: PlayerState | None = None) -> dict[str, Any]:
    """The combat as the client sees it (no seed, no action log). `id` and `monster_hp` are the documented
    fields of `combat.state`; `combat` and `monster` carry the same for the `combat.started` event."""
    view: dict[str, Any] = {
        "id": combat.id, "combat": combat.id, "monster_hp": combat.monster_hp,
        "dungeon": combat.dungeon, "dungeon_level": combat.dungeon_level, "mode": combat.mode,
        "team": list(combat.team), "round": combat.round, "deadline": combat.deadline,
        "started_at": combat.started_at,
        "monster": {"hp": combat.monster_hp, "hp_max": combat.monster_hp_max, "atk": combat.monster_atk,
                    "def": combat.monster_def},
        "last_round": combat.rounds[-1] if combat.rounds else None,
    }
    if state is not None:
        view["team_hp"] = {i: c.hp for i in combat.team if (c := state.character(i)) is not None}
    return view


def replay_combat(initial_state: dict[str, Any], actions: list[dict[str, Any]],
                  settings: GameSettings) -> list[dict[str, Any]]:
    """Replays a combat from the stored state right after `start_combat` and its recorded actions.

    Returns the round records; with the same seed and actions they equal the original ones exactly.
    """
    state = PlayerState.from_dict(initial_state)
    if state.combat is None:
        raise ValueError("the initial state holds no combat")
    counter = itertools.count(1)
    rounds: list[dict[str, Any]] = []
    for action in actions:
        ctx = RuleContext(settings=settings, now=action["at"], rng=random.Random(0),
                          make_id=lambda prefix: f"{prefix}-replay-{next(counter)}")
        out = resolve_round(state, action["action"], ctx, action.get("item"), action.get("target"))
        rounds.append(next(data for kind, data in reversed(out.events) if kind == "combat.round"))
        state = out.state
    return rounds
