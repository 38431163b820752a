"""Helpers for the game-family integration tests: nodes, players and fights, all over the real protocol.

Every wait here has a deadline; nothing sleeps as a way to synchronise with the server.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.client import Client, register, unique_name
from tests.support.servers import ServerProcess

CAVE = "cueva-goblins"
FOREST = "bosque-maldito"
# a new player's starting character (vision-espectral, rank D, level 1): atk / hp / def
START_ATK, START_HP, START_DEF = 10, 20, 5
CAVE_HP, CAVE_ATK, CAVE_DEF = 40, 8, 3


# node settings for tests that play many rounds in a row: the default 30 commands/s per socket would refuse them
MANY_COMMANDS = {"rate_per_second": 2000, "rate_burst": 2000}


def node_fixture(tmp_path_factory: Any, name: str, **settings: Any) -> Iterator[ServerProcess]:
    """Body of a module-scoped fixture: one node with these settings for the tests of a module."""
    node = ServerProcess(Path(tmp_path_factory.mktemp(name)), **settings).start()
    try:
        yield node
    finally:
        node.kill()


async def new_login(node: ServerProcess, prefix: str = "g") -> dict[str, Any]:
    """Register a new player; the login holds `access_token`, `player_id` and `name`."""
    return await register(node.http, unique_name(prefix))


async def characters(client: Client) -> list[dict[str, Any]]:
    return (await client.call("character.list"))["characters"]


async def character(client: Client, char_id: str) -> dict[str, Any]:
    found = [c for c in await characters(client) if c["id"] == char_id]
    assert found, f"character {char_id} is not listed"
    return found[0]


async def first_character(client: Client) -> dict[str, Any]:
    return (await characters(client))[0]


async def player(client: Client) -> dict[str, Any]:
    return (await client.call("state.get"))["player"]


async def inventory(client: Client) -> list[dict[str, Any]]:
    return (await client.call("inventory.get"))["items"]


def codes(items: list[dict[str, Any]]) -> list[str]:
    return sorted(i["code"] for i in items)


def heal_cost(hp: int, hp_max: int) -> int:
    """The spec's heal price: ceil((max - current) / 10) x 2 VAL."""
    return math.ceil((hp_max - hp) / 10) * 2


async def ended_event(client: Client, combat_id: str, after: int = 0, timeout: float = 20) -> dict[str, Any]:
    event = await client.wait_event("combat.ended", lambda d: d["combat"] == combat_id, timeout=timeout, after=after)
    return event["data"]


async def start(client: Client, team: list[str], mode: str = "manual", dungeon: str = CAVE) -> str:
    reply = await client.call("combat.start", {"dungeon": dungeon, "team": team, "mode": mode})
    return reply["combat"]


async def act(client: Client, combat_id: str, action: str, **extra: Any) -> dict[str, Any]:
    """One manual round; returns the resolved round (with `outcome` and `ended` when it was the last)."""
    return (await client.call("combat.action", {"combat": combat_id, "action": action, **extra}))["round"]


async def fight_out(client: Client, combat_id: str, action: str = "attack", max_rounds: int = 500) -> dict[str, Any]:
    """Repeat `action` until the combat ends; returns the last round (its `ended` is the combat.ended payload)."""
    for _ in range(max_rounds):
        resolved = await act(client, combat_id, action)
        if resolved["outcome"] is not None:
            return resolved
    raise AssertionError(f"combat {combat_id} did not end in {max_rounds} rounds of {action}")


async def run_auto(client: Client, team: list[str], dungeon: str = CAVE, timeout: float = 20) -> dict[str, Any]:
    """An auto-mode combat from start to its combat.ended payload."""
    mark = len(client.events)
    combat_id = await start(client, team, "auto", dungeon)
    return await ended_event(client, combat_id, after=mark, timeout=timeout)


async def make_fit(client: Client, team: list[str]) -> None:
    """Revive the wounded and heal the damaged members, so the next fight starts at full HP."""
    for member in [c for c in await characters(client) if c["id"] in team]:
        if member["wounded"]:
            await client.call("character.revive", {"character": member["id"]})
        elif member["hp"] < member["hp_max"]:
            await client.call("character.heal", {"character": member["id"]})


async def win(client: Client, team: list[str], dungeon: str = CAVE, mode: str = "auto",
              attempts: int = 8) -> dict[str, Any]:
    """Fight until one fight is won (a fresh team wins the cave most of the time, not always)."""
    for _ in range(attempts):
        await make_fit(client, team)
        if mode == "auto":
            ended = await run_auto(client, team, dungeon)
        else:
            ended = (await fight_out(client, await start(client, team, "manual", dungeon)))["ended"]
        if ended["outcome"] == "win":
            return ended
    raise AssertionError(f"no win in {dungeon} after {attempts} fights")


async def lose(client: Client, char_id: str) -> dict[str, Any]:
    """Lose a cave fight for sure: only defending deals no damage, so the monster ends up winning."""
    resolved = await fight_out(client, await start(client, [char_id]), "defend")
    assert resolved["outcome"] == "loss", resolved
    return resolved["ended"]


async def damage_to(client: Client, char_id: str, hp: int) -> dict[str, Any]:
    """Bring a full-HP level-1 character down to exactly `hp` in a manual cave fight, then flee.

    Defending takes exactly max(1, 8 - floor(5 x 1.5)) = 1 HP per monster hit, so every value is reachable."""
    combat_id = await start(client, [char_id])
    current = (await character(client, char_id))["hp"]
    for _ in range(500):
        if current == hp:
            fled = await act(client, combat_id, "flee")
            assert fled["outcome"] == "fled", fled
            return fled
        resolved = await act(client, combat_id, "defend")
        current = resolved["team_hp"][char_id]
        assert current >= hp, f"overshot {hp}: {resolved}"
    raise AssertionError(f"could not bring {char_id} to {hp} HP")
