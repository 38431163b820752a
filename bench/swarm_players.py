"""Active players on a swarm worker's side (bench/bench_players.py drives them through `Worker.op_play`).

Each authenticated socket of the worker is one player. After reading its characters and inventory (what a client
loads), it plays until the deadline: one action every `think` seconds on average (uniform jitter ±50 %, the first
one at a random moment within `think`, so players do not act in step), picked by weight:

- energy (weight 10): `energy.get`;
- state (6): `state.get`;
- inventory (3): `inventory.get`;
- browse (4): `market.browse`, the newest 20;
- combat (4): `combat.start` in auto mode (its `combat.started`, `combat.round`s and `combat.ended` follow as
  events); `character.revive` or `character.heal` first when the last combat hurt; `combat.state` while one runs;
- trade (3): half the time `market.list` of a potion at 5 VAL, else `market.browse` of consumables and
  `market.buy` of another player's listing.

Counted per worker: every reply's latency by command type (send → reply, matched by id), replies missing when the
run ends (every request gets its reply: a missing one is lost), replies later than `timeout`, refusals a player
meets in normal play and other error replies (failures), by `type:code`; every personal event's `seq` against the
last one (starting from the `auth` reply's), gaps counted in missing numbers; combats whose `combat.ended` never came.
Sockets subscribed to the market at opening count the market events they receive (a digest's entries too, and the
events it skipped as `market.skipped`).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter, defaultdict
from typing import Any

import orjson

from bench.swarm_peer import Peer, perf

DUNGEON = "cueva-goblins"
ACTIONS = ("energy", "state", "inventory", "browse", "combat", "trade")
WEIGHTS = (10, 6, 3, 4, 4, 3)
POTION_PRICE = 5
# Refusals a player meets in normal play (another buyer won, no energy left, ...): the game said no, the server
# did not fail. Any other error reply is a failure.
REFUSALS: dict[str, set[str]] = {
    "combat.start": {"in_combat", "insufficient_energy", "character_wounded"},
    "combat.state": {"not_found"},
    "character.heal": {"insufficient_funds", "insufficient_energy", "conflict", "in_combat", "character_wounded"},
    "character.revive": {"insufficient_funds", "conflict", "in_combat"},
    "market.list": {"insufficient_funds", "not_found", "in_combat", "conflict", "inventory_full"},
    "market.buy": {"conflict", "not_found", "insufficient_funds", "inventory_full", "forbidden"},
}


class Tally:
    """What the worker's players counted."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[int]] = defaultdict(list)  # µs by command type
        self.refusals: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.events: Counter[str] = Counter()
        self.stray_replies = 0  # a reply to no command sent
        self.late = 0
        self.seq_missing = 0
        self.seq_disorder = 0  # an event whose seq is not above the last one
        self.combat_starts = 0
        self.lists = 0
        self.trades = 0


class Player:
    """One socket's player: sends its commands, matches replies by id, follows its events."""

    def __init__(self, peer: Peer, tally: Tally, rng: random.Random, timeout: float) -> None:
        self.peer, self.tally, self.rng, self.timeout = peer, tally, rng, timeout
        self.pending: dict[int, tuple[str, float, asyncio.Future[dict[str, Any]]]] = {}
        self.ids = itertools.count(1)
        auth = orjson.loads(peer.auth_reply)["data"]
        self.seq: int = auth.get("seq") or 0
        self.player_id: str = auth["player"]["id"]
        self.val: int = auth["player"]["val"]
        self.energy: int = auth["player"]["energy"]
        self.character = ""
        self.items: list[str] = []  # consumables to sell
        self.hurt = self.wounded = False
        self.combats_open = 0  # combat.started events without their combat.ended yet
        self.gaps = 0
        peer.listener = self.on_frame

    # --- frames -------------------------------------------------------------------------------------------------
    def on_frame(self, payload: bytes) -> None:
        now = perf()
        if payload.startswith(b'{"type":"market.'):  # the market feed: most frames, no seq, counted unparsed
            kind = payload[9:payload.index(b'"', 9)].decode()
            self.tally.events[kind] += 1
            if kind == "market.digest":  # and what a digest carries, as the single events would have been
                data = orjson.loads(payload)["data"]
                self.tally.events.update(entry["type"] for entry in data["events"])
                self.tally.events["market.skipped"] += data["skipped"]
            return
        message = orjson.loads(payload)
        if "ok" not in message:  # replies carry `ok`, events never
            self.on_event(message)
            return
        entry = self.pending.pop(message.get("id"), None)  # type: ignore[arg-type]
        if entry is None:
            self.tally.stray_replies += 1
            return
        type_, sent, future = entry
        self.tally.latencies[type_].append(int((now - sent) * 1e6))
        if not future.done():
            future.set_result(message)

    def on_event(self, event: dict[str, Any]) -> None:
        seq = event.get("seq")
        if seq is not None:  # personal events: one sequence per player, by one
            if seq > self.seq + 1:
                self.tally.seq_missing += seq - self.seq - 1
                self.gaps += 1
            elif seq <= self.seq:
                self.tally.seq_disorder += 1
            self.seq = max(self.seq, seq)
        kind = event.get("type", "?")
        self.tally.events[kind] += 1
        data = event.get("data") or {}
        if kind == "energy.updated":
            self.energy = data.get("energy", self.energy)
        elif kind == "wallet.updated":
            self.val = data.get("val", self.val)
        elif kind == "combat.started":
            self.combats_open += 1
        elif kind == "combat.round":
            hp = (data.get("team_hp") or {}).get(self.character)
            self.hurt = hp is not None and hp < 20
        elif kind == "combat.ended":
            self.combats_open -= 1
            self.wounded = data.get("outcome") != "win"

    # --- commands -----------------------------------------------------------------------------------------------
    async def command(self, type_: str, data: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Send one command and wait for its reply (at most `timeout`): its data when ok, else None."""
        n = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[n] = (type_, perf(), future)
        self.peer.send(orjson.dumps({"id": n, "type": type_, "data": data or {}}))
        done, _ = await asyncio.wait((future,), timeout=self.timeout)
        if not done:
            self.tally.late += 1  # still pending: counted missing at the end unless it comes
            return None
        reply = future.result()
        if reply.get("ok"):
            return reply.get("data") or {}
        code = str((reply.get("error") or {}).get("code"))
        counter = self.tally.refusals if code in REFUSALS.get(type_, ()) else self.tally.failures
        counter[f"{type_}:{code}"] += 1
        if code == "character_wounded":
            self.wounded = True
        elif code == "insufficient_energy":
            self.energy = 0
        return None

    async def load(self) -> None:
        """What a client reads on connecting: its characters and its inventory."""
        characters = await self.command("character.list")
        if characters and characters["characters"]:
            self.character = characters["characters"][0]["id"]
        await self.read_inventory()

    async def read_inventory(self) -> None:
        inventory = await self.command("inventory.get")
        if inventory is not None:
            self.items = [i["id"] for i in inventory["items"] if i["kind"] == "consumable"]

    async def run(self, deadline: float, think: float) -> None:
        await self.load()
        await asyncio.sleep(self.rng.uniform(0, think))
        while perf() < deadline and not self.peer.closed:
            await self.act(self.rng.choices(ACTIONS, WEIGHTS)[0])
            await asyncio.sleep(think * self.rng.uniform(0.5, 1.5))

    async def act(self, action: str) -> None:
        if action == "energy":
            data = await self.command("energy.get")
            self.energy = data["energy"] if data else self.energy
        elif action == "state":
            await self.command("state.get")
        elif action == "inventory":
            await self.read_inventory()
        elif action == "browse":
            await self.command("market.browse", {"sort": "newest", "limit": 20})
        elif action == "combat":
            await self.combat()
        else:
            await self.trade()

    async def combat(self) -> None:
        if not self.character:
            return
        if self.combats_open:
            await self.command("combat.state")
        elif self.wounded:  # tried once: a refusal that says it is still wounded comes back from combat.start
            await self.command("character.revive", {"character": self.character})
            self.wounded = self.hurt = False
        elif self.hurt:
            await self.command("character.heal", {"character": self.character})
            self.hurt = False
        elif self.energy < 5:
            data = await self.command("energy.get")
            self.energy = data["energy"] if data else self.energy
        elif await self.command("combat.start", {"dungeon": DUNGEON, "team": [self.character], "mode": "auto"}):
            self.tally.combat_starts += 1
            self.energy -= 5

    async def trade(self) -> None:
        if self.items and self.rng.random() < 0.5:
            if await self.command("market.list", {"item": self.items.pop(), "price": POTION_PRICE}) is not None:
                self.tally.lists += 1
            return
        page = await self.command("market.browse", {"kind": "consumable", "sort": "newest", "limit": 20})
        offers = [x for x in (page or {}).get("listings", ()) if x.get("seller_id") != self.player_id
                  and x["price"] <= self.val]
        if not offers:
            return
        bought = await self.command("market.buy", {"listing": self.rng.choice(offers)["id"]})
        if bought is not None:
            self.tally.trades += 1
            self.val = bought.get("val", self.val)
            received = bought.get("received")
            if isinstance(received, dict) and received.get("kind") == "consumable":
                self.items.append(received["id"])


async def play(sockets: list[Peer], duration: float, think: float, timeout: float, settle: float,
               seed: int) -> dict[str, Any]:
    """Every open `valgame` socket of a worker's `sockets` plays for `duration` s; then, for at most `settle` s, the
    last replies and the end of the combats under way are awaited."""
    peers = [p for p in sockets if p.kind == "valgame" and not p.closed and p.auth_reply]
    if not peers:
        return {"error": "no authenticated sockets"}
    tally = Tally()
    rng = random.Random(seed)
    players = [Player(peer, tally, random.Random(rng.getrandbits(64)), timeout) for peer in peers]
    cpu, start = time.process_time(), perf()
    await asyncio.gather(*(p.run(start + duration, think) for p in players))
    played = perf() - start
    settle_until = perf() + settle
    while perf() < settle_until and any(p.pending or p.combats_open for p in players):
        await asyncio.sleep(0.05)  # bounded wait for the last replies and combat.ended events
    return {"players": len(players), "played": played, "settled": perf() - start - played,
            "cpu": time.process_time() - cpu, "lat_us": dict(tally.latencies),
            "missing": sum(len(p.pending) for p in players), "late": tally.late, "stray": tally.stray_replies,
            "refusals": dict(tally.refusals), "failures": dict(tally.failures), "events": dict(tally.events),
            "seq_missing": tally.seq_missing, "seq_disorder": tally.seq_disorder,
            "players_with_gaps": sum(1 for p in players if p.gaps),
            "combats_unended": sum(max(0, p.combats_open) for p in players), "combat_starts": tally.combat_starts,
            "lists": tally.lists, "trades": tally.trades, "closed": sum(1 for p in peers if p.closed)}
