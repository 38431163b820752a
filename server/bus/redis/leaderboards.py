"""Redis leaderboards: a sorted set per board."""

from __future__ import annotations

import redis.asyncio as aioredis

from server.bus.redis.keys import P
from server.bus.redis.outbox import Outbox


class RedisLeaderboards:
    def __init__(self, redis: aioredis.Redis, outbox: Outbox) -> None:
        self.redis = redis
        self._outbox = outbox

    async def rank_set(self, board: str, scores: dict[str, float]) -> None:
        if scores:
            await self._outbox.send(lambda pipe: pipe.zadd(f"{P}rank:{board}", scores))

    async def rank_top(self, board: str, count: int) -> list[tuple[str, float]]:
        return await self.rank_range(board, 0, count - 1)

    async def rank_of(self, board: str, member: str) -> tuple[int, float] | None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrevrank(f"{P}rank:{board}", member)
            pipe.zscore(f"{P}rank:{board}", member)
            rank, score = await pipe.execute()
        return None if rank is None else (int(rank) + 1, float(score))

    async def rank_range(self, board: str, start: int, stop: int) -> list[tuple[str, float]]:
        rows = await self.redis.zrevrange(f"{P}rank:{board}", max(start, 0), stop, withscores=True)
        return [(member.decode(), float(score)) for member, score in rows]

    async def rank_clear(self, board: str) -> None:
        await self.redis.delete(f"{P}rank:{board}")
