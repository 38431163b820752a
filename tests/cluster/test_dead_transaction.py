"""A node SIGKILLed inside a MongoDB transaction delays nobody past the command deadline.

Node A is made to die between a transaction's writes and its commit (its test-only failpoint
`testonly_exit_at=in_transaction`, the same as a SIGKILL at that moment) while it sells a listing to a player. The
dead transaction still holds what it wrote on the store: the listing, the buyer's and the seller's player
documents, the buyer's idempotency record. Meanwhile on node B other players try to buy that listing, the seller
lists something else, the dead node's player retries his purchase with the same idem key, a bystander trades and
the seller reads his state. No reply may take longer than the command deadline plus 1 s: what cannot be done in
time is answered `unavailable` with `retry_after_ms`, and the client sends it again with the same key. Once the
store has ended the dead transaction, every keyed command gets its one outcome (a second retry replays it), one
buyer owns the listing, and the audit passes.

How long the dead transaction holds its documents is the store's transaction lifetime. MongoDB's is
`transactionLifetimeLimitSeconds` (deploy/compose.yaml sets it). The test store, secantusd-py, has no option for it
(the daemon ends a transaction after a fixed 60 s); its server class takes the lifetime as an argument, so the test
runs that server with `LIFETIME` (tests/support/secantusd_lifetime.py). SecantusDB ends a transaction idle that
long at the next transaction command it gets, where mongod counts from the start and sweeps every half lifetime;
either way the documents stay held longer than the deadline plus 1 s, so a command that waited for the dead
transaction instead of being answered in time fails this test (as every one did before the deadline: they hung
until the lifetime ended, and PyMongo's `with_transaction` would have retried for up to 120 s).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import Cluster, item_id, list_dagger, own_mongo
from tests.cluster.test_storm_mongo import mongo_snapshot
from tests.conftest import Connect
from tests.support.client import Client
from tests.support.economy import trade_problems
from tests.support.game import MANY_COMMANDS, player
from tests.support.mongo import MongoProcess
from tests.support.servers import ServerProcess
from valgame_client.errors import ConnectionLost

DEADLINE = 3.0
LIFETIME = 6.0  # the dead transaction holds its documents this long: well past DEADLINE + 1
SETTINGS = {"command_deadline_seconds": DEADLINE, "storage_commit_seconds": 1.5, "retry_after_seconds": 0.2,
            "sweep_interval_seconds": 3600, "expiry_interval_seconds": 3600, **MANY_COMMANDS}  # no job commits on A
BUYERS = 6
PRICE = 10
GIVE_UP = 60.0  # seconds of `unavailable` after which a command is reported stuck


@dataclass
class Keyed:
    """A keyed command and every reply it got, each with the seconds it took."""

    client: Client
    type: str
    data: dict[str, Any]
    key: str
    replies: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    @property
    def final(self) -> dict[str, Any]:
        return self.replies[-1][1]

    async def until_answered(self) -> None:
        """Send it, and again with the same key after each `unavailable` (after the wait that asks for), until it
        gets another answer."""
        give_up = time.monotonic() + GIVE_UP
        while True:
            started = time.monotonic()
            reply = await self.client.request(self.type, self.data, idem=self.key, timeout=GIVE_UP)
            self.replies.append((time.monotonic() - started, reply))
            if reply["ok"] or reply["error"]["code"] != "unavailable":
                return
            assert time.monotonic() < give_up, f"{self.key} still unavailable after {GIVE_UP} s"
            await asyncio.sleep(reply["error"]["retry_after_ms"] / 1000)


def outcome(reply: dict[str, Any]) -> str:
    return "ok" if reply["ok"] else reply["error"]["code"]


async def timed_reads(client: Client, done: asyncio.Event) -> list[float]:
    """`state.get`, one after the other, until `done`: the seconds each took."""
    times = []
    while not done.is_set():
        started = time.monotonic()
        reply = await client.request("state.get", timeout=GIVE_UP)
        times.append(time.monotonic() - started)
        assert reply["ok"], reply
    return times


@pytest.fixture
def mongo(tmp_path: Path) -> Iterator[MongoProcess]:
    yield from own_mongo(tmp_path, LIFETIME)


@pytest.mark.timeout(240)
async def test_a_node_killed_inside_a_transaction_delays_no_command_past_the_deadline(
        make_cluster: Any, connect: Connect, mongo: MongoProcess) -> None:
    url = mongo.url()
    cluster: Cluster = make_cluster(1, storage=url, **SETTINGS)
    b = cluster[0]
    seller_login, victim_login, bystander_login, *buyer_logins = await cluster.quick_logins(3 + BUYERS, "held")
    seller, _ = await connect(b, seller_login)
    listing = await list_dagger(seller, PRICE)
    seller_potion = await item_id(seller, "pocion-vida-menor")
    bystander, _ = await connect(b, bystander_login)
    bystander_potion = await item_id(bystander, "pocion-vida-menor")
    buyers = [(await connect(b, login))[0] for login in buyer_logins]
    reader, _ = await connect(b, seller_login)

    # Node A, started only now (registrations commit too), dies inside its first transaction: the purchase.
    a = ServerProcess(cluster.root / "node-a", bus=cluster.redis.url, storage=url, testonly_exit_at="in_transaction",
                      **SETTINGS).start()
    cluster.nodes.append(a)  # killed with the cluster, should it survive
    victim_on_a, _ = await connect(a, victim_login)
    doomed = asyncio.create_task(victim_on_a.request("market.buy", {"listing": listing}, idem="victim-buy",
                                                     timeout=30))
    assert a.proc is not None
    assert await asyncio.to_thread(a.proc.wait, 30) == 137, a.log()[-3000:]
    assert "failpoint in_transaction: exiting" in a.log()
    with pytest.raises(ConnectionLost):
        await doomed

    victim, _ = await connect(b, victim_login)
    commands = [Keyed(buyer, "market.buy", {"listing": listing}, f"buy-{i}") for i, buyer in enumerate(buyers)]
    commands += [Keyed(victim, "market.buy", {"listing": listing}, "victim-buy"),
                 Keyed(seller, "market.list", {"item": seller_potion, "price": 5}, "seller-list"),
                 Keyed(bystander, "market.list", {"item": bystander_potion, "price": 5}, "bystander-list")]
    done = asyncio.Event()
    reads = asyncio.create_task(timed_reads(reader, done))
    try:
        await asyncio.gather(*(command.until_answered() for command in commands))
    finally:
        done.set()
    read_times = await reads

    slow = [(c.key, round(seconds, 2), outcome(reply)) for c in commands for seconds, reply in c.replies
            if seconds > DEADLINE + 1]
    slow += [("state.get", round(seconds, 2), "ok") for seconds in read_times if seconds > DEADLINE + 1]
    assert slow == [], f"replies slower than the deadline + 1 s: {slow}"
    by_key = {c.key: c for c in commands}
    # the dead transaction really held the listing and the seller: those were answered `unavailable` first
    for key in ("victim-buy", "seller-list", "buy-0"):
        first = by_key[key].replies[0][1]
        assert outcome(first) == "unavailable" and first["error"]["retry_after_ms"] > 0, (key, first)
    assert outcome(by_key["bystander-list"].replies[0][1]) == "ok"  # untouched by it: done at once
    assert outcome(by_key["seller-list"].final) == "ok"

    purchases = [c for c in commands if c.type == "market.buy"]
    winners = [c for c in purchases if c.final["ok"]]
    assert len(winners) == 1, [(c.key, outcome(c.final)) for c in purchases]
    assert {outcome(c.final) for c in purchases if c not in winners} == {"conflict"}
    assert (await player(winners[0].client))["val"] == 100 - PRICE

    # one outcome per key: a further retry replays a success, and a refusal (which changed nothing) is refused again
    for command in commands:
        again = await command.client.request(command.type, command.data, idem=command.key, timeout=GIVE_UP)
        if command.final["ok"]:
            assert again["ok"] and again.get("replayed") is True, (command.key, again)
            assert again["data"] == command.final["data"], command.key
        else:
            assert outcome(again) == outcome(command.final), (command.key, again)

    assert (await cluster.audit())["ok"] is True
    snap = await asyncio.to_thread(mongo_snapshot, url)
    assert trade_problems(snap) == []
    assert snap.listings[listing]["status"] == "sold"
    assert "Traceback" not in b.log(), b.log()[-5000:]
