"""The market's pure rules (server/game/market.py): escrow, prices, the buyer's and the seller's sides, take-back."""

from __future__ import annotations

from typing import Any

import pytest

from protocol.codes import ErrorCode
from server.game import market
from server.game.combat import start_combat
from server.game.config import GameSettings
from server.game.errors import GameError
from server.game.gear import equip
from server.game.inventory import new_item
from server.game.outcome import RuleContext
from server.game.state import Buff, PlayerState
from server.game.stats import hp_max
from tests.unit.factories import T0, add_character, at, error_code, fresh_player, hero, items_of, make_ctx

SELLER, BUYER = "p_seller", "p_buyer"


def list_item(state: PlayerState, item_id: str, price: int, ctx: RuleContext,
              featured: bool = False) -> tuple[Any, dict[str, Any]]:
    return market.create_listing(state, SELLER, "ana", price, featured, ctx, item_id=item_id)


def list_character(state: PlayerState, char_id: str, price: int, ctx: RuleContext) -> tuple[Any, dict[str, Any]]:
    return market.create_listing(state, SELLER, "ana", price, False, ctx, character_id=char_id)


def refusal(fn: Any, *args: Any, **kwargs: Any) -> GameError:
    with pytest.raises(GameError) as err:
        fn(*args, **kwargs)
    return err.value


# --- listing -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "low"), [("consumable", 5), ("equipment", 10), ("character", 100)])
def test_minimum_and_maximum_prices_per_kind(kind: str, low: int) -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    extra = add_character(state, ctx)
    goods = {"consumable": {"item_id": items_of(state, "pocion-vida-menor")[0].id},
             "equipment": {"item_id": items_of(state, "daga-oxidada")[0].id},
             "character": {"character_id": extra.id}}[kind]
    high = ctx.settings.market_max_price
    for price in (low - 1, high + 1, 0, -5):
        err = refusal(market.create_listing, state, SELLER, "ana", price, False, ctx, **goods)
        assert err.code is ErrorCode.BAD_REQUEST and err.extra["field"] == "data.price", (price, err)
    for price in (low, high):
        _, listing = market.create_listing(state, SELLER, "ana", price, False, ctx, **goods)
        assert (listing["price"], listing["kind"], listing["status"]) == (price, kind, "active")


def test_minimum_prices_come_from_the_settings() -> None:
    ctx = make_ctx(settings=GameSettings(market_min_price_consumable=50, market_max_price=60))
    state = fresh_player(ctx)
    potion = items_of(state, "pocion-vida-menor")[0].id
    assert error_code(list_item, state, potion, 49, ctx) is ErrorCode.BAD_REQUEST
    assert error_code(list_item, state, potion, 61, ctx) is ErrorCode.BAD_REQUEST
    assert list_item(state, potion, 55, ctx)[1]["price"] == 55


def test_exactly_one_of_item_or_character() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    extra = add_character(state, ctx)
    potion = items_of(state, "pocion-vida-menor")[0].id
    assert error_code(market.create_listing, state, SELLER, "ana", 50, False, ctx) is ErrorCode.BAD_REQUEST
    err = refusal(market.create_listing, state, SELLER, "ana", 500, False, ctx, item_id=potion, character_id=extra.id)
    assert err.code is ErrorCode.BAD_REQUEST


def test_listing_takes_the_item_into_escrow_without_touching_the_callers_state() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    dagger = items_of(state, "daga-oxidada")[0]
    out, listing = list_item(state, dagger.id, 40, ctx)
    assert out.state.item(dagger.id) is None
    assert state.item(dagger.id) is not None  # the rule worked on a copy
    assert listing["item"] == dagger.to_dict()
    assert (listing["kind"], listing["code"], listing["rank"], listing["level"]) == ("equipment", "daga-oxidada",
                                                                                     "D", 1)
    assert listing["seller_id"] == SELLER and listing["seller"] == "ana" and listing["featured"] is False
    assert listing["created_at"] == T0 and listing["expires_at"] == T0 + 7 * 24 * 3600
    assert out.ledger == [] and out.state.val == state.val  # listing is free
    assert out.reply["listing"] == listing["id"] and out.reply["view"]["item"]["id"] == dagger.id
    potion_listing = list_item(state, items_of(state, "pocion-vida-menor")[0].id, 5, ctx)[1]
    assert (potion_listing["kind"], potion_listing["rank"], potion_listing["level"]) == ("consumable", None, 0)


def test_unknown_or_equipped_item_is_not_found() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    dagger = items_of(state, "daga-oxidada")[0]
    worn = equip(state, hero(state).id, dagger.id, ctx).state
    assert error_code(list_item, worn, dagger.id, 40, ctx) is ErrorCode.NOT_FOUND
    assert error_code(list_item, state, "i_nope", 40, ctx) is ErrorCode.NOT_FOUND
    assert error_code(list_character, state, "c_nope", 400, ctx) is ErrorCode.NOT_FOUND


def test_wounded_fighting_or_last_character_is_refused() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    assert error_code(list_character, state, hero(state).id, 100, ctx) is ErrorCode.CONFLICT  # the last one
    extra = add_character(state, ctx)
    extra.hp, extra.wounded_at = 0, T0 - 10
    assert error_code(list_character, state, extra.id, 100, ctx) is ErrorCode.CHARACTER_WOUNDED
    extra.hp, extra.wounded_at = hp_max(extra, ctx.settings), None
    fighting = start_combat(state, "cueva-goblins", [extra.id], "manual", ctx).state
    assert error_code(list_character, fighting, extra.id, 100, ctx) is ErrorCode.IN_COMBAT
    out, listing = list_character(state, extra.id, 100, ctx)  # healthy, idle, not the last: fine
    assert out.state.character(extra.id) is None and listing["character"]["id"] == extra.id


def test_featuring_costs_the_feature_fee_through_the_ledger() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    potions = items_of(state, "pocion-vida-menor")
    out, listing = list_item(state, potions[0].id, 5, ctx, featured=True)
    assert listing["featured"] is True
    assert out.state.val == state.val - 100
    assert [(d.currency, d.delta, d.reason, d.ref) for d in out.ledger] == [("VAL", -100, "market_feature",
                                                                             listing["id"])]
    assert ("wallet.updated", {"val": 0, "evo": 2}) in out.events
    err = refusal(list_item, out.state, potions[1].id, 5, ctx, featured=True)
    assert err.code is ErrorCode.INSUFFICIENT_FUNDS
    cheaper = make_ctx(settings=GameSettings(market_feature_cost=30))
    assert list_item(state, potions[0].id, 5, cheaper, featured=True)[0].state.val == 70


def test_a_listed_characters_equipment_stays_with_the_seller() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    extra = add_character(state, ctx, level=70)
    ring = new_item("anillo-del-fenix", "i-ring")
    state.items.append(ring)
    dagger = items_of(state, "daga-oxidada")[0]
    state = equip(state, extra.id, ring.id, ctx).state
    state = equip(state, extra.id, dagger.id, ctx).state
    out, listing = list_character(state, extra.id, 5000, ctx)
    assert {ring.id, dagger.id} <= {i.id for i in out.state.items}
    assert listing["character"]["equipment"] == {}
    assert (listing["kind"], listing["code"], listing["rank"], listing["level"]) == ("character", "arbol-caos",
                                                                                     "SSS", 70)
    assert [c.id for c in out.state.characters] == [hero(state).id]


# --- buying --------------------------------------------------------------------------------------------------------

def a_listing(ctx: RuleContext, price: int = 99, code: str = "daga-oxidada") -> tuple[PlayerState, dict[str, Any]]:
    seller = fresh_player(ctx)
    out, listing = list_item(seller, items_of(seller, code)[0].id, price, ctx)
    return out.state, listing


def test_own_listing_is_forbidden_and_a_closed_one_conflicts() -> None:
    ctx = make_ctx()
    seller, listing = a_listing(ctx)
    assert error_code(market.buy, seller, SELLER, listing, ctx) is ErrorCode.FORBIDDEN
    buyer = fresh_player(ctx)
    for status in ("sold", "cancelled", "expired"):
        assert error_code(market.buy, buyer, BUYER, {**listing, "status": status}, ctx) is ErrorCode.CONFLICT


def test_a_listing_past_its_expiry_cannot_be_bought() -> None:
    ctx = make_ctx()
    _, listing = a_listing(ctx)
    buyer = fresh_player(ctx)
    expiry = listing["expires_at"]
    assert market.buy(buyer, BUYER, listing, at(ctx, expiry - 1)).state.val == 1
    err = refusal(market.buy, buyer, BUYER, listing, at(ctx, expiry))
    assert err.code is ErrorCode.CONFLICT and "expired" in err.message


def test_buyer_needs_the_price() -> None:
    ctx = make_ctx()
    _, listing = a_listing(ctx, price=101)
    buyer = fresh_player(ctx)
    err = refusal(market.buy, buyer, BUYER, listing, ctx)
    assert err.code is ErrorCode.INSUFFICIENT_FUNDS and (err.extra["need"], err.extra["have"]) == (101, 100)
    buyer.val = 101
    assert market.buy(buyer, BUYER, listing, ctx).state.val == 0


@pytest.mark.parametrize("kind", ["equipment", "consumable", "character"])
def test_buyer_needs_room(kind: str) -> None:
    ctx = make_ctx(settings=GameSettings(max_equipment=2, max_consumable_stacks=4, max_characters=2))
    seller = fresh_player(ctx)
    if kind == "character":
        extra = add_character(seller, ctx)
        _, listing = list_character(seller, extra.id, 100, ctx)
    else:
        code = "daga-oxidada" if kind == "equipment" else "pocion-vida-menor"
        _, listing = list_item(seller, items_of(seller, code)[0].id, 10, ctx)
    buyer = fresh_player(ctx)
    out = market.buy(buyer, BUYER, listing, ctx)  # one free slot of each kind: fits
    assert out.state.val == buyer.val - listing["price"]
    full = out.state
    again = {**listing, "id": "L-other"}
    assert error_code(market.buy, full, BUYER, again, ctx) is ErrorCode.INVENTORY_FULL


def test_equipped_items_count_against_the_buyers_room() -> None:
    ctx = make_ctx(settings=GameSettings(max_equipment=1))
    _, listing = a_listing(ctx, price=10)
    buyer = fresh_player(ctx)
    worn = equip(buyer, hero(buyer).id, items_of(buyer, "daga-oxidada")[0].id, ctx).state
    assert error_code(market.buy, worn, BUYER, listing, ctx) is ErrorCode.INVENTORY_FULL


def test_the_buyer_pays_the_price_and_receives_the_goods() -> None:
    ctx = make_ctx()
    _, listing = a_listing(ctx, price=99)
    buyer = fresh_player(ctx)
    out = market.buy(buyer, BUYER, listing, ctx)
    assert out.state.val == 1
    assert [(d.currency, d.delta, d.reason, d.ref) for d in out.ledger] == [("VAL", -99, "market_buy",
                                                                             listing["id"])]
    assert out.state.item(listing["item"]["id"]) is not None
    assert out.reply["val"] == 1 and out.reply["received"]["id"] == listing["item"]["id"]
    assert out.notifications == [("purchase", {"listing": listing["id"], "kind": "equipment", "code": "daga-oxidada",
                                               "price": 99, "seller": "ana"})]
    assert buyer.val == 100 and buyer.item(listing["item"]["id"]) is None  # the caller's state is untouched


@pytest.mark.parametrize(("price", "received"), [(99, 95), (100, 95), (19, 19), (20, 19), (5, 5), (139, 133),
                                                 (1_000_000, 950_000)])
def test_seller_receives_the_price_less_five_percent_rounded_down(price: int, received: int) -> None:
    ctx = make_ctx()
    seller, listing = a_listing(ctx, price=price, code="pocion-vida-menor")
    out = market.sale_proceeds(seller, listing, "bo", ctx)
    assert out.state.val == seller.val + received
    assert [(d.delta, d.reason, d.ref) for d in out.ledger] == [(received, "market_sale", listing["id"])]
    assert market.tax(price, ctx) == price - received
    [(kind, data)] = out.notifications
    assert kind == "sale"
    assert (data["price"], data["tax"], data["received"], data["buyer"]) == (price, price - received, received, "bo")


def test_a_trade_destroys_exactly_the_tax() -> None:
    ctx = make_ctx()
    seller, listing = a_listing(ctx, price=87)
    buyer = fresh_player(ctx)
    paid = market.buy(buyer, BUYER, listing, ctx)
    got = market.sale_proceeds(seller, listing, "bo", ctx)
    created = sum(d.delta for d in paid.ledger) + sum(d.delta for d in got.ledger)
    assert created == -market.tax(87, ctx) == -4


def test_a_sold_character_arrives_at_full_hp_without_buffs_or_equipment() -> None:
    ctx = make_ctx()
    seller = fresh_player(ctx)
    extra = add_character(seller, ctx, level=12)
    dagger = items_of(seller, "daga-oxidada")[0]
    seller = equip(seller, extra.id, dagger.id, ctx).state
    worn = seller.character(extra.id)
    assert worn is not None
    worn.hp = 3
    worn.buffs = [Buff("atk", 5, T0 + 3600, "pan-de-campo"), Buff("xp", 100, T0 + 3600, "tomo-ancestral")]
    out, listing = list_character(seller, extra.id, 100, ctx)
    assert dagger.id in {i.id for i in out.state.items}
    bought = market.buy(fresh_player(ctx), BUYER, listing, at(ctx, T0 + 60))
    char = bought.state.character(extra.id)
    assert char is not None
    assert char.buffs == [] and char.equipment == {} and char.wounded_at is None
    assert char.hp == hp_max(char, ctx.settings) == 35 + 40 * 11
    assert (char.level, char.base, char.rank) == (12, "arbol-caos", "SSS")
    # even a listing document that still carried gear or buffs delivers a bare character
    doc = {**listing, "character": {**listing["character"], "hp": 1,
                                    "equipment": {"weapon": dagger.to_dict()},
                                    "buffs": [b.to_dict() for b in worn.buffs]}}
    again = market.buy(fresh_player(ctx), BUYER, doc, ctx).state.character(extra.id)
    assert again is not None and again.equipment == {} and again.buffs == [] and again.hp == 35 + 40 * 11


# --- cancel and expiry ---------------------------------------------------------------------------------------------

def test_cancel_returns_the_item() -> None:
    ctx = make_ctx()
    seller, listing = a_listing(ctx)
    out = market.take_back(seller, listing, ctx, expired=False)
    assert out.state.item(listing["item"]["id"]) is not None
    assert out.ledger == [] and out.notifications == [] and out.state.val == seller.val
    for status in ("sold", "cancelled", "expired"):
        closed = {**listing, "status": status}
        assert refusal(market.take_back, seller, closed, ctx, expired=False).code is ErrorCode.CONFLICT


def test_cancel_needs_room_but_expiry_returns_even_with_a_full_inventory() -> None:
    ctx = make_ctx(settings=GameSettings(max_equipment=1, max_characters=1))
    seller, listing = a_listing(ctx)
    seller.items.append(new_item("espada-de-acero", "i-sword"))  # full again while the dagger is listed
    err = refusal(market.take_back, seller, listing, ctx, expired=False)
    assert err.code is ErrorCode.INVENTORY_FULL
    out = market.take_back(seller, listing, ctx, expired=True)
    assert out.state.item(listing["item"]["id"]) is not None and out.state.item("i-sword") is not None
    [(kind, data)] = out.notifications
    assert kind == "listing_expired" and data["listing"] == listing["id"]


def test_an_expired_character_comes_back_even_past_the_character_limit() -> None:
    ctx = make_ctx()
    seller = fresh_player(ctx)
    extra = add_character(seller, ctx)
    out, listing = list_character(seller, extra.id, 100, ctx)
    tight = make_ctx(settings=GameSettings(max_characters=1))
    assert refusal(market.take_back, out.state, listing, tight, expired=False).code is ErrorCode.INVENTORY_FULL
    back = market.take_back(out.state, listing, tight, expired=True).state
    assert {c.id for c in back.characters} == {hero(seller).id, extra.id}


def test_listing_view_shows_what_buyers_need() -> None:
    ctx = make_ctx()
    seller = fresh_player(ctx)
    extra = add_character(seller, ctx, base="tenebris", rank="A", level=7)
    _, listing = list_character(seller, extra.id, 300, ctx)
    view = market.listing_view(listing)
    for key in ("id", "price", "seller", "kind", "code"):
        assert view[key] == listing[key]
    assert view["character"]["id"] == extra.id and (view["rank"], view["level"]) == ("A", 7)
    _, potion = list_item(seller, items_of(seller, "pocion-vida-menor")[0].id, 6, ctx)
    assert market.listing_view(potion)["uses"] == 1


# --- whole moves: every player's outcome, the listing's transition and the feed --------------------------------------

def test_list_goods_inserts_the_listing_and_announces_it() -> None:
    ctx = make_ctx()
    seller = fresh_player(ctx)
    move = market.list_goods(seller, SELLER, "ana", 40, False, ctx, item_id=items_of(seller, "daga-oxidada")[0].id)
    assert list(move.outcomes) == [SELLER]
    assert move.listing.from_status is None and move.listing.doc["status"] == market.ACTIVE
    assert move.listing.listing_id == move.listing.doc["id"] == move.reply["listing"]
    assert move.feed == [("market", "market.listed", market.listing_view(move.listing.doc))]


def test_sell_moves_the_listing_to_sold_and_pays_both_sides() -> None:
    ctx = make_ctx()
    _, listing = a_listing(ctx, price=100)
    buyer, seller = fresh_player(ctx), fresh_player(ctx)
    move = market.sell(buyer, seller, BUYER, "bea", listing, ctx)
    assert list(move.outcomes) == [BUYER, SELLER]  # the buyer's events go out first
    assert move.outcomes[BUYER].state.val == buyer.val - 100
    assert move.outcomes[SELLER].state.val == seller.val + 95
    assert move.reply == move.outcomes[BUYER].reply
    assert move.listing.listing_id == listing["id"] and move.listing.from_status == market.ACTIVE
    assert move.listing.doc == {**listing, "status": "sold", "buyer_id": BUYER, "buyer": "bea", "closed_at": ctx.now}
    assert move.feed == [("market", "market.sold", {
        "listing": listing["id"], "price": 100, "kind": listing["kind"], "code": listing["code"],
        "seller": listing["seller"], "buyer": "bea"})]
    assert listing["status"] == market.ACTIVE  # the listing read is left as it was


def test_cancel_is_the_sellers_and_moves_the_listing_to_cancelled() -> None:
    ctx = make_ctx()
    seller, listing = a_listing(ctx, price=10)
    assert error_code(market.cancel, seller, BUYER, listing, ctx) is ErrorCode.FORBIDDEN
    move = market.cancel(seller, SELLER, listing, ctx)
    assert list(move.outcomes) == [SELLER]
    assert move.listing.from_status == market.ACTIVE
    assert move.listing.doc == {**listing, "status": "cancelled", "closed_at": ctx.now}
    assert move.feed == [("market", "market.cancelled", {"listing": listing["id"]})]


def test_expire_takes_only_a_due_active_listing_back_to_its_seller() -> None:
    ctx = make_ctx()
    seller, listing = a_listing(ctx, price=10)
    assert error_code(market.expire, seller, listing, ctx) is ErrorCode.CONFLICT  # not due yet
    later = at(ctx, listing["expires_at"])
    assert error_code(market.expire, seller, {**listing, "status": "sold"}, later) is ErrorCode.CONFLICT
    move = market.expire(seller, listing, later)
    assert list(move.outcomes) == [SELLER]
    assert move.outcomes[SELLER].notifications[0][0] == "listing_expired"
    assert move.listing.doc == {**listing, "status": "expired", "closed_at": later.now}
    assert move.feed == [("market", "market.expired", {"listing": listing["id"]})]
