"""The bus on a Redis Cluster (three masters, a replica each; real processes): sharded pub/sub across shards, and a
master SIGKILLed with its replica promoted.

Two nodes on `redis+cluster://...`; two players whose channels fall on different shards, each on one node, whisper
to each other; a topic watcher on each node sees the market feed and global chat; rankings answer; one player's
combat, fought on one node, reaches its second socket on the other. Then the master
of one player's shard is killed: within the cluster's failover time plus 5 s whispers and topics flow across nodes
again, no socket is closed, every personal event arrives once and in order, and the audit passes.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.bus.redis.keys import BROADCAST, player_channel
from tests.cluster.conftest import Cluster, list_dagger, start_nodes, topic_watchers, whisper_crosses
from tests.cluster.test_redis_restart import all_ready
from tests.cluster.trading import SLOW
from tests.conftest import Connect
from tests.support.client import Client, assert_no_gap
from tests.support.game import MANY_COMMANDS, first_character, run_auto
from tests.support.redis import ClusterSet
from tests.support.wire import eventually

PROBE = {"bus_probe_seconds": 0.3, "bus_probe_timeout_seconds": 1.0}
AFTER_FAILOVER = 5.0


@pytest.fixture
def shard_cluster(tmp_path: Path) -> Iterator[tuple[Cluster, ClusterSet]]:
    shards = ClusterSet(tmp_path / "redis", masters=3, replicas=1).start()
    try:
        cluster = start_nodes(tmp_path, shards.servers[0], shards.url, 2, presence_seconds=3, **PROBE,
                              **MANY_COMMANDS, chat_messages_per_10s=1000)
        yield cluster, shards
        for node in cluster.nodes:
            node.kill()
    finally:
        shards.stop()


async def topics_cross(cluster: Cluster, connect: Connect, watchers: list[Client], text: str, timeout: float) -> None:
    sender, _ = await connect(cluster[1])
    await sender.call("chat.send", {"text": text}, timeout=timeout)
    for watcher in watchers:
        await watcher.wait_event("chat.message", lambda d: d["text"] == text, timeout=timeout)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("dies", ["player", "topics"])
async def test_sharded_delivery_across_nodes_and_a_master_failover(
        shard_cluster: tuple[Cluster, ClusterSet], connect: Connect, dies: str) -> None:
    """`dies`: the master that dies owns the first player's channel, or the topics' channel (then the nodes' own
    channels may live elsewhere, and only a probe on every shard tells that topics stopped arriving)."""
    cluster, shards = shard_cluster
    a, b = cluster.nodes
    await eventually(lambda: all_ready([a, b]), 20, "both nodes ready on the cluster bus")

    # two players whose channels are on different shards
    logins = [await cluster.login(a)]
    first_shard = await asyncio.to_thread(shards.owner, player_channel(logins[0]["player_id"]))
    for _ in range(20):
        login = await cluster.login(b)
        if await asyncio.to_thread(shards.owner, player_channel(login["player_id"])) is not first_shard:
            logins.append(login)
            break
    assert len(logins) == 2, "no player on another shard in 20 tries"
    one, one_hello = await connect(a, logins[0])
    two, two_hello = await connect(b, logins[1])
    watchers = await topic_watchers(connect, [a, b], ["chat:global", "market"])

    await whisper_crosses(one, two, logins[1]["name"], "hello two", 5)
    await whisper_crosses(two, one, logins[0]["name"], "hello one", 5)
    await topics_cross(cluster, connect, watchers, "hello everyone", 5)
    listing = await list_dagger(one, 20)
    for watcher in watchers:
        await watcher.wait_event("market.listed", lambda d: d["id"] == listing, timeout=5)
    assert (await two.call("ranking.me", {"board": "level"}))["rank"] is not None

    # combat events of player one, fought on node a, reach its second socket on node b
    one_b, one_b_hello = await connect(b, logins[0])
    ended = await run_auto(one, [(await first_character(one))["id"]])
    event = await one_b.wait_event("combat.ended", lambda d: d["combat"] == ended["combat"], timeout=10)
    assert event["data"] == ended
    assert any(e["type"] == "combat.round" for e in one_b.events)

    # the master of the first player's shard, or of the topics' one, dies; its replica takes over
    channel = player_channel(logins[0]["player_id"]) if dies == "player" else BROADCAST
    victim = await asyncio.to_thread(shards.owner, channel)
    killed_at = time.monotonic()
    await asyncio.to_thread(victim.kill)
    outage = asyncio.create_task(two.call("chat.whisper", {"to": logins[0]["name"], "text": "during"}, timeout=SLOW))

    def promoted_now() -> bool:
        try:
            return shards.owner(channel) is not victim and shards.healthy()
        except Exception:  # the cluster answers with errors while it fails over
            return False

    async def promoted() -> bool:
        return await asyncio.to_thread(promoted_now)

    await eventually(promoted, 30, "a replica promoted", interval=0.05)
    budget = time.monotonic() - killed_at + AFTER_FAILOVER

    def left() -> float:
        return max(0.1, budget - (time.monotonic() - killed_at))

    await eventually(lambda: all_ready([a, b]), left(), "/ready 200 on both nodes after the failover", interval=0.05)
    await whisper_crosses(two, one, logins[0]["name"], "after, to one", left())
    await whisper_crosses(one, two, logins[1]["name"], "after, to two", left())
    await topics_cross(cluster, connect, watchers, "after, everyone", left())
    recovered_in = time.monotonic() - killed_at
    assert recovered_in <= budget, (recovered_in, budget)
    await asyncio.wait_for(outage, SLOW)

    await one.wait_event("chat.message", lambda d: d["text"] == "during", timeout=30)
    for client, hello in ((one, one_hello), (two, two_hello), (one_b, one_b_hello)):
        assert client.close_code is None
        assert_no_gap(client, hello["seq"])
    await cluster.audit()


@pytest.mark.timeout(180)
async def test_a_player_slot_moved_to_another_shard_keeps_delivering(
        shard_cluster: tuple[Cluster, ClusterSet], connect: Connect) -> None:
    """Resharding under traffic: the slot of a player's channel (and presence) moves to another master while
    whispers to that player flow; the node holding the player's socket follows (Redis unsubscribes it from the
    moved channel and it subscribes again where the slot now lives), and every whisper arrives once, in order."""
    cluster, shards = shard_cluster
    a, b = cluster.nodes
    await eventually(lambda: all_ready([a, b]), 20, "both nodes ready on the cluster bus")
    login_one, login_two = await cluster.login(a), await cluster.login(b)
    one, one_hello = await connect(a, login_one)
    two, _ = await connect(b, login_two)
    await whisper_crosses(two, one, login_one["name"], "before the move", 5)
    channel = player_channel(login_one["player_id"])
    source = await asyncio.to_thread(shards.owner, channel)
    target = next(m for m in shards.masters() if m is not source)

    async def whispers(count: int) -> None:
        for i in range(count):
            await two.call("chat.whisper", {"to": login_one["name"], "text": f"w{i}"}, timeout=SLOW)
            await asyncio.sleep(0.02)  # a steady stream across the move, not a synchronisation

    stream = asyncio.create_task(whispers(60))
    await asyncio.to_thread(shards.move_slot, channel, target)
    await asyncio.wait_for(stream, SLOW)
    await one.wait_event("chat.message", lambda d: d["text"] == "w59", timeout=30)
    await whisper_crosses(two, one, login_one["name"], "after the move", 10)
    await whisper_crosses(one, two, login_two["name"], "and back", 10)
    texts = [e["data"]["text"] for e in one.events if e["type"] == "chat.message"]
    assert texts == ["before the move", *(f"w{i}" for i in range(60)), "after the move"]
    assert one.close_code is None and two.close_code is None
    assert_no_gap(one, one_hello["seq"])
    assert await asyncio.to_thread(shards.owner, channel) is target


def test_a_cluster_node_whose_bus_port_was_taken_starts_on_other_ports(tmp_path: Path) -> None:
    """The test support's own race (tests/support/redis.py `_start_cluster_node`): a node's bus port (+10000) taken by
    another process before it starts."""
    shards = ClusterSet(tmp_path / "redis", masters=3)
    first = shards.servers[0]
    taken = first.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken + 10000))
        squatter.listen()
        try:
            shards.start()
            assert first.port != taken and shards.healthy()
        finally:
            shards.stop()


def test_a_cluster_that_fails_to_start_leaves_no_server_running(tmp_path: Path) -> None:
    """The test support's own cleanup: when a later server cannot start, the ones started before it are stopped."""
    shards = ClusterSet(tmp_path / "redis", masters=3)
    shards.servers[2].args.append("--no-such-option")  # redis-server exits at once with it, at every attempt
    with pytest.raises(RuntimeError):
        shards.start()
    started = shards.servers[:2]
    assert all(server.proc is not None for server in started)
    assert all(server.proc.poll() is not None for server in started if server.proc is not None)
