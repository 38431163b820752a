"""The storage contract (persistence/port.py): every test runs against every adapter and expects the same answers.

Expected results are computed here from the test's own data, so passing on both adapters means they agree.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest

from persistence import open_storage
from persistence.mongo import MongoStorage
from persistence.port import (
    Account,
    Change,
    Conflict,
    Duplicate,
    IdemRecord,
    LedgerEntry,
    ListingQuery,
    ListingWrite,
    Notification,
    PlayerWrite,
    RefreshToken,
    Storage,
)
from persistence.sqlite import SQLiteStorage
from tests.contract.conftest import Reopen

# --- builders -----------------------------------------------------------------------------------------------------


def state(**extra: Any) -> dict[str, Any]:
    """A player state with the shapes the game stores: nested dicts and lists, ints, floats, bools, None, text."""
    base: dict[str, Any] = {
        "val": 1200, "evo": 3, "energy": 7.25, "energy_at": 1_700_000_000.5, "whole_float": 2.0,
        "big": 2**53 + 1, "negative": -17, "flag": True, "nothing": None, "empty_list": [], "empty_dict": {},
        "characters": [{"id": "c1", "base": "knight", "level": 3, "xp": 120, "equipment": {"weapon": "i1"},
                        "wounded_until": None}],
        "items": [{"id": "i1", "code": "iron_sword", "kind": "equipment"}],
        "consumables": {"healing_potion": 2},
        "text": "Valgame ✓ — ünïcødé",
    }
    base.update(extra)
    return base


async def add_player(storage: Storage, player_id: str, name: str | None = None, *, sweep_at: float | None = None,
                     **extra: Any) -> dict[str, Any]:
    doc = state(**extra)
    await storage.commit(Change(players=[PlayerWrite(player_id, name or f"name-{player_id}", None, doc,
                                                     sweep_at=sweep_at)]))
    return doc


def account(account_id: str, name: str, email: str | None = None) -> Account:
    return Account(account_id, name, email or f"{name}@example.test", "argon2$hash", "player", 1_700_000_000.25)


def entry(player_id: str, delta: int, at: float, currency: str = "VAL", ref: str = "r") -> LedgerEntry:
    return LedgerEntry(player_id, currency, delta, "test", ref, at)


def note(note_id: str, player_id: str, at: float, read: bool = False) -> Notification:
    return Notification(note_id, player_id, "market.sold", {"listing": note_id, "price": 10, "ok": True}, at, read)


def idem(player_id: str, key: str, at: float = 100.0, reply: dict[str, Any] | None = None) -> IdemRecord:
    return IdemRecord(player_id, key, "inventory.use", reply or {"type": "inventory.used", "ok": True}, at)


def listing(listing_id: str, *, price: int, featured: bool = False, status: str = "active", seller: str = "s1",
            kind: str = "equipment", code: str = "iron_sword", rank: str | None = "C", level: int = 1,
            created_at: float = 1000.0, expires_at: float = 5000.0) -> dict[str, Any]:
    return {"id": listing_id, "status": status, "seller_id": seller, "seller": f"Seller {seller}", "kind": kind,
            "code": code, "rank": rank, "level": level, "price": price, "featured": featured,
            "created_at": created_at, "expires_at": expires_at,
            "item": {"id": f"i-{listing_id}", "code": code, "kind": kind}}


# --- lifecycle and meta -------------------------------------------------------------------------------------------


async def test_ping_and_meta(storage: Storage) -> None:
    assert await storage.ping() is True
    assert await storage.get_meta("game_settings") is None
    await storage.put_meta("game_settings", {"energy_max": 10, "rate": 0.5, "names": ["a", "b"], "on": True})
    assert await storage.get_meta("game_settings") == {"energy_max": 10, "rate": 0.5, "names": ["a", "b"],
                                                       "on": True}
    await storage.put_meta("game_settings", {"energy_max": 12})
    assert await storage.get_meta("game_settings") == {"energy_max": 12}
    await storage.put_meta("counter", 7)
    assert await storage.get_meta("counter") == 7
    assert await storage.get_meta("game_settings") == {"energy_max": 12}


async def test_reopen_keeps_data_and_open_is_idempotent(storage: Storage, reopen: Reopen) -> None:
    doc = await add_player(storage, "p1", "Alice")
    await storage.put_meta("k", [1, 2])
    again = await reopen()
    loaded = await again.load_player("p1")
    assert loaded is not None and loaded.state == doc
    assert await again.get_meta("k") == [1, 2]


# --- accounts and tokens ------------------------------------------------------------------------------------------


async def test_accounts_create_find_and_role(storage: Storage) -> None:
    alice = account("a1", "Alice")
    await storage.commit(Change(account=alice))
    assert await storage.account_by_name("Alice") == alice
    assert await storage.account_by_id("a1") == alice
    assert await storage.account_by_name("alice") is None  # names are exact
    assert await storage.account_by_name("Nobody") is None
    assert await storage.account_by_id("nope") is None
    await storage.set_role("a1", "admin")
    found = await storage.account_by_id("a1")
    assert found is not None and found.role == "admin"
    assert (await storage.account_by_name("Alice")) == found


async def test_account_duplicates_write_nothing(storage: Storage) -> None:
    await storage.commit(Change(account=account("a1", "Alice", "alice@example.test")))

    # Same name, other email: Duplicate("name"); the new email stays free and the player is not created.
    with pytest.raises(Duplicate) as caught:
        await storage.commit(Change(account=account("a2", "Alice", "other@example.test"),
                                    players=[PlayerWrite("a2", "Alice2", None, state())]))
    assert caught.value.what == "name"
    assert await storage.account_by_id("a2") is None
    assert await storage.load_player("a2") is None

    # Same email, other name: Duplicate("email").
    with pytest.raises(Duplicate) as caught:
        await storage.commit(Change(account=account("a3", "Bob", "alice@example.test"),
                                    players=[PlayerWrite("a3", "Bob", None, state())]))
    assert caught.value.what == "email"
    assert await storage.account_by_name("Bob") is None
    assert await storage.load_player("a3") is None
    assert await storage.player_id_by_name("Bob") is None

    # Nothing of the failed attempts was reserved: both the name Bob and the other email are free.
    await storage.commit(Change(account=account("a4", "Bob", "other@example.test"),
                                players=[PlayerWrite("a4", "Bob", None, state())]))
    bob = await storage.account_by_name("Bob")
    assert bob is not None and bob.id == "a4"
    assert await storage.player_id_by_name("Bob") == "a4"


async def test_refresh_tokens_use_once_and_revoke_family(storage: Storage) -> None:
    await storage.add_refresh_token(RefreshToken("h1", "p1", "F", 9000.0))
    await storage.add_refresh_token(RefreshToken("h2", "p1", "F", 9000.0))
    await storage.add_refresh_token(RefreshToken("h3", "p1", "G", 9000.5))

    first = await storage.use_refresh_token("h1")
    assert first == RefreshToken("h1", "p1", "F", 9000.0, used=False, revoked=False)
    second = await storage.use_refresh_token("h1")
    assert second == RefreshToken("h1", "p1", "F", 9000.0, used=True, revoked=False)
    assert await storage.use_refresh_token("unknown") is None

    await storage.revoke_token_family("F")
    h2 = await storage.use_refresh_token("h2")
    assert h2 is not None and h2.revoked and not h2.used
    h3 = await storage.use_refresh_token("h3")
    assert h3 == RefreshToken("h3", "p1", "G", 9000.5, used=False, revoked=False)


async def test_refresh_token_racing_uses_exactly_one_wins(storage: Storage) -> None:
    # Many rounds, because one round of eight racers rarely lands two of them inside the same window.
    for round_ in range(25):
        token = f"race{round_}"
        await storage.add_refresh_token(RefreshToken(token, "p1", "F", 9000.0))
        seen = await asyncio.gather(*(storage.use_refresh_token(token) for _ in range(8)))
        assert all(record is not None for record in seen)
        assert sum(1 for record in seen if record is not None and not record.used) == 1, round_


async def test_revoked_access_tokens(storage: Storage) -> None:
    assert await storage.access_token_revoked("j1") is False
    await storage.revoke_access_token("j1", 5000.0)
    await storage.revoke_access_token("j1", 6000.0)  # revoking twice is fine
    assert await storage.access_token_revoked("j1") is True
    assert await storage.access_token_revoked("j2") is False


# --- players and commit -------------------------------------------------------------------------------------------


async def test_player_insert_load_round_trip(storage: Storage) -> None:
    doc = await add_player(storage, "p1", "Alice")
    loaded = await storage.load_player("p1")
    assert loaded is not None
    assert (loaded.id, loaded.name, loaded.version) == ("p1", "Alice", 1)
    assert loaded.state == doc
    assert type(loaded.state["whole_float"]) is float and type(loaded.state["val"]) is int
    assert loaded.state["big"] == 2**53 + 1
    assert await storage.player_id_by_name("Alice") == "p1"
    assert await storage.player_id_by_name("alice") is None
    assert await storage.load_player("p2") is None


async def test_player_insert_duplicates(storage: Storage) -> None:
    await add_player(storage, "p1", "Alice")
    with pytest.raises(Duplicate):
        await add_player(storage, "p2", "Alice")  # name taken
    with pytest.raises(Duplicate):
        await add_player(storage, "p1", "Other")  # id taken
    assert await storage.load_player("p2") is None
    assert await storage.player_id_by_name("Other") is None
    loaded = await storage.load_player("p1")
    assert loaded is not None and loaded.name == "Alice" and loaded.version == 1


async def test_conditional_update_and_stale_version_conflict(storage: Storage) -> None:
    await add_player(storage, "p1", "Alice")
    await add_player(storage, "p2", "Bob")
    new_state = state(val=900, extra={"nested": [1, 2.5, "x"]})
    await storage.commit(Change(players=[PlayerWrite("p1", "Alice", 1, new_state)],
                                ledger=[entry("p1", -300, 10.0)], idem=idem("p1", "k1")))
    loaded = await storage.load_player("p1")
    assert loaded is not None and loaded.version == 2 and loaded.state == new_state

    # A stale version: Conflict, and nothing of the change is written (idem, ledger, notifications, listing,
    # nor the other player's valid update that came before it).
    with pytest.raises(Conflict):
        await storage.commit(Change(
            players=[PlayerWrite("p2", "Bob", 1, state(val=1)), PlayerWrite("p1", "Alice", 1, state(val=0))],
            ledger=[entry("p1", -1, 11.0), entry("p2", 5, 11.0)],
            notifications=[note("n1", "p1", 11.0)],
            listings=[ListingWrite("L1", None, listing("L1", price=10))],
            idem=idem("p1", "k2")))
    loaded = await storage.load_player("p1")
    assert loaded is not None and loaded.version == 2 and loaded.state == new_state
    other = await storage.load_player("p2")
    assert other is not None and other.version == 1 and other.state == state()
    assert await storage.get_idem("p1", "k2") is None
    assert await storage.ledger_for("p1", 10) == [entry("p1", -300, 10.0)]
    assert await storage.ledger_for("p2", 10) == []
    assert await storage.notifications("p1", 10) == []
    assert await storage.get_listing("L1") is None

    # An update of a player that does not exist is a Conflict too.
    with pytest.raises(Conflict):
        await storage.commit(Change(players=[PlayerWrite("ghost", "Ghost", 1, state())]))


async def test_idem_duplicate_writes_nothing(storage: Storage) -> None:
    await add_player(storage, "p1", "Alice")
    first = idem("p1", "k1", reply={"type": "first", "n": 1})
    await storage.commit(Change(players=[PlayerWrite("p1", "Alice", 1, state(val=1))], idem=first,
                                ledger=[entry("p1", 1, 10.0)]))
    assert await storage.get_idem("p1", "k1") == first

    with pytest.raises(Duplicate) as caught:
        await storage.commit(Change(players=[PlayerWrite("p1", "Alice", 2, state(val=2))],
                                    idem=idem("p1", "k1", reply={"type": "second"}),
                                    ledger=[entry("p1", 2, 11.0)], notifications=[note("n1", "p1", 11.0)]))
    assert caught.value.what == "idempotency key"
    loaded = await storage.load_player("p1")
    assert loaded is not None and loaded.version == 2 and loaded.state == state(val=1)
    assert await storage.get_idem("p1", "k1") == first
    assert await storage.ledger_for("p1", 10) == [entry("p1", 1, 10.0)]
    assert await storage.notifications("p1", 10) == []

    # The key is per player.
    await add_player(storage, "p2", "Bob")
    await storage.commit(Change(idem=idem("p2", "k1")))
    assert await storage.get_idem("p2", "k1") == idem("p2", "k1")
    assert await storage.get_idem("p3", "k1") is None


async def test_concurrent_commits_on_one_version_exactly_one_wins(storage: Storage) -> None:
    await add_player(storage, "p1", "Alice")

    async def attempt(i: int) -> str:
        try:
            await storage.commit(Change(players=[PlayerWrite("p1", "Alice", 1, state(winner=i))],
                                        ledger=[entry("p1", i, 10.0 + i, ref=f"r{i}")],
                                        notifications=[note(f"n{i}", "p1", 10.0 + i)],
                                        idem=idem("p1", f"k{i}")))
        except Conflict:
            return "conflict"
        return "ok"

    results = await asyncio.gather(*(attempt(i) for i in range(20)))
    assert results.count("ok") == 1 and results.count("conflict") == 19
    winner = results.index("ok")
    loaded = await storage.load_player("p1")
    assert loaded is not None and loaded.version == 2 and loaded.state == state(winner=winner)
    assert await storage.ledger_for("p1", 50) == [entry("p1", winner, 10.0 + winner, ref=f"r{winner}")]
    assert [n.id for n in await storage.notifications("p1", 50)] == [f"n{winner}"]
    assert [i for i in range(20) if await storage.get_idem("p1", f"k{i}") is not None] == [winner]


async def test_players_due(storage: Storage) -> None:
    await add_player(storage, "p1", sweep_at=300.0)
    await add_player(storage, "p2", sweep_at=100.0)
    await add_player(storage, "p3")  # nothing scheduled
    await add_player(storage, "p4", sweep_at=200.5)
    await add_player(storage, "p5", sweep_at=900.0)
    assert await storage.players_due(300.0, 10) == ["p2", "p4", "p1"]
    assert await storage.players_due(300.0, 2) == ["p2", "p4"]
    assert await storage.players_due(50.0, 10) == []
    # A write moves or clears the schedule.
    await storage.commit(Change(players=[PlayerWrite("p2", "name-p2", 1, state(), sweep_at=None),
                                         PlayerWrite("p5", "name-p5", 1, state(), sweep_at=150.0)]))
    assert await storage.players_due(300.0, 10) == ["p5", "p4", "p1"]


async def test_iter_players(storage: Storage) -> None:
    ids = ["p-zeta", "p-alpha", "p-mid", "p-0", "p-beta", "p-omega", "p-9"]
    for number, player_id in enumerate(ids):
        await add_player(storage, player_id, level=number)
    seen = [doc async for doc in storage.iter_players()]
    assert [doc.id for doc in seen] == sorted(ids)
    assert all(doc.state == state(level=ids.index(doc.id)) and doc.version == 1 for doc in seen)
    assert [doc.name for doc in seen] == [f"name-{i}" for i in sorted(ids)]


async def test_purge_idem_drops_expired_records_jtis_and_refresh_tokens(storage: Storage) -> None:
    await storage.commit(Change(idem=idem("p1", "old", at=10.0)))
    await storage.commit(Change(idem=idem("p1", "new", at=100.0)))
    await storage.commit(Change(idem=idem("p2", "old", at=20.0)))
    await storage.revoke_access_token("j-old", 10.0)
    await storage.revoke_access_token("j-new", 100.0)
    await storage.add_refresh_token(RefreshToken("t-old", "p1", "F", 10.0))
    await storage.add_refresh_token(RefreshToken("t-new", "p1", "F", 100.0))

    assert await storage.purge_idem(50.0) == 2
    assert await storage.get_idem("p1", "old") is None and await storage.get_idem("p2", "old") is None
    assert await storage.get_idem("p1", "new") == idem("p1", "new", at=100.0)
    assert await storage.access_token_revoked("j-old") is False
    assert await storage.access_token_revoked("j-new") is True
    assert await storage.use_refresh_token("t-old") is None
    assert await storage.use_refresh_token("t-new") is not None
    assert await storage.purge_idem(50.0) == 0


# --- ledger -------------------------------------------------------------------------------------------------------


async def test_ledger_sums_and_history(storage: Storage) -> None:
    await storage.commit(Change(ledger=[entry("p1", 100, 1.0, ref="a"), entry("p1", -30, 1.0, ref="b"),
                                        entry("p1", 5, 1.0, "EVO", ref="c"), entry("p2", 7, 1.0, ref="d")]))
    await storage.commit(Change(ledger=[entry("p1", -20, 2.5, ref="e")]))
    await storage.commit(Change(ledger=[entry("p2", 3, 3.0, "EVO", ref="f"), entry("p2", -3, 3.0, "EVO", ref="g")]))
    assert await storage.ledger_sums() == {("p1", "VAL"): 50, ("p1", "EVO"): 5, ("p2", "VAL"): 7,
                                           ("p2", "EVO"): 0}
    # Most recent first; entries of one commit in reverse order of the change.
    assert [e.ref for e in await storage.ledger_for("p1", 10)] == ["e", "c", "b", "a"]
    assert await storage.ledger_for("p1", 2) == [entry("p1", -20, 2.5, ref="e"), entry("p1", 5, 1.0, "EVO", ref="c")]
    assert [e.ref for e in await storage.ledger_for("p2", 10)] == ["g", "f", "d"]
    assert await storage.ledger_for("p3", 10) == []


# --- notifications ------------------------------------------------------------------------------------------------


async def test_notifications_read_and_count(storage: Storage) -> None:
    await storage.commit(Change(notifications=[note("n1", "p1", 1.0), note("n2", "p1", 2.0),
                                               note("n3", "p1", 3.0), note("n4", "p1", 3.0),
                                               note("n0", "p1", 0.5, read=True), note("q1", "p2", 2.0)]))
    all_p1 = await storage.notifications("p1", 10)
    assert [n.id for n in all_p1] == ["n4", "n3", "n2", "n1", "n0"]  # newest first, then id descending
    assert all_p1[0] == note("n4", "p1", 3.0)
    assert [n.id for n in await storage.notifications("p1", 2)] == ["n4", "n3"]
    assert [n.id for n in await storage.notifications("p1", 10, unread_only=True)] == ["n4", "n3", "n2", "n1"]
    assert await storage.unread_count("p1") == 4

    assert await storage.mark_read("p1", ["n1", "n2", "q1", "n0", "missing"]) == 2  # q1 is p2's, n0 was read
    assert await storage.mark_read("p1", ["n1"]) == 0
    assert await storage.mark_read("p1", []) == 0
    assert await storage.unread_count("p1") == 2
    assert [n.id for n in await storage.notifications("p1", 10, unread_only=True)] == ["n4", "n3"]
    assert [n.read for n in await storage.notifications("p1", 10)] == [False, False, True, True, True]

    assert await storage.mark_read("p1", None) == 2
    assert await storage.unread_count("p1") == 0
    assert await storage.mark_read("p1", None) == 0
    assert await storage.unread_count("p2") == 1
    assert await storage.notifications("p2", 10) == [note("q1", "p2", 2.0)]
    assert await storage.unread_count("p3") == 0


# --- listings -----------------------------------------------------------------------------------------------------


async def test_listing_insert_move_and_conflict(storage: Storage) -> None:
    doc = listing("L1", price=120, featured=True, rank=None)
    await storage.commit(Change(listings=[ListingWrite("L1", None, doc)]))
    assert await storage.get_listing("L1") == doc
    assert await storage.get_listing("L2") is None

    sold = {**doc, "status": "sold", "buyer_id": "p2", "sold_at": 1500.5}
    await storage.commit(Change(listings=[ListingWrite("L1", "active", sold)]))
    assert await storage.get_listing("L1") == sold

    # Moving it from "active" again: Conflict, and the player write of the same change is not applied.
    await add_player(storage, "p2", "Bob")
    with pytest.raises(Conflict):
        await storage.commit(Change(players=[PlayerWrite("p2", "Bob", 1, state(val=0))],
                                    listings=[ListingWrite("L1", "active", {**doc, "status": "cancelled"})],
                                    ledger=[entry("p2", -120, 2000.0)]))
    assert await storage.get_listing("L1") == sold
    loaded = await storage.load_player("p2")
    assert loaded is not None and loaded.version == 1
    assert await storage.ledger_for("p2", 10) == []
    with pytest.raises(Conflict):
        await storage.commit(Change(listings=[ListingWrite("missing", "active", listing("missing", price=1))]))


LISTINGS = [
    listing("L01", price=100, featured=False, seller="s1", code="iron_sword", rank="C", level=1, created_at=10.0,
            expires_at=500.0),
    listing("L02", price=50, featured=True, seller="s2", code="Iron_Shield", rank="B", level=5, created_at=20.5,
            expires_at=300.0),
    listing("L03", price=100, featured=False, seller="s2", code="oak_bow", rank="C", level=3, created_at=5.0,
            expires_at=700.0),
    listing("L04", price=75, featured=True, seller="s3", code="STEEL_SWORD", rank="A", level=10, created_at=30.0,
            expires_at=100.0),
    listing("L05", price=20, featured=False, seller="s1", kind="consumable", code="healing_potion", rank=None,
            level=0, created_at=25.0, expires_at=250.0),
    listing("L06", price=100, featured=False, seller="s3", code="ironxsword", rank="B", level=3, created_at=12.0,
            expires_at=800.0),
    listing("L07", price=500, featured=False, seller="s1", kind="character", code="knight", rank="B", level=12,
            created_at=40.0, expires_at=900.0),
    listing("L08", price=50, featured=True, seller="s1", kind="character", code="mage", rank="A", level=7,
            created_at=22.0, expires_at=350.0),
    listing("L09", price=60, featured=False, status="sold", seller="s2", code="iron_sword", level=1,
            created_at=1.0, expires_at=50.0),
    listing("L10", price=10, featured=True, status="cancelled", seller="s3", code="oak_bow", created_at=2.0,
            expires_at=60.0),
    listing("L11", price=100, featured=False, seller="s2", code="Bronze_Sword", rank="C", level=2, created_at=10.0,
            expires_at=400.0),
    listing("L12", price=35, featured=False, seller="s3", kind="consumable", code="elixir_100%", rank=None, level=0,
            created_at=33.0, expires_at=90.0),
]


def expected(query: ListingQuery) -> list[dict[str, Any]]:
    """The browse contract, in plain Python: filters, then featured first, the sort column, then id."""
    rows = [row for row in LISTINGS if row["status"] == query.status
            and (query.seller_id is None or row["seller_id"] == query.seller_id)
            and (query.kind is None or row["kind"] == query.kind)
            and (query.rank is None or row["rank"] == query.rank)
            and (query.price_min is None or row["price"] >= query.price_min)
            and (query.price_max is None or row["price"] <= query.price_max)
            and (query.min_level is None or row["level"] >= query.min_level)
            and (not query.name or query.name.lower() in row["code"].lower())
            and (query.live_at is None or row["expires_at"] > query.live_at)]
    column, sign = query.sort_column, -1 if query.descending else 1

    def key(row: dict[str, Any]) -> tuple[int, float, str]:
        return -int(row["featured"]), sign * row[column], row["id"]

    rows.sort(key=key)
    if query.after is not None:
        featured, value, last_id = query.after
        rows = [row for row in rows if key(row) > (-featured, sign * value, last_id)]
    return rows[:query.limit]


@pytest.fixture
async def market(storage: Storage) -> Storage:
    await storage.commit(Change(listings=[ListingWrite(row["id"], None, row) for row in LISTINGS]))
    return storage


QUERIES = [
    ListingQuery(),
    ListingQuery(limit=3),
    ListingQuery(descending=True),
    ListingQuery(sort="newest"),
    ListingQuery(sort="newest", descending=True),
    ListingQuery(sort="level"),
    ListingQuery(sort="level", descending=True),
    ListingQuery(kind="equipment"),
    ListingQuery(kind="character", sort="level", descending=True),
    ListingQuery(rank="B"),
    ListingQuery(seller_id="s2"),
    ListingQuery(seller_id="s2", status="sold"),
    ListingQuery(status="cancelled"),
    ListingQuery(price_min=50, price_max=100),
    ListingQuery(price_min=101),
    ListingQuery(min_level=3, sort="newest"),
    ListingQuery(name="SWORD"),
    ListingQuery(name="iron"),
    ListingQuery(name="n_s"),  # "_" is a literal, not a wildcard: not ironxsword
    ListingQuery(name="0%"),  # "%" too
    ListingQuery(name="nothing-like-it"),
    ListingQuery(live_at=400.0),  # expired but not yet swept listings are not for sale
    ListingQuery(name="sword", kind="equipment", price_max=100, min_level=1, sort="level", descending=True),
]


def query_id(query: ListingQuery) -> str:
    """The fields a query sets apart from the defaults, as the test id."""
    default = ListingQuery()
    changed = [f"{name}={getattr(query, name)}" for name in ListingQuery.__slots__
               if getattr(query, name) != getattr(default, name)]
    return ",".join(changed) or "default"


@pytest.mark.parametrize("query", QUERIES, ids=query_id)
async def test_query_listings_filters_and_order(market: Storage, query: ListingQuery) -> None:
    got = await market.query_listings(query)
    want = expected(query)
    assert [row["id"] for row in got] == [row["id"] for row in want]
    assert got == want


def test_listing_queries_are_not_trivial() -> None:
    """The expected answers exercise featured-first, ties broken by id, and every filter."""
    default = [row["id"] for row in expected(ListingQuery(limit=100))]
    assert default == ["L02", "L08", "L04", "L05", "L12", "L01", "L03", "L06", "L11", "L07"]
    assert [row["id"] for row in expected(ListingQuery(name="n_s"))] == ["L02", "L01"]
    assert [row["id"] for row in expected(ListingQuery(name="0%"))] == ["L12"]
    assert all(expected(query) for query in QUERIES if query.name != "nothing-like-it" and query.price_min != 101)


@pytest.mark.parametrize(("sort", "descending"), list(itertools.product(["price", "newest", "level"],
                                                                        [False, True])))
async def test_query_listings_keyset_pagination(market: Storage, sort: str, descending: bool) -> None:
    full = await market.query_listings(ListingQuery(sort=sort, descending=descending, limit=100))
    assert full == expected(ListingQuery(sort=sort, descending=descending, limit=100))
    pages: list[list[dict[str, Any]]] = []
    after: tuple[int, float, str] | None = None
    while True:
        page = await market.query_listings(ListingQuery(sort=sort, descending=descending, after=after, limit=3))
        if not page:
            break
        assert len(page) <= 3
        pages.append(page)
        last = page[-1]
        after = (int(last["featured"]), last[ListingQuery(sort=sort).sort_column], last["id"])
    assert [row for page in pages for row in page] == full
    assert len(pages) == 4


async def test_listings_due(market: Storage) -> None:
    due = await market.listings_due(400.0, 10)
    assert [row["id"] for row in due] == ["L12", "L04", "L05", "L02", "L08", "L11"]  # active only, by expiry
    assert [row["id"] for row in await market.listings_due(400.0, 2)] == ["L12", "L04"]
    assert await market.listings_due(80.0, 10) == []
    assert due[0] == next(row for row in LISTINGS if row["id"] == "L12")


async def test_economy_snapshot(market: Storage) -> None:
    await add_player(market, "p2", "Bob")
    await add_player(market, "p1", "Alice", val=5)
    await market.commit(Change(ledger=[entry("p1", 5, 1.0), entry("p2", 1200, 1.0), entry("p2", 3, 1.0, "EVO")]))
    players, sums, listings = await market.economy_snapshot()
    assert sorted((p.id, p.name, p.version) for p in players) == [("p1", "Alice", 1), ("p2", "Bob", 1)]
    assert {p.id: p.state for p in players} == {"p1": state(val=5), "p2": state()}
    assert sums == {("p1", "VAL"): 5, ("p2", "VAL"): 1200, ("p2", "EVO"): 3}
    active = [row for row in LISTINGS if row["status"] == "active"]
    assert sorted(listings, key=lambda row: row["id"]) == active


def test_open_storage_builds_each_adapter(tmp_path: Path) -> None:
    assert isinstance(open_storage(f"sqlite://{tmp_path}/game.db"), SQLiteStorage)
    mongo = open_storage("mongodb://127.0.0.1:1/valgame_test")
    assert isinstance(mongo, MongoStorage) and mongo.url == "mongodb://127.0.0.1:1/valgame_test"
