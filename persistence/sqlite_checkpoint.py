"""Background WAL checkpoints for the SQLite adapter (persistence/sqlite.py).

Left to itself, SQLite checkpoints the WAL on the committing connection once the WAL passes 1,000 pages
(`wal_autocheckpoint`): that commit copies the WAL into the database file and waits for the disk (fsync), and every
change queued behind it waits too, with the node's core idle meanwhile (PERFORMANCE.md run 7: 2-5 % of the core
under trades, where every commit also writes its events). Here a second connection, on a thread of its own,
checkpoints every `seconds` in PASSIVE mode, which never blocks the writer; the writer keeps an automatic
checkpoint only as a backstop (`BACKSTOP_PAGES`), for a checkpointer that falls behind, so the WAL stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("valgame.storage")

BACKSTOP_PAGES = 10_000  # the writer's own automatic checkpoint: a WAL of about 40 MB at most


class Checkpointer:
    def __init__(self, path: str, seconds: float) -> None:
        self.path = path
        self.seconds = seconds
        self._thread: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-checkpoint")
        self._db = await asyncio.get_running_loop().run_in_executor(self._thread, self._connect)
        self._task = asyncio.create_task(self._run(), name="sqlite-checkpoint")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._thread is not None:
            db, self._db = self._db, None
            if db is not None:
                await asyncio.get_running_loop().run_in_executor(self._thread, db.close)
            self._thread.shutdown(wait=True)
            self._thread = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.seconds)  # a period, not a synchronisation
            try:
                await loop.run_in_executor(self._thread, self._checkpoint)
            except sqlite3.Error as exc:  # the writer's backstop still bounds the WAL; try again next period
                log.warning("WAL checkpoint failed", extra={"error": str(exc)})

    def _checkpoint(self) -> None:
        if self._db is not None:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
