"""Market rules: listing (escrow), buying, the seller's proceeds, cancelling and expiry. Pure functions.

A listing is a plain dict (it is stored as its own document): `id`, `status` (active, sold, cancelled, expired),
`seller_id`, `seller`, `kind` (equipment, consumable or character), `code` (item code or character base),
`rank`, `level`, `price`, `featured`, `created_at`, `expires_at`, and the escrowed `item` or `character`.
Each side of a trade is its own Outcome. A command's whole change is a `MarketMove`: every player's outcome, the
listing's move (inserted, or moved from `active` to its closed status) and the feed events, so the command handler
only loads, calls the rule and commits it all at once (`list_goods`, `sell`, `cancel`, `expire`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from protocol.codes import ErrorCode
from server.game.catalog import CONSUMABLES, EQUIPMENT
from server.game.errors import GameError, bad_request, conflict
from server.game.inventory import (
    require_character,
    require_free_item,
    require_not_in_combat,
    require_not_wounded,
    require_room_for_character,
    require_room_for_item,
)
from server.game.outcome import Outcome, RuleContext
from server.game.scaling import floor_times
from server.game.state import Character, Item, PlayerState
from server.game.stats import hp_max
from server.game.views import item_view

ACTIVE = "active"
FEED = "market"  # the topic of the market feed


@dataclass(slots=True)
class ListingMove:
    """A listing to write: inserted (`from_status` None) or moved from `from_status` (the write is conditional on it,
    so of two racing moves one wins) to `doc["status"]`."""

    listing_id: str
    from_status: str | None
    doc: dict[str, Any]


@dataclass(slots=True)
class MarketMove:
    """Everything a market command changes: each player's outcome (the acting player first), the listing's move, the
    reply and the feed events (topic, event type, data) sent once it is committed."""

    outcomes: dict[str, Outcome]
    listing: ListingMove
    reply: dict[str, Any]
    feed: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


def _rank_of_item(code: str) -> str | None:
    spec = EQUIPMENT.get(code)
    return spec.rank if spec is not None else None


def _check_price(kind: str, price: int, ctx: RuleContext) -> None:
    if isinstance(price, bool) or not isinstance(price, int):
        raise bad_request("data.price", "price must be an integer")
    low, high = ctx.settings.market_min_price(kind), ctx.settings.market_max_price
    if not low <= price <= high:
        raise bad_request("data.price", f"a {kind} sells for {low} to {high} VAL")


def create_listing(state: PlayerState, seller_id: str, seller_name: str, price: int, featured: bool,
                   ctx: RuleContext, item_id: str | None = None, character_id: str | None = None,
                   ) -> tuple[Outcome, dict[str, Any]]:
    """Take an item or a character out of the seller's hands into escrow; featuring costs VAL."""
    if (item_id is None) == (character_id is None):
        raise bad_request("data.item", "list exactly one of item or character")
    out = Outcome.begin(state)
    s = out.state
    listing: dict[str, Any] = {
        "id": ctx.make_id("L"), "status": ACTIVE, "seller_id": seller_id, "seller": seller_name, "price": price,
        "featured": bool(featured), "created_at": ctx.now,
        "expires_at": ctx.now + ctx.settings.market_listing_seconds,
    }
    if item_id is not None:
        item = require_free_item(s, item_id)
        _check_price(item.kind, price, ctx)
        s.items = [i for i in s.items if i.id != item.id]
        listing.update(kind=item.kind, code=item.code, rank=_rank_of_item(item.code),
                       level=EQUIPMENT[item.code].min_level if item.code in EQUIPMENT else 0, item=item.to_dict())
    else:
        char = require_character(s, character_id)
        _check_price("character", price, ctx)
        require_not_in_combat(s, char)
        require_not_wounded(char)
        if len(s.characters) <= 1:
            raise GameError(ErrorCode.CONFLICT, "you cannot sell your last character")
        # The character's equipment stays with the seller (equipped items count as owned, so no room is needed).
        s.items.extend(char.equipment.values())
        char.equipment = {}
        s.characters = [c for c in s.characters if c.id != char.id]
        listing.update(kind="character", code=char.base, rank=char.rank, level=char.level, character=char.to_dict())
    if featured:
        out.adjust("VAL", -ctx.settings.market_feature_cost, "market_feature", listing["id"])
    out.reply = {"listing": listing["id"], "view": listing_view(listing)}
    return out, listing


def _deliver(out: Outcome, listing: dict[str, Any], ctx: RuleContext, *, check_room: bool) -> None:
    """Put the escrowed goods into `out.state`. A sold character arrives with full HP and no buffs."""
    s = out.state
    if listing["kind"] == "character":
        if check_room:
            require_room_for_character(s, ctx.settings)
        char = Character.from_dict(listing["character"])
        char.buffs, char.equipment, char.wounded_at = [], {}, None
        char.hp = hp_max(char, ctx.settings)
        s.characters.append(char)
    else:
        if check_room:
            require_room_for_item(s, listing["kind"], ctx.settings)
        s.items.append(Item.from_dict(listing["item"]))


def buy(state: PlayerState, buyer_id: str, listing: dict[str, Any], ctx: RuleContext) -> Outcome:
    """The buyer's side: pay the price, receive the goods."""
    if listing["status"] != ACTIVE:
        raise conflict(f"listing {listing['id']} is {listing['status']}")
    if listing["expires_at"] <= ctx.now:  # expired, its goods not yet returned by the expiry job
        raise conflict(f"listing {listing['id']} has expired")
    if listing["seller_id"] == buyer_id:
        raise GameError(ErrorCode.FORBIDDEN, "you cannot buy your own listing")
    out = Outcome.begin(state)
    _deliver(out, listing, ctx, check_room=True)
    out.adjust("VAL", -listing["price"], "market_buy", listing["id"])
    out.notify("purchase", {"listing": listing["id"], "kind": listing["kind"], "code": listing["code"],
                            "price": listing["price"], "seller": listing["seller"]})
    out.reply = {"val": out.state.val, "listing": listing["id"], "price": listing["price"],
                 "kind": listing["kind"], "received": listing.get("item") or listing.get("character")}
    return out


def tax(price: int, ctx: RuleContext) -> int:
    return floor_times(price, ctx.settings.market_tax)


def sale_proceeds(state: PlayerState, listing: dict[str, Any], buyer_name: str, ctx: RuleContext) -> Outcome:
    """The seller's side: the price less the tax, and a notification."""
    out = Outcome.begin(state)
    cut = tax(listing["price"], ctx)
    out.adjust("VAL", listing["price"] - cut, "market_sale", listing["id"])
    out.notify("sale", {"listing": listing["id"], "kind": listing["kind"], "code": listing["code"],
                        "price": listing["price"], "tax": cut, "received": listing["price"] - cut,
                        "buyer": buyer_name})
    return out


def take_back(state: PlayerState, listing: dict[str, Any], ctx: RuleContext, *, expired: bool) -> Outcome:
    """The seller gets the goods back: on cancel only with room; on expiry always (the listing cannot stay)."""
    if listing["status"] != ACTIVE:
        raise conflict(f"listing {listing['id']} is {listing['status']}")
    out = Outcome.begin(state)
    _deliver(out, listing, ctx, check_room=not expired)
    if expired:
        out.notify("listing_expired", {"listing": listing["id"], "kind": listing["kind"], "code": listing["code"]})
    out.reply = {"val": out.state.val, "listing": listing["id"]}
    return out


def list_goods(state: PlayerState, seller_id: str, seller_name: str, price: int, featured: bool, ctx: RuleContext,
               item_id: str | None = None, character_id: str | None = None) -> MarketMove:
    """`market.list`: the goods go into escrow in a new listing, announced on the feed."""
    out, listing = create_listing(state, seller_id, seller_name, price, featured, ctx, item_id, character_id)
    return MarketMove({seller_id: out}, ListingMove(listing["id"], None, listing), out.reply,
                      [(FEED, "market.listed", listing_view(listing))])


def sell(buyer: PlayerState, seller: PlayerState, buyer_id: str, buyer_name: str, listing: dict[str, Any],
         ctx: RuleContext) -> MarketMove:
    """`market.buy`: the buyer pays and gets the goods, the seller gets the price less the tax, the listing is sold."""
    bought = buy(buyer, buyer_id, listing, ctx)
    sold = sale_proceeds(seller, listing, buyer_name, ctx)
    closed = {**listing, "status": "sold", "buyer_id": buyer_id, "buyer": buyer_name, "closed_at": ctx.now}
    feed = {"listing": listing["id"], "price": listing["price"], "kind": listing["kind"], "code": listing["code"],
            "seller": listing["seller"], "buyer": buyer_name}
    return MarketMove({buyer_id: bought, listing["seller_id"]: sold}, ListingMove(listing["id"], ACTIVE, closed),
                      bought.reply, [(FEED, "market.sold", feed)])


def cancel(state: PlayerState, player_id: str, listing: dict[str, Any], ctx: RuleContext) -> MarketMove:
    """`market.cancel`: the seller takes the goods back (room needed) and the listing is cancelled."""
    if listing["seller_id"] != player_id:
        raise GameError(ErrorCode.FORBIDDEN, "not your listing")
    out = take_back(state, listing, ctx, expired=False)
    closed = {**listing, "status": "cancelled", "closed_at": ctx.now}
    return MarketMove({player_id: out}, ListingMove(listing["id"], ACTIVE, closed), out.reply,
                      [(FEED, "market.cancelled", {"listing": listing["id"]})])


def expire(state: PlayerState, listing: dict[str, Any], ctx: RuleContext) -> MarketMove:
    """The expiry job: an active listing past its time goes back to its seller (even past the limits)."""
    if listing["status"] != ACTIVE or listing["expires_at"] > ctx.now:
        raise conflict(f"listing {listing['id']} is {listing['status']}, not due")
    out = take_back(state, listing, ctx, expired=True)
    closed = {**listing, "status": "expired", "closed_at": ctx.now}
    return MarketMove({listing["seller_id"]: out}, ListingMove(listing["id"], ACTIVE, closed), out.reply,
                      [(FEED, "market.expired", {"listing": listing["id"]})])


def listing_view(listing: dict[str, Any]) -> dict[str, Any]:
    """What buyers see of a listing."""
    goods = listing.get("item") or listing.get("character") or {}
    view = {k: listing.get(k) for k in ("id", "status", "price", "kind", "code", "rank", "level", "featured",
                                        "created_at", "expires_at")}
    view["seller"] = listing.get("seller")
    view["seller_id"] = listing.get("seller_id")
    if listing["kind"] == "character":
        view["character"] = {k: goods.get(k) for k in ("id", "base", "rank", "level", "stage", "xp")}
    else:
        view["item"] = item_view(Item.from_dict(goods))
        consumable = CONSUMABLES.get(listing["code"])
        if consumable is not None:
            view["uses"] = goods.get("uses")
    return view
