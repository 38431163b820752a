"""The embedded store checkpoints its WAL in the background (persistence/sqlite_checkpoint.py), so commits never
wait for a checkpoint's disk writes; what they committed reaches the database file within a period or so."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from persistence.port import Change, PlayerWrite
from persistence.sqlite import SQLiteStorage
from tests.support.wire import eventually


def in_database_file(path: Path, player_id: str) -> bool:
    """Whether the player is in the database file itself, ignoring the WAL (`immutable`: read as it lies)."""
    try:
        db = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    except sqlite3.Error:
        return False
    try:
        return db.execute("SELECT COUNT(*) FROM players WHERE id=?", (player_id,)).fetchone()[0] == 1
    except sqlite3.DatabaseError:  # no table yet, or a page caught mid-write: not there yet
        return False
    finally:
        db.close()


async def test_commits_reach_the_database_file_without_a_checkpoint_on_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "valgame.db"
    storage = SQLiteStorage(path, checkpoint_seconds=0.05)
    await storage.open()
    try:
        for i in range(3):
            await storage.commit(Change(players=[PlayerWrite(f"p{i}", f"Player{i}", None, {"val": i})]))

        async def checkpointed() -> bool:
            return all(in_database_file(path, f"p{i}") for i in range(3))

        await eventually(checkpointed, 5, "the commits checkpointed into the database file")
        assert (await storage.load_player("p2")) is not None
    finally:
        await storage.close()


def test_a_synchronous_value_sqlite_does_not_know_is_refused() -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStorage(":memory:", synchronous="NORMAL; DROP TABLE players")
