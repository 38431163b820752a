"""Characters over the socket: heal prices, wounds and revive, items, equipment and its level requirement, and the
permadeath sweep."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Connect
from tests.support.game import (
    CAVE,
    FOREST,
    MANY_COMMANDS,
    START_ATK,
    START_DEF,
    START_HP,
    character,
    damage_to,
    first_character,
    heal_cost,
    inventory,
    lose,
    node_fixture,
    player,
    win,
)
from tests.support.servers import ServerProcess


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Default game numbers; a socket may send many commands per second (fights of many manual rounds)."""
    yield from node_fixture(tmp_path_factory, "characters", **MANY_COMMANDS)


async def test_heal_costs_two_val_per_started_ten_missing_hp_and_two_energy(
        node: ServerProcess, connect: Connect) -> None:
    client, _ = await connect(node)
    hero = (await first_character(client))["id"]
    val, energy = 100, 100
    for hp in (10, 9, 19):  # 10 missing: 1 step; 11 missing: 2 steps; 1 missing: 1 step
        await damage_to(client, hero, hp)
        energy -= 5  # the fight
        before = await character(client, hero)
        assert (before["hp"], before["hp_max"], before["wounded"]) == (hp, START_HP, False)
        wallet = await player(client)
        assert (wallet["val"], wallet["energy"]) == (val, energy)

        mark = len(client.events)
        healed = await client.call("character.heal", {"character": hero})
        cost = heal_cost(hp, START_HP)
        assert cost == {10: 2, 9: 4, 19: 2}[hp]
        val, energy = val - cost, energy - 2
        assert healed["cost"] == cost and healed["val"] == val
        assert healed["character"]["hp"] == START_HP
        after = await player(client)
        assert (after["val"], after["energy"]) == (val, energy)
        assert (await character(client, hero))["hp"] == START_HP
        wallet_event = await client.wait_event("wallet.updated", after=mark)
        assert wallet_event["data"]["val"] == val
        energy_event = await client.wait_event("energy.updated", after=mark)
        assert energy_event["data"]["energy"] == energy

    error = await client.expect_error("character.heal", {"character": hero})  # nothing to heal
    assert error["code"] == "conflict"
    assert (await player(client))["val"] == val


async def test_a_wounded_character_is_refused_until_revived_for_50_val(
        node: ServerProcess, connect: Connect) -> None:
    client, _ = await connect(node)
    hero = (await first_character(client))["id"]
    ended = await lose(client, hero)
    assert (ended["outcome"], ended["xp"], ended["val"], ended["streak"]) == ("loss", {}, 0, 0)
    assert ended["team"][hero]["wounded"] is True and ended["team"][hero]["hp"] == 0

    wounded = await character(client, hero)
    assert (wounded["wounded"], wounded["hp"]) == (True, 0)
    potion = next(i["id"] for i in await inventory(client) if i["code"] == "pocion-vida-menor")
    for command, data in (("combat.start", {"dungeon": CAVE, "team": [hero]}),
                          ("character.heal", {"character": hero}),
                          ("item.use", {"item": potion, "character": hero})):
        error = await client.expect_error(command, data)
        assert error["code"] == "character_wounded", (command, error)
    wallet = await player(client)
    assert (wallet["val"], wallet["energy"]) == (100, 95)  # the refusals cost nothing

    val = 100
    for _ in range(2):
        revived = await client.call("character.revive", {"character": hero})
        val -= 50
        assert revived["val"] == val and revived["character"]["hp"] == START_HP
        assert revived["character"]["wounded"] is False
        wallet = await player(client)
        assert wallet["val"] == val  # revive costs no energy
        assert (await client.expect_error("character.revive", {"character": hero}))["code"] == "conflict"
        await lose(client, hero)  # fightable again
    assert (await player(client))["val"] == 0
    error = await client.expect_error("character.revive", {"character": hero})
    assert error["code"] == "insufficient_funds"
    assert (await character(client, hero))["wounded"] is True


async def test_items_and_equipment_change_the_effective_stats(node: ServerProcess, connect: Connect) -> None:
    client, _ = await connect(node)
    other, _ = await connect(node)
    hero = (await first_character(client))["id"]
    foreign_hero = (await first_character(other))["id"]
    foreign_dagger = next(i["id"] for i in await inventory(other) if i["code"] == "daga-oxidada")
    items = await inventory(client)
    dagger = next(i["id"] for i in items if i["code"] == "daga-oxidada")
    potion = next(i["id"] for i in items if i["code"] == "pocion-vida-menor")

    worn = await client.call("character.equip", {"character": hero, "item": dagger})
    assert worn["character"]["atk"] == START_ATK + 5 and worn["character"]["def"] == START_DEF
    assert worn["character"]["equipment"]["weapon"]["id"] == dagger
    assert dagger not in [i["id"] for i in await inventory(client)]
    assert (await character(client, hero))["atk"] == START_ATK + 5

    async def refused(command: str, data: dict[str, Any], code: str) -> None:
        error = await client.expect_error(command, data)
        assert error["code"] == code, (command, data, error)

    await refused("character.equip", {"character": hero, "item": potion}, "conflict")  # not equipment
    await refused("character.equip", {"character": hero, "item": foreign_dagger}, "not_found")
    await refused("character.equip", {"character": foreign_hero, "item": dagger}, "not_found")
    await refused("character.equip", {"character": hero, "item": dagger}, "not_found")  # worn, not free
    await refused("character.unequip", {"character": hero, "slot": "ring"}, "conflict")  # nothing there
    await refused("character.unequip", {"character": hero, "slot": "boots"}, "bad_request")
    await refused("character.heal", {"character": foreign_hero}, "not_found")
    await refused("character.revive", {"character": foreign_hero}, "not_found")
    await refused("item.use", {"item": foreign_dagger, "character": hero}, "not_found")
    await refused("item.use", {"item": potion, "character": foreign_hero}, "not_found")
    await refused("item.use", {"item": potion, "character": hero}, "conflict")  # full HP: would be wasted
    error = await client.expect_error("character.evolve", {"character": hero})
    assert (error["code"], error["need"], error["have"]) == ("level_too_low", 40, 1)

    off = await client.call("character.unequip", {"character": hero, "slot": "weapon"})
    assert off["character"]["atk"] == START_ATK and off["character"]["equipment"] == {}
    assert dagger in [i["id"] for i in await inventory(client)]

    await damage_to(client, hero, 12)
    used = await client.call("item.use", {"item": potion, "character": hero})
    assert used["healed"] == START_HP - 12 and used["character"]["hp"] == START_HP
    assert potion not in [i["id"] for i in await inventory(client)]
    assert (await character(client, hero))["hp"] == START_HP


async def test_equipment_above_the_character_level_is_refused(make_server: Any, connect: Connect) -> None:
    # No socket path gives a level-1 character's owner an item above level 1 at the default numbers: the only such
    # items drop in dungeons of level 10 and more. The overrides make that path short: XP from level n to n + 1 is
    # n, the cave's level (1 point per level) scales the second win's XP x 71, every cave win recruits a level-1
    # character, and once the forest's level rose its drop chances x 100 make the espada-de-acero (level 10) certain.
    node = make_server(game={
        "auto_round_delay_seconds": 0, "xp_base_values": [1, 1, 1, 1, 1], "reward_scale_per_level": 10,
        "dungeon_level_base_points": 1, "monster_scale_per_level": 0, "drop_scale_per_level": 100,
        "drop_scale_cap": 100, "recruit_chances": {CAVE: 1.0}})
    client, _ = await connect(node)
    hero = (await first_character(client))["id"]
    dagger = next(i["id"] for i in await inventory(client) if i["code"] == "daga-oxidada")
    await client.call("character.equip", {"character": hero, "item": dagger})

    first = await win(client, [hero])
    assert first["level_ups"] == {hero: 10}  # 50 XP: 1 + 2 + ... + 9 = 45 of them make nine levels at once
    recruit = first["recruited"]
    assert recruit is not None and recruit["level"] == 1
    await win(client, [hero])
    assert (await character(client, hero))["level"] > 10
    await win(client, [hero], FOREST)
    looted = await win(client, [hero], FOREST)
    swords = [i["id"] for i in looted["drops"] if i["code"] == "espada-de-acero"]
    assert swords, looted

    error = await client.expect_error("character.equip", {"character": recruit["id"], "item": swords[0]})
    assert (error["code"], error["need"], error["have"]) == ("level_too_low", 10, 1)
    assert (await character(client, recruit["id"]))["equipment"] == {}
    assert swords[0] in [i["id"] for i in await inventory(client)]

    before = await character(client, hero)
    worn = await client.call("character.equip", {"character": hero, "item": swords[0]})
    assert worn["character"]["atk"] == before["atk"] - 5 + 12  # the dagger (5) swapped for the sword (12)
    assert worn["unequipped"] == dagger
    assert dagger in [i["id"] for i in await inventory(client)]


async def test_a_character_wounded_too_long_is_lost_with_a_notification(make_server: Any, connect: Connect) -> None:
    node = make_server(game={"wound_loss_seconds": 2}, sweep_interval_seconds=0.2, **MANY_COMMANDS)
    client, _ = await connect(node)
    hero = (await first_character(client))["id"]
    mark = len(client.events)
    await lose(client, hero)
    wounded = await character(client, hero)
    assert wounded["wounded"] is True and wounded["lost_at"] == wounded["wounded_at"] + 2

    note = await client.wait_event("notification.new", lambda d: d["kind"] == "character_lost", timeout=15,
                                   after=mark)
    assert note["data"]["data"]["character"] == hero and note["data"]["unread"] == 1
    assert note["data"]["at"] >= wounded["lost_at"]
    lost = await client.wait_event("character.lost", after=mark)
    assert lost["data"]["characters"] == [hero]
    assert hero not in [c["id"] for c in (await client.call("character.list"))["characters"]]
    listed = await client.call("notification.list")
    assert [n["kind"] for n in listed["notifications"]] == ["character_lost"] and listed["unread"] == 1
    assert (await client.expect_error("character.revive", {"character": hero}))["code"] == "not_found"
    assert len([e for e in client.events if e["type"] == "character.lost"]) == 1
