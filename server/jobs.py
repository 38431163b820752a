"""Scheduled work that is safe with any number of nodes: each item is claimed by a conditional write."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from persistence import AccountStore, GameStore, Unavailable
from protocol.codes import ErrorCode
from server.bus import Claims, Leaderboards
from server.game import market
from server.game.errors import GameError
from server.game.outcome import RuleContext
from server.game.progression import sweep_wounded
from server.game.rankings import ranking_scores
from server.game.state import PlayerState
from server.metrics import Metrics
from server.players import Plan, Players

log = logging.getLogger("valgame.jobs")
IDEM_KEEP_SECONDS = 48 * 3600
# Rebuilding the rankings after the bus lost its data (`rebuild_rankings_after_loss`):
REBUILD_CLAIM, REBUILT_MARK = "rebuild-rankings", "rankings-rebuilt"
REBUILD_LEASE_SECONDS = 60  # a node's hold on the rebuild while it runs: it lapses if that node dies mid-way
REBUILT_KEEP_SECONDS = 3600  # the mark that tells the other nodes (and late ones) there is nothing left to do
REBUILD_RETRY_FIRST, REBUILD_RETRY_MAX = 0.5, 10.0  # seconds between two tries of a node: doubling, bounded


async def sweep_once(store: GameStore, players: Players, now: float | None = None) -> int:
    """Remove characters wounded too long. A player's sweep is one versioned write, so when two nodes race for
    the same player one commits and the other re-reads a state with nothing left to remove (`Players.apply`
    re-plans on a conflict; it never lets `Conflict` out)."""
    now = time.time() if now is None else now
    swept = 0
    for player_id in await store.players_due(now, 200):
        reply = await players.apply(player_id, sweep_wounded)
        swept += len(reply.data.get("lost", []))
    return swept


async def expire_listing(players: Players, listing_id: str) -> bool:
    """Return an expired listing's goods to its seller. False when another node (or a buyer) got there first."""
    storage = players.storage

    async def plan(ctx: RuleContext) -> Plan:
        listing = await storage.get_listing(listing_id)
        if listing is None or listing["status"] != market.ACTIVE or listing["expires_at"] > ctx.now:
            raise _Gone()
        loaded = await players.load_many([listing["seller_id"]])
        return players.plan(ctx, loaded, market.expire(loaded[listing["seller_id"]][1], listing, ctx))

    try:
        await players.run(plan)
    except _Gone:
        return False
    return True


class _Gone(Exception):
    """The listing is no longer there to expire."""


async def expire_once(store: GameStore, players: Players, now: float | None = None) -> int:
    """Expire the listings whose time is up; racing nodes each expire a listing at most once between them."""
    due = await store.listings_due(time.time() if now is None else now, 200)
    return sum([await expire_listing(players, listing["id"]) for listing in due])


async def rebuild_rankings(store: GameStore, leaderboards: Leaderboards) -> int:
    """Recompute every board from stored players (all weeks kept in their stats)."""
    now = time.time()
    boards: dict[str, dict[str, float]] = {}
    count = 0
    async for doc in store.iter_players():
        state = PlayerState.from_dict(doc.state)
        scores = ranking_scores(state, now)
        scores.update({f"points:{week}": points for week, points in state.stats.weekly.items()})
        for board, score in scores.items():
            boards.setdefault(board, {})[doc.id] = score
        count += 1
    for board, scores in boards.items():
        await leaderboards.rank_clear(board)
        await leaderboards.rank_set(board, scores)
    return count


async def rebuild_rankings_after_loss(store: GameStore, leaderboards: Leaderboards, claims: Claims,
                                      fail_at: Callable[[str], None] = lambda point: None) -> int | None:
    """The bus came back without its data: rebuild the leaderboards from storage, by one of the nodes that saw the
    loss, until it is done. Every such node runs this until the boards are marked rebuilt (or the node stops, which
    cancels it). The node that takes the claim rebuilds and marks; an attempt that fails (right after a restart,
    on a pooled connection Redis closed; the storage down) releases the claim at once, so whichever node tries next,
    this one or another, takes it; a claim whose node died mid-way lapses after REBUILD_LEASE_SECONDS. Between two
    tries a node waits REBUILD_RETRY_FIRST, doubling up to REBUILD_RETRY_MAX. Returns the players ranked, or None
    when another node did it. (`fail_at` is the test-only failpoint `rebuild_rankings`, server/failpoints.py.)"""
    delay = REBUILD_RETRY_FIRST
    while True:
        try:
            done, _ = await claims.get_count(REBUILT_MARK)
            if done:
                return None
            if await claims.claim_once(REBUILD_CLAIM, REBUILD_LEASE_SECONDS):
                try:
                    fail_at("rebuild_rankings")
                    count = await rebuild_rankings(store, leaderboards)
                    await claims.add_count(REBUILT_MARK, count, REBUILT_KEEP_SECONDS)
                except BaseException:
                    await claims.release(REBUILD_CLAIM)
                    raise
                log.info("rankings rebuilt", extra={"players": count})
                return count
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("rankings not rebuilt yet: retrying",
                        extra={"error": f"{type(exc).__name__}: {exc}"[:200], "retry_in": delay})
        await asyncio.sleep(delay)
        delay = min(delay * 2, REBUILD_RETRY_MAX)


async def every(seconds: float, work: Callable[[], Awaitable[int | None]], name: str, metrics: Metrics) -> None:
    """Run `work()` every `seconds`, logging (not raising) its failures and counting its runs and what it handled."""
    runs, items = metrics.job_runs.labels(name), metrics.job_items.labels(name)
    while True:
        try:
            handled = await work()
        except asyncio.CancelledError:
            raise
        except Unavailable as exc:  # storage could not commit in time: the next run tries again
            log.warning("job not done: storage unavailable", extra={"job": name, "error": str(exc)[:200]})
        except GameError as exc:
            # CONFLICT: players kept changing what the job wanted to write (a trading storm on a listing's seller)
            # more often than `Players` re-plans; the job is idempotent, so the next run takes it up again.
            if exc.code == ErrorCode.CONFLICT:
                log.warning("job not done: contention", extra={"job": name, "error": exc.message})
            else:
                log.exception("job failed", extra={"job": name})
        except Exception:
            log.exception("job failed", extra={"job": name})
        else:
            runs.inc()
            items.inc(handled or 0)
        await asyncio.sleep(seconds)


async def trim_events(store: GameStore, keep_seconds: float) -> int:
    """Forget logged events older than the replay window (MongoDB's TTL index does it too); return how many."""
    return await store.trim_events(time.time() - keep_seconds)


async def purge_once(store: GameStore, accounts: AccountStore) -> int:
    """Forget idempotency records past their keeping time, and tokens long expired; return how many records."""
    cutoff = time.time() - IDEM_KEEP_SECONDS
    purged = await store.purge_idem(cutoff)
    await accounts.purge_tokens(cutoff)
    return purged
