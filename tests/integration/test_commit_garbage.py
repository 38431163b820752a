"""A change that loses its race (`Conflict`) leaves nothing for the cyclic garbage collector: its error, raised on
the store's writer thread and handed to the event loop, frees with the change once its caller let go of it.

Why it matters: on one node with 10,000 active players (issue #13) about 120 changes a second lost their race, and
each error's traceback held the writer's frame, which held the error in its list of outcomes, and with it the
whole group's changes; only full collections (the event loop stopped for more than a second each) freed them
(persistence.port.without_frames, server/collector.py)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from persistence import Account
from persistence.port import Change, Conflict, PlayerWrite
from persistence.sqlite import SQLiteStorage
from server.bus import open_bus
from server.event_log import EventLog
from server.game.config import GameSettings
from server.game.outcome import Outcome, RuleContext
from server.hub import Hub
from server.metrics import Metrics
from server.players import Idem, Plan, Players, make_id
from server.statecache import StateCache
from tests.contract.storage_builders import account, state


@contextmanager
def collector_off() -> Iterator[None]:
    """Nothing is collected automatically in the block: what becomes unreachable only through the collector stays
    for the check to find."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def left_for_the_collector() -> list[str]:
    """The type names of what a full collection finds unreachable now."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        return sorted({type(o).__qualname__ for o in gc.garbage})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def test_a_change_that_lost_its_race_frees_without_the_collector(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "game.db", checkpoint_seconds=0)
    await storage.open()
    try:
        await storage.commit(Change(players=[PlayerWrite("p1", "ana", None, state(val=1))],
                                    account=account("p1", "ana")))
        with collector_off():
            # Both planned from version 1 and queued together: one group, where the second loses.
            outcomes = await asyncio.gather(
                storage.commit(Change(players=[PlayerWrite("p1", "ana", 1, state(val=2))])),
                storage.commit(Change(players=[PlayerWrite("p1", "ana", 1, state(val=3))])),
                return_exceptions=True)
            assert isinstance(outcomes[1], Conflict), outcomes
            del outcomes
            assert await storage.ping()  # the writer thread's next call: it keeps only its last call's result
            left = left_for_the_collector()
        assert left == [], left
        assert (await storage.load_player("p1")).state["val"] == 2  # type: ignore[union-attr]
    finally:
        await storage.close()


def test_the_check_finds_a_cycle_when_there_is_one() -> None:
    """The check above can fail: an error kept by a frame its traceback holds is found."""
    with collector_off():
        def keep() -> None:
            errors: list[Exception] = []
            try:
                raise Conflict("p1 changed")
            except Conflict as exc:
                errors.append(exc)
        keep()
        left = left_for_the_collector()
    assert "Conflict" in left, left


async def test_a_keyed_command_retried_after_a_lost_race_frees_without_the_collector(tmp_path: Path) -> None:
    """The same through `Players.transact`: the first attempt of a keyed command loses its race (another change of
    the player committed between its plan and its commit), the second commits; afterwards nothing is left."""
    storage = SQLiteStorage(tmp_path / "game.db", checkpoint_seconds=0)
    await storage.open()
    bus = open_bus("memory://", "n1", 60)
    await bus.start(Hub(Metrics()))
    try:
        players = Players(storage, bus.events, EventLog(storage, bus.events, replay_limit=100, replay_seconds=60),
                          bus.claims, bus.leaderboards, GameSettings(), StateCache(100, 30))
        player_id = make_id("p")
        await players.create(Account(player_id, f"ana-{player_id}", f"{player_id}@example.test", "x"))
        attempts: list[int] = []

        async def plan(ctx: RuleContext) -> Plan:
            doc, state = await players.load(player_id)
            if not attempts:  # a change of the player commits after this plan read it: this attempt loses
                await players.apply(player_id, lambda s, c: Outcome.begin(s))
            attempts.append(doc.version)
            outcome = Outcome.begin(state)
            outcome.adjust("VAL", -1, "test_spend")
            change = Change()
            return Plan(change, [players.write_of(doc, outcome, change, ctx.now, state)], {})

        with collector_off():
            await players.transact(player_id, plan, Idem("spend-1", "market.buy"))
            assert len(attempts) == 2, attempts
            await players.settle(5)
            assert await storage.ping()
            left = left_for_the_collector()
        assert left == [], left
    finally:
        await bus.close()
        await storage.close()
