"""The market over real sockets: every rule and error code, browse (filters, sorts, cursor pages), `market.mine`,
the live feed, the seller's notification, wallet pushes, and expiry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Connect
from tests.support.client import Client
from tests.support.economy import assert_audit_ok, quick_login, snapshot, trade_problems
from tests.support.servers import ServerProcess

# Tight limits make `inventory_full` reachable with the starting pack (1 dagger, 3 potions): one free slot of each.
# Every win recruits; one win lifts the goblin cave so high (and monsters grow so fast) that the next fight is lost.
GAME = {"auto_round_delay_seconds": 0, "recruit_chances": {"cueva-goblins": 1.0}, "max_equipment": 2,
        "max_consumable_stacks": 4, "dungeon_level_base_points": 1, "monster_scale_per_level": 100.0}
FAST = {"rate_per_second": 1000, "rate_burst": 1000}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("market"), game=GAME, **FAST).start()
    yield proc
    proc.terminate()


async def player(connect: Connect, node: ServerProcess) -> tuple[Client, dict[str, Any]]:
    login = await quick_login(node)
    client, _ = await connect(node, login)
    return client, login


async def items(client: Client) -> list[dict[str, Any]]:
    return (await client.call("inventory.get"))["items"]


async def item_of(client: Client, code: str, index: int = 0) -> str:
    return [i["id"] for i in await items(client) if i["code"] == code][index]


async def characters(client: Client) -> list[dict[str, Any]]:
    return (await client.call("character.list"))["characters"]


async def val(client: Client) -> int:
    return (await client.call("state.get"))["player"]["val"]


async def list_item(client: Client, code: str, price: int, index: int = 0, **extra: Any) -> dict[str, Any]:
    return await client.call("market.list", {"item": await item_of(client, code, index), "price": price, **extra})


async def settle(*clients: Client) -> None:
    """A round trip on each socket: any event sent to it before now has arrived."""
    for client in clients:
        await client.call("ping")


def events_of(client: Client, prefix: str) -> list[dict[str, Any]]:
    return [e for e in client.events if e["type"].startswith(prefix)]


async def fight(client: Client, team: list[str]) -> dict[str, Any]:
    """An auto-mode goblin fight to its end; the `combat.ended` payload."""
    mark = len(client.events)
    combat = (await client.call("combat.start", {"dungeon": "cueva-goblins", "team": team, "mode": "auto"}))["combat"]
    ended = await client.wait_event("combat.ended", lambda d: d["combat"] == combat, after=mark, timeout=20)
    return ended["data"]


async def win_with_recruit(connect: Connect, node: ServerProcess) -> tuple[Client, dict[str, Any], str, str]:
    """A player whose hero (dagger equipped) won one goblin fight, which recruited a second character.
    (A hero with the dagger loses that fight about once in 3,000: then another player tries.)"""
    for _ in range(3):
        client, login = await player(connect, node)
        hero = (await characters(client))[0]["id"]
        await client.call("character.equip", {"character": hero, "item": await item_of(client, "daga-oxidada")})
        ended = await fight(client, [hero])
        if ended["outcome"] == "win":
            recruit = ended["recruited"]
            assert recruit is not None, ended
            return client, login, hero, recruit["id"]
    raise AssertionError("three fresh heroes lost the goblin cave")


# --- listing -------------------------------------------------------------------------------------------------------

async def test_listing_escrows_the_item_and_validates_the_price(node: ServerProcess, connect: Connect) -> None:
    seller, login = await player(connect, node)
    potion = await item_of(seller, "pocion-vida-menor")
    dagger = await item_of(seller, "daga-oxidada")
    for data, field in (({"item": potion, "price": 4}, "price"), ({"item": dagger, "price": 9}, "price"),
                        ({"item": dagger, "price": 1_000_001}, "price"), ({"item": dagger, "price": 0}, "price"),
                        ({"item": dagger, "price": "10"}, "price"), ({"price": 50}, "item"),
                        ({"item": dagger, "character": (await characters(seller))[0]["id"], "price": 500}, "item")):
        error = await seller.expect_error("market.list", data)
        assert error["code"] == "bad_request" and field in error.get("field", ""), (data, error)
    assert {i["id"] for i in await items(seller)} >= {potion, dagger}  # nothing left on a refusal

    listed = await seller.call("market.list", {"item": dagger, "price": 10})
    view = listed["view"]
    assert listed["listing"] == view["id"]
    assert (view["status"], view["price"], view["kind"], view["code"], view["featured"]) == (
        "active", 10, "equipment", "daga-oxidada", False)
    assert view["item"]["id"] == dagger and view["seller_id"] == login["player_id"]
    assert view["expires_at"] - view["created_at"] == pytest.approx(7 * 24 * 3600)
    assert dagger not in {i["id"] for i in await items(seller)}
    top = await seller.call("market.list", {"item": potion, "price": 1_000_000})
    assert top["view"]["price"] == 1_000_000 and top["view"]["kind"] == "consumable"
    assert await val(seller) == 100  # listing is free
    # an item already listed is no longer the seller's to list
    assert (await seller.expect_error("market.list", {"item": dagger, "price": 10}))["code"] == "not_found"


async def test_listing_refusals(node: ServerProcess, connect: Connect) -> None:
    seller, login = await player(connect, node)
    [hero] = await characters(seller)
    dagger = await item_of(seller, "daga-oxidada")
    assert (await seller.expect_error("market.list", {"item": "i_unknown", "price": 10}))["code"] == "not_found"
    assert (await seller.expect_error("market.list", {"character": "c_unknown", "price": 100}))["code"] == "not_found"
    # the last character can never be sold
    last = await seller.expect_error("market.list", {"character": hero["id"], "price": 100})
    assert last["code"] == "conflict", last
    # an equipped item is not in the free inventory
    await seller.call("character.equip", {"character": hero["id"], "item": dagger})
    assert (await seller.expect_error("market.list", {"item": dagger, "price": 10}))["code"] == "not_found"
    # a fighting character
    started = await seller.call("combat.start", {"dungeon": "cueva-goblins", "team": [hero["id"]], "mode": "manual"})
    busy = await seller.expect_error("market.list", {"character": hero["id"], "price": 100})
    assert busy["code"] == "in_combat", busy
    await seller.call("combat.action", {"combat": started["combat"], "action": "flee"})
    # featuring costs 100 VAL; without them it is refused
    potion = await item_of(seller, "pocion-vida-menor")
    mark = len(seller.events)
    featured = await seller.call("market.list", {"item": potion, "price": 5, "featured": True})
    assert featured["view"]["featured"] is True
    wallet = await seller.wait_event("wallet.updated", after=mark)
    assert wallet["data"]["val"] == 0 and await val(seller) == 0
    broke = await seller.expect_error("market.list", {"item": await item_of(seller, "pocion-vida-menor"), "price": 5,
                                                      "featured": True})
    assert broke["code"] == "insufficient_funds", broke
    snap = snapshot(node.data_dir)
    assert [(e["delta"], e["ref"]) for e in snap.ledger_of(login["player_id"], "market_feature")] == [
        (-100, featured["listing"])]


async def test_character_sale(node: ServerProcess, connect: Connect) -> None:
    seller, _, hero, recruit = await win_with_recruit(connect, node)
    before = {c["id"]: c for c in await characters(seller)}
    assert set(before) == {hero, recruit} and before[hero]["equipment"]["weapon"]["code"] == "daga-oxidada"
    dagger = before[hero]["equipment"]["weapon"]["id"]
    seller_val = await val(seller)
    low = await seller.expect_error("market.list", {"character": hero, "price": 99})
    assert low["code"] == "bad_request", low

    listed = await seller.call("market.list", {"character": hero, "price": 100})
    view = listed["view"]
    assert (view["kind"], view["code"], view["rank"], view["level"]) == ("character", "vision-espectral", "D",
                                                                         before[hero]["level"])
    # the equipment stayed with the seller; the character left
    assert dagger in {i["id"] for i in await items(seller)}
    assert {c["id"] for c in await characters(seller)} == {recruit}

    buyer, _ = await player(connect, node)
    bought = await buyer.call("market.buy", {"listing": listed["listing"]})
    assert bought["val"] == 0 and bought["kind"] == "character" and bought["received"]["id"] == hero
    got = {c["id"]: c for c in await characters(buyer)}[hero]
    assert got["hp"] == got["hp_max"] == 20, got  # full HP, naked: vision-espectral D level 1
    assert got["equipment"] == {} and got["buffs"] == [] and got["wounded"] is False
    assert await val(seller) == seller_val + 95

    # the recruit is now the seller's last character; it loses its next fight (the cave grew far too strong)
    ended = await fight(seller, [recruit])
    assert ended["outcome"] == "loss", ended
    wounded = await seller.expect_error("market.list", {"character": recruit, "price": 100})
    assert wounded["code"] == "character_wounded", wounded
    # the buyer, with two characters now, may sell one on
    assert (await buyer.call("market.list", {"character": hero, "price": 150}))["view"]["price"] == 150


# --- buying --------------------------------------------------------------------------------------------------------

async def test_a_sale_over_the_feed_with_notification_and_wallets(node: ServerProcess, connect: Connect) -> None:
    seller, seller_login = await player(connect, node)
    buyer, buyer_login = await player(connect, node)
    watcher, _ = await player(connect, node)
    outsider, _ = await player(connect, node)
    quitter, _ = await player(connect, node)
    await watcher.call("sub.add", {"topic": "market"})
    await quitter.call("sub.add", {"topic": "market"})
    await quitter.call("sub.remove", {"topic": "market"})

    dagger = await item_of(seller, "daga-oxidada")
    listed = await seller.call("market.list", {"item": dagger, "price": 99})
    listing = listed["listing"]
    event = await watcher.wait_event("market.listed", lambda d: d["id"] == listing)
    assert (event["data"]["price"], event["data"]["kind"], event["data"]["code"], event["data"]["seller"]) == (
        99, "equipment", "daga-oxidada", seller_login["name"])

    own = await seller.expect_error("market.buy", {"listing": listing})
    assert own["code"] == "forbidden", own
    assert (await buyer.expect_error("market.buy", {"listing": "L_unknown"}))["code"] == "not_found"

    seller_mark, buyer_mark = len(seller.events), len(buyer.events)
    bought = await buyer.call("market.buy", {"listing": listing})
    assert (bought["val"], bought["price"], bought["listing"]) == (1, 99, listing)
    assert bought["received"]["id"] == dagger
    sold = await watcher.wait_event("market.sold", lambda d: d["listing"] == listing)
    assert sold["data"]["price"] == 99 and sold["data"]["buyer"] == buyer_login["name"]
    note = await seller.wait_event("notification.new", lambda d: d["kind"] == "sale", after=seller_mark)
    assert note["data"]["data"]["listing"] == listing
    assert (note["data"]["data"]["price"], note["data"]["data"]["tax"], note["data"]["data"]["received"]) == (99, 4,
                                                                                                              95)
    assert note["data"]["unread"] >= 1
    assert (await seller.wait_event("wallet.updated", after=seller_mark))["data"]["val"] == 195
    assert (await buyer.wait_event("wallet.updated", after=buyer_mark))["data"]["val"] == 1
    bought_note = await buyer.wait_event("notification.new", lambda d: d["kind"] == "purchase", after=buyer_mark)
    assert (bought_note["data"]["data"]["listing"], bought_note["data"]["data"]["price"]) == (listing, 99)
    assert dagger in {i["id"] for i in await items(buyer)}
    listed_notes = (await seller.call("notification.list", {"unread_only": True}))["notifications"]
    assert any(n["kind"] == "sale" and n["data"]["listing"] == listing for n in listed_notes)

    # a closed listing cannot be bought or cancelled again
    other, _ = await player(connect, node)
    assert (await other.expect_error("market.buy", {"listing": listing}))["code"] == "conflict"
    assert (await seller.expect_error("market.cancel", {"listing": listing}))["code"] == "conflict"
    mine = await seller.call("market.mine", {"status": "sold"})
    assert [v["id"] for v in mine["listings"]] == [listing]
    assert (await seller.call("market.mine"))["listings"] == []

    # only subscribers hear the feed
    await settle(outsider, quitter, buyer)
    assert events_of(outsider, "market.") == [] and events_of(quitter, "market.") == []
    assert events_of(buyer, "market.") == []
    assert trade_problems(snapshot(node.data_dir)) == []


async def test_buyer_needs_funds_and_room(node: ServerProcess, connect: Connect) -> None:
    sellers = [(await player(connect, node))[0] for _ in range(3)]
    buyer, _ = await player(connect, node)
    pricey = await list_item(sellers[0], "pocion-vida-menor", 101)
    poor = await buyer.expect_error("market.buy", {"listing": pricey["listing"]})
    assert poor["code"] == "insufficient_funds", poor
    # the buyer holds 1 of 2 equipment items: one dagger fits, the next does not
    first = await list_item(sellers[1], "daga-oxidada", 10)
    second = await list_item(sellers[2], "daga-oxidada", 10)
    await buyer.call("market.buy", {"listing": first["listing"]})
    full = await buyer.expect_error("market.buy", {"listing": second["listing"]})
    assert full["code"] == "inventory_full", full
    # equipping does not make room: worn items count too
    hero = (await characters(buyer))[0]["id"]
    await buyer.call("character.equip", {"character": hero, "item": await item_of(buyer, "daga-oxidada")})
    assert (await buyer.expect_error("market.buy", {"listing": second["listing"]}))["code"] == "inventory_full"
    assert await val(buyer) == 90
    # consumables: 3 potions of 4 stacks
    potions = [await list_item(s, "pocion-vida-menor", 5) for s in sellers[1:]]
    await buyer.call("market.buy", {"listing": potions[0]["listing"]})
    full = await buyer.expect_error("market.buy", {"listing": potions[1]["listing"]})
    assert full["code"] == "inventory_full", full
    assert await val(buyer) == 85
    assert_audit_ok(node.data_dir)


# --- cancel --------------------------------------------------------------------------------------------------------

async def test_cancel_returns_the_item(node: ServerProcess, connect: Connect) -> None:
    seller, _ = await player(connect, node)
    stranger, _ = await player(connect, node)
    watcher, _ = await player(connect, node)
    await watcher.call("sub.add", {"topic": "market"})
    potion = await item_of(seller, "pocion-vida-menor")
    listed = await seller.call("market.list", {"item": potion, "price": 30})
    assert potion not in {i["id"] for i in await items(seller)}
    assert [v["id"] for v in (await seller.call("market.mine"))["listings"]] == [listed["listing"]]
    refused = await stranger.expect_error("market.cancel", {"listing": listed["listing"]})
    assert refused["code"] == "forbidden", refused
    assert (await seller.expect_error("market.cancel", {"listing": "L_unknown"}))["code"] == "not_found"
    cancelled = await seller.call("market.cancel", {"listing": listed["listing"]})
    assert cancelled["listing"] == listed["listing"] and cancelled["val"] == 100
    assert potion in {i["id"] for i in await items(seller)}
    await watcher.wait_event("market.cancelled", lambda d: d["listing"] == listed["listing"])
    assert (await seller.call("market.mine"))["listings"] == []
    assert [v["id"] for v in (await seller.call("market.mine", {"status": "cancelled"}))["listings"]] == [
        listed["listing"]]
    gone = await stranger.expect_error("market.buy", {"listing": listed["listing"]})
    assert gone["code"] == "conflict", gone
    assert (await seller.expect_error("market.cancel", {"listing": listed["listing"]}))["code"] == "conflict"


async def test_cancel_needs_room(node: ServerProcess, connect: Connect) -> None:
    seller, _ = await player(connect, node)
    others = [(await player(connect, node))[0] for _ in range(2)]
    own = await list_item(seller, "daga-oxidada", 10)
    for other in others:  # refill both equipment slots while the own dagger is listed
        await seller.call("market.buy", {"listing": (await list_item(other, "daga-oxidada", 10))["listing"]})
    full = await seller.expect_error("market.cancel", {"listing": own["listing"]})
    assert full["code"] == "inventory_full", full
    assert [v["id"] for v in (await seller.call("market.mine"))["listings"]] == [own["listing"]]  # still listed


# --- browse --------------------------------------------------------------------------------------------------------

BROWSE_GAME = {"auto_round_delay_seconds": 0, "recruit_chances": {"cueva-goblins": 1.0},
               "xp_base_values": [1, 1, 1, 1, 1]}


def order(views: list[dict[str, Any]], sort: str, descending: bool) -> list[str]:
    column = {"price": "price", "newest": "created_at", "level": "level"}[sort]
    sign = -1 if descending else 1
    return [v["id"] for v in sorted(views, key=lambda v: (-int(v["featured"]), sign * v[column], v["id"]))]


async def browse_all(client: Client, limit: int, **query: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        page = await client.call("market.browse", {**query, "limit": limit, **({"cursor": cursor} if cursor else {})})
        assert len(page["listings"]) <= limit
        seen += page["listings"]
        cursor = page["next"]
        if cursor is None:
            return seen
        assert page["listings"], "an empty page with a next cursor"
    raise AssertionError("pagination does not end")


async def test_browse_filters_sorts_and_pages(make_server: Any, connect: Connect) -> None:
    node: ServerProcess = make_server(game=BROWSE_GAME, **FAST)
    # a player whose hero won once: level 10 with the tiny XP table, and a recruit
    rich, _ = await player(connect, node)
    hero = (await characters(rich))[0]["id"]
    ended = await fight(rich, [hero])
    views: list[dict[str, Any]] = []
    if ended["outcome"] == "win":  # (it loses about 2 % of the time: then no character is listed)
        assert (await characters(rich))[0]["level"] == 10
        views.append((await rich.call("market.list", {"character": hero, "price": 300}))["view"])
    views.append((await list_item(rich, "daga-oxidada", 25))["view"])
    views.append((await list_item(rich, "pocion-vida-menor", 70, featured=True))["view"])
    logins = [await player(connect, node) for _ in range(3)]
    sellers = [client for client, _ in logins]
    for client, prices in zip(sellers, ([5, 12, 40, 15], [9, 60, 80], [12]), strict=True):
        codes = ["pocion-vida-menor"] * min(3, len(prices)) + ["daga-oxidada"]
        for code, price in zip(codes, prices, strict=False):
            views.append((await list_item(client, code, price))["view"])
    assert len(views) >= 10 and len({v["seller_id"] for v in views}) == 4
    everything = {v["id"] for v in views}
    reader = sellers[0]

    for sort in ("price", "newest", "level"):
        for direction in (None, "asc", "desc"):
            query = {"sort": sort, **({"order": direction} if direction else {})}
            descending = direction == "desc" or (direction is None and sort != "price")
            got = await browse_all(reader, 3, **query)
            ids = [v["id"] for v in got]
            assert len(ids) == len(set(ids)) == len(everything), (query, ids)  # no duplicate, no omission
            assert ids == order(views, sort, descending), query
    featured = [v["id"] for v in views if v["featured"]]
    assert [v["id"] for v in await browse_all(reader, 100)][:1] == featured  # featured first, though not cheapest

    async def ids(**query: Any) -> set[str]:
        return {v["id"] for v in await browse_all(reader, 4, **query)}

    def expect(pred: Any) -> set[str]:
        return {v["id"] for v in views if pred(v)}

    assert await ids(kind="equipment") == expect(lambda v: v["kind"] == "equipment")
    assert await ids(kind="consumable") == expect(lambda v: v["kind"] == "consumable")
    assert await ids(kind="character") == expect(lambda v: v["kind"] == "character")
    assert await ids(rank="D") == expect(lambda v: v["rank"] == "D")
    assert await ids(price_min=10, price_max=40) == expect(lambda v: 10 <= v["price"] <= 40)
    cheap_potions = expect(lambda v: v["price"] <= 12 and v["kind"] == "consumable")
    assert await ids(price_max=12, kind="consumable") == cheap_potions
    assert await ids(min_level=1) == expect(lambda v: v["level"] >= 1)
    assert await ids(min_level=5) == expect(lambda v: v["level"] >= 5)
    assert await ids(name="daga") == expect(lambda v: "daga" in v["code"])
    assert await ids(name="POCION") == expect(lambda v: "pocion" in v["code"])
    assert await ids(name="espectral") == expect(lambda v: "espectral" in v["code"])
    assert await ids(name="nothing-like-this") == set()

    for bad in ({"limit": 101}, {"limit": 0}, {"sort": "rarity"}, {"kind": "pet"}, {"cursor": "not a cursor"},
                {"price_min": -1}):
        error = await reader.expect_error("market.browse", bad)
        assert error["code"] == "bad_request", (bad, error)
    assert len((await reader.call("market.browse", {"limit": 100}))["listings"]) == len(everything)

    # market.mine: active listings, newest first; a sold one leaves browse and shows under `sold`
    mine = (await reader.call("market.mine"))["listings"]
    assert [v["id"] for v in mine] == [v["id"] for v in sorted(
        (v for v in views if v["seller_id"] == logins[0][1]["player_id"]), key=lambda v: -v["created_at"])]
    await sellers[1].call("market.buy", {"listing": mine[-1]["id"]})
    assert mine[-1]["id"] not in {v["id"] for v in await browse_all(reader, 100)}
    assert [v["id"] for v in (await reader.call("market.mine", {"status": "sold"}))["listings"]] == [mine[-1]["id"]]
    assert len((await reader.call("market.mine"))["listings"]) == len(mine) - 1


# --- expiry --------------------------------------------------------------------------------------------------------

async def test_expired_listings_come_back(make_server: Any, connect: Connect) -> None:
    node: ServerProcess = make_server(game={"market_listing_seconds": 3.0, "max_consumable_stacks": 3},
                                      expiry_interval_seconds=0.2, **FAST)
    seller, _ = await player(connect, node)
    other, _ = await player(connect, node)
    await seller.call("sub.add", {"topic": "market"})
    potion = await list_item(seller, "pocion-vida-menor", 5)
    dagger = await list_item(seller, "daga-oxidada", 10)
    # refill the seller's consumable stacks while the potion is away: expiry must still bring it back
    await seller.call("market.buy", {"listing": (await list_item(other, "pocion-vida-menor", 5))["listing"]})
    assert len([i for i in await items(seller) if i["kind"] == "consumable"]) == 3
    mark = len(seller.events)
    for listed in (potion, dagger):
        event = await seller.wait_event("market.expired", lambda d, lid=listed["listing"]: d["listing"] == lid,
                                        after=0, timeout=15)
        assert event["data"]["listing"] == listed["listing"]
    owned = {i["id"] for i in await items(seller)}
    assert {potion["view"]["item"]["id"], dagger["view"]["item"]["id"]} <= owned
    assert len([i for i in await items(seller) if i["kind"] == "consumable"]) == 4  # past the limit, as the spec says
    expired = (await seller.call("market.mine", {"status": "expired"}))["listings"]
    assert {v["id"] for v in expired} == {potion["listing"], dagger["listing"]}
    notes = (await seller.call("notification.list"))["notifications"]
    assert sorted(n["data"]["listing"] for n in notes if n["kind"] == "listing_expired") == sorted(
        [potion["listing"], dagger["listing"]])
    assert (await seller.wait_event("notification.new", lambda d: d["kind"] == "listing_expired", after=mark))
    late = await other.expect_error("market.buy", {"listing": potion["listing"]})
    assert late["code"] == "conflict", late
    assert_audit_ok(node.data_dir)
    assert trade_problems(snapshot(node.data_dir)) == []
