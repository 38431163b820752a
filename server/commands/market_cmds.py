"""The market family. Every trade is one atomic commit: both players' states, the listing (moved from `active`
by a conditional write, so exactly one buyer or canceller wins), the ledger lines and the idempotency record.
The rules (server/game/market.py) return all of it; a handler loads, calls the rule and commits what it returns."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from persistence import ListingQuery
from protocol import ErrorCode
from protocol.schema import MAX_INT
from server.commands.registry import Call, handles
from server.game import market
from server.game.errors import GameError
from server.game.outcome import RuleContext
from server.players import Plan, Reply

DEFAULT_ORDER = {"price": False, "newest": True, "level": True}  # descending?


async def _listing(call: Call, listing_id: str) -> dict[str, Any]:
    listing = await call.ctx.store.get_listing(listing_id)
    if listing is None:
        raise GameError(ErrorCode.NOT_FOUND, f"no listing {listing_id!r}", field="data.listing")
    return listing


@handles("market.list")
async def market_list(call: Call) -> Reply:
    data, players = call.data, call.ctx.players

    async def plan(ctx: RuleContext) -> Plan:
        loaded = await players.load_many([call.player_id])
        return players.plan(ctx, loaded, market.list_goods(
            loaded[call.player_id][1], call.player_id, call.session.name, data["price"], data.get("featured", False),
            ctx, item_id=data.get("item"), character_id=data.get("character")))

    return await players.transact(call.player_id, plan, call.idem)


@handles("market.buy")
async def market_buy(call: Call) -> Reply:
    players = call.ctx.players

    async def plan(ctx: RuleContext) -> Plan:
        listing = await _listing(call, call.data["listing"])
        loaded = await players.load_many([call.player_id, listing["seller_id"]])
        return players.plan(ctx, loaded, market.sell(
            loaded[call.player_id][1], loaded[listing["seller_id"]][1], call.player_id, call.session.name, listing,
            ctx))

    return await players.transact(call.player_id, plan, call.idem)


@handles("market.cancel")
async def market_cancel(call: Call) -> Reply:
    players = call.ctx.players

    async def plan(ctx: RuleContext) -> Plan:
        listing = await _listing(call, call.data["listing"])
        loaded = await players.load_many([call.player_id])
        return players.plan(ctx, loaded, market.cancel(loaded[call.player_id][1], call.player_id, listing, ctx))

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
    limit = min(data.get("limit", 20), call.ctx.game.market_page_max)
    query = ListingQuery(kind=data.get("kind"), rank=data.get("rank"), price_min=data.get("price_min"),
                         price_max=data.get("price_max"), min_level=data.get("min_level"), name=data.get("name"),
                         sort=sort, descending=descending, limit=limit + 1, live_at=call.now,
                         after=_decode_cursor(data["cursor"]) if data.get("cursor") else None)
    rows = await call.ctx.store.query_listings(query)
    page, more = rows[:limit], len(rows) > limit
    return {"listings": [market.listing_view(row) for row in page],
            "next": _encode_cursor(page[-1], query.sort_column) if more else None}


@handles("market.mine")
async def market_mine(call: Call) -> dict[str, Any]:
    status = call.data.get("status", "active")
    rows = await call.ctx.store.query_listings(
        ListingQuery(status=status, seller_id=call.player_id, sort="newest", descending=True, limit=100))
    return {"listings": [market.listing_view(row) for row in rows]}
