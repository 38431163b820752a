"""The bus on a Sentinel-watched Redis: the master is SIGKILLed under traffic and the nodes follow the failover.

A master, its replica and three sentinels (real processes); two nodes on `redis+sentinel://...`; players chatting,
whispering across nodes and trading. When the master dies, within the sentinels' failover time plus 5 s commands
and cross-node deliveries flow again, no socket is closed, every personal event arrives once and in order (what the
bus lost, e.g. writes the replica never got, comes from the storage's event log), and the audit passes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.conftest import Cluster, start_nodes, topic_watchers, whisper_crosses
from tests.cluster.test_redis_restart import all_ready
from tests.cluster.trading import SLOW, Traffic
from tests.conftest import Connect
from tests.support.client import assert_no_gap
from tests.support.game import MANY_COMMANDS
from tests.support.redis import RedisProcess, SentinelSet
from tests.support.wire import eventually

PROBE = {"bus_probe_seconds": 0.3, "bus_probe_timeout_seconds": 1.0}
AFTER_FAILOVER = 5.0  # seconds the nodes may take, beyond the sentinels' failover, to deliver again
# A dead master that comes back is made a replica by Sentinel's own clock, not the test's: it is reconfigured only
# once it has reported its role for a while (8 s, against flapping), then syncs, and a sentinel sees the link up at
# its next INFO of that replica (every 10 s): ~20 s on a quiet machine. CI failed here twice in a row, with 30 s and
# then with 60, for a reason not found (never locally): a failure now prints what the sentinels see (`describe`).
REJOIN_SECONDS = 60.0


@pytest.fixture
def sentinel_cluster(tmp_path: Path) -> Iterator[tuple[Cluster, SentinelSet]]:
    sentinels = SentinelSet(tmp_path / "redis").start()
    try:
        cluster = start_nodes(tmp_path, sentinels.master, sentinels.url, 2, presence_seconds=3, **PROBE,
                              **MANY_COMMANDS)
        yield cluster, sentinels
        for node in cluster.nodes:
            node.kill()
    finally:
        sentinels.stop()


@pytest.mark.timeout(240)
async def test_nodes_follow_a_sentinel_failover_under_traffic(
        sentinel_cluster: tuple[Cluster, SentinelSet], connect: Connect) -> None:
    cluster, sentinels = sentinel_cluster
    a, b = cluster.nodes
    await eventually(lambda: all_ready([a, b]), 20, "both nodes ready on the Sentinel bus")
    listener_login = await cluster.login(a)
    listener, hello = await connect(a, listener_login)
    talker, _ = await connect(b)
    watchers = await topic_watchers(connect, [a, b], ["chat:global"])
    await whisper_crosses(talker, listener, listener_login["name"], "before", 5)

    traffic = await Traffic.start(cluster, connect, a, b)
    try:
        await eventually(lambda: traffic.beyond(4), 60, "trades before the failover")
        old_master = await asyncio.to_thread(sentinels.master_port)
        killed_at = time.monotonic()
        await asyncio.to_thread(sentinels.master.kill)
        # accepted while there is no master: the whisper is in the listener's log whatever the bus does with it
        outage = asyncio.create_task(talker.call("chat.whisper", {"to": listener_login["name"],
                                                                  "text": "during the failover"}, timeout=SLOW))
        await eventually(lambda: asyncio.to_thread(lambda: sentinels.master_port() not in (None, old_master)), 30,
                         "the sentinels' failover", interval=0.05)
        budget = time.monotonic() - killed_at + AFTER_FAILOVER

        def left() -> float:
            return max(0.1, budget - (time.monotonic() - killed_at))

        await eventually(lambda: all_ready([a, b]), left(), "/ready 200 on both nodes after the failover",
                         interval=0.05)
        await whisper_crosses(talker, listener, listener_login["name"], "after the failover", left())
        sender, _ = await connect(a)
        await sender.call("chat.send", {"text": "hello after the failover"}, timeout=left())
        for watcher in watchers:
            await watcher.wait_event("chat.message", lambda d: d["text"] == "hello after the failover",
                                     timeout=left())
        during = len(traffic.trades.accepted)
        await eventually(lambda: traffic.beyond(during + 2), left(), "trades after the failover")
        recovered_in = time.monotonic() - killed_at
        assert recovered_in <= budget, (recovered_in, budget)
        await asyncio.wait_for(outage, SLOW)
    finally:
        await traffic.finish()

    # no socket was closed, and each got every personal event once, in order
    await listener.wait_event("chat.message", lambda d: d["text"] == "during the failover", timeout=30)
    assert listener.close_code is None and talker.close_code is None
    assert_no_gap(listener, hello["seq"])
    traffic.assert_no_socket_closed_nor_gap()
    await traffic.assert_stored()
    await cluster.audit()


@pytest.mark.timeout(300)
async def test_two_failovers_in_a_row_with_the_old_address_refusing(
        sentinel_cluster: tuple[Cluster, SentinelSet], connect: Connect) -> None:
    """The master dies and its address stays closed (every dial there is refused) until the replica is promoted;
    the old master then comes back as a replica, and the new master dies in turn. While delivery is broken /ready
    is 503; after each failover it is 200 and whispers cross nodes again, on the same sockets, without a gap."""
    cluster, sentinels = sentinel_cluster
    a, b = cluster.nodes
    await eventually(lambda: all_ready([a, b]), 20, "both nodes ready on the Sentinel bus")
    login = await cluster.login(a)
    listener, hello = await connect(a, login)
    talker, _ = await connect(b)
    await whisper_crosses(talker, listener, login["name"], "before", 5)

    async def not_ready() -> bool:
        return not await all_ready([a]) and not await all_ready([b])

    for round_, (dying, standby) in enumerate(((sentinels.master, sentinels.replica),
                                               (sentinels.replica, sentinels.master))):
        old_port = dying.port
        await asyncio.to_thread(dying.kill)
        await eventually(not_ready, 10, f"/ready 503 on both nodes while round {round_}'s master is down",
                         interval=0.05)
        def promoted(standby: RedisProcess = standby) -> bool:
            return sentinels.master_port() == standby.port

        await eventually(lambda: asyncio.to_thread(promoted), 30,
                         f"round {round_}: the sentinels promote port {standby.port}", interval=0.05)
        await eventually(lambda: all_ready([a, b]), AFTER_FAILOVER, f"round {round_}: /ready 200 again",
                         interval=0.05)
        await whisper_crosses(talker, listener, login["name"], f"after failover {round_}", AFTER_FAILOVER)
        # the dead master comes back, empty, on its old port: the sentinels make it a replica of the new one
        await asyncio.to_thread(dying.start)
        assert dying.port == old_port

        def replica_again(dying: RedisProcess = dying) -> bool:
            return sentinels.master_port() != dying.port and sentinels.replicas_up() >= 1

        try:  # Sentinel acts on a scale of seconds: asked twice a second
            await eventually(lambda: asyncio.to_thread(replica_again), REJOIN_SECONDS,
                             f"round {round_}: the old master a replica", interval=0.5)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{await asyncio.to_thread(sentinels.describe)}") from None
    assert listener.close_code is None and talker.close_code is None
    assert_no_gap(listener, hello["seq"])
    await cluster.audit()
