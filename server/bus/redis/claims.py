"""Redis claims (`SET NX EX`) and counters (a hash per counter)."""

from __future__ import annotations

from typing import Protocol

import redis.asyncio as aioredis

from server.bus.redis.keys import P
from server.bus.redis.outbox import Outbox


class _Connection(Protocol):
    connected: bool  # false while the subscription is down or recovering


class RedisClaims:
    def __init__(self, redis: aioredis.Redis, outbox: Outbox, node_id: str, connection: _Connection) -> None:
        self.redis = redis
        self._outbox = outbox
        self.node_id = node_id
        self._connection = connection

    async def claim_once(self, key: str, ttl_seconds: int) -> bool:
        name = f"{P}claim:{key}"
        if not self._connection.connected:  # down or recovering: a command of its own, which fails at once or goes
            return bool(await self.redis.set(name, self.node_id, nx=True, ex=ttl_seconds))  # ahead
        # Pipelined with the node's other bus traffic: every keyed command claims its key, and a command of its own
        # costs several times the CPU of one in a batch.
        return bool(await self._outbox.send(lambda pipe: pipe.set(name, self.node_id, nx=True, ex=ttl_seconds)))

    async def release(self, key: str) -> None:
        # Not awaited: the claim only has to be gone before a twin looks again, and batches keep their order.
        self._outbox.post(lambda pipe: pipe.delete(f"{P}claim:{key}"))

    async def add_count(self, key: str, amount: int, ttl_seconds: int) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(f"{P}count:{key}", "calls", 1)
            pipe.hincrby(f"{P}count:{key}", "total", amount)
            pipe.expire(f"{P}count:{key}", ttl_seconds)
            await pipe.execute()

    async def get_count(self, key: str) -> tuple[int, int]:
        values = await self.redis.hmget(f"{P}count:{key}", ["calls", "total"])
        return int(values[0] or 0), int(values[1] or 0)
