"""The MongoDB adapter and its connections, on a real secantusd: a store out of reach fails every kind of operation
with the port's `Unavailable` (persistence/mongo_errors.py), and an operation cancelled while its command is on the
wire keeps its connection instead of making the pool open a new one (persistence/mongo_pool.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, ExecutionTimeout, NetworkTimeout, OperationFailure
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
    ConnectionClosedEvent,
    ConnectionCreatedEvent,
    ConnectionPoolListener,
)

from persistence.mongo import MongoStorage
from persistence.mongo_errors import port_operations, unreachable
from persistence.port import Change, ListingQuery, PlayerWrite, Unavailable
from tests.support.mongo import MongoProcess


class Connections(ConnectionPoolListener, CommandListener):
    """Counts the pool's connections opened and closed; `on_find` is called when a `find` is sent."""

    def __init__(self) -> None:
        self.created = self.closed = 0
        self.on_find: Callable[[], None] | None = None

    def connection_created(self, event: ConnectionCreatedEvent) -> None:
        self.created += 1

    def connection_closed(self, event: ConnectionClosedEvent) -> None:
        self.closed += 1

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name == "find" and self.on_find is not None:
            self.on_find()

    def succeeded(self, event: CommandSucceededEvent) -> None: ...

    def failed(self, event: CommandFailedEvent) -> None: ...

    def pool_created(self, event: Any) -> None: ...

    def pool_ready(self, event: Any) -> None: ...

    def pool_cleared(self, event: Any) -> None: ...

    def pool_closed(self, event: Any) -> None: ...

    def connection_ready(self, event: Any) -> None: ...

    def connection_check_out_started(self, event: Any) -> None: ...

    def connection_check_out_failed(self, event: Any) -> None: ...

    def connection_checked_out(self, event: Any) -> None: ...

    def connection_checked_in(self, event: Any) -> None: ...


def test_what_counts_as_out_of_reach() -> None:
    assert unreachable(AutoReconnect("connection closed"))
    assert unreachable(NetworkTimeout("timed out"))
    assert unreachable(ExecutionTimeout("operation exceeded time limit", code=50))
    assert unreachable(OperationFailure("internal server error", code=1))  # the store's own failure
    assert not unreachable(OperationFailure("unknown operator: $bogus", code=2))  # a bug, not the store's absence
    assert not unreachable(ValueError("ours"))


async def test_every_operation_of_a_store_out_of_reach_fails_unavailable(tmp_path: Path) -> None:
    server = MongoProcess(tmp_path / "mongo").start()
    storage = MongoStorage(server.url(), commit_seconds=1.0, serverSelectionTimeoutMS=300, connectTimeoutMS=300)
    try:
        await storage.open()
        await storage.commit(Change(players=[PlayerWrite("p1", "Alice", None, {"v": 0})]))
        server.stop()
        calls = {
            "load_player": storage.load_player("p1"),
            "query_listings": storage.query_listings(ListingQuery()),
            "account_by_name": storage.account_by_name("Alice"),
            "get_idem": storage.get_idem("p1", "k"),
            "commit": storage.commit(Change(players=[PlayerWrite("p1", "Alice", 1, {"v": 1})])),
        }
        for name, call in calls.items():
            with pytest.raises(Unavailable):
                await call
            assert name in port_operations()
        with pytest.raises(Unavailable):
            async for _ in storage.iter_players():
                pass
        assert await storage.ping() is False
    finally:
        await storage.close()
        server.stop()


async def test_a_read_cancelled_on_the_wire_keeps_its_connection(fresh_mongo_url: str) -> None:
    connections = Connections()
    storage = MongoStorage(fresh_mongo_url, event_listeners=[connections], pool_size=1)
    await storage.open()
    try:
        assert await storage.load_player("p1") is None
        opened = connections.created
        sent = asyncio.Event()
        connections.on_find = sent.set
        read = asyncio.ensure_future(storage.load_player("p1"))
        await sent.wait()  # the find is written: the read holds the pool's one connection until its reply
        read.cancel()
        with pytest.raises(asyncio.CancelledError):
            await read
        connections.on_find = None
        assert await storage.load_player("p1") is None  # served on the same connection, once the first read ended
        assert (connections.created, connections.closed) == (opened, 0)
    finally:
        await storage.client.drop_database(storage.db.name)
        await storage.close()


async def test_the_readiness_ping_does_not_wait_behind_the_pool(fresh_mongo_url: str) -> None:
    """The node's /ready asks `ping`: a store that answers is ready even while every pooled connection is busy (a
    saturated node sheds its own load; a ping that queued behind it timed out on every node at once, and the load
    balancer took them all out)."""
    connections = Connections()
    storage = MongoStorage(fresh_mongo_url, event_listeners=[connections], pool_size=1, ping_timeout=1.0)
    await storage.open()
    try:
        listings = storage.db["listings"]
        await listings.insert_many([{"_id": f"l{i}", "status": "sold", "code": f"item-{i}", "price": i}
                                    for i in range(10_000)])
        # Reads that scan every listing (an unanchored regex), queued for the pool's one connection: together they
        # hold it for seconds on secantusd.
        sent = asyncio.Event()
        connections.on_find = sent.set
        busy = [asyncio.ensure_future(listings.find({"code": {"$regex": "nothing-matches", "$options": "i"}})
                                      .to_list()) for _ in range(20)]
        await sent.wait()  # the first is on the wire: the pool's connection is taken
        assert await storage.ping() is True
        assert sum(not read.done() for read in busy) > 1, "the pool was free again: the test showed nothing"
        assert all(found == [] for found in await asyncio.gather(*busy))
    finally:
        connections.on_find = None
        await storage.client.drop_database(storage.db.name)
        await storage.close()
