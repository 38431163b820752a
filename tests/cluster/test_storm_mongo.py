"""The market's storm (tests/integration/test_economy_storm.py) on two nodes sharing a MongoDB: random list / buy /
cancel / combat / item moves from 30 players with sockets on both nodes, every keyed retry sent to the other node,
then the audit CLI on the MongoDB and a check that every trade is whole.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import pytest

from tests.cluster.conftest import Cluster
from tests.integration.test_economy_storm import GAME, NODE, Actor, Tally
from tests.support.client import Client
from tests.support.economy import Snapshot, trade_problems
from tests.support.mongo import MongoProcess, database
from tests.support.servers import ServerProcess

SEED = 20251130
PLAYERS = 30
OPERATIONS = 800
CONCURRENCY = 12  # commands in flight at once, over all sockets


class ClusterActor(Actor):
    """The storm's player, with a socket on each node: every keyed command goes to the node after the one the
    previous keyed command went to, so a retry with the same key (or the resend after a dropped link) always
    lands on another node than the first attempt."""

    def __init__(self, nodes: list[ServerProcess], first: int, login: dict[str, Any], rng: random.Random,
                 tally: Tally, gate: asyncio.Semaphore, tag: str) -> None:
        super().__init__(nodes[first], login, rng, tally, gate, tag)
        self.nodes = nodes
        self.at = first
        self.links: dict[int, Client | None] = dict.fromkeys(range(len(nodes)))
        self.keyed_by_node: Counter[int] = Counter()

    def use(self, index: int) -> None:
        self.links[self.at] = self.client
        self.at, self.server, self.client = index, self.nodes[index], self.links[index]

    async def send(self, type_: str, data: dict[str, Any], idem: str | None = None) -> dict[str, Any]:
        if idem is not None:
            self.use((self.at + 1) % len(self.nodes))
            self.keyed_by_node[self.at] += 1
        return await super().send(type_, data, idem)

    async def close(self) -> None:
        self.use(self.at)
        for index, client in self.links.items():
            self.links[index] = None
            if client is not None:
                await client.close()


def mongo_snapshot(url: str) -> Snapshot:
    """The stored economy read straight from the MongoDB, in the shape tests/support/economy.py checks."""
    with database(url) as db:
        players = {d["_id"]: d["state"] for d in db.players.find()}
        ledger = [{k: d[k] for k in ("player_id", "currency", "delta", "reason", "ref")}
                  for d in db.ledger.find().sort([("at", 1), ("_id", 1)])]
        listings = {d["_id"]: {k: v for k, v in d.items() if k != "_id"} for d in db.listings.find()}
        notes = [{"player_id": d["player_id"], "kind": d["kind"], "data": d["data"]} for d in db.notifications.find()]
    return Snapshot(players, ledger, listings, notes)


@pytest.mark.timeout(400)  # a loaded machine slows the storm down; its own deadline below is what should fire
async def test_storm_on_mongodb_across_two_nodes(make_cluster: Any, mongo: MongoProcess) -> None:
    url = mongo.url()
    cluster: Cluster = make_cluster(2, storage=url, game=GAME, **NODE)
    players = await cluster.quick_logins(PLAYERS, "storm")

    master = random.Random(SEED)
    tally = Tally()
    gate = asyncio.Semaphore(CONCURRENCY)
    actors = [ClusterActor(cluster.nodes, i % len(cluster), login, random.Random(master.getrandbits(64)), tally,
                           gate, "cluster") for i, login in enumerate(players)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(actor.play(OPERATIONS, stop)) for actor in actors]
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), 240)
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(actor.close() for actor in actors), return_exceptions=True)

    oks = Counter({t: n for (t, code), n in tally.outcomes.items() if code == "ok"})
    keyed = Counter()
    for actor in actors:
        keyed.update(actor.keyed_by_node)
    summary = (f"sent {dict(tally.sent)}, outcomes {dict(tally.outcomes)}, replays {tally.replays}, "
               f"resent after drop {tally.resent_after_drop}, keyed commands per node {dict(keyed)}")
    assert tally.problems == [], f"{tally.problems[:20]}\n{summary}"
    assert tally.total >= OPERATIONS, summary
    assert "internal" not in {code for _, code in tally.outcomes}, summary
    # it really traded, fought and retried, on both nodes
    assert oks["market.list"] >= 60 and oks["market.buy"] >= 30 and oks["market.cancel"] >= 8, summary
    assert oks["combat.start"] >= 30 and oks["item.use"] >= 3, summary
    assert tally.replays >= 25 and tally.resent_after_drop >= 10, summary
    assert min(keyed[0], keyed[1]) >= OPERATIONS // 4, summary
    for node in cluster.nodes:
        assert "Traceback" not in node.log(), node.log()[-5000:]

    report = await cluster.audit()
    assert report["players"] >= PLAYERS and report["negative_balances"] == []
    snap = await asyncio.to_thread(mongo_snapshot, url)
    assert trade_problems(snap) == []
    sold = [lid for lid, doc in snap.listings.items() if doc["status"] == "sold"]
    assert len(sold) >= oks["market.buy"], summary  # every purchase answered `ok` left a sold listing behind
