"""Background WAL checkpoints for the SQLite adapter (persistence/sqlite.py).

Left to itself, SQLite checkpoints the WAL on the committing connection once the WAL passes 1,000 pages
(`wal_autocheckpoint`): that commit copies the WAL into the database file and waits for the disk (fsync), and every
change queued behind it waits too, with the node's core idle meanwhile (PERFORMANCE.md run 7: 2-5 % of the core
under trades, where every commit also writes its events). Here a connection of its own, on a thread of its own
(persistence/sqlite_thread.py), checkpoints every `seconds` in PASSIVE mode, which never blocks the writer; the
writer keeps an automatic checkpoint only as a backstop (`BACKSTOP_PAGES`), for a checkpointer that falls behind,
so the WAL stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3

from persistence.sqlite_thread import ConnectionThread

log = logging.getLogger("valgame.storage")

BACKSTOP_PAGES = 10_000  # the writer's own automatic checkpoint: a WAL of about 40 MB at most


class Checkpointer:
    def __init__(self, path: str, seconds: float) -> None:
        self.path = path
        self.seconds = seconds
        self._connection = ConnectionThread(path, "sqlite-checkpoint", timeout=5)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._connection.open()
        self._task = asyncio.create_task(self._run(), name="sqlite-checkpoint")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._connection.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.seconds)  # a period, not a synchronisation
            try:
                await self._connection.run(self._checkpoint)
            except sqlite3.Error as exc:  # the writer's backstop still bounds the WAL; try again next period
                log.warning("WAL checkpoint failed", extra={"error": str(exc)})

    @staticmethod
    def _checkpoint(db: sqlite3.Connection) -> None:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
