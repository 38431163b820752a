"""Trading traffic across two nodes for the bus fault tests: pairs of players, one on each node, passing a potion
back and forth with keyed commands while something breaks, each reconnecting and retrying with the same key."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed

from tests.cluster.conftest import Cluster, item_id
from tests.conftest import Connect
from tests.support.client import Client, assert_no_gap
from tests.support.servers import ServerProcess

PRICE = 5  # a consumable's lowest price: no tax, so a potion can go back and forth forever
SLOW = 60  # a command may wait out the outage; its reply still has to come
MAX_TRADES = 90  # per pair, so each trader's sold listings fit in one `market.mine` page (100)
PACE = 0.05  # seconds between two trades of a pair: steady traffic rather than a flood (not a synchronisation)



@dataclass
class Trader:
    """A player that reconnects when its socket closes and retries its last command with the same idem key."""

    node: ServerProcess
    login: dict[str, Any]
    connect: Connect
    client: Client | None = None
    closes: list[int | None] = field(default_factory=list)
    first_seq: int = 0  # the seq its first socket started from

    async def open(self) -> Client:
        deadline = time.monotonic() + SLOW
        while True:
            try:
                self.client, hello = await self.connect(self.node, self.login)
                if not self.closes:
                    self.first_seq = hello["seq"]
                return self.client
            except (ConnectionError, ConnectionClosed, TimeoutError):
                # the node refuses sockets while it cannot register them on the bus: retry until the deadline
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    async def command(self, type: str, data: dict[str, Any], idem: str) -> dict[str, Any]:
        for _ in range(10):
            client = self.client or await self.open()
            try:
                return await client.request(type, data, idem=idem, timeout=SLOW)
            except (ConnectionError, ConnectionClosed):
                self.closes.append(client.close_code)
                self.client = None
        raise AssertionError(f"{type} {idem}: no reply after 10 connections")


@dataclass
class Trades:
    accepted: list[tuple[str, str, str]] = field(default_factory=list)  # (listing, seller id, buyer id)
    refused: list[dict[str, Any]] = field(default_factory=list)


async def ping_pong(one: Trader, other: Trader, potion: str, trades: Trades, stop: asyncio.Event, tag: str) -> None:
    """`one` lists the potion, `other` buys it; then the other way round; until `stop` is set."""
    seller, buyer = one, other
    for n in range(MAX_TRADES):
        if stop.is_set():
            return
        listed = await seller.command("market.list", {"item": potion, "price": PRICE}, f"{tag}-list-{n}")
        if not listed["ok"]:
            trades.refused.append(listed)
            return
        listing = listed["data"]["listing"]
        bought = await buyer.command("market.buy", {"listing": listing}, f"{tag}-buy-{n}")
        if not bought["ok"]:
            trades.refused.append(bought)
            return
        trades.accepted.append((listing, seller.login["player_id"], buyer.login["player_id"]))
        seller, buyer = buyer, seller
        await asyncio.sleep(PACE)


@dataclass
class Traffic:
    """`count` pairs of traders, one of each pair on each node, trading until `finish`."""

    pairs: list[tuple[Trader, Trader]]
    trades: Trades
    stop: asyncio.Event
    tasks: list[asyncio.Task[None]]

    @classmethod
    async def start(cls, cluster: Cluster, connect: Connect, a: ServerProcess, b: ServerProcess,
                    count: int = 2) -> Traffic:
        pairs: list[tuple[Trader, Trader]] = []
        for _ in range(count):
            left = Trader(a, await cluster.login(a), connect)
            right = Trader(b, await cluster.login(b), connect)
            await left.open()
            await right.open()
            pairs.append((left, right))
        trades, stop = Trades(), asyncio.Event()
        potions = [await item_id(left.client, "pocion-vida-menor") for left, _ in pairs]  # type: ignore[arg-type]
        tasks = [asyncio.create_task(ping_pong(left, right, potion, trades, stop, f"pair{i}"))
                 for i, ((left, right), potion) in enumerate(zip(pairs, potions, strict=True))]
        return cls(pairs, trades, stop, tasks)

    @property
    def traders(self) -> list[Trader]:
        return [trader for pair in self.pairs for trader in pair]

    async def beyond(self, count: int) -> bool:
        """Whether more than `count` trades were accepted (fails at once on a refused one)."""
        if self.trades.refused:
            raise AssertionError(f"a trade was refused: {self.trades.refused}")
        return len(self.trades.accepted) >= count

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.wait_for(asyncio.gather(*self.tasks), SLOW * 2)
        assert not self.trades.refused, self.trades.refused

    def assert_no_socket_closed_nor_gap(self) -> None:
        for trader in self.traders:
            assert trader.closes == [] and trader.client is not None and trader.client.close_code is None
            assert_no_gap(trader.client, trader.first_seq)

    async def assert_stored(self) -> None:
        """Every accepted trade is in storage: each listing sold, by its seller, once."""
        for trader in self.traders:
            client = trader.client or await trader.open()
            sold = {s["id"] for s in (await client.call("market.mine", {"status": "sold"}))["listings"]}
            mine = {listing for listing, seller_id, _ in self.trades.accepted
                    if seller_id == trader.login["player_id"]}
            assert sold == mine
        listings = [listing for listing, _, _ in self.trades.accepted]
        assert len(set(listings)) == len(listings)
