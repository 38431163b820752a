"""A combat whose player a dead node's transaction holds goes on once the store lets go, not a minute later.

The player fights in manual mode on node B, where B's combat driver resolves each round the player leaves to its
timeout. Node A (test-only failpoint `testonly_exit_at=in_transaction`, the same as a SIGKILL at that moment) dies
inside its first transaction, a listing of the player's potion: the transaction holds the player's document for the
store's transaction lifetime (`LIFETIME`, as in test_dead_transaction.py). B's commits of the next timed round are
answered `unavailable` meanwhile, each after `storage_commit_seconds`; after its three attempts B let go of the
round's claim, so it claims the round again and commits it as soon as the document is free. Before, B kept the claim
for its full minute, and the combat stood still that long.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import Cluster, item_id, own_mongo
from tests.cluster.test_dead_transaction import SETTINGS  # a 1.5 s commit budget; no job commits on A
from tests.conftest import Connect
from tests.support.game import first_character, start
from tests.support.mongo import MongoProcess
from tests.support.servers import ServerProcess
from valgame_client.errors import ConnectionLost

LIFETIME = 12.0  # longer than B's three attempts at the round (1.5 s each, 1 s and 2 s apart)
GAME = {"manual_round_timeout_seconds": 2.0}
GOES_ON = LIFETIME + 15  # the next round after A died: the lifetime, then at most one more round of attempts


@pytest.fixture
def mongo(tmp_path: Path) -> Iterator[MongoProcess]:
    yield from own_mongo(tmp_path, LIFETIME)


@pytest.mark.timeout(180)
async def test_a_combat_held_by_a_dead_transaction_goes_on_once_the_store_lets_go(
        make_cluster: Any, connect: Connect, mongo: MongoProcess) -> None:
    url = mongo.url()
    cluster: Cluster = make_cluster(1, storage=url, game=GAME, **SETTINGS)
    b = cluster[0]
    [login] = await cluster.quick_logins(1, "fighter")
    # A first, and the player's socket on it before the combat starts: A never drives this combat (it would hold
    # the round's claim when it died), B does.
    a = ServerProcess(cluster.root / "node-a", bus=cluster.redis.url, storage=url, testonly_exit_at="in_transaction",
                      game=GAME, **SETTINGS).start()
    cluster.nodes.append(a)  # killed with the cluster, should it survive
    on_a, _ = await connect(a, login)
    on_b, _ = await connect(b, login)
    potion = await item_id(on_b, "pocion-vida-menor")
    combat = await start(on_b, [(await first_character(on_b))["id"]], "manual")

    doomed = asyncio.create_task(on_a.request("market.list", {"item": potion, "price": 5}, timeout=30))
    assert a.proc is not None
    assert await asyncio.to_thread(a.proc.wait, 30) == 137, a.log()[-3000:]
    died = time.monotonic()
    with pytest.raises(ConnectionLost):
        await doomed
    rounds_before = [e["data"]["round"] for e in on_b.events if e["type"] == "combat.round"]

    # B's attempts at the next round fail while the document is held; then the combat goes on
    after = len(on_b.events)
    resolved = await on_b.wait_event("combat.round", lambda data: data["combat"] == combat, timeout=GOES_ON,
                                     after=after)
    assert time.monotonic() - died < GOES_ON
    assert resolved["data"]["round"] == (max(rounds_before) + 1 if rounds_before else 1)
    assert "timed round not committed yet" in b.log()  # the document was held: B's attempts were refused
    ended = await on_b.wait_event("combat.ended", lambda data: data["combat"] == combat, timeout=60)
    assert ended["data"]["rounds"] >= resolved["data"]["round"]
    assert (await cluster.audit())["ok"] is True
    assert "Traceback" not in b.log(), b.log()[-5000:]
