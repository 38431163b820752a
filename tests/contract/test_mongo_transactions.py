"""The MongoDB adapter's commit under a real write conflict: another transaction holds the player document, the
server answers WriteConflict (TransientTransactionError), `with_transaction` runs the change again, and the
version check then decides (Conflict if the other transaction committed, success if it aborted)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.monitoring import CommandFailedEvent, CommandListener, CommandStartedEvent, CommandSucceededEvent

from persistence.mongo import MongoStorage
from persistence.port import Change, Conflict, LedgerEntry, PlayerWrite


class Attempts(CommandListener):
    """Counts the storage's update commands on players (one per run of the transaction's callback)."""

    def __init__(self) -> None:
        self.player_updates = 0

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name == "update" and event.command["update"] == "players":
            self.player_updates += 1

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


async def eventually(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)


@pytest.fixture
async def setup(fresh_mongo_url: str) -> AsyncIterator[tuple[MongoStorage, Attempts, AsyncMongoClient[Any]]]:
    attempts = Attempts()
    storage = MongoStorage(fresh_mongo_url, event_listeners=[attempts])
    await storage.open()
    await storage.commit(Change(players=[PlayerWrite("p1", "Alice", None, {"v": 0})]))
    other: AsyncMongoClient[Any] = AsyncMongoClient(fresh_mongo_url)  # another node
    yield storage, attempts, other
    await other.close()
    await storage.client.drop_database(storage.db.name)
    await storage.close()


@pytest.mark.parametrize("other_commits", [True, False], ids=["other-commits", "other-aborts"])
async def test_write_conflict_is_retried(setup: tuple[MongoStorage, Attempts, AsyncMongoClient[Any]],
                                         other_commits: bool) -> None:
    storage, attempts, other = setup
    players = other.get_default_database()["players"]
    async with other.start_session() as session:
        await session.start_transaction()
        await players.update_one({"_id": "p1", "version": 1},
                                 {"$set": {"state": {"v": "other"}}, "$inc": {"version": 1}}, session=session)
        mine = asyncio.create_task(storage.commit(Change(
            players=[PlayerWrite("p1", "Alice", 1, {"v": "mine"})],
            ledger=[LedgerEntry("p1", "VAL", 5, "test", "mine", 1.0)])))
        await eventually(lambda: attempts.player_updates >= 2)  # it met the conflict and ran again
        assert not mine.done()
        if other_commits:
            await session.commit_transaction()
        else:
            await session.abort_transaction()

    if other_commits:
        with pytest.raises(Conflict):
            await mine
        loaded = await storage.load_player("p1")
        assert loaded is not None and loaded.version == 2 and loaded.state == {"v": "other"}
        assert await storage.ledger_for("p1", 10) == []
    else:
        await mine
        loaded = await storage.load_player("p1")
        assert loaded is not None and loaded.version == 2 and loaded.state == {"v": "mine"}
        assert [e.ref for e in await storage.ledger_for("p1", 10)] == ["mine"]
