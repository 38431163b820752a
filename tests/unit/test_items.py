from __future__ import annotations

from protocol.codes import ErrorCode
from server.game.combat import start_combat
from server.game.gear import equip, unequip
from server.game.inventory import equipment_count, new_item
from server.game.progression import use_item
from server.game.stats import effective_stats, hp_max
from tests.unit.factories import T0, add_character, at, error_code, fresh_player, hero, items_of, make_ctx


def test_equip_moves_item_out_of_free_inventory_and_counts_once() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    dagger = items_of(state, "daga-oxidada")[0]
    before = equipment_count(state)
    out = equip(state, hero(state).id, dagger.id, ctx)
    assert out.state.item(dagger.id) is None
    assert hero(out.state).equipment["weapon"].id == dagger.id
    assert equipment_count(out.state) == before
    assert out.reply["character"]["atk"] == 15
    back = unequip(out.state, hero(out.state).id, "weapon", ctx)
    assert back.state.item(dagger.id) is not None and hero(back.state).equipment == {}


def test_equip_swaps_the_slot() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    second = new_item("daga-oxidada", "i-second")
    state.items.append(second)
    first = items_of(state, "daga-oxidada")[0]
    state = equip(state, hero(state).id, first.id, ctx).state
    out = equip(state, hero(state).id, second.id, ctx)
    assert out.reply["unequipped"] == first.id
    assert out.state.item(first.id) is not None and hero(out.state).equipment["weapon"].id == second.id


def test_equip_refusals() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    potion = items_of(state, "pocion-vida-menor")[0]
    sword = new_item("espada-de-acero", "i-sword")
    state.items.append(sword)
    char = hero(state).id
    assert error_code(equip, state, char, potion.id, ctx) is ErrorCode.CONFLICT
    assert error_code(equip, state, char, sword.id, ctx) is ErrorCode.LEVEL_TOO_LOW
    assert error_code(equip, state, char, "nope", ctx) is ErrorCode.NOT_FOUND
    assert error_code(equip, state, "nope", sword.id, ctx) is ErrorCode.NOT_FOUND
    assert error_code(unequip, state, char, "weapon", ctx) is ErrorCode.CONFLICT
    assert error_code(unequip, state, char, "hat", ctx) is ErrorCode.BAD_REQUEST
    fighting = start_combat(state, "cueva-goblins", [char], "manual", ctx).state
    assert error_code(equip, fighting, char, items_of(state, "daga-oxidada")[0].id, ctx) is ErrorCode.IN_COMBAT


def test_unequip_clamps_hp_to_the_new_max() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    char = add_character(state, ctx, level=70)
    ring = new_item("anillo-del-fenix", "i-ring")
    state.items.append(ring)
    state = equip(state, char.id, ring.id, ctx).state
    char = state.character(char.id)
    char.hp = hp_max(char, ctx.settings)
    out = unequip(state, char.id, "ring", ctx)
    after = out.state.character(char.id)
    assert after.hp == hp_max(after, ctx.settings) == char.hp - 100


def test_potion_heals_capped_and_is_consumed() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    potion = items_of(state, "pocion-vida-menor")[0]
    assert error_code(use_item, state, potion.id, hero(state).id, ctx) is ErrorCode.CONFLICT  # full HP
    hero(state).hp = 5
    out = use_item(state, potion.id, hero(state).id, ctx)
    assert hero(out.state).hp == 20 and out.reply["healed"] == 15
    assert out.state.item(potion.id) is None and len(items_of(out.state, "pocion-vida-menor")) == 2


def test_elixir_does_not_revive() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    elixir = new_item("elixir-de-resurreccion", "i-elixir")
    state.items.append(elixir)
    hero(state).hp, hero(state).wounded_at = 0, T0
    assert error_code(use_item, state, elixir.id, hero(state).id, ctx) is ErrorCode.CHARACTER_WOUNDED


def test_timed_buffs_expire_and_refresh_instead_of_stacking() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    scroll = new_item("pergamino-de-sabiduria", "i-scroll")
    fruit = new_item("fruto-divino", "i-fruit")
    state.items += [scroll, fruit]
    char = hero(state).id
    out = use_item(state, scroll.id, char, ctx)
    assert out.state.item(scroll.id).uses == 4
    out = use_item(out.state, scroll.id, char, at(ctx, T0 + 600))
    xp_buffs = [b for b in hero(out.state).buffs if b.stat == "xp"]
    assert len(xp_buffs) == 1 and xp_buffs[0].expires_at == T0 + 600 + 3600
    hero(out.state).hp = 1
    out = use_item(out.state, fruit.id, char, ctx)
    c = hero(out.state)
    assert c.hp == 20  # +150 capped at max
    buffed = effective_stats(c, ctx.settings, T0 + 10)
    assert (buffed.atk, buffed.defense) == (30, 25)
    assert effective_stats(c, ctx.settings, T0 + 3600).atk == 10


def test_use_item_refusals() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    dagger = items_of(state, "daga-oxidada")[0]
    potion = items_of(state, "pocion-vida-menor")[0]
    hero(state).hp = 3
    assert error_code(use_item, state, dagger.id, hero(state).id, ctx) is ErrorCode.CONFLICT
    assert error_code(use_item, state, "nope", hero(state).id, ctx) is ErrorCode.NOT_FOUND
    assert error_code(use_item, state, potion.id, "nope", ctx) is ErrorCode.NOT_FOUND
    fighting = start_combat(state, "cueva-goblins", [hero(state).id], "manual", ctx).state
    assert error_code(use_item, fighting, potion.id, hero(state).id, ctx) is ErrorCode.IN_COMBAT
