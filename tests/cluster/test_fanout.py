"""Events cross nodes: the market feed, a seller's sale notice, whispers, ops announcements and kicks.

Three nodes share one SQLite file and one redis-server; every player's socket is on a node chosen by the test.
"""

from __future__ import annotations

import math
from typing import Any

from tests.cluster.conftest import Cluster, list_dagger
from tests.conftest import Connect
from tests.support.client import Client


async def test_market_feed_reaches_subscribers_on_every_node(cluster: Cluster, connect: Connect) -> None:
    watchers, digesters = [], []
    for node in cluster.nodes:
        watcher, _ = await connect(node)
        await watcher.call("sub.add", {"topic": "market"})
        watchers.append(watcher)
        digester, _ = await connect(node)  # the same events in the node's digest, once a second
        await digester.call("sub.add", {"topic": "market:digest"})
        digesters.append(digester)
    seller, _ = await connect(cluster[0])
    buyer, _ = await connect(cluster[2])

    listing = await list_dagger(seller, 25)
    for watcher in watchers:
        listed = await watcher.wait_event("market.listed", lambda d: d["id"] == listing, timeout=15)
        assert listed["data"]["price"] == 25
        assert listed["data"]["code"] == "daga-oxidada"

    await buyer.call("market.buy", {"listing": listing})
    for watcher in watchers:
        sold = await watcher.wait_event("market.sold", lambda d: d["listing"] == listing, timeout=15)
        assert sold["data"]["price"] == 25
    for watcher in watchers:
        assert [e["data"]["id"] for e in watcher.events if e["type"] == "market.listed"].count(listing) == 1
        assert [e["data"]["listing"] for e in watcher.events if e["type"] == "market.sold"].count(listing) == 1
    for digester in digesters:
        await digester.wait_event("market.digest", lambda d: any(e["data"].get("listing") == listing
                                                                 for e in d["events"]), timeout=15)
        entries = [e for d in digester.events if d["type"] == "market.digest" for e in d["data"]["events"]]
        assert [e["type"] for e in entries if listing in (e["data"].get("id"), e["data"].get("listing"))] == [
            "market.listed", "market.sold"], "each event once, in order, whatever node it came from"


async def test_a_seller_hears_of_a_sale_made_on_another_node(cluster: Cluster, connect: Connect) -> None:
    seller, hello = await connect(cluster[0])
    buyer, _ = await connect(cluster[1])
    start_val = hello["player"]["val"]
    price = 40
    listing = await list_dagger(seller, price)

    bought = await buyer.call("market.buy", {"listing": listing})
    assert bought["val"] == start_val - price

    received = price - math.floor(price * 0.05)
    note = await seller.wait_event("notification.new", lambda d: d["kind"] == "sale", timeout=15)
    assert note["data"]["data"]["listing"] == listing
    assert note["data"]["data"]["received"] == received
    wallet = await seller.wait_event("wallet.updated", lambda d: d["val"] == start_val + received, timeout=15)
    assert wallet["data"]["evo"] == hello["player"]["evo"]
    assert (await seller.call("state.get"))["player"]["val"] == start_val + received
    # nobody else was told: the buyer got no sale notice
    assert not [e for e in buyer.events if e["type"] == "notification.new" and e["data"]["kind"] == "sale"]


async def test_a_whisper_crosses_nodes(cluster: Cluster, connect: Connect) -> None:
    sender, _ = await connect(cluster[0])
    receiver_login = await cluster.login(cluster[2])
    receiver, _ = await connect(cluster[2], receiver_login)
    bystander, _ = await connect(cluster[1])

    await sender.call("chat.whisper", {"to": receiver_login["name"], "text": "psst, across the cluster"})
    message = await receiver.wait_event("chat.message", lambda d: d["channel"] == "whisper", timeout=15)
    assert message["data"]["text"] == "psst, across the cluster"
    assert isinstance(message["seq"], int)

    # the bystander hears nothing: ping it after the receiver got the whisper, then look
    await bystander.call("ping")
    assert not [e for e in bystander.events if e["type"] == "chat.message"]


def announcements(client: Client, message: str) -> list[dict[str, Any]]:
    return [e for e in client.events if e["type"] == "ops.announcement" and e["data"]["message"] == message]


async def test_ops_broadcast_reaches_every_socket_once_even_when_retried(cluster: Cluster,
                                                                         connect: Connect) -> None:
    admin_login = await cluster.admin_login()
    admin_a, _ = await connect(cluster[0], admin_login)
    admin_b, _ = await connect(cluster[1], admin_login)
    sockets: list[Client] = [admin_a, admin_b]
    per_node = {cluster[0]: 1, cluster[1]: 1, cluster[2]: 0}
    for i, node in enumerate(cluster.nodes):
        for _ in range(i + 1):  # 1, 2 and 3 players on the three nodes
            client, _ = await connect(node)
            sockets.append(client)
            per_node[node] += 1
    both = await cluster.login(cluster[0])  # one player with sockets on two nodes: both get it
    for node in (cluster[0], cluster[2]):
        client, _ = await connect(node, both)
        sockets.append(client)
        per_node[node] += 1
    await cluster.wait_sockets(per_node)  # only this test's sockets are open now

    key = f"maint-{admin_login['name']}"
    first = await admin_a.call("ops.broadcast", {"message": "restart at noon", "key": key})
    assert first["duplicate"] is False
    assert first["delivered"] == len(sockets), first
    assert first["nodes"] == len(cluster)
    for client in sockets:
        await client.wait_event("ops.announcement", lambda d: d["message"] == "restart at noon", timeout=15)

    retry = await admin_b.call("ops.broadcast", {"message": "restart at noon", "key": key})
    assert retry["duplicate"] is True
    assert retry["delivered"] == 0
    # an announcement sent after the retry arrives after anything the retry could have caused
    marker = await admin_b.call("ops.broadcast", {"message": "marker", "key": key + "-marker"})
    assert marker["delivered"] == len(sockets)
    for client in sockets:
        await client.wait_event("ops.announcement", lambda d: d["message"] == "marker", timeout=15)
    for client in sockets:
        assert len(announcements(client, "restart at noon")) == 1, client.events
        assert len(announcements(client, "marker")) == 1, client.events


async def test_ops_kick_closes_a_socket_on_another_node_with_4003(cluster: Cluster, connect: Connect) -> None:
    admin, _ = await connect(cluster[0], await cluster.admin_login())
    victim_login = await cluster.login(cluster[2])
    victim, _ = await connect(cluster[2], victim_login)
    other, _ = await connect(cluster[2])

    reply = await admin.call("ops.kick", {"player": victim_login["name"]})
    assert reply["kicked"] == 1
    assert await victim.wait_closed(timeout=15) == 4003
    assert (await other.request("ping"))["ok"] is True
    assert other.close_code is None
