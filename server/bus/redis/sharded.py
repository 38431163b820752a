"""Sharded pub/sub (`SSUBSCRIBE`) across a Redis Cluster's shards, read as one stream of messages.

Why not redis-py's `ClusterPubSub`: it has `ssubscribe` and follows slot moves, but reads its per-shard connections
one after the other (`get_sharded_message` waits `timeout` on each in turn), so a message on one shard waits out the
others' timeouts, and a shard connection it loses is redialled to the same address in the background, silently.
The link needs a single stream it can block on, and any loss reported so it can run its recovery (the events a
node missed come from the event log then). So this is the smallest piece that does that:

- one pub/sub connection per master that owns a subscribed channel (a channel's shard is the one serving its
  slot in the client's slot map, refreshed when a subscription is opened), never redialled behind the link's back;
- one reader task per connection, feeding a queue; `get_message(timeout)` reads the queue;
- anything wrong on any shard (connection lost, a MOVED reply, a `sunsubscribe` pushed by Redis because the slot
  moved away) is raised from `get_message`: the link closes the whole subscription, redials with backoff, and
  opens a new one on the refreshed slot map.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

Item = dict[str, Any] | BaseException


class ShardMoved(RedisConnectionError):
    """Redis ended a sharded subscription (its slot moved to another shard)."""


class ShardedSubscription:
    def __init__(self, cluster: RedisCluster) -> None:
        self._cluster = cluster
        self._shards: dict[str, tuple[aioredis.Redis, PubSub, asyncio.Task[None]]] = {}
        self._owner: dict[bytes, str] = {}  # channel -> name of the shard it is subscribed on
        self._queue: asyncio.Queue[Item] = asyncio.Queue()

    async def open(self, *channels: str) -> None:
        """Learn the current slot map, then subscribe to `channels`."""
        await self._cluster.nodes_manager.initialize()
        await self.ssubscribe(*channels)

    async def ssubscribe(self, *channels: str) -> None:
        for channel in channels:
            node = self._cluster.get_node_from_key(channel)
            shard = self._shards.get(node.name)
            if shard is not None:
                await shard[1].ssubscribe(channel)
            else:
                kwargs = node.connection_kwargs
                # No retries: redis-py would redial a lost shard's address (up to 10 times, ~5 s) and resubscribe
                # silently, while the slot may have moved to a promoted replica and messages were missed.
                client = aioredis.Redis(host=node.host, port=node.port, password=kwargs.get("password"),
                                        username=kwargs.get("username"), ssl=kwargs.get("ssl", False),
                                        socket_connect_timeout=kwargs.get("socket_connect_timeout"),
                                        retry=Retry(NoBackoff(), 0))
                pubsub = client.pubsub()
                try:
                    await pubsub.ssubscribe(channel)  # dials: a refused dial raises here, to the caller
                except BaseException:
                    await pubsub.aclose()
                    await client.aclose()
                    raise
                reader = asyncio.create_task(self._read(node.name, pubsub), name="bus-shard")
                self._shards[node.name] = (client, pubsub, reader)
            self._owner[channel.encode()] = node.name

    async def sunsubscribe(self, channel: str) -> None:
        name = self._owner.pop(channel.encode(), None)
        shard = self._shards.get(name or "")
        if shard is not None:
            await shard[1].sunsubscribe(channel)

    def channel_per_shard(self, first: str) -> list[str]:
        """A subscribed channel on each shard this subscription reads (`first` for its own shard), for the link's
        probes to reach every connection."""
        chosen = {self._owner[first.encode()]: first} if first.encode() in self._owner else {}
        for channel, name in self._owner.items():
            chosen.setdefault(name, channel.decode())
        return list(chosen.values())

    async def get_message(self, timeout: float) -> dict[str, Any] | None:
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    async def aclose(self) -> None:
        shards, self._shards = list(self._shards.values()), {}
        for _, _, reader in shards:
            reader.cancel()
        await asyncio.gather(*(reader for _, _, reader in shards), return_exceptions=True)
        for client, pubsub, _ in shards:
            for close in (pubsub.aclose, client.aclose):
                try:
                    await close()
                except Exception:
                    pass  # the shard may be gone: its connection is dropped either way

    async def _read(self, name: str, pubsub: PubSub) -> None:
        try:
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                kind = message["type"]
                kind = kind.decode() if isinstance(kind, bytes) else kind
                if kind == "smessage":
                    self._queue.put_nowait(message)
                elif kind == "sunsubscribe" and self._owner.get(message["channel"]) == name:
                    raise ShardMoved(f"Redis ended the subscription to {message['channel']!r}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._queue.put_nowait(exc)
