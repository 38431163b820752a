"""Applying pure rules to stored players: read, rule, conditional write, then events. The one write path.

A rule is `fn(state, ctx) -> Outcome`. `apply` stores the outcome, its ledger entries, notifications, the players'
events (numbered by the storage's event log) and the idempotency record in one atomic commit; on a concurrent change
it re-reads and re-applies the rule. The events are published once the commit is durable (server/event_log.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from persistence import (
    Account,
    Change,
    Conflict,
    Duplicate,
    EventWrite,
    GameStore,
    IdemRecord,
    LedgerEntry,
    ListingWrite,
    LoggedEvent,
    Notification,
    PlayerDoc,
    PlayerWrite,
    Unavailable,
    without_frames,
)
from protocol import ErrorCode
from server.bus import Claims, Events, Leaderboards
from server.entropy import ENTROPY
from server.event_log import EventLog
from server.game.config import GameSettings
from server.game.errors import GameError
from server.game.market import MarketMove
from server.game.outcome import Outcome, RuleContext
from server.game.progression import new_player, next_sweep_at
from server.game.rankings import ranking_scores
from server.game.state import PlayerState
from server.statecache import StateCache

Rule = Callable[[PlayerState, RuleContext], Outcome]
MAX_ATTEMPTS = 8
CLAIM_POLL_SECONDS = 0.01
BUS_CALL_SECONDS = 1.0
log = logging.getLogger("valgame.players")


def _report_abandoned(commit: asyncio.Task[None]) -> None:
    """The end of a commit whose command stopped waiting: a fault there has nobody else to tell."""
    fault = None if commit.cancelled() else commit.exception()
    if fault is not None and not isinstance(fault, (Conflict, Duplicate, Unavailable)):  # those applied nothing
        log.error("commit failed after its command's deadline", exc_info=fault)


async def release_claim(claims: Claims, key: str) -> None:
    """End a claim before its lifetime is over, waiting at most `BUS_CALL_SECONDS` for the bus; if it cannot be
    reached, the claim lapses by itself (logged)."""
    try:
        async with asyncio.timeout(BUS_CALL_SECONDS):
            await claims.release(key)
    except Exception as exc:  # whatever the adapter raises when it cannot reach its server
        log.warning("claim not released", extra={"claim": key, "error": repr(exc)})


def make_id(prefix: str) -> str:
    return f"{prefix}_{ENTROPY.hex(8)}"


@dataclass(slots=True)
class Reply:
    """A command's reply data; `replayed` when it is the stored reply of an earlier identical command."""

    data: dict[str, Any]
    replayed: bool = False


@dataclass(slots=True)
class Idem:
    key: str
    command: str


@dataclass(slots=True)
class Applied:
    """What one player's side of a commit produced, for the after-commit work."""

    player_id: str
    outcome: Outcome
    before: PlayerState | None = None  # the state the rule started from (None: a new player)
    name: str = ""  # the player's name, shown with their ranking updates


@dataclass(slots=True)
class Plan:
    """A change ready to commit, what each player got out of it, the reply, and topic events to send after."""

    change: Change
    applied: list[Applied]
    reply: dict[str, Any]
    broadcasts: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


Planner = Callable[[RuleContext], Awaitable[Plan]]


class Players:
    def __init__(self, storage: GameStore, events: Events, event_log: EventLog, claims: Claims,
                 leaderboards: Leaderboards, settings: GameSettings, cache: StateCache,
                 idem_claim_seconds: int = 10) -> None:
        self.storage = storage
        self.events = events
        self.event_log = event_log
        self.claims = claims
        self.leaderboards = leaderboards
        self.settings = settings
        self.cache = cache
        self.idem_claim_seconds = idem_claim_seconds
        self.on_energy: Callable[[str, float | None], None] | None = None  # told of every energy change
        self._unfinished: set[asyncio.Task[None]] = set()  # commits and claim releases outliving their command

    def context(self, now: float | None = None, seed: int | None = None) -> RuleContext:
        rng = random.Random(seed if seed is not None else ENTROPY.bits(64))
        return RuleContext(settings=self.settings, now=time.time() if now is None else now, rng=rng,
                           make_id=make_id)

    async def load(self, player_id: str) -> tuple[PlayerDoc, PlayerState]:
        """The player's stored document and decoded state (shared with the cache: read it, never mutate it)."""
        cache = self.cache
        hit = cache.get(player_id)
        if hit is not None:
            return hit
        loaded = None
        cache.reading(player_id)
        try:
            doc = await self.storage.load_player(player_id)
            if doc is None:
                raise GameError(ErrorCode.NOT_FOUND, "no such player")
            loaded = doc, PlayerState.from_dict(doc.state)
            return loaded
        finally:
            cache.read(player_id, loaded)

    async def load_many(self, player_ids: list[str]) -> dict[str, tuple[PlayerDoc, PlayerState]]:
        """`load` for each player (once each, in order)."""
        loaded: dict[str, tuple[PlayerDoc, PlayerState]] = {}
        for player_id in player_ids:
            if player_id not in loaded:
                loaded[player_id] = await self.load(player_id)
        return loaded

    def plan(self, ctx: RuleContext, loaded: dict[str, tuple[PlayerDoc, PlayerState]], move: MarketMove) -> Plan:
        """The change a market rule's move makes: each player's outcome (from the state `loaded` for them), the
        listing's write, the reply, and the feed events to send once it is committed."""
        change = Change(listings=[ListingWrite(move.listing.listing_id, move.listing.from_status, move.listing.doc)])
        applied = []
        for player_id, outcome in move.outcomes.items():
            doc, before = loaded[player_id]
            applied.append(self.write_of(doc, outcome, change, ctx.now, before))
        return Plan(change, applied, move.reply, list(move.feed))

    def write_of(self, doc: PlayerDoc, outcome: Outcome, change: Change, now: float,
                 before: PlayerState | None = None) -> Applied:
        """Add one player's outcome to a change: the new state, its ledger lines and notifications.
        A doc at version 0 is a player being created."""
        applied = Applied(doc.id, outcome, before, name=doc.name)
        change.players.append(PlayerWrite(doc.id, doc.name, doc.version or None, outcome.state.to_dict(),
                                          sweep_at=next_sweep_at(outcome.state, self.settings)))
        change.ledger.extend(LedgerEntry(doc.id, d.currency, d.delta, d.reason, d.ref, now) for d in outcome.ledger)
        change.notifications.extend(Notification(make_id("n"), doc.id, kind, data, now)
                                    for kind, data in outcome.notifications)
        return applied

    async def create(self, account: Account) -> None:
        """Store a new account with its player and starting pack, in one commit (Duplicate if the name or email
        is taken)."""
        ctx = self.context(account.created_at)
        change = Change(account=account)
        applied = self.write_of(PlayerDoc(account.id, account.name, 0, {}), new_player(ctx), change, ctx.now)
        self.log_events(change, [applied], ctx.now)
        logged = await self.storage.commit(change)
        await self.committed(change, [applied], ctx.now, logged)

    async def apply(self, player_id: str, rule: Rule, idem: Idem | None = None) -> Reply:
        """Apply a rule to one player's state."""
        async def plan(ctx: RuleContext) -> Plan:
            doc, state = await self.load(player_id)
            outcome = rule(state, ctx)
            change = Change()
            return Plan(change, [self.write_of(doc, outcome, change, ctx.now, state)], outcome.reply)
        return await self.transact(player_id, plan, idem)

    async def transact(self, player_id: str, plan: Planner, idem: Idem | None = None) -> Reply:
        """Plan a change from the state read (cached or stored), commit it atomically with the idempotency record of
        `player_id`, then push its events. A concurrent change makes the planner run again on the new state.

        Twins of a keyed command (a retry on another socket or node while the first copy still runs) take turns
        on a claim of the key: a twin that ran at once could be refused by a rule that sees the world move (the
        listing expired meanwhile) although the first copy then commits, and the retry must get that reply.

        A command cut off by its deadline (server/dispatch.py) stops waiting, but a commit it started runs to its
        end (the storage bounds it) with what follows it, and holds the claim until then: the change is applied
        whole or not at all, and a retry replays it rather than racing it."""
        if idem is None:
            return await self._transact(player_id, plan, None)
        claim = f"idem:{player_id}:{idem.key}"
        held = await self._claim(claim)
        commits: list[asyncio.Task[None]] = []
        try:
            return await self._transact(player_id, plan, idem, commits)
        finally:
            if held:
                if commits and not commits[-1].done():
                    self._keep(self._release_after(commits[-1], claim))
                else:
                    await release_claim(self.claims, claim)

    async def run(self, plan: Planner) -> Reply:
        """Plan and commit a change no player's command asked for (a scheduled job): like `transact`, without an
        acting player or idempotency key."""
        return await self._transact(None, plan, None)

    async def _claim(self, key: str) -> bool:
        """Wait for a twin to let go of `key`, then hold it. A holder that died lets go when its claim expires.
        Without the bus the command goes ahead unclaimed: the unique idempotency record still applies it once."""
        deadline = time.monotonic() + self.idem_claim_seconds
        while True:
            try:
                async with asyncio.timeout(BUS_CALL_SECONDS):
                    if await self.claims.claim_once(key, self.idem_claim_seconds):
                        return True
            except Exception as exc:  # whatever the adapter raises when it cannot reach its server
                log.warning("idem claim unavailable; going ahead unclaimed", extra={"error": repr(exc)})
                return False
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(CLAIM_POLL_SECONDS)

    async def _release_after(self, commit: asyncio.Task[None], key: str) -> None:
        await asyncio.wait([commit])
        await release_claim(self.claims, key)

    def _keep(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `work` as a task held until it ends, whether or not the command that started it still waits."""
        task = asyncio.ensure_future(work)
        self._unfinished.add(task)
        task.add_done_callback(self._unfinished.discard)
        return task

    async def settle(self, timeout: float) -> None:
        """Wait (at most `timeout` seconds) for the commits that outlived their commands, before storage closes."""
        if self._unfinished:
            await asyncio.wait(list(self._unfinished), timeout=timeout)

    async def _transact(self, player_id: str | None, plan: Planner, idem: Idem | None,
                        commits: list[asyncio.Task[None]] | None = None) -> Reply:
        for _ in range(MAX_ATTEMPTS):
            if idem is not None:
                earlier = await self.storage.get_idem(player_id, idem.key)
                if earlier is not None:
                    return self._replay(earlier, idem)
            ctx = self.context()
            try:
                planned = await plan(ctx)
            except GameError:
                # A twin of this keyed command (a retry on another socket) may have committed since the look-up
                # above, so the rule saw its effect (the listing sold, the item gone): the twin's reply is the answer.
                if idem is None or (earlier := await self.storage.get_idem(player_id, idem.key)) is None:
                    raise
                return self._replay(earlier, idem)
            if idem is not None:
                planned.change.idem = IdemRecord(player_id, idem.key, idem.command, planned.reply, ctx.now)
            commit = self._keep(self._commit(planned, ctx.now))
            if commits is not None:
                commits.append(commit)
            try:
                await asyncio.shield(commit)  # a deadline stops the waiting here, never the commit
            except asyncio.CancelledError:
                commit.add_done_callback(_report_abandoned)
                raise
            except Conflict as lost:
                # The commit task keeps the error, which passed through this frame (and its list of `commits`):
                # its traceback would make a cycle that only the garbage collector frees (persistence.port).
                without_frames(lost)
                for write in planned.change.players:
                    self.cache.drop(write.id)  # it may have planned from a stale entry
                continue
            except Duplicate as lost:
                if idem is None:
                    raise
                without_frames(lost)
                continue  # a twin of this command committed first: the next pass replays its reply
            return Reply(planned.reply)
        raise GameError(ErrorCode.CONFLICT, "the state changed too often at once; try again")

    async def _commit(self, planned: Plan, now: float) -> None:
        """Commit a planned change with its players' events, then do what follows a commit: cache, publish,
        broadcasts."""
        self.log_events(planned.change, planned.applied, now)
        logged = await self.storage.commit(planned.change)
        await self.committed(planned.change, planned.applied, now, logged)
        for topic, event_type, data in planned.broadcasts:
            await self.events.broadcast(topic, event_type, data)

    @staticmethod
    def _replay(record: IdemRecord, idem: Idem) -> Reply:
        if record.type != idem.command:
            raise GameError(ErrorCode.CONFLICT, f"idem key was used for {record.type}", field="idem")
        return Reply(record.reply, replayed=True)

    @staticmethod
    def log_events(change: Change, applied: list[Applied], now: float) -> None:
        """Put each player's events into the change, so the commit logs (and numbers) them with what caused them;
        the commit adds a `notification.new` for each notification (persistence.change_events)."""
        change.at = now
        for item in applied:
            change.events.extend(EventWrite(item.player_id, kind, data) for kind, data in item.outcome.events)

    async def committed(self, change: Change, applied: list[Applied], now: float, logged: list[LoggedEvent]) -> None:
        """A change is durable: cache the states it wrote, tell every node their versions, publish its events (in
        that order, so a client reacting to an event reads the new state on any node), keep the rankings current."""
        states = {item.player_id: item.outcome.state for item in applied}  # write_of made one per player write
        versions: dict[str, int] = {}
        for write in change.players:
            version = versions[write.id] = (write.expected_version or 0) + 1
            self.cache.put(PlayerDoc(write.id, write.name, version, write.state), states[write.id])
        if versions:
            await self.events.control({"kind": "players_changed", "versions": versions})
        self.event_log.publish(logged)
        for item in applied:
            if self.on_energy is not None:
                for kind, data in item.outcome.events:
                    if kind == "energy.updated":
                        self.on_energy(item.player_id, data["next_at"])
            await self.update_rankings(item.player_id, item.outcome.state, now, item.before, item.name)

    async def update_rankings(self, player_id: str, state: PlayerState, now: float,
                              before: PlayerState | None = None, name: str = "") -> None:
        """Set the boards whose score this change moved, and tell their subscribers."""
        old = ranking_scores(before, now) if before is not None else {}
        for board, score in ranking_scores(state, now).items():
            if old.get(board) == score:
                continue
            await self.leaderboards.rank_set(board, {player_id: score})
            await self.events.broadcast(f"ranking:{board}", "ranking.updated",
                                     {"board": board, "player": player_id, "name": name, "score": score})
