"""The Redis adapter's connection: the subscription to this node's channels, its loss and its recovery, and the
probe that checks delivery end to end.

The subscription connection is watched: when it drops, the node reconnects with backoff, forever (a refused dial,
e.g. to a dead master a Sentinel still names, is one more retry), and resubscribes; meanwhile `ping` is false (so
/ready is 503), and the gap is logged and counted. A connection that looks fine is not trusted either: every
`probe_seconds` the node publishes a probe to its own channel, through the outbox as its players' events go, and
must receive it within `probe_timeout`; while it does not, `delivery` says why and `ping` is false, and after two
lost probes the subscription is dropped and made again.

Back online, before delivering anything new, it renews its heartbeat and its sockets' presence and calls
`on_recovered`, telling whether Redis lost its data meanwhile (an `epoch` key, set once per data set, changed): the
node then fills each socket's gap from the storage's event log (nothing a player must see lived only in Redis) and,
if the data was lost, rebuilds the rankings.

On Redis Cluster the subscription is sharded (server/bus/redis/sharded.py): this node's channel, the topics,
control, and the channel of every player it holds a socket of (`follow`); a loss on any shard is a loss of the
whole, recovered the same way.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from server.bus.port import BusListener, Delivery
from server.bus.redis.keys import BROADCAST, CONTROL, EPOCH, NODE_CHANNEL, player_channel
from server.bus.redis.outbox import Outbox
from server.bus.redis.presence import RedisPresence
from server.bus.redis.sharded import ShardedSubscription

log = logging.getLogger("valgame.bus.redis")


PROBE = b"Q"  # Q<token>: a probe this node published to itself
RESUBSCRIBE_AFTER = 2  # probes lost in a row on a subscription that looks fine before it is made again
MAX_BACKOFF = 1.0  # seconds between two dials at most: a failover is followed within this of its end


class ProbeLost(RedisError):
    """Probes published to this node's channel stopped arriving on a subscription that looked fine."""


class RedisLink:
    def __init__(self, pool: aioredis.ConnectionPool | None, redis: aioredis.Redis, node_id: str, outbox: Outbox,
                 presence: RedisPresence, on_gap: Callable[[], None] | None = None,
                 on_recovered: Callable[[bool], Awaitable[None]] | None = None,
                 probe_seconds: float = 2.0, probe_timeout: float = 3.0, sharded: bool = False) -> None:
        self._pool = pool
        self.redis = redis
        self.node_id = node_id
        self._outbox = outbox
        self._presence = presence
        self._on_gap = on_gap
        self._on_recovered = on_recovered
        self._listener: BusListener | None = None
        self.connected = False
        self._tasks: list[asyncio.Task[None]] = []
        self._epoch: bytes | None = None
        self.delivery = Delivery(ok=False, reason="not started")
        self._probe_seconds = probe_seconds
        self._probe_timeout = probe_timeout
        self._probes: dict[bytes, tuple[float, asyncio.Future[None]]] = {}
        self._probe_now = asyncio.Event()
        self._resubscribe = False
        # Redis Cluster: sharded pub/sub, and this node follows the channel of each player it holds a socket of
        self._sharded = sharded
        self._subscription: ShardedSubscription | None = None
        self._followed: dict[str, int] = {}  # player id -> this node's sockets of the player
        if sharded:
            presence.follow, presence.unfollow = self.follow, self.unfollow

    @property
    def channel(self) -> str:
        return NODE_CHANNEL + self.node_id

    async def start(self, listener: BusListener) -> None:
        self._listener = listener
        await self.redis.ping()
        self._epoch = await self._read_epoch()
        await self._presence.heartbeat_once()
        subscribed = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._listen(subscribed), name="bus-listen"),
            asyncio.create_task(self._outbox.run(), name="bus-flush"),
            asyncio.create_task(self._presence.heartbeat_loop(), name="bus-heartbeat"),
        ]
        await asyncio.wait_for(subscribed.wait(), 10)
        await self._probe_once()  # ready from the start when delivery works (it is retried every probe_seconds)
        self._tasks.append(asyncio.create_task(self._probe_loop(), name="bus-probe"))

    async def close(self) -> None:
        pending = {task for task in self._tasks if not task.done()}
        while pending:
            # cancelled again until they end: a cancellation landing as a wait times out can be swallowed (3.11)
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=1.0)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._presence.leave()
        await self.redis.aclose()
        if self._pool is not None:
            await self._pool.aclose()
        self._listener = None

    async def ping(self) -> bool:
        if not self.connected or not self.delivery.ok:
            return False
        try:
            return bool(await self.redis.ping())
        except Exception:  # RedisError, or RedisClusterException when no shard answers: not ready either way
            return False

    async def _listen(self, subscribed: asyncio.Event) -> None:
        backoff = 0.1
        while True:
            pubsub: Any = None
            try:
                pubsub = await self._subscribe()
                if self.connected is False and subscribed.is_set():
                    # what arrives on the new subscription waits (unread) until the gap is dealt with
                    lost = await self._recover()
                    log.warning("bus reconnected", extra={"node": self.node_id, "data_lost": lost})
                self.connected = True
                self._resubscribe = False
                self._probe_now.set()  # back: find out now whether delivery works
                backoff = 0.1
                subscribed.set()
                while True:
                    # a bounded wait, so a subscription the probes found deaf is given up within a second
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._dispatch(message["channel"], message["data"])
                    elif self._resubscribe:
                        raise ProbeLost(f"{RESUBSCRIBE_AFTER} probes lost")
            except asyncio.CancelledError:
                if pubsub is not None:
                    await pubsub.aclose()
                raise
            except Exception as exc:  # RedisError, OSError, or anything else: never stop retrying
                if not isinstance(exc, (RedisError, OSError)):
                    log.exception("bus subscription failed", extra={"node": self.node_id})
                self._lost(exc)
                self._subscription = None
                try:
                    if pubsub is not None:
                        await pubsub.aclose()
                except Exception:
                    pass
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def _subscribe(self) -> Any:
        """Subscribe to this node's channels: plain pub/sub on one Redis; on Redis Cluster, sharded channels (this
        node's, the topics', the control one, and each followed player's)."""
        if not self._sharded:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel, BROADCAST, CONTROL)
            except BaseException:
                await pubsub.aclose()
                raise
            return pubsub
        subscription = ShardedSubscription(self.redis)  # type: ignore[arg-type]
        try:
            await subscription.open(self.channel, BROADCAST, CONTROL,
                                    *(player_channel(player) for player in sorted(self._followed)))
        except BaseException:
            await subscription.aclose()
            raise
        self._subscription = subscription
        return subscription

    async def follow(self, player_id: str) -> None:
        """Redis Cluster: a socket of the player opened here; receive the player's channel (counted per socket, so
        a socket opening while the player's last one closes keeps it)."""
        count = self._followed.get(player_id, 0)
        self._followed[player_id] = count + 1
        if count or self._subscription is None:
            return  # already received, or the subscription is being made again and will include the player
        try:
            await self._subscription.ssubscribe(player_channel(player_id))
        except BaseException:
            await self.unfollow(player_id)
            raise

    async def unfollow(self, player_id: str) -> None:
        count = self._followed.pop(player_id, 0) - 1
        if count > 0:
            self._followed[player_id] = count
            return
        if self._subscription is not None:
            try:
                await self._subscription.sunsubscribe(player_channel(player_id))
            except (RedisError, OSError):
                pass  # the subscription is lost; the next one leaves the player out

    def _lost(self, exc: BaseException) -> None:
        if self.connected:
            log.warning("bus connection lost", extra={"node": self.node_id, "error": str(exc)})
            if self._on_gap is not None:
                self._on_gap()
        self.connected = False
        self.delivery.ok = False
        self.delivery.reason = f"subscription down: {exc}"[:200]

    async def _probe_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._probe_now.wait(), self._probe_seconds)
            except TimeoutError:
                pass
            self._probe_now.clear()
            try:
                await self._probe_once()
            except Exception:  # a probe must never end the loop that keeps /ready truthful
                log.exception("bus probe failed", extra={"node": self.node_id})

    async def _probe_once(self) -> None:
        """Publish a probe to this node's channel (as a player's event goes: through the outbox) and wait for it. On
        Redis Cluster one probe goes to a subscribed channel on each shard the subscription reads, so a shard whose
        connection went deaf (say, the master of the topics' slot died) makes /ready false too, not only this
        node's own shard."""
        delivery = self.delivery
        if not self.connected:
            delivery.ok = False
            delivery.failures += 1
            return  # the subscription is down (its reason is already set); nothing to send a probe through
        subscription = self._subscription
        channels = subscription.channel_per_shard(self.channel) if subscription is not None else [self.channel]
        loop = asyncio.get_running_loop()
        sent: dict[bytes, str] = {}
        for channel in channels:
            token = PROBE + secrets.token_hex(6).encode()
            sent[token] = channel
            self._probes[token] = (time.perf_counter(), loop.create_future())
            if self._sharded:
                self._outbox.post(lambda pipe, channel=channel, token=token: pipe.spublish(channel, token))
            else:
                self._outbox.post(lambda pipe, channel=channel, token=token: pipe.publish(channel, token))
        try:
            _, deaf = await asyncio.wait([self._probes[token][1] for token in sent], timeout=self._probe_timeout)
        finally:
            arrived = {token: self._probes.pop(token)[1].done() for token in sent}
        if deaf:
            delivery.ok = False
            delivery.failures += 1
            if self.connected:  # else the subscription went down meanwhile, and its reason stands
                silent = ", ".join(sorted(sent[token] for token, done in arrived.items() if not done))
                delivery.reason = f"probe not received within {self._probe_timeout:g} s on {silent}"[:200]
            log.warning("bus probe lost", extra={"node": self.node_id, "failures": delivery.failures})
            if delivery.failures >= RESUBSCRIBE_AFTER and self.connected:
                self._resubscribe = True
            return
        delivery.ok, delivery.reason, delivery.failures = True, "", 0

    def _probe_arrived(self, token: bytes) -> None:
        sent = self._probes.get(token)
        if sent is None:
            return  # a late probe, already counted as lost
        started, arrived = sent
        self.delivery.probe_seconds = time.perf_counter() - started
        if not arrived.done():
            arrived.set_result(None)

    async def _read_epoch(self) -> bytes:
        await self.redis.set(EPOCH, secrets.token_hex(8), nx=True)
        return await self.redis.get(EPOCH) or b""

    async def _recover(self) -> bool:
        """Back after a gap: renew liveness and presence (other nodes may have dropped this node's entries, or Redis
        may have lost them), then let the node deal with what its sockets missed. True when Redis lost its data."""
        await self._presence.heartbeat_once()
        epoch = await self._read_epoch()
        lost = epoch != self._epoch
        await self._presence.renew()
        if self._on_recovered is not None:
            try:
                await self._on_recovered(lost)
            except (RedisError, OSError):
                raise
            except Exception:
                log.exception("bus recovery failed", extra={"node": self.node_id})
        # Only now: a recovery cut short by a Redis error is made again, and must still know the data was lost (else
        # the node would never rebuild what went with it).
        self._epoch = epoch
        return lost

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        listener = self._listener
        if listener is None:
            return
        kind = data[:1]
        if kind == b"P":  # P<player id> <seq> <frame>
            id_end = data.index(b" ")
            seq_end = data.index(b" ", id_end + 1)
            listener.deliver_player(data[1:id_end].decode(), int(data[id_end + 1:seq_end]), data[seq_end + 1:])
        elif kind == b"T":  # T<topic> <frame>
            topic_end = data.index(b" ")
            listener.deliver_topic(data[1:topic_end].decode(), data[topic_end + 1:])
        elif kind == b"C":
            listener.deliver_control(orjson.loads(data[1:]))
        elif kind == PROBE:
            self._probe_arrived(data)
