"""A node whose MongoDB store refuses its connections answers `unavailable` with `retry_after_ms`, never `internal`,
keeps the sockets open, and serves again once the store takes connections.

The store is a real secantusd started with a small connection cap; the test takes every connection it has left
(`take_free_connections`), so each connection the node's pool opens meanwhile is accepted and closed at once, as
secantusd does at its cap: PyMongo raises `AutoReconnect` at checkout, which reached the dispatcher as an unknown
exception (`internal`) before the adapter mapped it to the port's `Unavailable` (persistence/mongo_errors.py).
The commands read the store on every call (market.browse, market.mine, notification.list), and are sent at once
from several sockets, so the node's pool needs more connections than it holds.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Connect
from tests.support.client import Client
from tests.support.mongo import MongoProcess, take_free_connections
from tests.support.servers import ServerProcess

CAP = 40  # secantusd's connection cap: room for the node's monitors and a few pooled connections
NODE = {"command_deadline_seconds": 3.0, "storage_commit_seconds": 1.0, "retry_after_seconds": 0.1}
READS = (("market.browse", {}), ("market.mine", {}), ("notification.list", {}))
CLIENTS, ROUNDS = 6, 4
RECOVERY_SECONDS = 30.0  # PyMongo's monitor finds a server it marked unknown again within seconds


@pytest.fixture
def capped_mongo(tmp_path: Path) -> Iterator[MongoProcess]:
    server = MongoProcess(tmp_path / "mongo", max_connections=CAP).start()
    yield server
    server.stop()


async def _burst(clients: list[Client]) -> list[dict[str, Any]]:
    """Every read of READS, ROUNDS times from every client, all at once."""
    return list(await asyncio.gather(*(client.request(kind, dict(data), timeout=15)
                                       for _ in range(ROUNDS) for client in clients for kind, data in READS)))


async def test_a_store_refusing_connections_is_answered_unavailable_and_served_again_once_back(
        make_server: Callable[..., ServerProcess], connect: Connect, capped_mongo: MongoProcess) -> None:
    node = make_server(storage=capped_mongo.url(), **NODE)
    clients = [(await connect(node))[0] for _ in range(CLIENTS)]
    for client in clients:  # the store in reach: reads served (one at a time: the pool stays small)
        assert (await client.request("market.browse", {}))["ok"]

    taken = take_free_connections(capped_mongo.address)
    try:
        replies = await _burst(clients)
    finally:
        for sock in taken:
            sock.close()

    codes = Counter("ok" if reply["ok"] else reply["error"]["code"] for reply in replies)
    assert codes["internal"] == 0, (codes, node.log()[-3000:])
    assert codes["unavailable"] > 0, codes  # the node did need connections the store refused
    assert set(codes) <= {"ok", "unavailable"}, codes
    assert all(reply["error"]["retry_after_ms"] > 0 for reply in replies if not reply["ok"])
    assert all(client.close_code is None for client in clients)  # the sockets stay open

    loop = asyncio.get_running_loop()
    ends = loop.time() + RECOVERY_SECONDS
    while True:  # the store takes connections again: the node serves again, on the same sockets
        replies = await _burst(clients)
        if all(reply["ok"] for reply in replies):
            break
        assert {reply["error"]["code"] for reply in replies if not reply["ok"]} == {"unavailable"}, replies
        assert loop.time() < ends, "the node did not serve again once the store took connections"
        await asyncio.sleep(0.2)  # the interval of a poll with a deadline, not a synchronisation
    assert "command failed" not in node.log()
