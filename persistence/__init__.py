"""The storage ports (accounts and tokens; game state) and their adapters."""

from collections.abc import Callable

from persistence.port import (
    Account,
    AccountStore,
    Change,
    Conflict,
    Duplicate,
    EventWrite,
    GameStore,
    IdemRecord,
    LedgerEntry,
    ListingQuery,
    ListingWrite,
    LoggedEvent,
    Notification,
    PlayerDoc,
    PlayerWrite,
    RefreshToken,
    Storage,
    Unavailable,
    without_frames,
)

__all__ = [
    "Account",
    "AccountStore",
    "Change",
    "Conflict",
    "Duplicate",
    "EventWrite",
    "GameStore",
    "IdemRecord",
    "LedgerEntry",
    "ListingQuery",
    "ListingWrite",
    "LoggedEvent",
    "Notification",
    "PlayerDoc",
    "PlayerWrite",
    "RefreshToken",
    "Storage",
    "Unavailable",
    "open_storage",
    "without_frames",
]


def open_storage(url: str, *, event_log_seconds: float = 3600.0, commit_seconds: float | None = None,
                 exit_at: Callable[[str], None] | None = None, sqlite_synchronous: str = "NORMAL",
                 sqlite_checkpoint_seconds: float = 1.0, mongo_pool_size: int | None = None) -> Storage:
    """Build the adapter a storage URL names: `sqlite:///path/to/file.db` or `mongodb://...`.

    `event_log_seconds`: how long a logged event is kept at least (MongoDB's TTL index; SQLite is trimmed by the
    node's job). For MongoDB, `commit_seconds` bounds how long one `commit` retries (persistence/mongo_commit.py); for
    SQLite, how long a write waits for the file's write lock held by another process (persistence/sqlite_errors.py).
    For MongoDB, `exit_at` is a test-only hook called with "in_transaction" between a transaction's writes and its
    commit, and `mongo_pool_size` bounds the client's connections to each server (PyMongo's `maxPoolSize`). SQLite
    needs neither: its one writer has no conflicts to retry, and a dying process's transaction is rolled back by the
    file; it takes its `synchronous` pragma and how often its WAL is checkpointed in the background
    (persistence/sqlite_checkpoint.py).
    """
    if url.startswith("sqlite://"):
        from persistence.sqlite import SQLiteStorage
        from persistence.sqlite_errors import LOCK_SECONDS

        return SQLiteStorage(url.removeprefix("sqlite://") or ":memory:", synchronous=sqlite_synchronous,
                             checkpoint_seconds=sqlite_checkpoint_seconds,
                             lock_seconds=LOCK_SECONDS if commit_seconds is None else commit_seconds)
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from persistence.mongo import COMMIT_SECONDS, POOL_SIZE, MongoStorage

        return MongoStorage(url, commit_seconds=COMMIT_SECONDS if commit_seconds is None else commit_seconds,
                            exit_at=exit_at, event_log_seconds=event_log_seconds,
                            pool_size=POOL_SIZE if mongo_pool_size is None else mongo_pool_size)
    raise ValueError(f"unknown storage URL scheme: {url.split(':', 1)[0]}")
