"""The `GameStore` port (persistence/port.py): every test runs against every adapter and expects the same answers.

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
    Change,
    Conflict,
    Duplicate,
    EventWrite,
    ListingQuery,
    ListingWrite,
    LoggedEvent,
    PlayerWrite,
    Storage,
)
from persistence.sqlite import SQLiteStorage
from tests.contract.conftest import Reopen
from tests.contract.storage_builders import add_player, entry, idem, listing, note, state

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


# --- the per-player event log --------------------------------------------------------------------------------------


async def test_events_are_numbered_per_player_by_the_commit(storage: Storage) -> None:
    await add_player(storage, "p1", "Alice")
    await add_player(storage, "p2", "Bob")
    assert await storage.event_heads(["p1", "p2", "nobody"]) == {"p1": 0, "p2": 0, "nobody": 0}
    # A trade-like change: p1 written with two events, p2 only told (as a whisper's recipient is).
    logged = await storage.commit(Change(
        players=[PlayerWrite("p1", "Alice", 1, state(val=5))],
        events=[EventWrite("p1", "a", {"n": 1}), EventWrite("p2", "b", {"n": 2}), EventWrite("p1", "c", {"n": 3})],
        at=10.0))
    assert logged == [LoggedEvent("p1", 1, "a", {"n": 1}, 10.0), LoggedEvent("p2", 1, "b", {"n": 2}, 10.0),
                      LoggedEvent("p1", 2, "c", {"n": 3}, 10.0)]
    # Events alone (an energy tick) continue the numbering; a new player's first commit starts it.
    assert await storage.commit(Change(events=[EventWrite("p1", "d", {})], at=11.0)) == [
        LoggedEvent("p1", 3, "d", {}, 11.0)]
    created = await storage.commit(Change(players=[PlayerWrite("p3", "Cid", None, state())],
                                          events=[EventWrite("p3", "hello", {"x": [1, "y"]})], at=12.0))
    assert created == [LoggedEvent("p3", 1, "hello", {"x": [1, "y"]}, 12.0)]
    assert await storage.event_heads(["p1", "p2", "p3"]) == {"p1": 3, "p2": 1, "p3": 1}
    assert await storage.events_after("p1", 0, 10) == [logged[0], logged[2], LoggedEvent("p1", 3, "d", {}, 11.0)]
    assert await storage.events_after("p1", 1, 1) == [logged[2]]
    assert await storage.events_after("p1", 3, 10) == []
    loaded = await storage.load_player("p1")
    assert loaded is not None and loaded.version == 2  # events move the head, not the state's version


async def test_a_refused_commit_logs_no_event_and_moves_no_head(storage: Storage) -> None:
    await add_player(storage, "p1", "Alice")
    await add_player(storage, "p2", "Bob")
    with pytest.raises(Conflict):
        await storage.commit(Change(players=[PlayerWrite("p1", "Alice", 7, state())],
                                    events=[EventWrite("p1", "a", {}), EventWrite("p2", "b", {})], at=1.0))
    with pytest.raises(Duplicate):
        await storage.commit(Change(players=[PlayerWrite("p2", "Bob", None, state())],
                                    events=[EventWrite("p1", "a", {})], at=1.0))
    with pytest.raises(Conflict):  # events for a player that does not exist
        await storage.commit(Change(events=[EventWrite("p1", "a", {}), EventWrite("ghost", "b", {})], at=1.0))
    assert await storage.event_heads(["p1", "p2"]) == {"p1": 0, "p2": 0}
    assert await storage.events_after("p1", 0, 10) == []
    assert await storage.events_after("p2", 0, 10) == []


async def test_concurrent_appends_to_one_log_get_distinct_seqs(storage: Storage) -> None:
    """Whispers from many senders to one player at once: every one logged, numbered 1..n with no gap."""
    await add_player(storage, "p1", "Alice")

    async def whisper(i: int) -> list[LoggedEvent]:
        return await storage.commit(Change(events=[EventWrite("p1", "chat.message", {"i": i})], at=float(i)))

    results = await asyncio.gather(*(whisper(i) for i in range(20)))
    assert sorted(r[0].seq for r in results) == list(range(1, 21))
    logged = await storage.events_after("p1", 0, 100)
    assert [e.seq for e in logged] == list(range(1, 21))
    assert sorted(e.data["i"] for e in logged) == list(range(20))


async def test_concurrent_commits_each_stand_alone(storage: Storage) -> None:
    """Changes committed at once (SQLite commits them as one group, each in a savepoint): the refused ones (a stale
    version, a duplicate idempotency key, an event for nobody) write nothing, and the others land whole, with their
    events numbered in order."""
    await add_player(storage, "p1", "Alice")
    await add_player(storage, "p2", "Bob")
    await storage.commit(Change(idem=idem("p2", "taken")))
    changes = {
        "good 1": Change(players=[PlayerWrite("p1", "Alice", 1, state(step=1))], ledger=[entry("p1", 1, 1.0, ref="r1")],
                         events=[EventWrite("p1", "a", {}), EventWrite("p2", "b", {})], at=1.0),
        "stale": Change(players=[PlayerWrite("p2", "Bob", 9, state())], ledger=[entry("p2", 2, 2.0, ref="r2")],
                        events=[EventWrite("p2", "lost", {})], at=2.0),
        "duplicate": Change(ledger=[entry("p2", 3, 3.0, ref="r3")], idem=idem("p2", "taken"),
                            events=[EventWrite("p2", "lost", {})], at=3.0),
        "nobody": Change(ledger=[entry("p1", 4, 4.0, ref="r4")], events=[EventWrite("p1", "lost", {}),
                                                               EventWrite("ghost", "lost", {})], at=4.0),
        "good 2": Change(players=[PlayerWrite("p2", "Bob", 1, state(step=2))], ledger=[entry("p2", 5, 5.0, ref="r5")],
                         events=[EventWrite("p2", "c", {})], at=5.0),
    }

    async def outcome(change: Change) -> str:
        try:
            return ",".join(f"{e.player_id}:{e.seq}" for e in await storage.commit(change))
        except (Conflict, Duplicate) as exc:
            return type(exc).__name__

    results = dict(zip(changes, await asyncio.gather(*map(outcome, changes.values())), strict=True))
    # the two good ones land in either order (MongoDB runs them side by side)
    assert results in ({"good 1": "p1:1,p2:1", "stale": "Conflict", "duplicate": "Duplicate", "nobody": "Conflict",
                        "good 2": "p2:2"},
                       {"good 1": "p1:1,p2:2", "stale": "Conflict", "duplicate": "Duplicate", "nobody": "Conflict",
                        "good 2": "p2:1"})
    assert await storage.event_heads(["p1", "p2"]) == {"p1": 1, "p2": 2}
    assert sorted(e.type for e in await storage.events_after("p2", 0, 10)) == ["b", "c"]
    assert [e.ref for e in await storage.ledger_for("p1", 10)] == ["r1"]
    assert sorted(e.ref for e in await storage.ledger_for("p2", 10)) == ["r5"]
    for player, step in (("p1", 1), ("p2", 2)):
        loaded = await storage.load_player(player)
        assert loaded is not None and loaded.version == 2 and loaded.state == state(step=step)


async def test_trim_events_forgets_old_events_but_not_the_head(storage: Storage) -> None:
    await add_player(storage, "p1", "Alice")
    for at in (1.0, 2.0, 3.0):
        await storage.commit(Change(events=[EventWrite("p1", "tick", {"at": at})], at=at))
    assert await storage.trim_events(2.5) == 2
    assert [e.seq for e in await storage.events_after("p1", 0, 10)] == [3]
    assert await storage.trim_events(10.0) == 1
    assert await storage.event_heads(["p1"]) == {"p1": 3}
    assert await storage.commit(Change(events=[EventWrite("p1", "tick", {})], at=11.0)) == [
        LoggedEvent("p1", 4, "tick", {}, 11.0)]


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


async def test_purge_idem_drops_expired_records(storage: Storage) -> None:
    await storage.commit(Change(idem=idem("p1", "old", at=10.0)))
    await storage.commit(Change(idem=idem("p1", "new", at=100.0)))
    await storage.commit(Change(idem=idem("p2", "old", at=20.0)))

    assert await storage.purge_idem(50.0) == 2
    assert await storage.get_idem("p1", "old") is None and await storage.get_idem("p2", "old") is None
    assert await storage.get_idem("p1", "new") == idem("p1", "new", at=100.0)
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
    await add_player(storage, "p1", "Alice")
    await add_player(storage, "p2", "Bob")
    logged = await storage.commit(Change(notifications=[note("n1", "p1", 1.0), note("n2", "p1", 2.0),
                                                        note("n3", "p1", 3.0), note("n4", "p1", 3.0),
                                                        note("n0", "p1", 0.5, read=True), note("q1", "p2", 2.0)],
                                         at=4.0))
    # each notification is an event of its player, telling the unread count with the change's notifications
    assert [(e.player_id, e.seq, e.type, e.data["id"], e.data["unread"]) for e in logged] == [
        ("p1", 1, "notification.new", "n1", 4), ("p1", 2, "notification.new", "n2", 4),
        ("p1", 3, "notification.new", "n3", 4), ("p1", 4, "notification.new", "n4", 4),
        ("p1", 5, "notification.new", "n0", 4), ("p2", 1, "notification.new", "q1", 1)]
    assert logged[0].data == {"id": "n1", "kind": "market.sold", "data": note("n1", "p1", 1.0).data, "at": 1.0,
                              "unread": 4}
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


async def test_event_heads_of_many_players_at_once(storage: Storage) -> None:
    """More players than one look-up takes (the MongoDB adapter reads them in batches): each gets its own head."""
    players = [f"p{i:03d}" for i in range(130)]
    await storage.commit(Change(players=[PlayerWrite(p, f"name-{p}", None, state()) for p in players]))
    await storage.commit(Change(events=[EventWrite(p, "tick", {}) for i, p in enumerate(players) for _ in range(i % 3)],
                                at=10.0))
    asked = [*reversed(players), "nobody"]
    assert await storage.event_heads(asked) == {**{p: i % 3 for i, p in enumerate(players)}, "nobody": 0}
