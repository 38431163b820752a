"""The embedded store's reads run on a connection and thread of their own (persistence/sqlite.py, `_read`): they do
not wait behind commits (issue #13: on one node with 10,000 players, reads waited 7.5-10.7 s behind them), yet
every read sees every commit acknowledged before it started; a ":memory:" store, which one connection owns, reads
on its writer."""

from __future__ import annotations

import asyncio
import inspect
import secrets
import sqlite3
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from persistence.port import Change, ListingQuery, ListingWrite, PlayerWrite
from persistence.sqlite import SQLiteStorage
from tests.conftest import Connect
from tests.contract.storage_builders import account, listing, note, state
from tests.support.servers import ServerProcess
from tests.support.wire import eventually, sample, scrape

PROMPT = 5.0  # seconds a read may take while the writer is stuck
LOCK = 30.0  # how long the writer waits for the lock here (`lock_seconds`): longer than the reads take


@contextmanager
def write_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Hold the database's write lock from a connection of the test's own, as another process writing would."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    finally:
        db.execute("ROLLBACK")
        db.close()


def reader_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("sqlite-read")]


async def started(coro: Coroutine[Any, Any, Any]) -> bool:
    """Whether a coroutine ran up to its first wait: `commit` hands its change to the writer thread before it."""
    return inspect.getcoroutinestate(coro) == inspect.CORO_SUSPENDED


async def test_reads_answer_while_a_commit_waits_for_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "game.db"
    storage = SQLiteStorage(path, checkpoint_seconds=0, lock_seconds=LOCK)
    await storage.open()
    committing: asyncio.Future[Any] | None = None
    try:
        await storage.commit(Change(players=[PlayerWrite("p1", "ana", None, state(val=1))],
                                    account=account("p1", "ana"), notifications=[note("n1", "p1", 10.0)],
                                    listings=[ListingWrite("l1", None, listing("l1", price=30, seller="p1"))]))
        with write_lock(path):
            commit = storage.commit(Change(players=[PlayerWrite("p1", "ana", 1, state(val=2))],
                                           notifications=[note("n2", "p1", 11.0)]))
            committing = asyncio.ensure_future(commit)
            await eventually(lambda: started(commit), PROMPT, "the commit handed to the writer thread")

            # what a command reads from the store (issue #13): the state before the stuck commit, at once
            loaded = await asyncio.wait_for(storage.load_player("p1"), PROMPT)
            assert loaded is not None and (loaded.version, loaded.state["val"]) == (1, 1)
            assert await asyncio.wait_for(storage.unread_count("p1"), PROMPT) == 1
            assert [n.id for n in await asyncio.wait_for(storage.notifications("p1", 10), PROMPT)] == ["n1"]
            found = await asyncio.wait_for(storage.account_by_name("ana"), PROMPT)
            assert found is not None and found.id == "p1"
            page = await asyncio.wait_for(storage.query_listings(ListingQuery(limit=10)), PROMPT)
            assert [doc["id"] for doc in page] == ["l1"]
            assert not committing.done()  # the writer is still stuck behind the lock
        await asyncio.wait_for(committing, 30)
        after = await storage.load_player("p1")
        assert after is not None and after.version == 2
        assert await storage.unread_count("p1") == 2
    finally:
        if committing is not None:
            await asyncio.gather(committing, return_exceptions=True)
        await storage.close()


async def test_the_reader_has_a_thread_of_its_own_from_open_to_close(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "game.db", checkpoint_seconds=0)
    threads_before = len(reader_threads())
    await storage.open()
    try:
        assert len(reader_threads()) == threads_before + 1
        assert await storage.load_player("nobody") is None
    finally:
        await storage.close()
    assert len(reader_threads()) == threads_before


async def test_every_read_sees_the_commit_acknowledged_before_it(tmp_path: Path) -> None:
    """Read-your-writes across the two connections, with commits and reads of several players interleaved."""
    storage = SQLiteStorage(tmp_path / "game.db", checkpoint_seconds=0)
    await storage.open()
    players = [f"p{i}" for i in range(4)]
    try:
        for player_id in players:
            await storage.commit(Change(players=[PlayerWrite(player_id, f"name-{player_id}", None, state(val=0))]))

        async def commit_then_read(player_id: str) -> None:
            unread = 0
            for version in range(2, 52):
                logged = await storage.commit(Change(
                    players=[PlayerWrite(player_id, f"name-{player_id}", version - 1, state(val=version))],
                    notifications=[note(f"{player_id}-{version}", player_id, float(version))]))
                unread += 1
                loaded = await storage.load_player(player_id)
                assert loaded is not None and (loaded.version, loaded.state["val"]) == (version, version)
                assert await storage.unread_count(player_id) == unread
                assert (await storage.event_heads([player_id]))[player_id] == logged[-1].seq
                assert [e.seq for e in await storage.events_after(player_id, logged[-1].seq - 1, 5)] == [
                    logged[-1].seq]
                if version % 5 == 0:  # a write outside `commit` too, on the writer
                    assert await storage.mark_read(player_id, None) == unread
                    unread = 0
                    assert await storage.unread_count(player_id) == 0

        await asyncio.gather(*(commit_then_read(p) for p in players))
    finally:
        await storage.close()


async def test_no_read_transaction_stays_open_between_reads(tmp_path: Path) -> None:
    """A read transaction left open on the reader would pin its snapshot: later reads would miss later commits, and
    no checkpoint could copy the WAL past it. After every kind of read, a checkpoint copies all of it."""
    path = tmp_path / "game.db"
    storage = SQLiteStorage(path, checkpoint_seconds=0)
    await storage.open()
    try:
        await storage.commit(Change(players=[PlayerWrite("p1", "ana", None, state(), sweep_at=5.0)],
                                    account=account("p1", "ana"), notifications=[note("n1", "p1", 1.0)],
                                    listings=[ListingWrite("l1", None, listing("l1", price=9, expires_at=50.0))]))
        reads: list[Callable[[], Coroutine[Any, Any, Any]]] = [
            lambda: storage.load_player("p1"), lambda: storage.player_id_by_name("ana"),
            lambda: storage.players_due(10.0, 5), lambda: storage.events_after("p1", 0, 5),
            lambda: storage.event_heads(["p1"]), lambda: storage.get_idem("p1", "k"),
            lambda: storage.ledger_for("p1", 5), lambda: storage.ledger_sums(), lambda: storage.economy_snapshot(),
            lambda: storage.notifications("p1", 5), lambda: storage.unread_count("p1"),
            lambda: storage.get_listing("l1"), lambda: storage.query_listings(ListingQuery(limit=5)),
            lambda: storage.listings_due(100.0, 5), lambda: storage.get_meta("nothing"),
            lambda: storage.account_by_name("ana"), lambda: storage.account_by_id("p1"),
            lambda: storage.access_token_revoked("jti")]
        async for _ in storage.iter_players():
            break  # a scan given up after its first page
        for read in reads:
            await read()
        await storage.commit(Change(players=[PlayerWrite("p1", "ana", 1, state(val=2))]))
        db = sqlite3.connect(path, isolation_level=None)
        try:
            busy, frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            db.close()
        assert (busy, copied) == (0, frames) and frames > 0
    finally:
        await storage.close()


async def test_a_memory_store_reads_on_its_one_connection() -> None:
    storage = SQLiteStorage(":memory:")
    threads_before = len(reader_threads())
    await storage.open()
    assert len(reader_threads()) == threads_before  # no reader: a second connection would see another database
    try:
        await storage.commit(Change(players=[PlayerWrite("p1", "ana", None, state(val=3))],
                                    account=account("p1", "ana"), notifications=[note("n1", "p1", 1.0)]))
        loaded = await storage.load_player("p1")
        assert loaded is not None and loaded.state["val"] == 3
        assert await storage.unread_count("p1") == 1
        found = await storage.account_by_name("ana")
        assert found is not None and found.id == "p1"
        players, _, _ = await storage.economy_snapshot()
        assert [p.id for p in players] == ["p1"]
    finally:
        await storage.close()


async def test_a_node_answers_store_reads_while_a_commit_waits_for_the_write_lock(
        make_server: Callable[..., ServerProcess], connect: Connect) -> None:
    """On a real node: a whisper's commit is stuck behind the write lock; a command that reads the store (the
    notifications and the unread count, as `state.get` does) is still answered at once."""
    node = make_server(storage_commit_seconds=9)  # the write waits up to 9 s for the lock: longer than the reads
    ana, _ = await connect(node)
    bo, bo_auth = await connect(node)
    text = f"psst {secrets.token_hex(4)}"
    whisper: asyncio.Future[Any] | None = None
    try:
        with write_lock(node.data_dir / "valgame.db"):
            whisper = asyncio.ensure_future(ana.call("chat.whisper", {"to": bo_auth["player"]["name"], "text": text}))

            async def storing() -> bool:
                return sample(await scrape(node.http), "valgame_storage_inflight") >= 1

            await eventually(storing, PROMPT, "the whisper's commit waiting with the store")
            listed = await asyncio.wait_for(bo.call("notification.list"), PROMPT)
            assert listed["unread"] == len([n for n in listed["notifications"] if not n["read"]])
            assert (await asyncio.wait_for(bo.call("state.get"), PROMPT))["player"]["id"] == bo_auth["player"]["id"]
            assert not whisper.done()
        await asyncio.wait_for(whisper, 30)
        await bo.wait_event("chat.message", lambda d: d["text"] == text)
    finally:
        if whisper is not None:
            await asyncio.gather(whisper, return_exceptions=True)
