"""Combat over the socket: auto mode from start to rewards, manual actions, the manual timeout, the refusals,
a drop into a full inventory, and a combat continued after the socket was closed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Connect
from tests.support.game import (
    CAVE,
    CAVE_ATK,
    CAVE_DEF,
    CAVE_HP,
    FOREST,
    START_ATK,
    START_DEF,
    START_HP,
    act,
    character,
    codes,
    ended_event,
    fight_out,
    first_character,
    inventory,
    make_fit,
    new_login,
    node_fixture,
    player,
    start,
    win,
)
from tests.support.servers import ServerProcess

HIT = START_ATK - CAVE_DEF  # 7: the starting character's blow on the goblins
CRIT = HIT * 3 // 2  # 10
BITE = CAVE_ATK - START_DEF  # 3: the goblins' blow on the starting character
BITE_DEFENDED = max(1, CAVE_ATK - START_DEF * 3 // 2)  # 1


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Auto rounds without delay and a manual round timeout of 0.3 s."""
    yield from node_fixture(tmp_path_factory, "fast",
                            game={"auto_round_delay_seconds": 0, "manual_round_timeout_seconds": 0.3})


def taken_by(record: dict[str, Any], member: str) -> int:
    """Damage a member took in a round (a member who took none may be listed with 0 or left out)."""
    assert set(record["damage_taken"]) <= set(record["team_hp"]), record
    return record["damage_taken"].get(member, 0)


def check_attack_rounds(rounds: list[dict[str, Any]], hero: str) -> int:
    """Re-derive every attack round of a cave fight of the starting character from the spec's numbers;
    returns the hero's HP at the end."""
    monster_hp, hp = CAVE_HP, START_HP
    for number, record in enumerate(rounds, start=1):
        assert record["round"] == number and record["team_action"] == "attack", record
        if record["missed"]:
            assert record["damage_dealt"] == 0 and record["crit"] is False, record
        else:
            assert record["damage_dealt"] == (CRIT if record["crit"] else HIT), record
        monster_hp = max(0, monster_hp - record["damage_dealt"])
        assert record["monster_hp"] == monster_hp, record
        if monster_hp == 0:
            assert record["monster_action"] == "none" and taken_by(record, hero) == 0, record
        else:
            assert record["monster_action"] == "attack", record
            taken = 0 if record["monster_missed"] else min(BITE, hp)
            assert taken_by(record, hero) == taken, record
            hp -= taken
        assert record["team_hp"] == {hero: hp}, record
    return hp


async def test_new_player_wins_the_cave_in_auto_mode_with_ordered_events_and_rewards(
        fast: ServerProcess, connect: Connect) -> None:
    client, auth = await connect(fast)
    assert auth["player"]["val"] == 100 and auth["player"]["energy"] == 100
    hero = await first_character(client)
    assert (hero["base"], hero["rank"], hero["level"], hero["stage"], hero["xp"]) == ("vision-espectral", "D", 1, 1, 0)
    assert (hero["hp"], hero["hp_max"], hero["atk"], hero["def"]) == (START_HP, START_HP, START_ATK, START_DEF)
    assert codes(await inventory(client)) == ["daga-oxidada", "pocion-vida-menor", "pocion-vida-menor",
                                              "pocion-vida-menor"]

    for _ in range(8):  # a new player wins most of the time; after a loss, revive and go again
        await make_fit(client, [hero["id"]])
        wallet, items_before = await player(client), await inventory(client)
        xp_before = (await character(client, hero["id"]))["xp"]
        mark = len(client.events)
        reply = await client.call("combat.start", {"dungeon": CAVE, "team": [hero["id"]], "mode": "auto"})
        combat_id = reply["combat"]
        ended = await ended_event(client, combat_id, after=mark)
        if ended["outcome"] == "win":
            break
        assert ended["outcome"] == "loss", ended
    else:
        pytest.fail("a new player lost the cave 8 times in a row")

    assert reply["state"]["round"] == 0 and reply["state"]["monster"]["hp"] == CAVE_HP
    events = [e for e in client.events[mark:] if e["type"] != "chat.message"]
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs  # one more for each event, no gap
    kinds = [e["type"] for e in events]
    started_at = kinds.index("combat.started")
    started = events[started_at]["data"]
    assert (started["combat"], started["dungeon"], started["mode"], started["team"]) == (
        combat_id, CAVE, "auto", [hero["id"]])
    assert started["monster"] == {"hp": CAVE_HP, "hp_max": CAVE_HP, "atk": CAVE_ATK, "def": CAVE_DEF}
    round_at = [i for i, e in enumerate(events) if e["type"] == "combat.round"]
    ended_at = kinds.index("combat.ended")
    assert started_at < round_at[0] and round_at[-1] < ended_at
    assert round_at == list(range(round_at[0], round_at[0] + len(round_at)))  # rounds back to back, in order
    rounds = [events[i]["data"] for i in round_at]
    assert all(r["combat"] == combat_id for r in rounds)
    hp_left = check_attack_rounds(rounds, hero["id"])
    assert rounds[-1]["monster_hp"] == 0

    bonus = 15 if hp_left * 10 > 7 * START_HP else 0  # above 70 % of the team's HP
    assert ended["rounds"] == len(rounds)
    assert ended["xp"] == {hero["id"]: 50} and ended["level_ups"] == {}
    assert ended["val"] == 10 and ended["points"] == 10
    assert ended["streak"] == 1  # the first win, or the first after a loss
    assert ended["dungeon"] == {"id": CAVE, "level": 1, "points": 30 + bonus}
    assert ended["dungeon_points"] == 30 + bonus
    assert ended["drops_lost"] == []
    assert set(codes(ended["drops"])) <= {"pocion-vida-menor", "daga-oxidada"}
    assert ended["team"][hero["id"]]["hp"] == hp_left and ended["team"][hero["id"]]["wounded"] is False

    after = await player(client)
    assert after["val"] == wallet["val"] + 10
    assert after["energy"] == wallet["energy"] - 5
    wallet_events = [e["data"] for e in events if e["type"] == "wallet.updated"]
    assert wallet_events[-1] == {"val": after["val"], "evo": 2}
    energy_events = [e["data"] for e in events if e["type"] == "energy.updated"]
    assert energy_events[0]["energy"] == wallet["energy"] - 5
    listed = await character(client, hero["id"])
    assert (listed["xp"], listed["level"], listed["hp"]) == (xp_before + 50, 1, hp_left)
    assert codes(await inventory(client)) == sorted(codes(items_before) + codes(ended["drops"]))
    if ended["recruited"] is not None:  # a 5 % chance: the recruit joins the roster at level 1
        recruit = await character(client, ended["recruited"]["id"])
        assert recruit["level"] == 1 and recruit["hp"] == recruit["hp_max"]
    assert (await client.call("combat.state"))["combat"] is None


async def test_manual_round_without_an_action_is_resolved_as_an_attack(fast: ServerProcess, connect: Connect) -> None:
    client, _ = await connect(fast)
    hero = (await first_character(client))["id"]
    mark = len(client.events)
    started_at = time.monotonic()
    combat_id = await start(client, [hero], "manual")
    first = await client.wait_event("combat.round", lambda d: d["combat"] == combat_id and d["round"] == 1,
                                    timeout=5, after=mark)
    assert time.monotonic() - started_at >= 0.25  # not before the 0.3 s timeout
    assert first["data"]["team_action"] == "attack"
    ended = await ended_event(client, combat_id, after=mark)  # every round times out into an attack
    rounds = [e["data"] for e in client.events[mark:] if e["type"] == "combat.round"]
    assert [r["round"] for r in rounds] == list(range(1, ended["rounds"] + 1))
    assert {r["team_action"] for r in rounds} == {"attack"}
    assert ended["outcome"] in ("win", "loss")


async def test_a_timed_round_that_fails_is_tried_again_and_the_combat_goes_on(make_server: Any,
                                                                             connect: Connect) -> None:
    """The test-only failpoint `timed_round:2` makes the driver's first two attempts at a round fail (an error that
    is not the store's `unavailable`): it logs them and tries again; before, the first one ended the driver and the
    combat stood still until its player acted."""
    node = make_server(game={"manual_round_timeout_seconds": 0.3}, testonly_fail_at="timed_round:2")
    client, _ = await connect(node)
    mark = len(client.events)
    combat_id = await start(client, [(await first_character(client))["id"]], "manual")
    first = await client.wait_event("combat.round", lambda d: d["combat"] == combat_id and d["round"] == 1,
                                    timeout=10, after=mark)  # after the two failures and their 1 s and 2 s pauses
    assert first["data"]["team_action"] == "attack"
    await ended_event(client, combat_id, after=mark)
    assert node.log().count("timed round failed") == 2, node.log()[-3000:]
    assert "combat driver failed" not in node.log()


async def test_manual_actions_attack_defend_item_and_flee(server: ServerProcess, connect: Connect) -> None:
    client, _ = await connect(server)
    hero = (await first_character(client))["id"]
    combat_id = await start(client, [hero], "manual")
    state = (await client.call("combat.state"))["combat"]
    assert state["combat"] == combat_id and state["mode"] == "manual" and state["round"] == 0
    assert state["deadline"] > time.time() + 20  # the default 30 s to act

    mark = len(client.events)
    attacked = await act(client, combat_id, "attack")
    assert check_attack_rounds([attacked], hero) == attacked["team_hp"][hero]
    assert attacked["outcome"] is None and attacked["ended"] is None
    pushed_round = await client.wait_event("combat.round", lambda d: d["combat"] == combat_id, after=mark)
    assert pushed_round["data"] == {k: v for k, v in attacked.items() if k not in ("outcome", "ended")}
    monster_hp, hp = attacked["monster_hp"], attacked["team_hp"][hero]

    number = 1
    while hp == START_HP:  # defend until the goblins land a blow
        defended = await act(client, combat_id, "defend")
        number += 1
        assert defended["round"] == number and defended["team_action"] == "defend"
        assert defended["damage_dealt"] == 0 and defended["monster_hp"] == monster_hp
        assert taken_by(defended, hero) == (0 if defended["monster_missed"] else BITE_DEFENDED), defended
        hp = defended["team_hp"][hero]

    potions = [i for i in await inventory(client) if i["code"] == "pocion-vida-menor"]
    used = await act(client, combat_id, "item", item=potions[0]["id"], target=hero)
    assert used["team_action"] == "item" and used["damage_dealt"] == 0
    assert used["item"]["item"] == potions[0]["id"] and used["item"]["healed"] == START_HP - hp
    bitten = 0 if used["monster_missed"] else BITE
    assert used["team_hp"] == {hero: START_HP - bitten}
    assert [i["id"] for i in await inventory(client) if i["code"] == "pocion-vida-menor"] == [
        p["id"] for p in potions[1:]]
    hp = used["team_hp"][hero]

    val_before = (await player(client))["val"]
    mark = len(client.events)
    fled = await act(client, combat_id, "flee")
    assert fled["outcome"] == "fled" and fled["monster_action"] == "none" and taken_by(fled, hero) == 0
    ended = fled["ended"]
    assert ended["outcome"] == "fled"
    assert (ended["xp"], ended["val"], ended["drops"], ended["drops_lost"], ended["recruited"], ended["streak"]) == (
        {}, 0, [], [], None, 0)
    pushed = await ended_event(client, combat_id, after=mark)
    assert pushed == ended
    after = await character(client, hero)
    assert after["wounded"] is False and after["hp"] == hp and after["xp"] == 0
    assert (await player(client))["val"] == val_before
    assert (await client.call("combat.state"))["combat"] is None
    assert (await client.expect_error("combat.action", {"combat": combat_id, "action": "attack"}))["code"] == "conflict"


async def test_combat_refusals_answer_with_the_protocol_codes(server: ServerProcess, connect: Connect) -> None:
    client, _ = await connect(server)
    other, _ = await connect(server)
    hero = (await first_character(client))["id"]
    foreign = (await first_character(other))["id"]
    foreign_item = (await inventory(other))[0]["id"]

    async def refused(data: dict[str, Any], code: str, type: str = "combat.start") -> dict[str, Any]:
        error = await client.expect_error(type, data)
        assert error["code"] == code, error
        return error

    await refused({"dungeon": CAVE, "team": [foreign]}, "not_found")
    await refused({"dungeon": "no-such-dungeon", "team": [hero]}, "not_found")
    await refused({"dungeon": CAVE, "team": []}, "bad_request")
    await refused({"dungeon": CAVE, "team": [hero, hero]}, "bad_request")
    await refused({"dungeon": CAVE, "team": [hero], "mode": "turbo"}, "bad_request")
    error = await refused({"dungeon": FOREST, "team": [hero]}, "level_too_low")  # bosque-maldito needs level 10
    assert (error["need"], error["have"]) == (10, 1)
    await refused({"combat": "b_nothing", "action": "attack"}, "conflict", "combat.action")  # no combat running
    assert (await player(client))["energy"] == 100  # refused starts cost nothing

    combat_id = await start(client, [hero])
    await refused({"dungeon": CAVE, "team": [hero]}, "in_combat")
    await refused({"combat": combat_id, "action": "item", "item": foreign_item, "target": hero},
                  "not_found", "combat.action")
    potion = next(i["id"] for i in await inventory(client) if i["code"] == "pocion-vida-menor")
    await refused({"combat": combat_id, "action": "item", "item": potion, "target": foreign},
                  "not_found", "combat.action")
    await refused({"combat": combat_id, "action": "item", "item": potion}, "bad_request", "combat.action")
    await refused({"combat": combat_id, "action": "item", "item": potion, "target": hero},
                  "conflict", "combat.action")  # a potion on a full-HP member would be wasted
    await refused({"combat": combat_id, "action": "dance"}, "bad_request", "combat.action")
    foreign_combat = await start(other, [foreign])
    await refused({"combat": foreign_combat, "action": "attack"}, "not_found", "combat.action")
    await refused({"character": hero}, "in_combat", "character.heal")
    dagger = next(i["id"] for i in await inventory(client) if i["code"] == "daga-oxidada")
    await refused({"character": hero, "item": dagger}, "in_combat", "character.equip")
    await refused({"item": potion, "character": hero}, "in_combat", "item.use")
    assert (await client.call("combat.state"))["combat"]["round"] == 0  # nothing above resolved a round
    await refused({"combat": "b_other", "action": "attack"}, "not_found", "combat.action")
    assert (await act(client, combat_id, "flee"))["outcome"] == "fled"


async def test_combat_continues_after_the_socket_was_closed(server: ServerProcess, connect: Connect) -> None:
    login = await new_login(server)
    client, _ = await connect(server, login)
    hero = (await first_character(client))["id"]
    combat_id = await start(client, [hero])
    first = await act(client, combat_id, "attack")
    await client.close()

    again, auth = await connect(server, login)
    assert auth["player"]["id"] == login["player_id"]
    state = (await again.call("combat.state"))["combat"]
    assert state is not None, "the combat was lost with the socket"
    assert (state["combat"], state["round"], state["mode"], state["team"]) == (combat_id, 1, "manual", [hero])
    assert state["monster"]["hp"] == first["monster_hp"] and state["team_hp"] == first["team_hp"]
    assert state["last_round"] == {k: v for k, v in first.items() if k not in ("outcome", "ended")}
    assert state["id"] == combat_id and state["monster_hp"] == first["monster_hp"]  # the documented fields

    following = await act(again, combat_id, "attack")
    assert following["round"] == 2
    assert following["monster_hp"] == max(0, first["monster_hp"] - following["damage_dealt"])
    last = following if following["outcome"] else await fight_out(again, combat_id)
    assert last["ended"]["rounds"] == last["round"] and last["ended"]["outcome"] in ("win", "loss")
    assert (await again.call("combat.state"))["combat"] is None


async def test_a_drop_into_a_full_inventory_is_reported_lost(make_server: Any, connect: Connect) -> None:
    # inventory limits equal to the starting pack (3 potion stacks, 1 weapon), so no drop fits; after the first
    # win the cave's level rises (1 point per level) and drop chances x 100 make both drops certain
    node = make_server(game={"auto_round_delay_seconds": 0, "max_consumable_stacks": 3, "max_equipment": 1,
                             "dungeon_level_base_points": 1, "monster_scale_per_level": 0,
                             "drop_scale_per_level": 100, "drop_scale_cap": 100})
    client, _ = await connect(node)
    hero = (await first_character(client))["id"]
    dagger = next(i["id"] for i in await inventory(client) if i["code"] == "daga-oxidada")
    await client.call("character.equip", {"character": hero, "item": dagger})  # equipped still counts: 1 of 1
    items = await inventory(client)

    first = await win(client, [hero])
    assert first["drops"] == [] and set(first["drops_lost"]) <= {"pocion-vida-menor", "daga-oxidada"}
    assert first["dungeon"]["level"] > 1
    second = await win(client, [hero])
    assert second["drops"] == []
    assert second["drops_lost"] == ["pocion-vida-menor", "daga-oxidada"]
    assert await inventory(client) == items
    assert (await character(client, hero))["equipment"]["weapon"]["id"] == dagger
