"""Redis chat history: one capped list."""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

from server.bus.redis.keys import P


class RedisChatHistory:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def chat_append(self, message: dict[str, Any], keep: int) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(f"{P}chat", orjson.dumps(message))
            pipe.ltrim(f"{P}chat", -keep, -1)
            await pipe.execute()

    async def chat_history(self, count: int) -> list[dict[str, Any]]:
        if count <= 0:
            return []
        return [orjson.loads(raw) for raw in await self.redis.lrange(f"{P}chat", -count, -1)]
