"""Energy over the socket: spending, refusals when it runs out, and regeneration pushed without being asked."""

from __future__ import annotations

import itertools
import time
from typing import Any

from tests.conftest import Connect
from tests.support.game import CAVE, damage_to, first_character, player, run_auto


async def test_regeneration_is_pushed_point_by_point_until_max(make_server: Any, connect: Connect) -> None:
    node = make_server(game={"energy_regen_seconds": 0.5, "auto_round_delay_seconds": 0})
    client, auth = await connect(node)
    assert (auth["player"]["energy"], auth["player"]["energy_max"], auth["player"]["next_energy_at"]) == (
        100, 100, None)
    assert await client.call("energy.get") == {"energy": 100, "max": 100, "next_at": None}
    hero = (await first_character(client))["id"]
    mark = len(client.events)
    await run_auto(client, [hero])  # 5 energy, then nothing more is sent by this client

    seen: list[dict[str, Any]] = []
    seen_seq = 0
    for expected in range(95, 101):
        event = await client.wait_event("energy.updated", lambda d, e=expected: d["energy"] == e, timeout=5,
                                        after=mark)
        arrived = time.time()
        data = event["data"]
        assert data["max"] == 100
        if seen:  # each point arrives on its own, within a second of the time announced for it
            assert seen[-1]["next_at"] is not None
            assert arrived - seen[-1]["next_at"] < 1.0, (arrived, seen[-1])
            assert event["seq"] > seen_seq
        seen.append(data)
        seen_seq = event["seq"]
    assert [d["energy"] for d in seen] == [95, 96, 97, 98, 99, 100]
    assert all(d["next_at"] is not None for d in seen[:-1]) and seen[-1]["next_at"] is None
    steps = [b["next_at"] - a["next_at"] for a, b in itertools.pairwise(seen[:-1])]
    assert all(abs(step - 0.5) < 1e-6 for step in steps), steps  # one point every 0.5 s
    pushed = [e["data"]["energy"] for e in client.events[mark:] if e["type"] == "energy.updated"]
    assert pushed == [95, 96, 97, 98, 99, 100]  # no point twice, none skipped
    assert await client.call("energy.get") == {"energy": 100, "max": 100, "next_at": None}


async def test_commands_are_refused_when_energy_runs_out(make_server: Any, connect: Connect) -> None:
    node = make_server(game={"energy_max": 6})
    client, auth = await connect(node)
    assert (auth["player"]["energy"], auth["player"]["energy_max"]) == (6, 6)
    hero = (await first_character(client))["id"]
    await damage_to(client, hero, 15)  # a fight: 6 - 5 = 1 left
    energy = await client.call("energy.get")
    assert energy["energy"] == 1 and energy["max"] == 6 and energy["next_at"] > time.time()

    error = await client.expect_error("combat.start", {"dungeon": CAVE, "team": [hero], "mode": "manual"})
    assert (error["code"], error["need"], error["have"]) == ("insufficient_energy", 5, 1)
    error = await client.expect_error("character.heal", {"character": hero})
    assert (error["code"], error["need"], error["have"]) == ("insufficient_energy", 2, 1)
    wallet = await player(client)
    assert (wallet["val"], wallet["energy"]) == (100, 1)  # a refused heal charges no VAL either
    assert (await client.call("combat.state"))["combat"] is None
