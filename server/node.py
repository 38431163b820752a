"""A node's composition root: it opens the ports, builds each service from the few collaborators it needs, wires
them together, and starts and stops the whole (with the scheduled jobs). Nothing below imports it: the socket and
HTTP edges take the node, every service and handler takes only what it uses."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

from persistence import Storage, open_storage
from protocol import CloseCode
from protocol.messages import DIGESTS
from server import backup, jobs
from server.auth import Passwords, Tokens, load_or_create_secret
from server.bus import Bus, open_bus
from server.combat_driver import CombatDriver
from server.commands import CommandContext
from server.deadlines import CommandDeadlines
from server.digest import TopicDigest
from server.event_log import EventLog
from server.failpoints import Failpoints
from server.game.config import GameSettings
from server.game.energy import energy_now
from server.game.state import PlayerState
from server.hub import Hub
from server.metrics import Metrics
from server.names import NameCache
from server.operations import Operations
from server.players import Players
from server.ratelimit import WindowCounter
from server.session import Session
from server.settings import Settings
from server.statecache import StateCache
from server.storage_watch import watch_storage
from server.ticker import EnergyTicker

log = logging.getLogger("valgame.node")


class Node:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.id = settings.node_id or f"node-{secrets.token_hex(3)}"
        self.game = GameSettings().with_overrides(settings.game_overrides)
        self.metrics = Metrics()
        self.failpoints = Failpoints(settings.testonly_exit_at, settings.testonly_fail_at)
        if not 0 < settings.storage_commit_seconds < settings.command_deadline_seconds:
            raise ValueError("storage_commit_seconds must be above 0 and below command_deadline_seconds")
        storage = open_storage(settings.storage_url, event_log_seconds=settings.history_seconds,
                               commit_seconds=settings.storage_commit_seconds, exit_at=self.failpoints.exit_at,
                               sqlite_synchronous=settings.sqlite_synchronous,
                               sqlite_checkpoint_seconds=settings.sqlite_checkpoint_seconds,
                               mongo_pool_size=settings.storage_pool_size)
        self.storage: Storage = watch_storage(storage, self.metrics.storage, settings)
        self.hub = Hub(self.metrics, [TopicDigest(source, f"{source}:digest", event_type, settings.digest_seconds,
                                                  settings.digest_max_events)
                                      for source, event_type in DIGESTS.items()])
        self.metrics.watch_load(self.hub.player_count, self.hub.busy_count)
        self.hub.on_control = self._on_control
        self.bus: Bus = open_bus(settings.bus, self.id, settings.history_seconds,
                                 presence_seconds=settings.presence_seconds, sockets=self.hub.local_count,
                                 figures=self.figures, on_gap=self.metrics.bus_gaps.inc,
                                 on_recovered=self._bus_recovered, probe_seconds=settings.bus_probe_seconds,
                                 probe_timeout=settings.bus_probe_timeout_seconds)
        self.metrics.watch_delivery(lambda: self.bus.delivery.ok, lambda: self.bus.delivery.probe_seconds)
        self.event_log = EventLog(self.storage, self.bus.events, settings.history_size, settings.history_seconds,
                                  self.failpoints.exit_at)
        self.hub.on_behind = self._catch_up
        self.players = Players(self.storage, self.bus.events, self.event_log, self.bus.claims, self.bus.leaderboards,
                               self.game,
                               StateCache(settings.state_cache_size, settings.state_cache_seconds),
                               settings.idem_claim_seconds)
        self.tokens: Tokens | None = None
        self.passwords = Passwords(settings.password_hash_memory_kib, settings.password_hash_time_cost,
                                   settings.password_hash_parallelism, settings.password_hash_workers,
                                   settings.password_queue_seconds)
        keys = settings.limiter_max_keys
        self.login_by_account = WindowCounter(settings.login_attempts, settings.login_window_seconds, keys)
        self.login_by_address = WindowCounter(settings.login_attempts_per_address, settings.login_window_seconds, keys)
        bus, connected = self.bus, self.hub.connected
        self.combats = CombatDriver(self.players, bus.claims, connected, self.failpoints.fail_at)
        self.ticker = EnergyTicker(self.players, bus.claims, self.event_log, self.game, connected)
        self.players.on_energy = self.ticker.watch
        self.names = NameCache(self.storage, self.storage)
        self.ops = Operations(self.id, bus.events, self.event_log, bus.presence, bus.claims, self.names, self.hub)
        self.commands = CommandContext(
            game=self.game, players=self.players, store=self.storage, events=bus.events,
            event_log=self.event_log,
            chat=bus.chat, leaderboards=bus.leaderboards, names=self.names, topics=self.hub, combats=self.combats,
            ops=self.ops, chat_limit=WindowCounter(settings.chat_messages_per_10s, 10, keys),
            max_topics=settings.max_topics_per_socket)
        self.deadlines = CommandDeadlines(settings.command_deadline_seconds)
        self._last_figures = (0.0, time.monotonic())
        self.bus_lag = 0.0
        self.draining = False
        self._drain: asyncio.Task[None] | None = None  # the one drain, once asked for
        self._drain_ends = 0.0  # its deadline (time.monotonic)
        self.started_at = time.time()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._rebuild: asyncio.Task[int | None] | None = None  # rebuilding the rankings after the bus lost its data

    async def start(self, serve: bool = True) -> None:
        """Open the ports; with `serve`, also start the timers and scheduled jobs of a serving node."""
        await self.storage.open()
        secret = load_or_create_secret(self.settings.jwt_secret, self.settings.data_dir)
        self.tokens = Tokens(secret, self.storage, self.settings.access_token_seconds,
                             self.settings.refresh_token_seconds)
        self.tokens.on_revoked = self._credentials_revoked
        await self.bus.start(self.hub)
        if not serve:
            return
        await self.storage.put_meta("game_settings", self.game.to_dict())
        store, players = self.storage, self.players
        if not await self.bus.leaderboards.rank_top("points", 1):
            await jobs.rebuild_rankings(store, self.bus.leaderboards)
        self.spawn(self.ticker.run(), "energy-ticker")
        for name, seconds, work in (
                ("sweep", self.settings.sweep_interval_seconds, lambda: jobs.sweep_once(store, players)),
                ("expiry", self.settings.expiry_interval_seconds, lambda: jobs.expire_once(store, players)),
                ("purge", 3600, lambda: jobs.purge_once(store, store)),
                ("event-trim", 300, lambda: jobs.trim_events(store, self.settings.history_seconds)),
                ("event-check", self.settings.event_check_seconds, self._check_events),
                ("bus-lag", 5, self._measure_bus_lag)):
            self.spawn(jobs.every(seconds, work, name, self.metrics), name)
        backup_job = backup.job(self.settings, self.metrics)
        if backup_job is not None:
            self.spawn(jobs.every(self.settings.backup_every, backup_job, "backup", self.metrics), "backup")
        log.info("node started", extra={"node": self.id, "storage": self.settings.storage_url.split("://")[0],
                                        "bus": self.settings.bus.split("://")[0]})

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def ready(self) -> bool:
        return not self.draining and await self.storage.ping() and await self.bus.ping()

    async def drain(self) -> None:
        """Stop taking work, let the commands in flight finish and send their reply, close every socket with 1012.
        A node drains once: whoever asks again (the `drain` control message, a signal, `stop`) waits for the same
        drain, which ends when its last command is done or `drain_seconds` after it started, whichever is first."""
        if self._drain is None:
            # In one step: from here on no socket joins the hub (server/socket.py checks `draining`) and no socket
            # in it starts a command (dispatch checks `accepting`).
            self.draining = True
            self.metrics.draining.set(1)
            self._drain_ends = time.monotonic() + self.settings.drain_seconds
            sessions = list(self.hub.sessions.values())
            for session in sessions:
                session.accepting = False
            log.info("draining", extra={"node": self.id, "sockets": len(sessions)})
            self._drain = self.spawn(self._close_sockets(sessions), "drain-sockets")
        # shielded: a caller that stops waiting (cancelled) does not cut the drain short for the others
        await asyncio.shield(self._drain)

    def drain_seconds_left(self) -> float:
        """Time left before the drain's deadline (0 once it has passed; the whole allowance before any drain)."""
        if self._drain is None:
            return self.settings.drain_seconds
        return max(0.0, self._drain_ends - time.monotonic())

    async def _close_sockets(self, sessions: list[Any]) -> None:
        async def close_one(session: Any) -> None:
            try:
                await asyncio.wait_for(session.idle.wait(), self.drain_seconds_left())
            except TimeoutError:
                pass
            session.close(CloseCode.DRAINING, "node draining")  # after the queued frames: the reply goes first
            await session.wait_closed(2.0)

        await asyncio.gather(*(close_one(s) for s in sessions))

    async def stop(self) -> None:
        await self.drain()
        await self.players.settle(self.settings.storage_commit_seconds + 1)  # commits of commands cut off by deadline
        await self.combats.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.bus.close()
        await self.storage.close()
        self.passwords.close()
        log.info("node stopped", extra={"node": self.id})

    def session_opened(self, player_id: str, state: PlayerState) -> None:
        """Start what runs for a connected player: energy pushes, the combat timer."""
        _, next_at = energy_now(state, self.game, time.time())
        self.ticker.watch(player_id, next_at)
        if state.combat is not None:
            self.combats.drive(player_id)

    def session_closed(self, player_id: str) -> None:
        if not self.hub.connected(player_id):
            self.ticker.forget(player_id)
            self.combats.stop(player_id)

    def _on_control(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        if kind == "close_session":
            session = self.hub.sessions.get(message["session"])
            if session is not None:
                session.close(int(message["code"]), message.get("reason", ""),
                              abort_if_blocked=bool(message.get("abort_if_blocked")))
        elif kind == "revoked":
            family, jti = message.get("family", ""), message.get("jti", "")
            for session in list(self.hub.by_player.get(message["player"], ())):
                if (family and session.credentials[0] == family) or (jti and session.credentials[1] == jti):
                    session.close(CloseCode.NOT_AUTHENTICATED, "credentials revoked")
        elif kind == "announce":
            reached = self.ops.announce_locally(message["data"])
            self.spawn(self.bus.claims.add_count(message["ack"], reached, 600), "ack")
        elif kind == "drain":
            self.spawn(self.drain(), "drain")
        elif kind == "players_changed":
            cache = self.players.cache
            for player_id, version in message["versions"].items():
                cache.changed(player_id, version)

    async def _credentials_revoked(self, player_id: str, family: str, jti: str) -> None:
        """Close, on every node, the player's sockets opened with a revoked login (family) or access token."""
        await self.bus.events.control({"kind": "revoked", "player": player_id, "family": family, "jti": jti})

    async def _bus_recovered(self, lost: bool) -> None:
        """The bus is back after a gap. Cached states may have missed announcements of changes meanwhile: they are
        dropped. Each socket catches up from the event log on what was published for it meanwhile (nothing a player
        must see lived only on the bus, so no socket is closed for it). Leaderboards kept on a bus that lost its data
        are rebuilt from storage (by one node; every node that saw the loss keeps trying until it is done)."""
        self.players.cache.clear()
        if lost and (self._rebuild is None or self._rebuild.done()):  # a rebuild still trying covers this loss too
            self._rebuild = self.spawn(jobs.rebuild_rankings_after_loss(
                self.storage, self.bus.leaderboards, self.bus.claims, self.failpoints.fail_at), "rebuild-rankings")
        await self._check_events()

    async def _check_events(self) -> None:
        """Sockets missing events the log holds (a publication this node never got: its publisher died between
        commit and publish, or the bus dropped it) catch up from the log."""
        sessions = [session for session in self.hub.sessions.values() if not session.closed]
        if not sessions:
            return
        heads = await self.event_log.heads(list({session.player_id for session in sessions}))
        for session in sessions:
            if session.fell_behind(heads[session.player_id]):
                self._catch_up(session)

    def _catch_up(self, session: Session) -> None:
        self.metrics.event_catch_ups.inc()
        self.spawn(self.event_log.catch_up(session), "catch-up")

    async def _measure_bus_lag(self) -> None:
        started = time.perf_counter()
        await self.bus.ping()
        self.bus_lag = time.perf_counter() - started
        self.metrics.bus_lag.set(self.bus_lag)

    def figures(self) -> dict[str, Any]:
        """What this node reports with its heartbeat: command rate since the last report, bus lag."""
        now = time.monotonic()
        total = self.metrics.commands.total()
        last_total, last_at = self._last_figures
        self._last_figures = (total, now)
        rate = (total - last_total) / (now - last_at) if now > last_at else 0.0
        return {"commands_per_second": round(rate, 1), "bus_lag_ms": round(self.bus_lag * 1000, 2),
                "draining": self.draining}
