"""The storage ports (accounts and tokens; game state) and their adapters."""

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
    "open_storage",
]


def open_storage(url: str, *, event_log_seconds: float = 3600.0) -> Storage:
    """Build the adapter a storage URL names: `sqlite:///path/to/file.db` or `mongodb://...`. `event_log_seconds`:
    how long a logged event is kept at least (MongoDB's TTL index; SQLite is trimmed by the node's job)."""
    if url.startswith("sqlite://"):
        from persistence.sqlite import SQLiteStorage

        return SQLiteStorage(url.removeprefix("sqlite://") or ":memory:")
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from persistence.mongo import MongoStorage

        return MongoStorage(url, event_log_seconds=event_log_seconds)
    raise ValueError(f"unknown storage URL scheme: {url.split(':', 1)[0]}")
