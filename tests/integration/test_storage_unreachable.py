"""A node whose MongoDB store is out of reach answers `unavailable` with `retry_after_ms`, never `internal`, keeps
the sockets open, and serves again once the store is back.

The store is a real secantusd keeping its data in a folder, stopped while the node serves and started again on
the same port. The node's storage URL bounds PyMongo's server selection (`serverSelectionTimeoutMS`) below the
command deadline, so the driver's own error (`ServerSelectionTimeoutError`, an `AutoReconnect`; a refused or reset
connection is another) reaches the command before its deadline does: before the adapter mapped connection
failures to the port's `Unavailable` (persistence/mongo_errors.py) such a read was answered `internal`.
The commands read the store on every call (market.browse, market.mine, notification.list) or commit (market.list).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Connect
from tests.support.client import Client, register, unique_name
from tests.support.game import inventory
from tests.support.mongo import MongoProcess
from tests.support.servers import ServerProcess
from tests.support.wire import eventually
from valgame_client.errors import ConnectionLost

NODE = {"command_deadline_seconds": 5.0, "storage_commit_seconds": 2.0, "retry_after_seconds": 0.1}
SELECTION_MS = 500  # PyMongo's wait for a server to send to, well below the command deadline
READS = (("market.browse", {}), ("market.mine", {}), ("notification.list", {}))
CLIENTS = 4
RECOVERY_SECONDS = 30.0  # PyMongo's monitor finds the server again within seconds of its start


@pytest.fixture
def mongo(tmp_path: Path) -> Iterator[MongoProcess]:
    server = MongoProcess(tmp_path / "mongo", storage_path=tmp_path / "mongo-data").start()
    yield server
    server.stop()


async def _reads(clients: list[Client]) -> list[dict[str, Any]]:
    """Every read of READS from every client, all at once."""
    return list(await asyncio.gather(*(client.request(kind, dict(data), timeout=15)
                                       for client in clients for kind, data in READS)))


async def test_a_store_out_of_reach_is_answered_unavailable_and_served_again_once_back(
        make_server: Callable[..., ServerProcess], connect: Connect, mongo: MongoProcess) -> None:
    node = make_server(storage=f"{mongo.url('valgame')}?serverSelectionTimeoutMS={SELECTION_MS}", **NODE)
    clients = [(await connect(node))[0] for _ in range(CLIENTS)]
    assert all(reply["ok"] for reply in await _reads(clients))
    item = next(i["id"] for i in await inventory(clients[0]) if i["kind"] == "consumable")

    mongo.stop()
    replies = await _reads(clients)
    replies.append(await clients[0].request("market.list", {"item": item, "price": 10}, idem="list-1", timeout=15))
    codes = Counter("ok" if reply["ok"] else reply["error"]["code"] for reply in replies)
    assert codes == {"unavailable": len(replies)}, (codes, node.log()[-3000:])
    assert all(reply["error"]["retry_after_ms"] > 0 for reply in replies)
    assert all(client.close_code is None for client in clients)  # the sockets stay open

    mongo.start()
    loop = asyncio.get_running_loop()
    ends = loop.time() + RECOVERY_SECONDS
    while True:  # the store is back: the node serves again, on the same sockets
        replies = await _reads(clients)
        if all(reply["ok"] for reply in replies):
            break
        assert {reply["error"]["code"] for reply in replies if not reply["ok"]} == {"unavailable"}, replies
        assert loop.time() < ends, "the node did not serve again once the store was back"
        await asyncio.sleep(0.2)  # the interval of a poll with a deadline, not a synchronisation
    listed = await clients[0].request("market.list", {"item": item, "price": 10}, idem="list-1", timeout=15)
    assert listed["ok"], listed  # the keyed retry of the change refused while the store was away
    assert "command failed" not in node.log()


async def _refused(node: ServerProcess, token: str) -> int:
    """Open a socket and authenticate: the close code it gets instead of an answer (1013 expected)."""
    client = await Client.connect(node.ws)
    with contextlib.suppress(ConnectionLost):  # the socket closes instead of answering
        reply = await client.call("auth", {"token": token}, timeout=10)
        await client.close()
        raise AssertionError(f"authenticated while the store was away: {reply}")

    async def closed() -> bool:
        return client.close_code is not None

    await eventually(closed, 10, "the socket closed")
    assert client.close_code is not None
    return client.close_code


async def test_a_socket_opened_while_the_store_is_out_of_reach_is_told_to_try_again(
        make_server: Callable[..., ServerProcess], mongo: MongoProcess) -> None:
    """Authenticating reads the account from the store: out of reach, the client is told to come back (1013), as
    when the bus is down, not dropped with an internal error (1011); once the store is back the same token opens."""
    node = make_server(storage=f"{mongo.url('valgame')}?serverSelectionTimeoutMS={SELECTION_MS}", **NODE)
    login = await register(node.http, unique_name())
    mongo.stop()
    code = await _refused(node, login["access_token"])
    assert code == 1013, (code, node.log()[-3000:])
    assert "Traceback" not in node.log()
    mongo.start()

    async def opens() -> bool:
        try:
            client, hello = await Client.open(node.ws, login["access_token"])
        except ConnectionLost:
            return False  # 1013 until PyMongo finds the server again
        await client.close()
        return bool(hello["player"]["id"] == login["player_id"])

    await eventually(opens, RECOVERY_SECONDS, "a socket opened once the store was back", interval=0.2)
