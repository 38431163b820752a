"""The storage ports (accounts and tokens; game state) and their adapters."""

from persistence.port import (
    Account,
    AccountStore,
    Change,
    Conflict,
    Duplicate,
    GameStore,
    IdemRecord,
    LedgerEntry,
    ListingQuery,
    ListingWrite,
    Notification,
    PlayerDoc,
    PlayerWrite,
    RefreshToken,
    Storage,
)

__all__ = [
    "Account", "AccountStore", "Change", "Conflict", "Duplicate", "GameStore", "IdemRecord", "LedgerEntry",
    "ListingQuery", "ListingWrite",
    "Notification", "PlayerDoc", "PlayerWrite", "RefreshToken", "Storage", "open_storage",
]


def open_storage(url: str) -> Storage:
    """Build the adapter a storage URL names: `sqlite:///path/to/file.db` or `mongodb://...`."""
    if url.startswith("sqlite://"):
        from persistence.sqlite import SQLiteStorage

        return SQLiteStorage(url.removeprefix("sqlite://") or ":memory:")
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from persistence.mongo import MongoStorage

        return MongoStorage(url)
    raise ValueError(f"unknown storage URL scheme: {url.split(':', 1)[0]}")
