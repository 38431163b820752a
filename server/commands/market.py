"""The market family. Every trade is one atomic commit: both players' states, the listing (moved from `active`
by a conditional write, so exactly one buyer or canceller wins), the ledger lines and the idempotency record."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from persistence import Change, ListingQuery, ListingWrite
from protocol import ErrorCode
from protocol.schema import MAX_INT
from server.commands.registry import Call, handles
from server.game import market
from server.game.errors import GameError
from server.game.outcome import RuleContext
from server.players import Plan, Reply

DEFAULT_ORDER = {"price": False, "newest": True, "level": True}  # descending?


async def _listing(call: Call, listing_id: str) -> dict[str, Any]:
    listing = await call.node.storage.get_listing(listing_id)
    if listing is None:
        raise GameError(ErrorCode.NOT_FOUND, f"no listing {listing_id!r}", field="data.listing")
    return listing


@handles("market.list")
async def market_list(call: Call) -> Reply:
    data, players = call.data, call.node.players

    async def plan(ctx: RuleContext) -> Plan:
        doc, state = await players.load(call.player_id)
        outcome, listing = market.create_listing(
            state, call.player_id, call.session.name, data["price"], data.get("featured", False), ctx,
            item_id=data.get("item"), character_id=data.get("character"))
        change = Change(listings=[ListingWrite(listing["id"], None, listing)])
        applied = [players.write_of(doc, outcome, change, ctx.now, state)]
        return Plan(change, applied, outcome.reply,
                    [("market", "market.listed", market.listing_view(listing))])

    return await players.transact(call.player_id, plan, call.idem)


@handles("market.buy")
async def market_buy(call: Call) -> Reply:
    players = call.node.players

    async def plan(ctx: RuleContext) -> Plan:
        listing = await _listing(call, call.data["listing"])
        buyer_doc, buyer_state = await players.load(call.player_id)
        bought = market.buy(buyer_state, call.player_id, listing, ctx)
        seller_doc, seller_state = await players.load(listing["seller_id"])
        sold = market.sale_proceeds(seller_state, listing, call.session.name, ctx)
        closed = {**listing, "status": "sold", "buyer_id": call.player_id, "buyer": call.session.name,
                  "closed_at": ctx.now}
        change = Change(listings=[ListingWrite(listing["id"], market.ACTIVE, closed)])
        applied = [players.write_of(buyer_doc, bought, change, ctx.now, buyer_state),
                   players.write_of(seller_doc, sold, change, ctx.now, seller_state)]
        feed = {"listing": listing["id"], "price": listing["price"], "kind": listing["kind"],
                "code": listing["code"], "seller": listing["seller"], "buyer": call.session.name}
        return Plan(change, applied, bought.reply, [("market", "market.sold", feed)])

    return await players.transact(call.player_id, plan, call.idem)


@handles("market.cancel")
async def market_cancel(call: Call) -> Reply:
    players = call.node.players

    async def plan(ctx: RuleContext) -> Plan:
        listing = await _listing(call, call.data["listing"])
        if listing["seller_id"] != call.player_id:
            raise GameError(ErrorCode.FORBIDDEN, "not your listing")
        doc, state = await players.load(call.player_id)
        outcome = market.take_back(state, listing, ctx, expired=False)
        closed = {**listing, "status": "cancelled", "closed_at": ctx.now}
        change = Change(listings=[ListingWrite(listing["id"], market.ACTIVE, closed)])
        applied = [players.write_of(doc, outcome, change, ctx.now, state)]
        return Plan(change, applied, outcome.reply, [("market", "market.cancelled", {"listing": listing["id"]})])

    return await players.transact(call.player_id, plan, call.idem)


def _encode_cursor(listing: dict[str, Any], column: str) -> str:
    raw = orjson.dumps([int(listing["featured"]), listing[column], listing["id"]])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, float, str]:
    try:
        featured, value, last_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not (featured in (0, 1) and type(value) in (int, float) and abs(value) <= MAX_INT
                and isinstance(last_id, str) and len(last_id) <= 64):
            raise ValueError
    except Exception:
        raise GameError(ErrorCode.BAD_REQUEST, "invalid cursor", field="data.cursor") from None
    return featured, value, last_id


@handles("market.browse")
async def market_browse(call: Call) -> dict[str, Any]:
    data = call.data
    sort = data.get("sort", "price")
    order = data.get("order")
    descending = DEFAULT_ORDER[sort] if order is None else order == "desc"
    limit = min(data.get("limit", 20), call.node.game.market_page_max)
    query = ListingQuery(kind=data.get("kind"), rank=data.get("rank"), price_min=data.get("price_min"),
                         price_max=data.get("price_max"), min_level=data.get("min_level"), name=data.get("name"),
                         sort=sort, descending=descending, limit=limit + 1, live_at=call.now,
                         after=_decode_cursor(data["cursor"]) if data.get("cursor") else None)
    rows = await call.node.storage.query_listings(query)
    page, more = rows[:limit], len(rows) > limit
    return {"listings": [market.listing_view(row) for row in page],
            "next": _encode_cursor(page[-1], query.sort_column) if more else None}


@handles("market.mine")
async def market_mine(call: Call) -> dict[str, Any]:
    status = call.data.get("status", "active")
    rows = await call.node.storage.query_listings(
        ListingQuery(status=status, seller_id=call.player_id, sort="newest", descending=True, limit=100))
    return {"listings": [market.listing_view(row) for row in rows]}
