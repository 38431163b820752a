"""A node killed between a commit and the publication of its events loses no event.

Node A runs with the test-only failpoint `testonly_exit_at=after_commit`: it exits (as a SIGKILL would) right after
its first commit, before anything of it is published. Node B shares its redis-server and MongoDB-wire store
(secantusd). Every event that commit wrote must still reach its player exactly once and in seq order: the client
that resumes on B gets it replayed from the storage's event log, and a socket already on B gets it from B's check
of the log (`event_check_seconds`), with no event on the wire twice and no seq skipped.

Each scenario runs on a cluster of its own (A's first commit must be the one under test).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.cluster.conftest import Cluster, item_id
from tests.conftest import Connect
from tests.support.client import assert_no_gap
from tests.support.game import MANY_COMMANDS, act, first_character, start
from tests.support.mongo import MongoProcess
from tests.support.servers import ServerProcess
from valgame_client.errors import ConnectionLost

CHECK_SECONDS = 0.5  # how often B compares its sockets with the log
NODE = {**MANY_COMMANDS, "presence_seconds": 3, "event_check_seconds": CHECK_SECONDS,
        # no scheduled job of A's may commit before the command under test does
        "sweep_interval_seconds": 3600, "expiry_interval_seconds": 3600}
WAIT = 20.0


def armed_node(cluster: Cluster) -> ServerProcess:
    """Node A: exits right after its first commit."""
    node = ServerProcess(cluster.root / "armed", bus=cluster.redis.url, storage=cluster.storage,
                         testonly_exit_at="after_commit", **NODE).start()
    cluster.nodes.append(node)  # stopped with the cluster
    return node


async def died(node: ServerProcess) -> None:
    assert node.proc is not None
    code = node.proc.wait(timeout=WAIT)
    assert code == 137, f"node A exited with {code}, not at its failpoint:\n{node.log()[-2000:]}"


@pytest.fixture
def cluster(make_cluster: Any, mongo: MongoProcess, request: pytest.FixtureRequest) -> Cluster:
    return make_cluster(1, storage=mongo.url(request.node.name[:40]), **NODE)


async def test_a_combat_round_committed_by_a_dying_node_is_replayed_on_resume(
        cluster: Cluster, connect: Connect) -> None:
    b = cluster.nodes[0]
    login = await cluster.login(b)
    setup, _ = await connect(b, login)
    combat_id = await start(setup, [(await first_character(setup))["id"]], "manual")
    assert (await act(setup, combat_id, "defend"))["round"] == 1
    await setup.close()

    a = armed_node(cluster)
    on_a, hello = await connect(a, login)
    with pytest.raises(ConnectionLost):
        await on_a.request("combat.action", {"combat": combat_id, "action": "defend"}, idem="round-2", timeout=WAIT)
    await died(a)
    assert on_a.wire_seqs == []  # round 2 was committed, never published

    back, resumed = await connect(b, login, resume={"session": hello["session"], "seq": hello["seq"]})
    assert resumed["resumed"] is True and resumed["seq"] == hello["seq"]
    round_2 = await back.wait_event("combat.round", lambda d: d["round"] == 2, timeout=WAIT)
    assert round_2["seq"] == hello["seq"] + 1
    retried = await back.request("combat.action", {"combat": combat_id, "action": "defend"}, idem="round-2")
    assert retried["ok"] and retried.get("replayed") is True and retried["data"]["round"]["round"] == 2
    third = await act(back, combat_id, "defend")
    assert third["round"] == 3
    await back.wait_event("combat.round", lambda d: d["round"] == 3, timeout=WAIT)
    rounds = [e["data"]["round"] for e in back.events if e["type"] == "combat.round"]
    assert rounds == [2, 3]
    assert_no_gap(back, hello["seq"])


async def test_a_sale_committed_by_a_dying_node_reaches_the_seller_and_the_buyer(
        cluster: Cluster, connect: Connect) -> None:
    b = cluster.nodes[0]
    seller_login, buyer_login = await cluster.login(b), await cluster.login(b)
    seller, seller_hello = await connect(b, seller_login)  # stays on B all along
    price = 40
    listing = (await seller.call("market.list", {"item": await item_id(seller, "daga-oxidada"),
                                                 "price": price}))["listing"]

    a = armed_node(cluster)
    buyer, buyer_hello = await connect(a, buyer_login)
    with pytest.raises(ConnectionLost):
        await buyer.request("market.buy", {"listing": listing}, idem="buy-1", timeout=WAIT)
    await died(a)

    # The seller's socket on B never got a publication: B's check of the log brings the sale.
    note = await seller.wait_event("notification.new", lambda d: d["data"].get("listing") == listing, timeout=WAIT)
    # the sale's commit logged the seller's wallet change, then the notification
    assert [e["type"] for e in seller.events if e["seq"] == note["seq"] - 1] == ["wallet.updated"]
    assert_no_gap(seller, seller_hello["seq"])

    again, resumed = await connect(b, buyer_login, resume={"session": buyer_hello["session"],
                                                           "seq": buyer_hello["seq"]})
    assert resumed["resumed"] is True
    await again.wait_event("wallet.updated", timeout=WAIT)
    retried = await again.request("market.buy", {"listing": listing}, idem="buy-1")
    assert retried["ok"] and retried.get("replayed") is True
    assert_no_gap(again, buyer_hello["seq"])
    assert len([e for e in again.events if e["type"] == "wallet.updated"]) == 1
    await cluster.audit()


async def test_a_whisper_accepted_by_a_dying_node_reaches_its_recipient_once(
        cluster: Cluster, connect: Connect) -> None:
    b = cluster.nodes[0]
    sender_login, recipient_login = await cluster.login(b), await cluster.login(b)
    recipient, hello = await connect(b, recipient_login)

    a = armed_node(cluster)
    sender, _ = await connect(a, sender_login)
    with pytest.raises(ConnectionLost):
        await sender.request("chat.whisper", {"to": recipient_login["name"], "text": "are you there?"},
                             timeout=WAIT)
    await died(a)

    message = await recipient.wait_event("chat.message", lambda d: d["text"] == "are you there?", timeout=WAIT)
    assert message["seq"] == hello["seq"] + 1
    survivor, _ = await connect(b, sender_login)
    await survivor.call("chat.whisper", {"to": recipient_login["name"], "text": "still here"})
    await recipient.wait_event("chat.message", lambda d: d["text"] == "still here", timeout=WAIT)
    texts = [e["data"]["text"] for e in recipient.events if e["type"] == "chat.message"]
    assert texts == ["are you there?", "still here"]
    assert_no_gap(recipient, hello["seq"])
