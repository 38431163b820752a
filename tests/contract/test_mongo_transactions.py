"""The MongoDB adapter's commit under a real write conflict: another transaction holds the player document, the
server answers WriteConflict (TransientTransactionError), `commit` runs the change again, and the version check
then decides (Conflict if the other transaction committed, success if it aborted). A document held longer than
the commit's budget (a dead node's transaction) fails the commit with `Unavailable` in that time, writing nothing.
And the test-only hook `exit_at("in_transaction")` runs after the transaction's writes, before its commit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.monitoring import CommandFailedEvent, CommandListener, CommandStartedEvent, CommandSucceededEvent

from persistence.mongo import MongoStorage
from persistence.port import Change, Conflict, LedgerEntry, PlayerWrite, Unavailable


class Attempts(CommandListener):
    """Counts the storage's update commands on players (one per attempt of the transaction), and names every
    command sent."""

    def __init__(self) -> None:
        self.player_updates = 0
        self.sent: list[str] = []

    def started(self, event: CommandStartedEvent) -> None:
        self.sent.append(event.command_name)
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


async def test_a_document_held_past_the_budget_fails_the_commit_as_unavailable(
        setup: tuple[MongoStorage, Attempts, AsyncMongoClient[Any]], fresh_mongo_url: str) -> None:
    _, _, other = setup
    attempts = Attempts()
    bounded = MongoStorage(fresh_mongo_url, commit_seconds=0.5, event_listeners=[attempts])
    await bounded.open()
    change = Change(players=[PlayerWrite("p1", "Alice", 1, {"v": "mine"})],
                    ledger=[LedgerEntry("p1", "VAL", 5, "test", "mine", 1.0)])
    try:
        players = other.get_default_database()["players"]
        async with other.start_session() as session:  # a transaction that does not end: a dead node's
            await session.start_transaction()
            await players.update_one({"_id": "p1"}, {"$set": {"state": {"v": "held"}}}, session=session)
            started = time.monotonic()
            with pytest.raises(Unavailable):
                await bounded.commit(change)
            took = time.monotonic() - started
            assert 0.2 <= took < 2.0, took  # the budget less at most one backoff, or a little more
            assert attempts.player_updates >= 2  # it retried within its budget, then gave up
            assert "commitTransaction" not in attempts.sent  # no attempt got as far as committing
            await session.abort_transaction()

        loaded = await bounded.load_player("p1")
        assert loaded is not None and loaded.version == 1 and loaded.state == {"v": 0}  # nothing of it written
        assert await bounded.ledger_for("p1", 10) == []
        await bounded.commit(change)  # the document free again, the same change goes through
        loaded = await bounded.load_player("p1")
        assert loaded is not None and loaded.version == 2 and loaded.state == {"v": "mine"}
    finally:
        await bounded.close()


async def test_the_in_transaction_hook_runs_between_the_writes_and_the_commit(fresh_mongo_url: str) -> None:
    attempts = Attempts()
    seen: list[tuple[str, list[str]]] = []
    storage = MongoStorage(fresh_mongo_url, event_listeners=[attempts],
                           exit_at=lambda point: seen.append((point, list(attempts.sent))))
    await storage.open()
    try:
        await storage.commit(Change(players=[PlayerWrite("p1", "Alice", None, {"v": 0})]))
        assert len(seen) == 1
        point, sent_before = seen[0]
        assert point == "in_transaction"
        assert "insert" in sent_before and "commitTransaction" not in sent_before
        assert "commitTransaction" in attempts.sent
        await storage.client.drop_database(storage.db.name)
    finally:
        await storage.close()
