"""The MongoDB adapter's hot paths carry the shard key, so a sharded cluster routes each of them to one shard.

PyMongo's command monitoring records every command the adapter sends; each CRUD command on a sharded collection
must name the owner (player-owned collections) or the document's `_id` (players, listings, accounts, names,
tokens) with an equality in its filter, and inserts must carry it in every document.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo.monitoring import CommandFailedEvent, CommandListener, CommandStartedEvent, CommandSucceededEvent

from persistence.mongo import MongoStorage
from persistence.port import (
    Account,
    Change,
    EventWrite,
    IdemRecord,
    LedgerEntry,
    ListingWrite,
    Notification,
    PlayerWrite,
    RefreshToken,
)

# collection -> the field that must hold the shard key's value (the owner's id or the document's own id)
SHARD_FIELD = {"players": "_id", "ledger": "player_id", "notifications": "player_id", "idem": "player_id",
               "events": "player_id",
               "listings": "_id", "accounts": "_id", "names": "_id", "refresh_tokens": "_id", "revoked_jti": "_id"}
CRUD = {"find", "insert", "update", "delete", "findAndModify", "aggregate", "count", "distinct"}


class Recorder(CommandListener):
    def __init__(self) -> None:
        self.commands: list[dict[str, Any]] = []

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name in CRUD:
            self.commands.append(dict(event.command))

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass

    def clear(self) -> None:
        self.commands.clear()


def targets(command: dict[str, Any]) -> tuple[str, str, list[dict[str, Any]]]:
    """(command name, collection, the filters or inserted documents it routes by)."""
    name = next(iter(command))
    collection = command[name]
    if name == "find":
        docs = [command["filter"]]
    elif name == "insert":
        docs = list(command["documents"])
    elif name == "update":
        docs = [u["q"] for u in command["updates"]]
    elif name == "delete":
        docs = [d["q"] for d in command["deletes"]]
    elif name in ("findAndModify", "count"):
        docs = [command["query"]]
    elif name == "aggregate":
        first = command["pipeline"][0] if command["pipeline"] else {}
        docs = [first.get("$match", {})]
    else:  # distinct
        docs = [command.get("query", {})]
    return name, collection, docs


def assert_targeted(commands: list[dict[str, Any]], owners: dict[str, set[str]]) -> set[tuple[str, str]]:
    """Every command on a sharded collection has an equality on its shard field with one of the expected values.
    Returns the (command, collection) pairs seen."""
    seen = set()
    for command in commands:
        name, collection, docs = targets(command)
        seen.add((name, collection))
        field = SHARD_FIELD.get(collection)
        assert field is not None, f"unexpected collection on a hot path: {collection} ({command})"
        for doc in docs:
            value = doc.get(field)
            values = value["$in"] if isinstance(value, dict) and set(value) == {"$in"} else [value]
            for one in values:  # an equality, or `$in` a few owners (mongos targets the shards holding them)
                assert isinstance(one, str), f"{name} on {collection} without an equality on {field}: {doc}"
                assert one in owners[collection], f"{name} on {collection} routed by {one!r}: {doc}"
    return seen


@pytest.fixture
async def recorded(fresh_mongo_url: str) -> AsyncIterator[tuple[MongoStorage, Recorder]]:
    recorder = Recorder()
    storage = MongoStorage(fresh_mongo_url, event_listeners=[recorder])
    await storage.open()
    recorder.clear()  # open's own reads and index builds are not a hot path
    yield storage, recorder
    await storage.client.drop_database(storage.db.name)
    await storage.close()


def listing(listing_id: str, status: str = "active") -> dict[str, Any]:
    return {"id": listing_id, "status": status, "seller_id": "p1", "seller": "Alice", "kind": "equipment",
            "code": "iron_sword", "rank": "C", "level": 1, "price": 100, "featured": False, "created_at": 1.0,
            "expires_at": 100.0, "item": {"id": "i1", "code": "iron_sword"}}


async def test_player_hot_paths_carry_the_owner(recorded: tuple[MongoStorage, Recorder]) -> None:
    storage, recorder = recorded
    await storage.commit(Change(account=Account("p1", "Alice", "alice@example.test", "hash", "player", 1.0),
                                players=[PlayerWrite("p1", "Alice", None, {"val": 100})],
                                ledger=[LedgerEntry("p1", "VAL", 100, "start", "new", 1.0)]))
    await storage.commit(Change(players=[PlayerWrite("p2", "Bob", None, {"val": 100})]))
    await storage.load_player("p1")
    await storage.load_player("p2")
    await storage.commit(Change(
        players=[PlayerWrite("p1", "Alice", 1, {"val": 90})],
        ledger=[LedgerEntry("p1", "VAL", -10, "buy", "x", 2.0)],
        notifications=[Notification("n1", "p1", "energy.full", {"energy": 10}, 2.0)],
        idem=IdemRecord("p1", "k1", "shop.buy", {"ok": True}, 2.0),
        events=[EventWrite("p1", "energy.updated", {"energy": 9}), EventWrite("p2", "chat.message", {"t": "hi"})],
        at=2.0))
    await storage.events_after("p1", 0, 10)
    await storage.event_heads(["p1", "p2"])
    await storage.get_idem("p1", "k1")
    await storage.get_idem("p1", "k2")
    await storage.notifications("p1", 20)
    await storage.notifications("p1", 20, unread_only=True)
    await storage.unread_count("p1")
    await storage.mark_read("p1", ["n1"])
    await storage.mark_read("p1", None)
    await storage.ledger_for("p1", 20)
    await storage.player_id_by_name("Bob")
    await storage.account_by_name("Alice")
    await storage.account_by_id("p1")
    await storage.add_refresh_token(RefreshToken("h1", "p1", "F", 100.0))
    await storage.use_refresh_token("h1")
    await storage.revoke_access_token("j1", 100.0)
    await storage.access_token_revoked("j1")

    seen = assert_targeted(recorder.commands, {
        "players": {"p1", "p2"}, "ledger": {"p1"}, "notifications": {"p1"}, "idem": {"p1"}, "events": {"p1", "p2"},
        "accounts": {"p1"}, "names": {"account:Alice", "email:alice@example.test", "player:Alice", "player:Bob"},
        "refresh_tokens": {"h1"}, "revoked_jti": {"j1"}, "listings": set()})
    assert {("insert", "players"), ("find", "players"), ("insert", "ledger"),
            ("find", "ledger"), ("insert", "idem"), ("find", "idem"), ("insert", "notifications"),
            ("find", "notifications"), ("update", "notifications"), ("aggregate", "notifications"),
            ("insert", "names"), ("find", "names"), ("insert", "accounts"), ("find", "accounts"),
            ("findAndModify", "refresh_tokens"), ("update", "revoked_jti"), ("find", "revoked_jti"),
            ("findAndModify", "players"), ("insert", "events"), ("find", "events")} <= seen


async def test_listing_hot_paths_carry_the_listing_id(recorded: tuple[MongoStorage, Recorder]) -> None:
    storage, recorder = recorded
    await storage.commit(Change(players=[PlayerWrite("p1", "Alice", None, {"val": 100})]))
    await storage.commit(Change(players=[PlayerWrite("p2", "Bob", None, {"val": 500})]))
    recorder.clear()
    await storage.commit(Change(players=[PlayerWrite("p1", "Alice", 1, {"val": 100, "items": []})],
                                listings=[ListingWrite("L1", None, listing("L1"))]))
    await storage.get_listing("L1")
    # A purchase: both players, the listing's status move, ledger lines and a notification, in one commit.
    await storage.commit(Change(
        players=[PlayerWrite("p2", "Bob", 1, {"val": 400}), PlayerWrite("p1", "Alice", 2, {"val": 195})],
        listings=[ListingWrite("L1", "active", listing("L1", "sold"))],
        ledger=[LedgerEntry("p2", "VAL", -100, "market_buy", "L1", 3.0),
                LedgerEntry("p1", "VAL", 95, "market_sale", "L1", 3.0)],
        notifications=[Notification("n1", "p1", "market.sold", {"listing": "L1"}, 3.0)],
        idem=IdemRecord("p2", "buy-1", "market.buy", {"ok": True}, 3.0)))
    await storage.get_listing("L1")
    assert (await storage.load_player("p2")) is not None

    seen = assert_targeted(recorder.commands, {
        "players": {"p1", "p2"}, "ledger": {"p1", "p2"}, "notifications": {"p1"}, "idem": {"p2"},
        "listings": {"L1"}, "accounts": set(), "names": set(), "refresh_tokens": set(), "revoked_jti": set(),
        "events": {"p1"}})  # the notification's event, with p1's unread count (counted in the commit)
    assert {("insert", "listings"), ("find", "listings"), ("update", "listings"), ("update", "players"),
            ("insert", "ledger"), ("insert", "idem"), ("insert", "notifications"), ("insert", "events")} <= seen


def test_the_check_catches_an_untargeted_command() -> None:
    """The assertion itself: a scatter query (no owner) and a query on another owner both fail it."""
    scatter = {"find": "ledger", "filter": {"currency": "VAL"}}
    other = {"update": "players", "updates": [{"q": {"_id": "p9", "version": 1}, "u": {}}]}
    ranged = {"find": "notifications", "filter": {"player_id": {"$in": ["p1", "p2"]}}}
    for command in (scatter, other, ranged):
        with pytest.raises(AssertionError):
            assert_targeted([command], {"ledger": {"p1"}, "players": {"p1"}, "notifications": {"p1"}})
