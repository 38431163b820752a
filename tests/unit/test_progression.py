from __future__ import annotations

from protocol.codes import ErrorCode
from server.game.combat import start_combat
from server.game.progression import (
    evolve,
    gain_xp,
    heal,
    heal_cost,
    make_character,
    new_player,
    next_sweep_at,
    revive,
    sweep_wounded,
    xp_to_next,
)
from server.game.stats import hp_max, level_stats
from tests.unit.factories import T0, add_character, at, error_code, fresh_player, hero, items_of, make_ctx


def test_starting_pack() -> None:
    ctx = make_ctx()
    out = new_player(ctx)
    s = out.state
    assert (s.val, s.evo, s.energy) == (100, 2, 100)
    [char] = s.characters
    assert (char.base, char.rank, char.level, char.stage, char.hp) == ("vision-espectral", "D", 1, 1, 20)
    assert len(items_of(s, "pocion-vida-menor")) == 3 and all(i.uses == 1 for i in items_of(s, "pocion-vida-menor"))
    assert len(items_of(s, "daga-oxidada")) == 1
    assert [(d.currency, d.delta, d.reason) for d in out.ledger] == [("VAL", 100, "starting_pack"),
                                                                    ("EVO", 2, "starting_pack")]
    assert out.events == [("wallet.updated", {"val": 100, "evo": 2})]


def test_xp_table() -> None:
    s = make_ctx().settings
    assert [xp_to_next(n, s) for n in (1, 20, 21, 40, 41, 60, 61, 80, 81, 99, 100)] == [
        100, 2000, 4200, 8000, 16400, 24000, 48800, 64000, 129600, 158400, 0]


def test_multi_level_gain_heals_and_carries_remainder() -> None:
    s = make_ctx().settings
    char = make_character("c", "vision-espectral", "D", s)
    char.hp = 3
    assert gain_xp(char, 100 + 200 + 50, s) == 2
    assert (char.level, char.xp, char.hp) == (3, 50, hp_max(char, s))


def test_level_cap_drops_extra_xp() -> None:
    s = make_ctx().settings
    char = make_character("c", "vision-espectral", "D", s)
    char.level = 99
    assert gain_xp(char, 10**9, s) == 1
    assert (char.level, char.xp) == (100, 0)
    assert gain_xp(char, 500, s) == 0 and char.xp == 0


def test_level_up_does_not_revive_a_knocked_out_character() -> None:
    s = make_ctx().settings
    char = make_character("c", "vision-espectral", "D", s)
    char.hp = 0
    gain_xp(char, 100, s)
    assert char.level == 2 and char.hp == 0


def test_stage_bonus_is_on_level_one_stats_before_level_gains() -> None:
    s = make_ctx().settings
    # arbol-caos 25/35/16, stage 2 -> floor(x * 1.25) = 31/43/20, stage 3 -> floor(x * 1.5) = 37/52/24
    assert level_stats("arbol-caos", "D", 1, 2, s).atk == 31
    assert level_stats("arbol-caos", "D", 1, 2, s).hp == 43
    assert level_stats("arbol-caos", "D", 1, 3, s).defense == 24
    assert level_stats("arbol-caos", "SSS", 11, 2, s).hp == 43 + 40 * 10


def test_heal_costs_val_and_energy() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    hero(state).hp = 9  # 11 missing -> ceil(1.1) * 2 = 4 VAL
    assert heal_cost(hero(state), ctx.settings) == 4
    out = heal(state, hero(state).id, ctx)
    assert (out.state.val, out.state.energy, hero(out.state).hp) == (96, 98, 20)
    assert [e for e, _ in out.events] == ["wallet.updated", "energy.updated"]
    assert out.ledger[0].reason == "heal"
    assert hero(state).hp == 9  # input untouched


def test_heal_refusals() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    assert error_code(heal, state, hero(state).id, ctx) is ErrorCode.CONFLICT  # full HP
    assert error_code(heal, state, "nope", ctx) is ErrorCode.NOT_FOUND
    assert error_code(heal, state, 5, ctx) is ErrorCode.BAD_REQUEST
    hero(state).hp, hero(state).wounded_at = 0, T0
    assert error_code(heal, state, hero(state).id, ctx) is ErrorCode.CHARACTER_WOUNDED
    hero(state).hp, hero(state).wounded_at = 1, None
    state.val = 0
    assert error_code(heal, state, hero(state).id, ctx) is ErrorCode.INSUFFICIENT_FUNDS
    state.val, state.energy = 100, 1
    state.energy_at = T0
    assert error_code(heal, state, hero(state).id, ctx) is ErrorCode.INSUFFICIENT_ENERGY


def test_characters_in_combat_refuse_heal_revive_evolve() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    hero(state).hp = 10
    state = start_combat(state, "cueva-goblins", [hero(state).id], "manual", ctx).state
    for rule in (heal, revive, evolve):
        assert error_code(rule, state, hero(state).id, ctx) is ErrorCode.IN_COMBAT


def test_revive() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    assert error_code(revive, state, hero(state).id, ctx) is ErrorCode.CONFLICT
    hero(state).hp, hero(state).wounded_at = 0, T0
    out = revive(state, hero(state).id, ctx)
    assert (out.state.val, hero(out.state).hp, hero(out.state).wounded_at) == (50, 20, None)
    state.val = 49
    assert error_code(revive, state, hero(state).id, ctx) is ErrorCode.INSUFFICIENT_FUNDS


def test_evolve_to_stage_two_and_three() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    char = hero(state)
    assert error_code(evolve, state, char.id, ctx) is ErrorCode.LEVEL_TOO_LOW
    char.level = 40
    char.hp = hp_max(char, ctx.settings) - 5
    assert error_code(evolve, state, char.id, ctx) is ErrorCode.INSUFFICIENT_FUNDS
    state.val = 5000
    out = evolve(state, char.id, ctx)
    evolved = hero(out.state)
    assert (evolved.stage, out.state.val, out.state.evo, out.state.energy) == (2, 4000, 1, 90)
    assert evolved.hp == hp_max(evolved, ctx.settings) - 5
    assert error_code(evolve, out.state, char.id, ctx) is ErrorCode.LEVEL_TOO_LOW
    hero(out.state).level = 100
    final = evolve(out.state, char.id, ctx)
    assert (hero(final.state).stage, final.state.val, final.state.evo) == (3, 1000, 0)
    assert error_code(evolve, final.state, char.id, ctx) is ErrorCode.CONFLICT
    out.state.evo = 0
    assert error_code(evolve, out.state, char.id, ctx) is ErrorCode.INSUFFICIENT_FUNDS


def test_sweep_removes_only_characters_wounded_for_24h() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    other = add_character(state, ctx)
    hero(state).hp, hero(state).wounded_at = 0, T0
    other.hp, other.wounded_at = 0, T0 + 100
    assert next_sweep_at(state, ctx.settings) == T0 + 86400
    assert sweep_wounded(state, at(ctx, T0 + 86399)).state.characters == state.characters
    out = sweep_wounded(state, at(ctx, T0 + 86400))
    assert [c.id for c in out.state.characters] == [other.id]
    assert out.notifications == [("character_lost", {"character": hero(state).id, "base": "vision-espectral",
                                                     "rank": "D", "level": 1, "wounded_at": T0})]
    assert next_sweep_at(out.state, ctx.settings) == T0 + 100 + 86400
    assert sweep_wounded(out.state, at(ctx, T0 + 86400)).notifications == []
