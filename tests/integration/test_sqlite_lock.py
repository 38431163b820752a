"""The embedded store's writes wait a bounded time for the file's write lock (persistence/sqlite_errors.py): while
another process holds it, a commit and a write outside `commit` give up after `lock_seconds` with `Unavailable`
(a command answered `unavailable`, a timed round tried again) instead of waiting 30 s and failing with SQLite's
own error; once the lock is free, they succeed. A node passes its `storage_commit_seconds`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from persistence.port import Change, PlayerWrite, Unavailable
from persistence.sqlite import SQLiteStorage
from tests.conftest import Connect
from tests.contract.storage_builders import account, note, state
from tests.integration.test_sqlite_reads import write_lock
from tests.support.servers import ServerProcess

LOCK_SECONDS = 0.5
WITHIN = 5.0  # far below the 30 s the writer used to wait


async def test_writes_give_up_on_a_held_lock_with_unavailable_then_succeed(tmp_path: Path) -> None:
    path = tmp_path / "game.db"
    storage = SQLiteStorage(path, checkpoint_seconds=0, lock_seconds=LOCK_SECONDS)
    await storage.open()
    try:
        await storage.commit(Change(players=[PlayerWrite("p1", "ana", None, state(val=1))],
                                    account=account("p1", "ana"), notifications=[note("n1", "p1", 1.0)]))
        second = Change(players=[PlayerWrite("p1", "ana", 1, state(val=2))])
        with write_lock(path):
            started = time.monotonic()
            with pytest.raises(Unavailable, match="write lock"):
                await asyncio.wait_for(storage.commit(second), WITHIN)
            assert LOCK_SECONDS <= time.monotonic() - started < WITHIN
            with pytest.raises(Unavailable, match="write lock"):  # a write outside `commit`, on the same writer
                await asyncio.wait_for(storage.mark_read("p1", None), WITHIN)
        assert (await storage.load_player("p1")).version == 1  # type: ignore[union-attr]  # nothing applied
        await storage.commit(second)
        assert (await storage.load_player("p1")).version == 2  # type: ignore[union-attr]
        assert await storage.mark_read("p1", None) == 1
    finally:
        await storage.close()


async def test_a_command_meets_a_held_lock_with_unavailable_and_its_retry_succeeds(
        make_server: ServerProcess, connect: Connect) -> None:
    node = make_server(storage_commit_seconds=1, command_deadline_seconds=5)  # type: ignore[operator]
    client, _ = await connect(node)
    potion = next(i["id"] for i in (await client.call("inventory.get"))["items"] if i["code"] == "pocion-vida-menor")
    with write_lock(node.data_dir / "valgame.db"):
        refused = await client.request("market.list", {"item": potion, "price": 5}, idem="list-once", timeout=WITHIN)
    assert refused["ok"] is False and refused["error"]["code"] == "unavailable", refused
    assert refused["error"]["retry_after_ms"] > 0
    listed = await client.request("market.list", {"item": potion, "price": 5}, idem="list-once", timeout=WITHIN)
    assert listed["ok"] is True and listed.get("replayed") is not True, listed
    assert "command failed" not in node.log() and "Traceback" not in node.log(), node.log()[-3000:]
