"""Races on the market: many buyers for one listing on two nodes, retried buys after a dropped connection, and
expiry jobs racing each other (two node processes on one data folder, and two in-process nodes)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from persistence import Account
from server import jobs
from server.audit import audit
from server.commands import HANDLERS, Call
from server.node import Node
from server.players import Reply, make_id
from server.settings import Settings
from tests.conftest import Connect
from tests.support.client import Client
from tests.support.economy import assert_audit_ok, open_player, quick_login, snapshot, trade_problems
from tests.support.servers import DEFAULT_JWT_SECRET, ServerProcess
from tests.support.wire import eventually

FAST = {"rate_per_second": 1000, "rate_burst": 1000}
BUYERS = 50


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("races"), **FAST).start()
    yield proc
    proc.terminate()


@pytest.fixture(scope="module")
async def pool(node: ServerProcess) -> list[dict[str, Any]]:
    """Players of the module's node, registered once; each test takes its own slice."""
    return await logins(node, BUYERS + 5)


@pytest.fixture
def twin() -> Iterator[Callable[..., ServerProcess]]:
    """A second node process on another node's data folder (same SQLite file), killed at the end."""
    started: list[ServerProcess] = []

    def start(first: ServerProcess, **settings: Any) -> ServerProcess:
        proc = ServerProcess(first.data_dir, game=dict(first.game), **settings).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


async def logins(node: ServerProcess, count: int) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(8)

    async def one() -> dict[str, Any]:
        async with gate:
            return await quick_login(node)
    return await asyncio.gather(*(one() for _ in range(count)))


async def item_of(client: Client, code: str) -> str:
    return next(i["id"] for i in (await client.call("inventory.get"))["items"] if i["code"] == code)


async def test_fifty_buyers_on_two_nodes_exactly_one_wins(node: ServerProcess, pool: list[dict[str, Any]],
                                                          twin: Callable[..., ServerProcess]) -> None:
    first = node
    second = twin(first, **FAST)
    seller_login, *buyer_logins = pool[:BUYERS + 1]
    seller = await open_player(first, seller_login)
    buyers = await asyncio.gather(*(open_player(first if n % 2 else second, login)
                                    for n, login in enumerate(buyer_logins)))
    try:
        dagger = await item_of(seller, "daga-oxidada")
        listing = (await seller.call("market.list", {"item": dagger, "price": 99}))["listing"]
        replies = await asyncio.gather(*(b.request("market.buy", {"listing": listing}, timeout=60) for b in buyers))
    finally:
        await asyncio.gather(seller.close(), *(b.close() for b in buyers), return_exceptions=True)

    winners = [n for n, r in enumerate(replies) if r["ok"]]
    assert len(winners) == 1, [r for r in replies if r["ok"]]
    losers = [r["error"] for r in replies if not r["ok"]]
    assert len(losers) == BUYERS - 1
    assert {e["code"] for e in losers} == {"conflict"}, Counter(e["code"] for e in losers)
    assert all(e["message"] for e in losers)
    winner = buyer_logins[winners[0]]
    assert replies[winners[0]]["data"]["val"] == 1 and replies[winners[0]]["data"]["received"]["id"] == dagger

    snap = snapshot(first.data_dir)
    assert snap.listings[listing]["status"] == "sold" and snap.listings[listing]["buyer_id"] == winner["player_id"]
    assert snap.val(winner["player_id"]) == 1 and dagger in snap.items_of(winner["player_id"])
    assert snap.val(seller_login["player_id"]) == 100 + 99 - 4
    assert {snap.val(b["player_id"]) for b in buyer_logins if b is not winner} == {100}
    assert [(e["player_id"], e["delta"]) for e in snap.ledger if e["ref"] == listing] in (
        [(winner["player_id"], -99), (seller_login["player_id"], 95)],
        [(seller_login["player_id"], 95), (winner["player_id"], -99)])
    assert trade_problems(snap) == []
    assert_audit_ok(first.data_dir)


async def test_a_retried_buy_after_a_dropped_connection_charges_once(node: ServerProcess, pool: list[dict[str, Any]],
                                                                    connect: Connect) -> None:
    seller_login, buyer_login = pool[BUYERS + 1:BUYERS + 3]
    seller, _ = await connect(node, seller_login)
    potion = await item_of(seller, "pocion-vida-menor")
    listing = (await seller.call("market.list", {"item": potion, "price": 40}))["listing"]
    idem = f"buy-{listing}-retry"

    # send the buy and drop the socket at once, without waiting for the reply
    dropped = await open_player(node, buyer_login)
    frame = {"id": "b1", "type": "market.buy", "data": {"listing": listing}, "idem": idem}
    mark = len(seller.events)
    await dropped.send_raw(orjson.dumps(frame).decode())
    await dropped.close()
    # the command was applied anyway: the seller hears of the sale
    await seller.wait_event("notification.new", lambda d: d["kind"] == "sale" and d["data"]["listing"] == listing,
                            after=mark)

    again, _ = await connect(node, buyer_login)
    retry = await again.request("market.buy", {"listing": listing}, idem=idem)
    assert retry["ok"] is True and retry.get("replayed") is True, retry
    assert (retry["data"]["val"], retry["data"]["listing"], retry["data"]["received"]["id"]) == (60, listing, potion)
    twice = await again.request("market.buy", {"listing": listing}, idem=idem)
    assert twice["replayed"] is True and twice["data"] == retry["data"]
    # without the key the same purchase is a new command, refused: the listing is gone
    assert (await again.expect_error("market.buy", {"listing": listing}))["code"] == "conflict"
    # the same key on another command type is refused and changes nothing
    other = await item_of(again, "daga-oxidada")
    misuse = await again.expect_error("market.list", {"item": other, "price": 10}, idem=idem)
    assert misuse["code"] in ("conflict", "bad_request") and misuse.get("field") == "idem", misuse
    assert other in {i["id"] for i in (await again.call("inventory.get"))["items"]}
    assert (await again.call("state.get"))["player"]["val"] == 60

    snap = snapshot(node.data_dir)
    assert [e["delta"] for e in snap.ledger_of(buyer_login["player_id"], "market_buy")] == [-40]
    assert [e["delta"] for e in snap.ledger_of(seller_login["player_id"], "market_sale")] == [38]
    assert trade_problems(snap) == []
    assert_audit_ok(node.data_dir)


async def test_concurrent_retries_of_one_key_apply_once(node: ServerProcess, pool: list[dict[str, Any]],
                                                        connect: Connect) -> None:
    """The same keyed command on three sockets of one player at once: one purchase, three identical replies."""
    seller_login, buyer_login = pool[BUYERS + 3:BUYERS + 5]
    seller, _ = await connect(node, seller_login)
    dagger = await item_of(seller, "daga-oxidada")
    listing = (await seller.call("market.list", {"item": dagger, "price": 30}))["listing"]
    sockets = [(await connect(node, buyer_login))[0] for _ in range(3)]
    replies = await asyncio.gather(*(s.request("market.buy", {"listing": listing}, idem="same-key") for s in sockets))
    assert all(r["ok"] for r in replies), replies
    assert len({orjson.dumps(r["data"], option=orjson.OPT_SORT_KEYS) for r in replies}) == 1
    assert sum(1 for r in replies if not r.get("replayed")) == 1
    assert (await sockets[0].call("state.get"))["player"]["val"] == 70
    assert [e["delta"] for e in snapshot(node.data_dir).ledger_of(buyer_login["player_id"], "market_buy")] == [-30]


async def test_a_retry_racing_its_original_gets_the_original_reply(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process, with the interleaving forced: the retry looks up its key before the original commits and reads
    the listing after. It must answer with the original's reply, not with "listing sold".

    The retry holds the key's claim while it is stalled, so the original waits for the claim to lapse (1 s here)
    and then goes ahead: what happens when a holder stalls longer than its claim, or the bus cannot be reached."""
    node = Node(Settings(data_dir=str(tmp_path), jwt_secret=DEFAULT_JWT_SECRET, idem_claim_seconds=1))
    await node.start(serve=False)
    try:
        seller, buyer = (Account(make_id("p"), f"{role}{time.time_ns() % 10**9}", f"{role}@example.test", "-")
                         for role in ("seller", "buyer"))
        for account in (seller, buyer):
            await node.players.create(account)
        _, state = await node.players.load(seller.id)
        listed = await HANDLERS["market.list"](command(node, seller, "market.list",
                                                       {"item": state.items[0].id, "price": 7}))
        assert isinstance(listed, Reply)
        listing = listed.data["listing"]

        retry_task: asyncio.Task[Any] | None = None
        retry_waits, original_done = asyncio.Event(), asyncio.Event()
        read_listing = node.storage.get_listing

        async def gated(listing_id: str) -> Any:
            if asyncio.current_task() is retry_task:
                retry_waits.set()
                await original_done.wait()
            return await read_listing(listing_id)

        monkeypatch.setattr(node.storage, "get_listing", gated)
        buy = command(node, buyer, "market.buy", {"listing": listing}, idem="same-buy")
        retry_task = asyncio.create_task(HANDLERS["market.buy"](buy))
        await asyncio.wait_for(retry_waits.wait(), 10)  # the retry found no record yet, and waits to read
        original = await HANDLERS["market.buy"](command(node, buyer, "market.buy", {"listing": listing},
                                                        idem="same-buy"))
        original_done.set()
        retry = await asyncio.wait_for(retry_task, 10)
        assert isinstance(original, Reply) and isinstance(retry, Reply)
        assert original.replayed is False and retry.replayed is True
        assert retry.data == original.data and original.data["val"] == 93
        _, after = await node.players.load(buyer.id)
        assert after.val == 93
    finally:
        await node.stop()


def command(node: Node, account: Account, type_: str, data: dict[str, Any], idem: str | None = None) -> Call:
    """A command as the socket would hand it to its handler."""
    session = SimpleNamespace(player_id=account.id, name=account.name)
    frame = SimpleNamespace(type=type_, data=data, idem=idem)
    return Call(node.commands, session, frame, session.player_id)  # type: ignore[arg-type]


# --- expiry races --------------------------------------------------------------------------------------------------

async def list_everything(node: ServerProcess, count: int) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """`count` players list their whole starting inventory; returns their logins and the listings by id."""
    players = await logins(node, count)
    listings: dict[str, dict[str, Any]] = {}
    for login in players:
        client = await open_player(node, login)
        try:
            for item in (await client.call("inventory.get"))["items"]:
                price = 10 if item["kind"] == "equipment" else 5
                view = (await client.call("market.list", {"item": item["id"], "price": price}))["view"]
                listings[view["id"]] = view
        finally:
            await client.close()
    return players, listings


def check_expired_once(snap: Any, players: list[dict[str, Any]], listings: dict[str, dict[str, Any]]) -> None:
    assert {lid: snap.listings[lid]["status"] for lid in listings} == dict.fromkeys(listings, "expired")
    notes = Counter(n["data"]["listing"] for n in snap.notifications if n["kind"] == "listing_expired")
    assert notes == Counter(list(listings)), notes
    for login in players:  # every item came back, once
        own = {v["item"]["id"] for v in listings.values() if v["seller_id"] == login["player_id"]}
        assert own and own <= snap.items_of(login["player_id"])
    assert trade_problems(snap) == []


async def test_expiry_runs_once_with_two_node_processes(make_server: Callable[..., ServerProcess],
                                                        twin: Callable[..., ServerProcess],
                                                        connect: Connect) -> None:
    jobs_fast = {"expiry_interval_seconds": 0.02, **FAST}
    first = make_server(game={"market_listing_seconds": 2.0}, **jobs_fast)
    second = twin(first, **jobs_fast)
    watchers = [(await connect(proc))[0] for proc in (first, second)]
    for watcher in watchers:
        await watcher.call("sub.add", {"topic": "market"})
    players, listings = await list_everything(first, 2)
    assert len(listings) == 8

    def expired() -> Counter[str]:
        return Counter(e["data"]["listing"] for w in watchers for e in w.events if e["type"] == "market.expired")

    async def all_expired() -> bool:
        return set(expired()) >= set(listings)

    await eventually(all_expired, 30, "every listing expired")
    for watcher in watchers:
        await watcher.call("ping")
    assert expired() == Counter(list(listings))  # each listing announced once, by one of the two nodes
    check_expired_once(snapshot(first.data_dir), players, listings)
    assert_audit_ok(first.data_dir)


async def test_two_concurrent_expiry_jobs_expire_each_listing_once(make_server: Callable[..., ServerProcess],
                                                                   tmp_path: Path) -> None:
    game = {"market_listing_seconds": 1.0}
    source = make_server(game=game, expiry_interval_seconds=3600, **FAST)  # its own job never gets to run
    players, listings = await list_everything(source, 2)
    due = max(v["expires_at"] for v in listings.values())

    async def past_due() -> bool:
        return time.time() > due + 0.01

    await eventually(past_due, 10, "the listings to fall due")
    copy = tmp_path / "copy"
    copy.mkdir()
    with sqlite3.connect(source.data_dir / "valgame.db") as src, sqlite3.connect(copy / "valgame.db") as dst:
        src.backup(dst)
    src.close()
    dst.close()

    settings = Settings(data_dir=str(copy), jwt_secret=DEFAULT_JWT_SECRET, game_overrides=game)
    nodes = [Node(settings), Node(settings)]  # two storages (two SQLite connections) on one file
    for each in nodes:
        await each.start(serve=False)
    try:
        assert len(await nodes[0].storage.listings_due(time.time(), 200)) == len(listings) == 8
        counts = await asyncio.gather(*(jobs.expire_once(nodes[n % 2].storage, nodes[n % 2].players) for n in range(4)))
        assert sum(counts) == len(listings), counts
        assert await jobs.expire_once(nodes[0].storage, nodes[0].players) == 0
        report = await audit(nodes[1].storage)
        assert report["ok"] is True and report["active_listings"] == 0, report
    finally:
        for each in nodes:
            await each.stop()
    check_expired_once(snapshot(copy), players, listings)
    # the original node never expired anything; there, a listing past its time can no longer be bought
    assert {v["status"] for v in snapshot(source.data_dir).listings.values()} == {"active"}
    buyer = await open_player(source, players[0])
    try:
        other = next(v["id"] for v in listings.values() if v["seller_id"] == players[1]["player_id"])
        late = await buyer.expect_error("market.buy", {"listing": other})
        assert late["code"] == "conflict" and "expired" in late["message"], late
        assert (await buyer.call("state.get"))["player"]["val"] == 100
    finally:
        await buyer.close()
