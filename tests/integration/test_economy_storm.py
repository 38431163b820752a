"""A seeded storm of random economy commands from many players at once, with retried idempotency keys (some
after reconnecting), then the economy audit; and the same storm with the node SIGKILLed and restarted mid-way.

Rule refusals are expected (a stale view of the market, an empty wallet...); `internal` never is. Afterwards the
audit CLI must find every balance equal to its ledger, nothing owned twice, nothing negative, and every trade
whole (tests/support/economy.py: `trade_problems`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from websockets.exceptions import WebSocketException

from tests.support.client import Client
from tests.support.economy import quick_login, run_audit, snapshot, trade_problems
from tests.support.servers import ServerProcess

SEED = 20251129
PLAYERS = 30
OPERATIONS = 3000
CONCURRENCY = 20  # commands in flight at once, over all sockets
GAME = {"auto_round_delay_seconds": 0, "energy_regen_seconds": 2, "market_listing_seconds": 8,
        "recruit_chances": {"cueva-goblins": 0.25}}
NODE = {"rate_per_second": 5000, "rate_burst": 5000, "rate_abuse_limit": 100000, "expiry_interval_seconds": 0.5,
        "outbound_max_frames": 10000}
# what the rules may answer to a random command; anything else (`internal` above all) fails the storm
EXPECTED_ERRORS = {"not_found", "conflict", "forbidden", "insufficient_funds", "insufficient_energy",
                   "inventory_full", "level_too_low", "character_wounded", "in_combat"}
MUTATIONS = [("market.list", 22), ("market.buy", 22), ("market.cancel", 7), ("item.use", 8), ("combat.start", 14),
             ("character.equip", 7), ("character.unequip", 4), ("character.heal", 7), ("character.revive", 4),
             ("evo.buy", 2)]
LINK_ERRORS = (OSError, ConnectionError, WebSocketException, TimeoutError)
# a loaded machine slows registration and the storm down; the storm's own deadline (100 s) is what should fire
pytestmark = pytest.mark.timeout(300)


@dataclass
class Tally:
    sent: Counter[str] = field(default_factory=Counter)  # distinct operations per type
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, "ok" or error code)
    replays: int = 0  # keyed commands sent again and answered from the idempotency record
    resent_after_drop: int = 0
    lost_in_flight: int = 0  # keyed commands whose reply a broken link swallowed (sent again with the same key)
    reconnects: int = 0
    unavailable: int = 0  # keyed commands answered `unavailable` at their deadline (sent again with the same key)
    problems: list[str] = field(default_factory=list)
    market: dict[str, dict[str, Any]] = field(default_factory=dict)  # the listings players have seen lately

    @property
    def total(self) -> int:
        return sum(self.sent.values())


class Actor:
    """One player with one socket, playing random moves from its own seeded generator."""

    def __init__(self, server: ServerProcess, login: dict[str, Any], rng: random.Random, tally: Tally,
                 gate: asyncio.Semaphore, tag: str) -> None:
        self.server, self.login, self.rng, self.tally, self.gate, self.tag = server, login, rng, tally, gate, tag
        self.client: Client | None = None
        self.items: list[dict[str, Any]] = []
        self.chars: list[dict[str, Any]] = []
        self.mine: list[str] = []
        self.val = 100
        self.keys = 0

    @property
    def me(self) -> str:
        return self.login["player_id"]

    # --- the link ------------------------------------------------------------------------------------------------
    async def connect(self, deadline: float) -> Client:
        delay = 0.05
        while True:
            try:
                client, _ = await Client.open(self.server.ws, self.login["access_token"])
                self.client = client
                return client
            except LINK_ERRORS:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(delay)  # the node is restarting: back off and try again
                delay = min(delay * 2, 0.5)

    async def drop(self) -> None:
        client, self.client = self.client, None
        self.tally.reconnects += 1
        if client is not None:
            try:
                await asyncio.wait_for(client.close(), 5)
            except Exception:
                pass

    async def send(self, type_: str, data: dict[str, Any], idem: str | None = None) -> dict[str, Any]:
        """The reply to a command; a broken link is re-opened and the same command (same key) sent again."""
        deadline = time.monotonic() + 60
        while True:
            client = self.client or await self.connect(deadline)
            try:
                reply = await client.request(type_, data, idem=idem, timeout=20)
            except LINK_ERRORS:
                if time.monotonic() > deadline:
                    raise
                await self.drop()
                if idem is not None:
                    self.tally.lost_in_flight += 1
                continue
            return reply

    async def send_and_drop(self, type_: str, data: dict[str, Any], idem: str) -> None:
        """Send a keyed command and close the socket at once, without waiting for its reply."""
        client = self.client or await self.connect(time.monotonic() + 60)
        frame = {"id": f"drop-{idem}", "type": type_, "data": data, "idem": idem}
        try:
            await client.send_raw(orjson.dumps(frame).decode())
        except LINK_ERRORS:
            pass
        await self.drop()

    # --- knowledge -----------------------------------------------------------------------------------------------
    async def refresh(self) -> None:
        inventory = await self.send("inventory.get", {})
        if inventory["ok"]:
            self.items = inventory["data"]["items"]
        chars = await self.send("character.list", {})
        if chars["ok"]:
            self.chars = chars["data"]["characters"]
        state = await self.send("state.get", {})
        if state["ok"]:
            self.val = state["data"]["player"]["val"]
        mine = await self.send("market.mine", {})
        if mine["ok"]:
            self.mine = [v["id"] for v in mine["data"]["listings"]]
        query: dict[str, Any] = {"limit": 40, "sort": self.rng.choice(["newest", "price", "level"])}
        if self.rng.random() < 0.5:
            query["price_max"] = max(5, self.val)
        page = await self.send("market.browse", query)
        if page["ok"]:
            for view in page["data"]["listings"]:
                self.tally.market[view["id"]] = view
            while len(self.tally.market) > 400:
                self.tally.market.pop(next(iter(self.tally.market)))

    # --- moves ---------------------------------------------------------------------------------------------------
    def pick(self, things: list[Any]) -> Any:
        return self.rng.choice(things) if things else None

    def move(self) -> tuple[str, dict[str, Any]] | None:
        kinds, weights = zip(*MUTATIONS, strict=True)
        kind = self.rng.choices(kinds, weights)[0]
        rng = self.rng
        idle = [c for c in self.chars if not c["in_combat"]]
        consumables = [i for i in self.items if i["kind"] == "consumable"]
        equipment = [i for i in self.items if i["kind"] == "equipment"]
        if kind == "market.list":
            if rng.random() < 0.12 and len(self.chars) > 1:
                char = self.pick(idle)
                return (kind, {"character": char["id"], "price": rng.randint(100, 160)}) if char else None
            item = self.pick(self.items)
            if item is None:
                return None
            low = 10 if item["kind"] == "equipment" else 5
            data = {"item": item["id"], "price": rng.randint(low, low + 35)}
            if rng.random() < 0.04:
                data["featured"] = True
            return kind, data
        if kind == "market.buy":
            offers = [v for v in self.tally.market.values() if v["seller_id"] != self.me]
            if rng.random() < 0.05:  # sometimes one's own, or one long gone
                offers = list(self.tally.market.values())
            view = self.pick(offers)
            return (kind, {"listing": view["id"]}) if view else None
        if kind == "market.cancel":
            listing = self.pick(self.mine)
            return (kind, {"listing": listing}) if listing else None
        if kind == "item.use":
            item, char = self.pick(consumables), self.pick(self.chars)
            return (kind, {"item": item["id"], "character": char["id"]}) if item and char else None
        if kind == "combat.start":
            team = [c["id"] for c in idle if not c["wounded"]]
            if not team:
                return None
            rng.shuffle(team)
            return kind, {"dungeon": "cueva-goblins", "team": team[:rng.randint(1, 3)], "mode": "auto"}
        if kind == "character.equip":
            item, char = self.pick(equipment), self.pick(self.chars)
            return (kind, {"character": char["id"], "item": item["id"]}) if item and char else None
        if kind == "character.unequip":
            worn = [c for c in self.chars if c["equipment"]]
            char = self.pick(worn)
            return (kind, {"character": char["id"], "slot": self.pick(sorted(char["equipment"]))}) if char else None
        if kind in ("character.heal", "character.revive"):
            char = self.pick(self.chars)
            return (kind, {"character": char["id"]}) if char else None
        return kind, {"count": 1}

    def record(self, type_: str, reply: dict[str, Any]) -> None:
        code = "ok" if reply["ok"] else reply["error"]["code"]
        self.tally.outcomes[(type_, code)] += 1
        if reply.get("replayed"):
            self.tally.replays += 1
        if code != "ok" and code not in EXPECTED_ERRORS:
            self.tally.problems.append(f"{type_}: {reply['error']}")

    async def step(self) -> None:
        rng = self.rng
        planned = self.move()
        if planned is None or rng.random() < 0.12:
            async with self.gate:
                await self.refresh()
            return
        type_, data = planned
        self.keys += 1
        idem = f"{self.tag}-{self.login['name']}-{self.keys}"
        self.tally.sent[type_] += 1
        roll = rng.random()
        async with self.gate:
            if roll < 0.04:  # lose the link right after sending; reconnect and send the same key again
                await self.send_and_drop(type_, data, idem)
                self.tally.resent_after_drop += 1
                reply = await self.send(type_, data, idem)
                self.record(type_, reply)
                if not reply["ok"]:  # refused: then the dropped original must not have been applied either
                    third = await self.send(type_, data, idem)
                    if third.get("replayed"):
                        self.tally.problems.append(f"{type_} {idem}: the retry was refused with {reply['error']} "
                                                   f"though the command was applied: {third}")
            else:
                reply = await self.send(type_, data, idem)
                self.record(type_, reply)
                if roll < 0.14:  # a client-side retry with the same key: the same answer, nothing applied twice
                    again = await self.send(type_, data, idem)
                    if reply["ok"] and not (again["ok"] and again.get("replayed") is True
                                            and again["data"] == reply["data"]):
                        self.tally.problems.append(f"retry of {type_} {idem}: {reply} then {again}")
                    if again.get("replayed"):
                        self.tally.replays += 1
        if reply["ok"]:
            if type_ == "market.list":
                self.mine.append(reply["data"]["listing"])
                self.items = [i for i in self.items if i["id"] != data.get("item")]
                self.chars = [c for c in self.chars if c["id"] != data.get("character")]
            elif type_ in ("market.buy", "market.cancel"):
                self.tally.market.pop(data["listing"], None)
                if data["listing"] in self.mine:
                    self.mine.remove(data["listing"])
            if "val" in reply["data"]:
                self.val = reply["data"]["val"]
        elif reply["error"]["code"] in ("not_found", "conflict", "in_combat", "character_wounded"):
            if type_ in ("market.buy", "market.cancel"):
                self.tally.market.pop(data["listing"], None)
            if rng.random() < 0.5:
                async with self.gate:
                    await self.refresh()

    async def play(self, quota: int, stop: asyncio.Event) -> None:
        async with self.gate:
            await self.connect(time.monotonic() + 60)
            await self.refresh()
        while self.tally.total < quota and not stop.is_set():
            await self.step()

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()


@pytest.fixture(scope="module")
def storm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("storm"), game=GAME, **NODE).start()
    yield proc
    proc.kill()


@pytest.fixture(scope="module")
async def storm_players(storm_server: ServerProcess) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(8)

    async def one(n: int) -> dict[str, Any]:
        async with gate:
            return await quick_login(storm_server, f"storm{n}_{int(time.time()) % 100000}")
    return list(await asyncio.gather(*(one(n) for n in range(PLAYERS))))


async def storm(server: ServerProcess, players: list[dict[str, Any]], seed: int, tag: str,
                chaos: Any = None) -> Tally:
    master = random.Random(seed)
    tally = Tally()
    gate = asyncio.Semaphore(CONCURRENCY)
    actors = [Actor(server, login, random.Random(master.getrandbits(64)), tally, gate, tag) for login in players]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(a.play(OPERATIONS, stop)) for a in actors]
    if chaos is not None:
        tasks.append(asyncio.create_task(chaos(tally)))
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), 100)
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(a.close() for a in actors), return_exceptions=True)
    return tally


def check(server: ServerProcess, tally: Tally) -> None:
    oks = Counter({t: n for (t, code), n in tally.outcomes.items() if code == "ok"})
    summary = (f"sent {dict(tally.sent)}, outcomes {dict(tally.outcomes)}, replays {tally.replays}, "
               f"reconnects {tally.reconnects}, lost in flight {tally.lost_in_flight}")
    assert tally.problems == [], "\n".join([p[:400] for p in tally.problems[:20]] + [summary])
    assert tally.total >= OPERATIONS, summary
    assert ("internal" not in {code for _, code in tally.outcomes}), summary
    # the storm really traded: plenty of listings, purchases, cancels, fights and retries
    assert oks["market.list"] >= 150 and oks["market.buy"] >= 60 and oks["market.cancel"] >= 20, summary
    assert oks["combat.start"] >= 50 and oks["item.use"] >= 10, summary
    assert tally.replays >= 100 and tally.resent_after_drop >= 50, summary
    assert "Traceback" not in server.log(), server.log()[-5000:]

    code, report = run_audit(server.data_dir)
    assert code == 0 and report["ok"] is True, report
    assert report["players"] >= PLAYERS and report["negative_balances"] == []
    snap = snapshot(server.data_dir)
    assert trade_problems(snap) == []
    sold = [lid for lid, doc in snap.listings.items() if doc["status"] == "sold"]
    assert len(sold) >= oks["market.buy"]  # every purchase answered `ok` left a sold listing behind


async def test_storm(storm_server: ServerProcess, storm_players: list[dict[str, Any]]) -> None:
    tally = await storm(storm_server, storm_players, SEED, "calm")
    check(storm_server, tally)


async def test_storm_with_a_node_killed_midway(storm_server: ServerProcess,
                                               storm_players: list[dict[str, Any]]) -> None:
    restarts: list[float] = []

    async def kill_and_restart(tally: Tally) -> None:
        while tally.total < OPERATIONS // 2:
            await asyncio.sleep(0.05)  # polling the storm's progress, not waiting for an effect
        storm_server.kill()  # SIGKILL, mid-command for many sockets
        before = tally.total
        await asyncio.to_thread(storm_server.start)  # same data folder, same port
        restarts.append(tally.total - before)

    tally = await storm(storm_server, storm_players, SEED + 1, "chaos", kill_and_restart)
    assert restarts, "the node was never killed"
    assert tally.reconnects >= PLAYERS  # every player lost its socket at least once
    assert tally.lost_in_flight >= 1  # some commands were cut off mid-way and sent again with their key
    check(storm_server, tally)
