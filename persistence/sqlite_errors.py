"""What the SQLite adapter takes for "the store cannot be reached", and the one place it becomes the port's
`Unavailable`: the file's write lock held by another process (an operator's long transaction, a second program on
the file) past the writer's busy timeout, `LOCK_SECONDS` or the node's `storage_commit_seconds`.

Before, the writer waited 30 s for the lock and then raised `sqlite3.OperationalError`: a command had long been
answered `unavailable` by its deadline, its commit then failed in the log, and a combat's timed round ended the
combat's driver (the combat stood still until its player acted). Now a write gives up after the bound, the command
is answered `unavailable` with `retry_after_ms`, and a timed round is tried again (server/combat_driver.py). Any
other `OperationalError` stays what it is: a bug, answered `internal`.
"""

from __future__ import annotations

import sqlite3

from persistence.port import Unavailable

LOCK_SECONDS = 5.0  # default bound of a write's wait for the file's write lock


def unavailable_if_locked(exc: sqlite3.OperationalError) -> Exception:
    """What a write that failed with `exc` raises: `Unavailable` for a lock another connection held too long, `exc`
    itself otherwise."""
    if exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return Unavailable(f"the SQLite file's write lock is held by another connection: {exc}")
    return exc
