"""What a node measures of its storage, on a real SQLite store: every operation is counted and timed, a conflict the
caller handles is not a failure, a real fault is, slowness is judged by the setting, and in-flight returns to 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from persistence import Change, Conflict, PlayerWrite, open_storage
from persistence.port import Account
from server.metrics import StorageFigures
from server.settings import Settings
from server.storage_watch import StorageFault, pool_size, watch_storage


async def test_operations_are_counted_and_failures_told_from_conflicts(tmp_path: Path) -> None:
    figures = StorageFigures()
    settings = Settings(storage_slow_seconds=0.05, testonly_storage_delays="get_meta=0.06",
                        testonly_storage_failures="unread_count")
    storage = watch_storage(open_storage(f"sqlite://{tmp_path}/game.db"), figures, settings)
    await storage.open()
    try:
        account = Account("p1", "ana", "ana@example.test", "hash", "player", 1.0)
        await storage.commit(Change(players=[PlayerWrite("p1", "ana", None, {"val": 1})], account=account))
        with pytest.raises(Conflict):  # a lost version race: the caller re-reads and retries
            await storage.commit(Change(players=[PlayerWrite("p1", "ana", 7, {"val": 2})]))
        with pytest.raises(StorageFault):
            await storage.unread_count("p1")
        assert await storage.get_meta("nothing") is None
        assert (await storage.load_player("p1")).version == 1
    finally:
        await storage.close()
    assert figures.by_operation == {"commit": [2, 0, 0], "unread_count": [1, 0, 1], "get_meta": [1, 1, 0],
                                    "load_player": [1, 0, 0]}
    assert figures.inflight == 0
    assert figures.busy_seconds >= 0.06
    assert pool_size(storage.inner) == 2  # SQLite on a file: its writer thread and its reader thread
    assert pool_size(open_storage("sqlite://:memory:")) == 1  # one connection, one thread
