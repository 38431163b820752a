"""A connection to the embedded store's file owned by a thread of its own, beside the writer's: the adapter's reader
(persistence/sqlite.py, `_read`) and its WAL checkpointer (persistence/sqlite_checkpoint.py) each hold one.

In WAL mode such a connection neither waits for the writer nor makes it wait (a checkpoint in PASSIVE mode
included), so what runs on it does not queue behind commits. SQLite connections are not for two threads at once:
each is used from its one thread only, and `run` hands it the work.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from persistence.worker_thread import WorkerThread

T = TypeVar("T")


class ConnectionThread:
    def __init__(self, path: str, name: str, *, timeout: float, query_only: bool = False) -> None:
        """`name`: the thread's name prefix; `timeout`: how long a statement waits for a lock (the busy timeout);
        `query_only`: refuse every change, so a write sent here by mistake fails instead of taking the write lock
        beside the writer."""
        self.path, self.name, self.timeout, self.query_only = path, name, timeout, query_only
        self._thread: WorkerThread | None = None
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        """Connect, once the writer has brought the schema up to date (opened first, it would read an old one)."""
        self._thread = WorkerThread(self.name)
        self._db = await self._thread.run(self._connect)

    def _connect(self) -> sqlite3.Connection:
        # Autocommit (isolation_level=None): no transaction is left open between calls unless `fn` begins one.
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=self.timeout)
        if self.query_only:
            db.execute("PRAGMA query_only=ON")
        return db

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(connection, *args)` on the thread."""
        if self._db is None or self._thread is None:
            raise RuntimeError("storage is not open")
        return await self._thread.run(fn, self._db, *args)

    async def close(self) -> None:
        if self._thread is not None:
            db, self._db = self._db, None
            if db is not None:
                await self._thread.run(db.close)
            self._thread.shutdown()
            self._thread = None
