"""The Redis adapter's connection: the subscription to this node's channels, its loss and its recovery.

The subscription connection is watched: when it drops, the node reconnects with backoff and resubscribes;
meanwhile `ping` is false (so /ready is 503), and the gap is logged and counted. Back online, before delivering
anything new, it renews its heartbeat and its sockets' presence and calls `on_recovered`, telling whether Redis
lost its data meanwhile (an `epoch` key, set once per data set, changed): the node then fills each socket's gap
from the storage's event log (nothing a player must see lived only in Redis) and, if the data was lost, rebuilds
the rankings.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from server.bus.port import BusListener
from server.bus.redis.keys import BROADCAST, CONTROL, EPOCH, NODE_CHANNEL
from server.bus.redis.outbox import Outbox
from server.bus.redis.presence import RedisPresence

log = logging.getLogger("valgame.bus.redis")


class RedisLink:
    def __init__(self, pool: aioredis.BlockingConnectionPool, redis: aioredis.Redis, node_id: str, outbox: Outbox,
                 presence: RedisPresence, on_gap: Callable[[], None] | None = None,
                 on_recovered: Callable[[bool], Awaitable[None]] | None = None) -> None:
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

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._presence.leave()
        await self.redis.aclose()
        await self._pool.aclose()
        self._listener = None

    async def ping(self) -> bool:
        if not self.connected:
            return False
        try:
            return bool(await self.redis.ping())
        except RedisError:
            return False

    async def _listen(self, subscribed: asyncio.Event) -> None:
        backoff = 0.1
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel, BROADCAST, CONTROL)
                if self.connected is False and subscribed.is_set():
                    # what arrives on the new subscription waits (unread) until the gap is dealt with
                    lost = await self._recover()
                    log.warning("bus reconnected", extra={"node": self.node_id, "data_lost": lost})
                self.connected = True
                backoff = 0.1
                subscribed.set()
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None:
                        self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                await pubsub.aclose()
                raise
            except (RedisError, OSError) as exc:
                if self.connected:
                    log.warning("bus connection lost", extra={"node": self.node_id, "error": str(exc)})
                    if self._on_gap is not None:
                        self._on_gap()
                self.connected = False
                try:
                    await pubsub.aclose()
                except Exception:
                    pass
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _read_epoch(self) -> bytes:
        await self.redis.set(EPOCH, secrets.token_hex(8), nx=True)
        return await self.redis.get(EPOCH) or b""

    async def _recover(self) -> bool:
        """Back after a gap: renew liveness and presence (other nodes may have dropped this node's entries, or Redis
        may have lost them), then let the node deal with what its sockets missed. True when Redis lost its data."""
        await self._presence.heartbeat_once()
        epoch = await self._read_epoch()
        lost, self._epoch = epoch != self._epoch, epoch
        await self._presence.renew()
        if self._on_recovered is not None:
            try:
                await self._on_recovered(lost)
            except (RedisError, OSError):
                raise
            except Exception:
                log.exception("bus recovery failed", extra={"node": self.node_id})
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
