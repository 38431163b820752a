"""The bus connection breaks: nodes recover by themselves and no accepted trade, and no delivered event, is lost.

- A dropped subscription (Redis keeps its data): sockets stay open and get what was published meanwhile from the
  storage's event log, in seq order, without gap or duplicate.
- redis-server killed and restarted empty under traffic: Redis held nothing a player must see (the events are in the
  storage's event log), so no socket is closed: each catches up from the log, a whisper sent during the outage
  arrives, a resume on the other node replays exactly what was missed, and trades accepted before, during and after
  the restart are all in storage.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from tests.cluster.conftest import Cluster, item_id, topic_watchers
from tests.cluster.trading import SLOW, Traffic
from tests.conftest import Connect
from tests.support.client import Client, assert_no_gap
from tests.support.game import MANY_COMMANDS
from tests.support.servers import ServerProcess
from tests.support.wire import eventually, sample, scrape


async def gaps(node: ServerProcess) -> float:
    return sample(await scrape(node.http), "valgame_bus_gaps_total")


async def ready_status(node: ServerProcess) -> int:
    try:
        async with httpx.AsyncClient(base_url=node.http, timeout=5) as client:
            return (await client.get("/ready")).status_code
    except httpx.HTTPError:
        return 0


async def test_a_dropped_subscription_loses_no_event(cluster: Cluster, connect: Connect) -> None:
    """Every node's pub/sub connection is cut while personal events keep flowing to a player on another node."""
    admin, _ = await connect(cluster[1], await cluster.admin_login())
    login = await cluster.login(cluster[0])
    target, hello = await connect(cluster[0], login)
    before = [await gaps(node) for node in cluster.nodes]
    count = 150

    async def announce() -> None:
        for i in range(count):
            reply = await admin.call("ops.broadcast", {"message": f"n{i}", "to": login["name"]}, timeout=SLOW)
            assert reply["duplicate"] is False

    sending = asyncio.create_task(announce())
    await target.wait_event("ops.announcement", lambda d: d["message"] == "n10", timeout=30)
    killer = aioredis.Redis.from_url(cluster.redis.url)
    try:
        assert await killer.client_kill_filter(_type="pubsub") >= len(cluster)
    finally:
        await killer.aclose()
    await asyncio.wait_for(sending, SLOW)
    await target.wait_event("ops.announcement", lambda d: d["message"] == f"n{count - 1}", timeout=30)

    got = [e for e in target.events if e["type"] == "ops.announcement"]
    assert [e["data"]["message"] for e in got] == [f"n{i}" for i in range(count)]
    assert [e["seq"] for e in got] == list(range(hello["seq"] + 1, hello["seq"] + count + 1))
    assert target.close_code is None
    for node, gaps_before in zip(cluster.nodes, before, strict=True):
        assert await gaps(node) >= gaps_before + 1
    await eventually(lambda: all_ready(cluster.nodes), 30, "every node ready again")
    assert (await admin.call("ops.broadcast", {"message": "after", "to": login["name"]}))["delivered"] == 1


async def all_ready(nodes: list[ServerProcess]) -> bool:
    return all([await ready_status(node) == 200 for node in nodes])


@pytest.mark.timeout(300)
async def test_nodes_recover_from_a_redis_restart_under_traffic(make_cluster: Any, connect: Connect) -> None:
    cluster: Cluster = make_cluster(2, presence_seconds=3, **MANY_COMMANDS)
    a, b = cluster.nodes
    listener_login = await cluster.login(a)
    listener, hello = await connect(a, listener_login)  # connected before the restart
    assert (await listener.call("ranking.me", {"board": "level"}))["rank"] is not None

    traffic = await Traffic.start(cluster, connect, a, b)
    try:
        await eventually(lambda: traffic.beyond(4), 60, "trades before the restart")
        before = len(traffic.trades.accepted)
        gaps_before = [await gaps(node) for node in (a, b)]
        talker, _ = await connect(b)
        await asyncio.to_thread(cluster.redis.kill)
        # accepted while Redis is down: the whisper is in the listener's log, whatever the bus does with it
        await talker.call("chat.whisper", {"to": listener_login["name"], "text": "during the outage"}, timeout=SLOW)
        await asyncio.to_thread(cluster.redis.start)  # empty, on the same port
        await eventually(lambda: all_ready([a, b]), 60, "/ready to return to 200 on both nodes", interval=0.1)
        during = len(traffic.trades.accepted)
        await eventually(lambda: traffic.beyond(during + 4), 60, "trades after the restart")
    finally:
        await traffic.finish()
    assert len(traffic.trades.accepted) >= before + 4
    for node, gaps_then in zip((a, b), gaps_before, strict=True):
        assert await gaps(node) >= gaps_then + 1

    # Redis held nothing a player must see: no socket was closed, and every socket got each of its events once,
    # in order (what the bus lost came from the event log).
    await listener.wait_event("chat.message", lambda d: d["text"] == "during the outage", timeout=30)
    assert listener.close_code is None
    assert_no_gap(listener, hello["seq"])
    traffic.assert_no_socket_closed_nor_gap()

    # a resume on the other node replays exactly what was missed meanwhile
    last = listener.wire_seqs[-1]
    await listener.close()
    await talker.call("chat.whisper", {"to": listener_login["name"], "text": "while you were away"})
    listener, resumed = await connect(b, listener_login, resume={"session": hello["session"], "seq": last})
    assert resumed["resumed"] is True
    await listener.wait_event("chat.message", lambda d: d["text"] == "while you were away", timeout=30)
    assert listener.wire_seqs == [last + 1]

    # broadcast topics flow again, both ways
    watchers = await topic_watchers(connect, [a, b], ["chat:global", "market"])
    for sender_node, text in ((a, "hello from a"), (b, "hello from b")):
        sender, _ = await connect(sender_node)
        await sender.call("chat.send", {"text": text})
        for watcher in watchers:
            await watcher.wait_event("chat.message", lambda d, text=text: d["text"] == text, timeout=30)
    seller, _ = await connect(b)
    fresh = (await seller.call("market.list", {"item": await item_id(seller, "daga-oxidada"), "price": 15}))["listing"]
    for watcher in watchers:
        await watcher.wait_event("market.listed", lambda d: d["id"] == fresh, timeout=30)

    # the leaderboards, kept in redis, were rebuilt from storage
    async def ranked() -> bool:
        return (await listener.call("ranking.me", {"board": "level"}))["rank"] is not None

    await eventually(ranked, 30, "the listener back on the level board")

    await traffic.assert_stored()
    await cluster.audit()


async def test_a_socket_opened_while_redis_is_down_is_told_to_try_again(make_cluster: Any) -> None:
    """The bus cannot be reached while a socket authenticates: the client is told to come back (1013), as the
    protocol says, not dropped with an internal error; and once Redis is back, the same token opens a socket."""
    cluster: Cluster = make_cluster(1)
    node = cluster[0]
    login = await cluster.login(node)
    await asyncio.to_thread(cluster.redis.kill)
    try:
        client = await Client.connect(node.ws)
        with contextlib.suppress(Exception):  # the socket closes instead of answering
            await client.call("auth", {"token": login["access_token"]}, timeout=10)

        async def closed() -> bool:
            return client.close_code is not None

        await eventually(closed, 10, "the socket closed")
        assert client.close_code == 1013, client.close_code
        assert "Traceback" not in node.log()
    finally:
        await asyncio.to_thread(cluster.redis.start)
    await eventually(lambda: all_ready([node]), 30, "ready again")
    again, hello = await Client.open(node.ws, login["access_token"])
    assert hello["player"]["id"] == login["player_id"]
    await again.close()
