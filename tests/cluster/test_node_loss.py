"""A node that dies or drains: its players drop out of presence, reconnect elsewhere and carry on."""

from __future__ import annotations

from typing import Any

import httpx

from tests.cluster.conftest import Cluster
from tests.conftest import Connect
from tests.support.client import Client
from tests.support.game import MANY_COMMANDS, act, first_character, start
from tests.support.servers import ServerProcess
from tests.support.wire import eventually, open_raw, read_until_closed

PRESENCE_SECONDS = 3  # a dead node leaves presence after this; heartbeats every 0.5 s


async def ready(node: ServerProcess) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=node.http, timeout=10) as http:
        response = await http.get("/ready")
    return response.status_code, response.json()


async def test_a_killed_node_leaves_presence_and_its_player_finishes_a_combat_elsewhere(
        make_cluster: Any, connect: Connect) -> None:
    cluster: Cluster = make_cluster(2, presence_seconds=PRESENCE_SECONDS, **MANY_COMMANDS)
    a, b = cluster.nodes
    id_a, id_b = await cluster.node_id(a), await cluster.node_id(b)
    admin, _ = await connect(b, await cluster.admin_login())
    fighter_login = await cluster.login(a)
    fighter, _ = await connect(a, fighter_login)
    idle_login = await cluster.login(a)
    idle, _ = await connect(a, idle_login)
    local, _ = await connect(b)

    async def stats_show(nodes: set[str], sockets: int) -> dict[str, Any] | None:
        stats = await admin.call("ops.stats")
        return stats if set(stats["nodes"]) == nodes and stats["sockets"] == sockets else None

    await eventually(lambda: stats_show({id_a, id_b}, 4), 30, "both nodes and 4 sockets in ops.stats")

    team = [(await first_character(fighter))["id"]]
    combat_id = await start(fighter, team, "manual")
    first_round = await act(fighter, combat_id, "defend")
    assert first_round["round"] == 1 and first_round["outcome"] is None

    a.kill()  # SIGKILL: no goodbye to redis, the heartbeat just stops
    assert await fighter.wait_closed(timeout=15) not in (1000, 1012)  # the connection broke, nobody closed it
    await idle.wait_closed(timeout=15)

    stats = await eventually(lambda: stats_show({id_b}, 2), PRESENCE_SECONDS * 10,
                             "the dead node and its sockets to leave ops.stats")
    assert stats["nodes"][id_b]["sockets"] == 2
    kicked = await admin.call("ops.kick", {"player": idle_login["name"]})
    assert kicked["kicked"] == 0  # its only socket was on the dead node: nothing left to close
    assert (await local.request("ping"))["ok"] is True

    back, hello = await connect(b, fighter_login)
    assert hello["node"] == id_b
    combat = (await back.call("combat.state"))["combat"]
    assert combat is not None and combat["id"] == combat_id
    assert combat["round"] == 1
    assert combat["last_round"] == {k: v for k, v in first_round.items() if k not in ("outcome", "ended")}
    mark = len(back.events)
    for expected_round in range(2, 500):
        resolved = await act(back, combat_id, "attack")
        assert resolved["round"] == expected_round
        if resolved["outcome"] is not None:
            break
    assert resolved["outcome"] in ("win", "loss")
    ended = await back.wait_event("combat.ended", lambda d: d["combat"] == combat_id, after=mark, timeout=15)
    assert ended["data"]["outcome"] == resolved["outcome"]
    assert (await back.call("combat.state"))["combat"] is None
    kicked = await admin.call("ops.kick", {"player": fighter_login["name"]})
    assert kicked["kicked"] == 1  # presence now points at the live socket on B
    assert await back.wait_closed(timeout=15) == 4003


async def test_draining_a_node_moves_its_players_and_leaves_the_others_serving(
        make_cluster: Any, connect: Connect) -> None:
    cluster: Cluster = make_cluster(2)
    a, b = cluster.nodes
    id_a = await cluster.node_id(a)
    admin, _ = await connect(b, await cluster.admin_login())
    login = await cluster.login(a)
    on_a: list[Client] = [(await connect(a, login))[0], (await connect(a))[0]]
    on_b, _ = await connect(b)
    assert (await ready(a))[0] == 200

    reply = await admin.call("ops.drain", {"node": id_a})
    assert reply == {"node": id_a, "draining": True}
    for client in on_a:
        assert await client.wait_closed(timeout=30) == 1012

    async def a_refuses() -> bool:
        status, body = await ready(a)
        return status == 503 and body["draining"] is True

    await eventually(a_refuses, 30, "node A's /ready to say 503 draining")
    late = await open_raw(a.ws)  # a new socket on the draining node is turned away at once
    assert (await read_until_closed(late, timeout=15))[0] == 1012

    status, body = await ready(b)
    assert status == 200 and body["draining"] is False
    assert (await on_b.request("ping"))["ok"] is True
    moved, hello = await connect(b, login)  # the drained player reconnects, to the node still serving
    assert hello["node"] != id_a
    assert (await moved.call("state.get"))["player"]["name"] == login["name"]
    await cluster.wait_sockets({a: 0, b: 3})
    assert (await admin.call("ops.broadcast", {"message": "still here"}))["delivered"] == 3
