"""Twins of a keyed command: a retry that arrives while the first copy is still running.

Two `Players` (two nodes: their own storage instance on the same data, their own bus adapter on one redis-server)
or, on the in-process bus, one node running both copies. The planners are the tests' own, so the first copy can be
held between planning and committing: the moment a twin could otherwise see a rule refuse what then gets applied.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from persistence import Account, Change
from persistence.port import Storage
from protocol import ErrorCode
from server.bus import Bus, open_bus
from server.event_log import EventLog
from server.game.config import GameSettings
from server.game.errors import GameError
from server.game.outcome import Outcome, RuleContext
from server.hub import Hub
from server.metrics import Metrics
from server.players import Idem, Plan, Planner, Players, make_id
from server.statecache import StateCache

CLAIM_SECONDS = 2
# How long a twin that did not wait for the first copy would need to be refused: far more than the few storage
# round trips that takes, so a pass is not luck. Absence can only be observed over a window.
WINDOW_SECONDS = 1.0


@pytest.fixture(params=["memory", "redis"])
async def nodes(request: pytest.FixtureRequest, make_storage: Callable[[], Storage]
                ) -> AsyncIterator[tuple[Players, Players]]:
    """(first node, second node); on the in-process bus both are one node."""
    opened: list[tuple[Storage, Bus]] = []

    async def node(name: str) -> Players:
        url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
        storage, bus = make_storage(), open_bus(url, name, 60)
        await storage.open()
        await bus.start(Hub(Metrics()))
        opened.append((storage, bus))
        event_log = EventLog(storage, bus.events, replay_limit=100, replay_seconds=60)
        return Players(storage, bus.events, event_log, bus.claims, bus.leaderboards, GameSettings(),
                       StateCache(100, 30), CLAIM_SECONDS)

    first = await node("n1")
    yield (first, first) if request.param == "memory" else (first, await node("n2"))
    for storage, bus in opened:
        await bus.close()
        await storage.close()


async def new_player(players: Players, name: str) -> str:
    player_id = make_id("p")
    await players.create(Account(player_id, f"{name}-{player_id}", f"{player_id}@example.test", "x"))
    return player_id


def spending(players: Players, player_id: str, planned: asyncio.Event | None = None,
             go: asyncio.Event | None = None) -> Planner:
    """Spend 1 val; with events, stop between planning and committing until `go` is set."""
    async def plan(ctx: RuleContext) -> Plan:
        doc, state = await players.load(player_id)
        outcome = Outcome.begin(state)
        outcome.adjust("VAL", -1, "test_spend")
        outcome.reply = {"val": outcome.state.val}
        change = Change()
        applied = players.write_of(doc, outcome, change, ctx.now, state)
        if planned is not None and go is not None:
            planned.set()
            await go.wait()
        return Plan(change, [applied], outcome.reply)
    return plan


def refused(calls: list[float]) -> Planner:
    """A rule that refuses, as one does once the world has moved (the listing expired since the first copy)."""
    async def plan(ctx: RuleContext) -> Plan:
        calls.append(ctx.now)
        raise GameError(ErrorCode.CONFLICT, "the listing has expired")
    return plan


async def test_a_twin_waits_for_the_first_copy_and_replays_its_reply(nodes: tuple[Players, Players]) -> None:
    first, second = nodes
    player_id = await new_player(first, "twin")
    idem = Idem("buy-1", "market.buy")
    planned, go = asyncio.Event(), asyncio.Event()
    original = asyncio.create_task(first.transact(player_id, spending(first, player_id, planned, go), idem))
    async with asyncio.timeout(10):
        await planned.wait()

    twin_calls: list[float] = []
    twin = asyncio.create_task(second.transact(player_id, refused(twin_calls), idem))
    done, _ = await asyncio.wait({twin}, timeout=WINDOW_SECONDS)
    assert not done, "the twin did not wait for the first copy"
    go.set()

    reply = await original
    replayed = await twin
    assert replayed.replayed and replayed.data == reply.data
    assert twin_calls == []  # its rule never ran: the record was there once it had the key
    _, state = await second.load(player_id)
    assert state.val == reply.data["val"]  # spent once


async def test_a_refused_first_copy_lets_its_twin_run(nodes: tuple[Players, Players]) -> None:
    first, second = nodes
    player_id = await new_player(first, "refused")
    idem = Idem("buy-2", "market.buy")
    calls: list[float] = []
    with pytest.raises(GameError):
        await first.transact(player_id, refused(calls), idem)
    reply = await second.transact(player_id, spending(second, player_id), idem)
    assert not reply.replayed and calls  # refusals are not recorded: the retry ran as a new command


async def test_a_claim_left_by_a_dead_holder_expires(nodes: tuple[Players, Players]) -> None:
    first, second = nodes
    player_id = await new_player(first, "orphan")
    idem = Idem("buy-3", "market.buy")
    # What a node that died between claiming and releasing leaves behind.
    assert await first.claims.claim_once(f"idem:{player_id}:{idem.key}", CLAIM_SECONDS)
    started = time.monotonic()
    reply = await second.transact(player_id, spending(second, player_id), idem)
    assert not reply.replayed
    assert time.monotonic() - started >= CLAIM_SECONDS - 0.5  # it waited for the claim to lapse, not for ever
