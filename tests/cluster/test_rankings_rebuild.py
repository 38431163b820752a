"""Redis comes back empty: the leaderboards it kept are rebuilt from storage even when a rebuild fails.

The failure is the test-only failpoint `testonly_fail_at=rebuild_rankings[:n]` (server/failpoints.py): the first n
attempts of that node raise, as one does on a pooled connection the restarted Redis closed.

- A node whose first attempt fails tries again, and the board is rebuilt.
- A node whose every attempt fails does not keep the others from it: it took the claim first (the other node is
  stopped, SIGSTOP, until then), and the other node, once running again, rebuilds the board.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from tests.cluster.conftest import Cluster
from tests.conftest import Connect
from tests.support.client import Client
from tests.support.servers import ServerProcess
from tests.support.wire import eventually

# What a node logs when the failpoint failed its attempt (it holds the claim then: the failpoint comes after it).
FAILED = "test-only failpoint: rebuild_rankings fails"


async def on_level_board(client: Client) -> bool:
    """Whether the client's player is on the level board (an error reply, the bus still coming back, is a no)."""
    reply = await client.request("ranking.me", {"board": "level"})
    return bool(reply["ok"]) and reply["data"]["rank"] is not None


async def restart_redis_empty(cluster: Cluster) -> None:
    await asyncio.to_thread(cluster.redis.kill)
    await asyncio.to_thread(cluster.redis.start)  # empty, on the same port: the boards are gone


async def logged(node: ServerProcess, text: str) -> bool:
    return text in node.log()


async def test_a_node_whose_rebuild_failed_tries_again(make_cluster: Any, connect: Connect) -> None:
    cluster: Cluster = make_cluster(1, testonly_fail_at="rebuild_rankings:1")
    node = cluster[0]
    player, _ = await connect(node)
    assert await on_level_board(player)

    await restart_redis_empty(cluster)
    await eventually(lambda: logged(node, FAILED), 30, "the first rebuild to fail")
    await eventually(lambda: on_level_board(player), 30, "the player back on the level board", interval=0.25)
    assert node.log().count(FAILED) == 1  # the one armed failure; the attempt after it rebuilt the board


async def test_a_node_whose_rebuilds_fail_does_not_keep_the_others_from_it(make_cluster: Any,
                                                                           connect: Connect) -> None:
    cluster: Cluster = make_cluster(1, testonly_fail_at="rebuild_rankings:1000000")
    failing = cluster[0]
    other = ServerProcess(cluster.root / "node-other", bus=cluster.redis.url, storage=cluster.storage).start()
    cluster.nodes.append(other)  # killed with the cluster
    assert other.proc is not None
    player, _ = await connect(other)
    assert await on_level_board(player)

    other.proc.send_signal(signal.SIGSTOP)  # the failing node sees the loss first and takes the claim
    try:
        await restart_redis_empty(cluster)
        await eventually(lambda: logged(failing, FAILED), 30, "the failing node's first rebuild to fail")
    finally:
        other.proc.send_signal(signal.SIGCONT)
    await eventually(lambda: on_level_board(player), 30, "the player back on the level board (the other node's work)",
                     interval=0.25)
