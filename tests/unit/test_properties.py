"""Property tests: invariants that must hold for any seed, any numbers and any sequence of operations."""

from __future__ import annotations

import json
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from server.game.catalog import BASE_CHARACTERS, DUNGEONS, RANKS
from server.game.combat import replay_combat, resolve_round, start_combat
from server.game.config import GameSettings
from server.game.energy import energy_now, spend_energy
from server.game.errors import GameError
from server.game.gear import equip, unequip
from server.game.inventory import consumable_count, equipment_count
from server.game.outcome import Outcome, RuleContext
from server.game.progression import (
    evolve,
    gain_xp,
    heal,
    make_character,
    new_player,
    revive,
    sweep_wounded,
    use_item,
)
from server.game.scaling import drop_multiplier
from server.game.shop import buy_evo
from server.game.state import DungeonProgress, PlayerState
from tests.unit.factories import T0, at, make_ctx

FAST = settings(max_examples=60, deadline=None)
DEFAULTS = GameSettings()


@FAST
@given(st.lists(st.integers(min_value=0, max_value=50_000), max_size=40), st.sampled_from(sorted(RANKS)))
def test_xp_and_level_never_go_back_and_stop_at_the_cap(gains: list[int], rank: str) -> None:
    char = make_character("c", "tenebris", rank, DEFAULTS)
    char.level = 90
    previous = (char.level, char.xp)
    for xp in gains:
        gain_xp(char, xp, DEFAULTS)
        assert (char.level, char.xp) >= previous or char.level == DEFAULTS.level_cap
        assert char.level >= previous[0]
        assert 1 <= char.level <= DEFAULTS.level_cap
        previous = (char.level, char.xp)


@FAST
@given(st.lists(st.tuples(st.floats(min_value=0, max_value=5000), st.integers(min_value=0, max_value=30)),
                max_size=40), st.integers(min_value=1, max_value=100))
def test_energy_stays_within_bounds(steps: list[tuple[float, int]], regen: int) -> None:
    s = DEFAULTS.with_overrides({"energy_regen_seconds": regen})
    state, now = PlayerState(energy=s.energy_max, energy_at=T0), T0
    for wait, spend in steps:
        now += wait
        before, _ = energy_now(state, s, now)
        out = Outcome.begin(state)
        try:
            spend_energy(out, spend, make_ctx(now, settings=s))
            state = out.state
            assert energy_now(state, s, now)[0] == before - spend
        except GameError:
            assert before < spend
        energy, next_at = energy_now(state, s, now)
        assert 0 <= energy <= s.energy_max
        assert (next_at is None) == (energy == s.energy_max)
        assert next_at is None or now < next_at <= now + regen


@FAST
@given(st.integers(min_value=1, max_value=10_000))
def test_drop_multiplier_is_capped_at_two(level: int) -> None:
    m = drop_multiplier(level, DEFAULTS)
    assert 1 <= m <= 2
    assert drop_multiplier(level + 1, DEFAULTS) >= m


@FAST
@given(seed=st.integers(min_value=0, max_value=2**32), dungeon_level=st.integers(min_value=1, max_value=60),
       base=st.sampled_from(sorted(BASE_CHARACTERS)), rank=st.sampled_from(sorted(RANKS)),
       level=st.integers(min_value=1, max_value=100), dungeon=st.sampled_from(sorted(DUNGEONS)),
       actions=st.lists(st.sampled_from(["attack", "attack", "defend"]), min_size=1, max_size=30))
def test_every_hit_does_at_least_one_damage_and_replay_is_exact(
        seed: int, dungeon_level: int, base: str, rank: str, level: int, dungeon: str, actions: list[str]) -> None:
    ctx = make_ctx(seed=seed)
    state = new_player(ctx).state
    char = make_character("hero", base, rank, DEFAULTS)
    char.level = max(level, DUNGEONS[dungeon].min_level)
    char.hp = 10**6  # survive long enough to see many rounds
    state.characters = [char]
    state.dungeons[dungeon] = DungeonProgress(level=dungeon_level)
    state = start_combat(state, dungeon, ["hero"], "manual", ctx).state
    initial = state.to_dict()
    rounds = []
    for index, action in enumerate(actions):
        if state.combat is None:
            break
        out = resolve_round(state, action, at(ctx, T0 + index))
        record = dict(out.events)["combat.round"]
        rounds.append(record)
        if action == "attack" and not record["missed"]:
            assert record["damage_dealt"] >= 1
        if record["monster_action"] == "attack" and not record["monster_missed"]:
            assert sum(record["damage_taken"].values()) >= 1
        state = out.state
    recorded = [{"action": a, "item": None, "target": None, "at": T0 + i} for i, a in enumerate(actions[:len(rounds)])]
    assert replay_combat(initial, recorded, DEFAULTS) == rounds


def _rounds(state: PlayerState, pick: int, ctx: RuleContext) -> Outcome:
    """Up to 1 + pick % 25 rounds in a row, merged into one outcome (ledger and events concatenated)."""
    merged = Outcome(state=state)
    for index in range(1 + pick % 25):
        if merged.state.combat is None:
            break
        step = resolve_round(merged.state, ("attack", "defend", "attack")[(pick + index) % 3], ctx)
        merged = Outcome(state=step.state, ledger=merged.ledger + step.ledger, events=merged.events + step.events)
    return merged


OPERATIONS = ("fight", "round", "flee", "heal", "revive", "evolve", "buy_evo", "use", "equip", "unequip", "sweep",
              "wait", "rich")


def _apply(op: str, pick: int, state: PlayerState, ctx: RuleContext) -> Outcome | None:
    chars = state.characters
    char = chars[pick % len(chars)].id if chars else "none"
    item = state.items[pick % len(state.items)].id if state.items else "none"
    calls: dict[str, Callable[[], Outcome]] = {
        "fight": lambda: start_combat(state, "cueva-goblins", [char], "auto" if pick % 2 else "manual", ctx),
        "round": lambda: _rounds(state, pick, ctx),
        "flee": lambda: resolve_round(state, "flee" if pick % 4 == 0 else "defend", ctx),
        "heal": lambda: heal(state, char, ctx),
        "revive": lambda: revive(state, char, ctx),
        "evolve": lambda: evolve(state, char, ctx),
        "buy_evo": lambda: buy_evo(state, 1 + pick % 3, ctx),
        "use": lambda: use_item(state, item, char, ctx),
        "equip": lambda: equip(state, char, item, ctx),
        "unequip": lambda: unequip(state, char, ("weapon", "ring")[pick % 2], ctx),
        "sweep": lambda: sweep_wounded(state, ctx),
    }
    if op in calls:
        try:
            return calls[op]()
        except GameError:
            return None
    return None


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32),
       ops=st.lists(st.tuples(st.sampled_from(OPERATIONS), st.integers(min_value=0, max_value=1000)),
                    min_size=1, max_size=60))
def test_ledger_balance_limits_and_round_trip_hold_under_any_sequence(seed: int, ops: list[tuple[str, int]]) -> None:
    ctx = make_ctx(seed=seed)
    first = new_player(ctx)
    state, ledger = first.state, list(first.ledger)
    now = T0
    for op, pick in ops:
        if op == "wait":
            now += pick * 97.0
        elif op == "rich":  # a market sale arriving, say: still through the ledger
            out = Outcome.begin(state)
            out.adjust("VAL", pick * 10, "test_income")
            state, ledger = out.state, ledger + out.ledger
            for char in state.characters:
                gain_xp(char, pick * 5000, DEFAULTS)
        step = _apply(op, pick, state, at(ctx, now))
        if step is not None:
            state, ledger = step.state, ledger + step.ledger
            if op != "round":  # "round" merges several outcomes
                assert sum(1 for e, _ in step.events if e == "wallet.updated") == (1 if step.ledger else 0)
        assert state.val == sum(d.delta for d in ledger if d.currency == "VAL") >= 0
        assert state.evo == sum(d.delta for d in ledger if d.currency == "EVO") >= 0
        assert 0 <= energy_now(state, DEFAULTS, now)[0] <= DEFAULTS.energy_max
        assert equipment_count(state) <= DEFAULTS.max_equipment
        assert consumable_count(state) <= DEFAULTS.max_consumable_stacks
        assert len(state.characters) <= DEFAULTS.max_characters
        if state.combat is None:
            assert all((c.hp == 0) == c.wounded for c in state.characters)
        ids = [i.id for i in state.items] + [i.id for c in state.characters for i in c.equipment.values()]
        assert len(ids) == len(set(ids))  # no item exists twice
        data = json.loads(json.dumps(state.to_dict()))
        assert PlayerState.from_dict(data) == state and PlayerState.from_dict(data).to_dict() == data
