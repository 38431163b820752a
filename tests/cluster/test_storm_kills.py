"""The market's storm on two nodes sharing a MongoDB (secantusd), with three SIGKILLs while commands are in flight.

Thirty players play the seeded storm of tests/integration/test_economy_storm.py, each with a socket chain on both
nodes: a chain is the successive sockets of one player on one node, each later socket resuming the previous one's
session from the last seq it got. Every keyed command goes to the node after the one the previous keyed command went
to, and a command whose link breaks is sent again, with the same key, to the other node. A killer SIGKILLs one node
(then the other, then the first) at a moment when commands are in flight on it, and restarts it on the same port.

Afterwards, with the traffic stopped and every chain caught up with its player's head:
- every chain received exactly the seqs the event log (read straight from MongoDB) holds after its first one, in
  order, each once, each event as logged; no resume answered `resumed: false`, no client saw a gap;
- the log itself holds every seq up to the player's head, and a `notification.new` for each notification stored
  (the economy's own record of what a player must be told: on the code before the log, a sale committed by a node
  killed before it published never reached either of its players' chains, and nothing on the wire showed it);
- a keyed command answered `ok` has one outcome: sent again on either node, it is replayed with the same reply;
- the audit passes and every trade is whole.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.cluster.conftest import Cluster
from tests.cluster.test_storm_mongo import mongo_snapshot
from tests.integration.test_economy_storm import GAME, LINK_ERRORS, NODE, Actor, Tally
from tests.support.client import Client
from tests.support.economy import trade_problems
from tests.support.mongo import MongoProcess, database
from tests.support.servers import ServerProcess
from tests.support.wire import eventually

SEED = 20251201
PLAYERS = 30
OPERATIONS = 2000  # keyed commands (distinct keys; retries come on top)
CONCURRENCY = 12  # commands in flight at once, over all sockets
KILLS = 3
# A kill waits for this many commands in flight on its node: the more there are, the likelier one of them is between
# its commit and its publication, the moment the event log is for.
KILL_IN_FLIGHT = 3
SETTINGS = {**NODE, "presence_seconds": 3, "event_check_seconds": 0.5}  # NODE: the storm's high rate limits
REPLY_SECONDS = 20  # a reply slower than this counts as a broken link: the command goes to the other node
# A node killed inside a MongoDB transaction leaves what it touched locked until the store ends the transaction
# (TRANSACTION_LIFETIME here, as `transactionLifetimeLimitSeconds` in deploy/compose.yaml); meanwhile a command on
# those documents is answered `unavailable` at its deadline (10 s) and sent again with the same key.
TRANSACTION_LIFETIME = 6
SEND_SECONDS = 60  # longest one command may take, its retries included
STORM_SECONDS = 240
SAMPLE = 120  # keyed commands sent once more at the end


@dataclass
class Socket:
    """One socket of a chain: the session it opened, what its `auth` asked and answered."""

    client: Client
    session: str
    asked: int | None  # the seq it resumed from (None: a fresh start)
    resumed: bool | None
    start: int  # the seq its events come after (the `auth` reply's `seq`)


@dataclass
class Chain:
    """A player's successive sockets on one node."""

    node: int
    sockets: list[Socket] = field(default_factory=list)
    live: Client | None = None

    @property
    def first(self) -> int:
        return self.sockets[0].start

    @property
    def last(self) -> int:
        """The last seq the chain got (what its next socket resumes from)."""
        last = self.sockets[-1]
        return last.client.core.last_seq if last.client.core.last_seq is not None else last.start

    def received(self) -> list[int]:
        return [seq for socket in self.sockets for seq in socket.client.wire_seqs]


class KillActor(Actor):
    """The storm's player with a socket chain on each node. Keyed commands alternate between the nodes; a command
    whose link breaks (or whose node is down) is sent again, with the same key, to the other node."""

    def __init__(self, nodes: list[ServerProcess], first: int, login: dict[str, Any], rng: random.Random,
                 tally: Tally, gate: asyncio.Semaphore, in_flight: Counter[int]) -> None:
        super().__init__(nodes[first], login, rng, tally, gate, "kills")
        self.nodes = nodes
        self.at = first
        self.chains = [Chain(i) for i in range(len(nodes))]
        self.in_flight = in_flight  # commands sent and not answered yet, per node, over all actors
        self.keyed_by_node: Counter[int] = Counter()
        self.answered: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {}  # key -> type, data, ok reply
        self.closes: Counter[int | None] = Counter()
        self.slowest = 0.0  # seconds, the longest a command took to get its reply (retries included)

    def other(self) -> int:
        return (self.at + 1) % len(self.nodes)

    async def link(self, index: int) -> Client:
        """The chain's open socket on node `index`, opened (resuming the chain's session) when it has none."""
        chain = self.chains[index]
        if chain.live is not None and chain.live.closed.is_set():
            await self.retire(index)
        if chain.live is None:
            chain.live = await self.open(chain)
        return chain.live

    async def open(self, chain: Chain) -> Client:
        client = await Client.connect(self.nodes[chain.node].ws)
        auth: dict[str, Any] = {"token": self.login["access_token"]}
        asked = chain.last if chain.sockets else None
        if chain.sockets:
            auth["resume"] = {"session": chain.sockets[-1].session, "seq": asked}
        try:
            reply = await client.request("auth", auth, timeout=REPLY_SECONDS)
        except BaseException:
            await client.close()
            raise
        assert reply["ok"], f"auth refused on node {chain.node}: {reply}"
        data = reply["data"]
        chain.sockets.append(Socket(client, data["session"], asked, data.get("resumed"), data["seq"]))
        if asked is not None and data.get("resumed") is not True:
            self.tally.problems.append(f"{self.me} on node {chain.node}: resume from {asked} answered {data}")
        return client

    async def retire(self, index: int) -> None:
        """Close the chain's socket (its record stays in the chain); the next use opens another."""
        chain = self.chains[index]
        client, chain.live = chain.live, None
        if client is None:
            return
        self.tally.reconnects += 1
        try:
            await asyncio.wait_for(client.close(), 5)
        except Exception:
            pass  # the node is gone: nothing to close
        self.closes[client.close_code] += 1

    async def connect(self, deadline: float) -> Client:
        """At the start: a socket on each node."""
        for index in range(len(self.nodes)):
            await self.link(index)
        return await self.link(self.at)

    async def send(self, type_: str, data: dict[str, Any], idem: str | None = None) -> dict[str, Any]:
        if idem is not None:
            self.at = self.other()
        began = time.monotonic()
        attempts: list[str] = []  # what went wrong, for the failure message of a command that never got a reply
        while True:
            if time.monotonic() - began > SEND_SECONDS:
                raise AssertionError(f"{self.me}: no reply to {type_} {idem} {data} in {SEND_SECONDS} s: {attempts}")
            at = self.at
            try:
                client = await self.link(at)
            except LINK_ERRORS as exc:
                # the node is down (killed, restarting): the other one takes the command
                attempts.append(f"+{time.monotonic() - began:.1f}s node {at} refused: {exc!r}"[:200])
                self.at = self.other()
                if len(attempts) % len(self.nodes) == 0:
                    await asyncio.sleep(0.1)  # no node took it: a pause before trying again, not a synchronisation
                continue
            self.in_flight[at] += 1
            try:
                reply = await client.request(type_, data, idem=idem, timeout=REPLY_SECONDS)
            except LINK_ERRORS as exc:
                attempts.append(f"+{time.monotonic() - began:.1f}s node {at} lost it: {exc!r}"[:200])
                await self.retire(at)
                if idem is not None:
                    self.tally.lost_in_flight += 1
                self.at = self.other()  # the retry, with the same key, goes to the other node
                continue
            finally:
                self.in_flight[at] -= 1
            if idem is not None and not reply["ok"] and reply["error"]["code"] == "unavailable":
                # not done by its deadline (a dead node's transaction holds what it needs): the same key again,
                # after the pause the reply asks for, on the other node
                attempts.append(f"+{time.monotonic() - began:.1f}s node {at}: unavailable")
                self.tally.unavailable += 1
                await asyncio.sleep(reply["error"].get("retry_after_ms", 1000) / 1000)
                self.at = self.other()
                continue
            self.slowest = max(self.slowest, time.monotonic() - began)
            if idem is not None:
                self.keyed_by_node[at] += 1
                if reply["ok"]:
                    self.answered.setdefault(idem, (type_, data, reply["data"]))
            return reply

    async def send_and_drop(self, type_: str, data: dict[str, Any], idem: str) -> None:
        """Send a keyed command on the next node's socket and close that socket at once, without waiting for the
        reply (the retry that follows, with the same key, goes to the other node)."""
        self.at = self.other()
        try:
            client = await self.link(self.at)
            frame = {"id": f"drop-{idem}", "type": type_, "data": data, "idem": idem}
            await client.send_raw(orjson.dumps(frame).decode())
        except LINK_ERRORS:
            pass  # the node is down: the command goes out with the retry
        await self.retire(self.at)

    async def play(self, quota: int, stop: asyncio.Event) -> None:
        async with self.gate:
            await self.connect(time.monotonic() + SEND_SECONDS)
            await self.refresh()
        while not stop.is_set() and self.tally.total < quota:
            await self.step()

    async def close(self) -> None:
        for index in range(len(self.nodes)):
            await self.retire(index)


@dataclass
class Kill:
    node: int
    port: int
    in_flight: int  # commands in flight on the node when it was killed
    at_total: int  # keyed commands sent by then
    at: float = field(default_factory=time.monotonic)
    restart_seconds: float = 0.0


async def killer(nodes: list[ServerProcess], tally: Tally, in_flight: Counter[int], kills: list[Kill]) -> None:
    """SIGKILL node 0, 1, 0 in turn, each at a moment commands are in flight on it once the storm is a fifth, two and
    three fifths through (early enough that the traffic after the last restart reaches the node again); restart each
    on its port before going on."""
    for k in range(KILLS):
        index = k % len(nodes)
        node = nodes[index]
        while tally.total < (k + 1) * OPERATIONS // (KILLS + 2) or in_flight[index] < KILL_IN_FLIGHT:
            await asyncio.sleep(0.002)  # polling the storm's progress, not waiting for an effect
        kill = Kill(index, node.port, in_flight[index], tally.total)
        node.kill()  # SIGKILL, with those commands in flight
        kills.append(kill)
        started = time.monotonic()
        await asyncio.to_thread(node.start, 60)  # same data folder, same port (ServerProcess keeps it)
        kill.restart_seconds = time.monotonic() - started
        assert node.port == kill.port


@dataclass
class Stored:
    """What the MongoDB holds, read straight from it: each player's event log (seq -> type and data), head and
    notifications."""

    logs: dict[str, dict[int, tuple[str, Any]]]
    heads: dict[str, int]
    notes: dict[str, dict[str, dict[str, Any]]]  # player -> notification id -> its document


def read_store(url: str) -> Stored:
    """Read in this order, so that a change committed meanwhile (a listing expiring) cannot make the log look short:
    whatever the notifications and heads read first hold, the log read after holds too."""
    with database(url) as db:
        notes: dict[str, dict[str, dict[str, Any]]] = {}
        for doc in db.notifications.find():
            notes.setdefault(doc["player_id"], {})[doc["_id"]] = doc
        heads = {doc["_id"]: doc.get("event_seq", 0) for doc in db.players.find({}, {"event_seq": 1})}
        logs: dict[str, dict[int, tuple[str, Any]]] = {}
        for doc in db.events.find({}, {"player_id": 1, "seq": 1, "type": 1, "data": 1}):
            logs.setdefault(doc["player_id"], {})[doc["seq"]] = (doc["type"], doc["data"])
    return Stored(logs, heads, notes)


def chain_problems(player: str, chain: Chain, log: dict[int, tuple[str, Any]], head: int) -> list[str]:
    """How the chain's stream differs from the log: it must hold each logged seq after its first one up to the head
    (at least), in order, once, each event as logged; every resume resumed; no client saw a gap."""
    where = f"{player} on node {chain.node}"
    problems = [f"{where}: socket {s.session} resumed from {s.asked}: resumed={s.resumed}"
                for s in chain.sockets if s.asked is not None and s.resumed is not True]
    problems += [f"{where}: socket {s.session} saw {s.client.resyncs}" for s in chain.sockets if s.client.resyncs]
    received = chain.received()
    end = max(chain.last, head)
    expected = [seq for seq in sorted(log) if chain.first < seq <= end]
    if received != expected:
        twice = sorted(seq for seq, n in Counter(received).items() if n > 1)
        missing = sorted(set(expected) - set(received))
        unknown = sorted(set(received) - set(expected))
        problems.append(f"{where}: from {chain.first} to {end}, duplicates {twice[:20]}, missing {missing[:20]}, "
                        f"not in the log {unknown[:20]}, in order: {received == sorted(set(received))}; sockets "
                        f"(asked, start, got) {[(s.asked, s.start, len(s.client.wire_seqs)) for s in chain.sockets]}")
    events = {e["seq"]: (e["type"], e["data"]) for s in chain.sockets for e in s.client.events
              if isinstance(e.get("seq"), int)}
    differ = {seq: (event, log.get(seq)) for seq, event in events.items() if log.get(seq) != event}
    if differ:
        problems.append(f"{where}: events differ from the log's (got, logged): {dict(list(differ.items())[:5])}")
    return problems


def log_problems(player: str, stored: Stored) -> list[str]:
    """The log against the economy's own records: the player's log holds every seq from 1 to its head, and each
    notification stored for the player."""
    log = stored.logs.get(player, {})
    problems = []
    missing = sorted(set(range(1, stored.heads[player] + 1)) - set(log))
    if missing:
        problems.append(f"{player}: head {stored.heads[player]}, log seqs missing {missing[:20]}")
    logged = {data["id"] for kind, data in log.values() if kind == "notification.new"}
    notes = stored.notes.get(player, {})
    missing_notes = [notes[n] for n in sorted(set(notes) - logged)]
    if missing_notes:
        problems.append(f"{player}: notifications stored but not in the event log: {missing_notes[:5]}")
    return problems


def active_listings(url: str) -> int:
    with database(url) as db:
        return db.listings.count_documents({"status": "active"})


async def settled(url: str) -> bool:
    return await asyncio.to_thread(active_listings, url) == 0


@pytest.fixture
def mongo(tmp_path: Path) -> Iterator[MongoProcess]:
    """A secantusd whose transactions end after TRANSACTION_LIFETIME idle seconds (tests/support/mongo.py)."""
    server = MongoProcess(tmp_path / "mongo", transaction_lifetime=TRANSACTION_LIFETIME).start()
    yield server
    server.stop()


@pytest.mark.timeout(420)  # a loaded machine slows the storm down; its own deadlines below are what should fire
async def test_storm_with_three_sigkills_loses_and_repeats_no_event(make_cluster: Any, mongo: MongoProcess) -> None:
    url = mongo.url()
    cluster: Cluster = make_cluster(2, storage=url, game=GAME, **SETTINGS)
    players = await cluster.quick_logins(PLAYERS, "kills")

    master = random.Random(SEED)
    tally = Tally()
    gate = asyncio.Semaphore(CONCURRENCY)
    in_flight: Counter[int] = Counter()
    actors = [KillActor(cluster.nodes, i % len(cluster), login, random.Random(master.getrandbits(64)), tally, gate,
                        in_flight) for i, login in enumerate(players)]
    kills: list[Kill] = []
    stop = asyncio.Event()
    tasks = [asyncio.create_task(actor.play(OPERATIONS, stop)) for actor in actors]
    killing = asyncio.create_task(killer(cluster.nodes, tally, in_flight, kills))
    started = time.monotonic()
    try:
        await asyncio.wait_for(asyncio.gather(killing, *tasks), STORM_SECONDS)
        storm_seconds = time.monotonic() - started

        # Traffic has stopped. Every chain gets a socket again (a resume, where its last one was closed) and must
        # catch up with its player's head as the log had it then.
        await asyncio.gather(*(actor.link(i) for actor in actors for i in range(len(cluster))))
        heads = (await asyncio.to_thread(read_store, url)).heads

        async def caught_up() -> bool:
            for actor in actors:
                for chain in actor.chains:
                    await actor.link(chain.node)  # a socket the node closed meanwhile is resumed
            return all(chain.last >= heads[actor.me] for actor in actors for chain in actor.chains)

        await eventually(caught_up, 30, "every chain caught up with its player's head", interval=0.05)

        # Each keyed command answered `ok` has one outcome: sent again, on either node, it is replayed.
        answered = [(actor, key, *outcome) for actor in actors for key, outcome in actor.answered.items()]
        for actor, key, type_, data, reply in random.Random(SEED).sample(answered, min(SAMPLE, len(answered))):
            node = random.Random(key).randrange(len(cluster))
            again = await (await actor.link(node)).request(type_, data, idem=key, timeout=REPLY_SECONDS)
            assert again["ok"] and again.get("replayed") is True and again["data"] == reply, (key, reply, again)
    finally:
        stop.set()
        for task in [killing, *tasks]:
            task.cancel()
        await asyncio.gather(killing, *tasks, return_exceptions=True)
        await asyncio.gather(*(actor.close() for actor in actors), return_exceptions=True)

    closes: Counter[int | None] = Counter()
    keyed: Counter[int] = Counter()
    for actor in actors:
        closes.update(actor.closes)
        keyed.update(actor.keyed_by_node)
    resumes = sum(1 for actor in actors for chain in actor.chains for s in chain.sockets if s.asked is not None)
    killed = [f"node {k.node} at +{k.at - started:.0f} s ({k.at_total} keys sent, {k.in_flight} in flight), back in "
              f"{k.restart_seconds:.1f} s" for k in kills]
    summary = (f"storm {storm_seconds:.0f} s; kills {killed}; sent {dict(tally.sent)}, "
               f"outcomes {dict(tally.outcomes)}, replays {tally.replays}, lost in flight {tally.lost_in_flight}, "
               f"resent after drop {tally.resent_after_drop}, resumes {resumes}, closes {dict(closes)}, "
               f"keyed per node {dict(keyed)}")
    checked = sum(len(chain.received()) for actor in actors for chain in actor.chains)
    summary += (f", slowest command {max(actor.slowest for actor in actors):.1f} s, unavailable {tally.unavailable}, "
                f"events received {checked}")
    print(summary)
    assert tally.problems == [], "\n".join([p[:600] for p in tally.problems[:20]] + [summary])
    assert tally.total >= OPERATIONS, summary
    assert "internal" not in {code for _, code in tally.outcomes}, summary
    assert len(kills) == KILLS and all(kill.in_flight >= KILL_IN_FLIGHT for kill in kills), summary
    assert tally.lost_in_flight >= KILLS and resumes >= PLAYERS, summary  # retried elsewhere; chains resumed
    for node in cluster.nodes:
        assert "Traceback" not in node.log(), node.log()[-5000:]

    # Listings expire (8 s) and go back to their sellers by themselves: once none is left, nothing changes the economy
    # any more, and the audit and the snapshot below each read a still store.
    await eventually(lambda: settled(url), 40, "every listing sold, cancelled or expired", interval=0.2)
    stored = await asyncio.to_thread(read_store, url)
    problems = [problem for actor in actors for chain in actor.chains
                for problem in chain_problems(actor.me, chain, stored.logs.get(actor.me, {}), heads[actor.me])]
    problems += [problem for actor in actors for problem in log_problems(actor.me, stored)]
    assert problems == [], "\n".join([p[:1500] for p in problems[:20]] + [summary])

    report = await cluster.audit()
    assert report["players"] >= PLAYERS and report["negative_balances"] == []
    snap = await asyncio.to_thread(mongo_snapshot, url)
    assert trade_problems(snap) == []
