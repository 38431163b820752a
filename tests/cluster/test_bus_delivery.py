"""Health that tells the truth about delivery: each node probes its own delivery path through the bus.

- Redis answers PING but delivers nothing (`CLIENT PAUSE ... WRITE` holds every PUBLISH): a node whose only check
  was a ping stayed ready while no event reached it. The probe goes the way a player's event goes, so `/ready` is
  503 with the reason and `valgame_bus_delivery_ok` is 0 until deliveries flow again.
- Redis stops (connections refused for a while) and the pub/sub connection is killed: the node keeps redialling,
  says why it is not ready meanwhile, and is ready again, delivering across nodes, once Redis is back.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from tests.cluster.conftest import Cluster
from tests.conftest import Connect
from tests.support.servers import ServerProcess
from tests.support.wire import eventually, sample, scrape

PROBE = {"bus_probe_seconds": 0.3, "bus_probe_timeout_seconds": 1.0}
NO_LOG_CHECK = {"event_check_seconds": 600}  # a whisper that arrives came through the bus, not the periodic check


async def ready(node: ServerProcess) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=node.http, timeout=5) as client:
        response = await client.get("/ready")
        return response.status_code, response.json()


async def delivery_ok(node: ServerProcess) -> float:
    return sample(await scrape(node.http), "valgame_bus_delivery_ok")


async def broken(node: ServerProcess, reason: str) -> bool:
    status, body = await ready(node)
    return status == 503 and reason in body.get("bus_reason", "") and await delivery_ok(node) == 0


async def healthy(node: ServerProcess) -> bool:
    status, _ = await ready(node)
    return status == 200 and await delivery_ok(node) == 1


async def whisper_crosses(cluster: Cluster, connect: Connect, text: str) -> None:
    """A whisper from a player on node 1 reaches a player on node 0 through the bus."""
    login = await cluster.login(cluster[0])
    listener, _ = await connect(cluster[0], login)
    talker, _ = await connect(cluster[1])
    await talker.call("chat.whisper", {"to": login["name"], "text": text})
    await listener.wait_event("chat.message", lambda d: d["text"] == text, timeout=10)


@pytest.mark.timeout(120)
async def test_ready_follows_the_delivery_probe(make_cluster: Any, connect: Connect) -> None:
    cluster: Cluster = make_cluster(2, presence_seconds=3, **PROBE, **NO_LOG_CHECK)
    a, _ = cluster.nodes
    await eventually(lambda: healthy(a), 10, "node ready with its probe arriving")
    assert sample(await scrape(a.http), "valgame_bus_probe_seconds") > 0

    # Redis answers PING but holds every PUBLISH: nothing is delivered, and the node must say so
    admin = aioredis.Redis.from_url(cluster.redis.url)
    try:
        assert await admin.execute_command("CLIENT", "PAUSE", 6000, "WRITE")
        await eventually(lambda: broken(a, "probe not received"), 5, "/ready 503 while PUBLISH is held",
                         interval=0.1)
        await admin.execute_command("CLIENT", "UNPAUSE")
    finally:
        await admin.aclose()
    await eventually(lambda: healthy(a), 10, "/ready 200 once deliveries flow again", interval=0.1)
    await whisper_crosses(cluster, connect, "after the pause")

    # Redis gone: every dial is refused for a while; the node keeps redialling and says why it is not ready
    await asyncio.to_thread(cluster.redis.kill)
    await eventually(lambda: broken(a, "subscription down"), 5, "/ready 503 while Redis is down", interval=0.1)
    await asyncio.to_thread(cluster.redis.start)  # on the same port, empty
    for node in cluster.nodes:  # each has subscribed again (the cut below counts every node's subscription)
        await eventually(lambda node=node: healthy(node), 15, "/ready 200 once Redis is back", interval=0.1)
    await whisper_crosses(cluster, connect, "after the restart")

    # the subscription alone is cut
    admin = aioredis.Redis.from_url(cluster.redis.url)
    try:
        assert await admin.client_kill_filter(_type="pubsub") >= len(cluster)
    finally:
        await admin.aclose()
    for node in cluster.nodes:
        await eventually(lambda node=node: healthy(node), 10, "/ready 200 after the subscription was cut")
    await whisper_crosses(cluster, connect, "after the cut")
