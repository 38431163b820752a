"""Redis presence: a hash per player (session -> node and opening time) and a heartbeat key per node; a node whose
heartbeat expires (`presence_seconds`, 30 by default) drops out of everybody's presence."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from server.bus.redis.errors import reaching_redis
from server.bus.redis.keys import ALIVE, P, presence_key

log = logging.getLogger("valgame.bus.redis")


class RedisPresence:
    def __init__(self, redis: aioredis.Redis, node_id: str, presence_seconds: float = 30,
                 history_seconds: float = 900, sockets: Callable[[], int] = lambda: 0,
                 figures: Callable[[], dict[str, Any]] = dict, sharded: bool = False) -> None:
        self.redis = redis
        self._sharded = sharded
        self.node_id = node_id
        self.alive_seconds = max(1, int(presence_seconds))
        self.heartbeat_seconds = self.alive_seconds / 6
        self.history_seconds = int(history_seconds)  # a closed session can be resumed for as long as its events last
        self._sockets = sockets
        self._figures = figures
        self._attached: dict[str, tuple[str, str]] = {}  # this node's sessions: id -> (player id, presence value)
        # Redis Cluster: subscribe to a player's channel with the first socket here, leave it with the last
        self.follow: Callable[[str], Awaitable[None]] | None = None
        self.unfollow: Callable[[str], Awaitable[None]] | None = None

    def _key(self, player_id: str) -> str:
        return presence_key(player_id, self._sharded)

    async def attach(self, player_id: str, session_id: str) -> None:
        value = f"{self.node_id}|{time.time():.6f}"
        with reaching_redis():
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(self._key(player_id), session_id, value)
                pipe.set(f"{P}session:{session_id}", player_id, ex=self.history_seconds)
                await pipe.execute()
            if self.follow is not None and session_id not in self._attached:
                await self.follow(player_id)  # before the socket reads its head: no event falls in between
        self._attached[session_id] = (player_id, value)

    async def detach(self, player_id: str, session_id: str) -> None:
        if self._attached.pop(session_id, None) is not None and self.unfollow is not None:
            await self.unfollow(player_id)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hdel(self._key(player_id), session_id)
                pipe.set(f"{P}session:{session_id}", player_id, ex=self.history_seconds)
                await pipe.execute()
        except RedisError:
            pass  # the node's heartbeat ends, and with it this entry's validity

    async def renew(self) -> None:
        """Back after a gap: write this node's sessions again (other nodes may have dropped them, or Redis may have
        lost them), and the keys that let them be resumed elsewhere."""
        if not self._attached:
            return
        entries = list(self._attached.items())
        async with self.redis.pipeline(transaction=False) as pipe:
            for session_id, (player_id, value) in entries:
                pipe.hset(self._key(player_id), session_id, value)
                pipe.set(f"{P}session:{session_id}", player_id, ex=self.history_seconds)
            await pipe.execute()
        gone = [(session_id, player_id) for session_id, (player_id, _) in entries
                if session_id not in self._attached]  # detached meanwhile: take back what was just written
        if gone:
            async with self.redis.pipeline(transaction=False) as pipe:
                for session_id, player_id in gone:
                    pipe.hdel(self._key(player_id), session_id)
                await pipe.execute()

    async def _alive_nodes(self, nodes: set[str]) -> set[str]:
        ordered = sorted(nodes)
        if not ordered:
            return set()
        async with self.redis.pipeline(transaction=False) as pipe:  # not MGET: on Redis Cluster they are on any shard
            for node in ordered:
                pipe.get(ALIVE + node)
            flags = await pipe.execute()
        return {n for n, flag in zip(ordered, flags, strict=True) if flag}

    async def sessions_of(self, player_id: str) -> list[tuple[str, str, float]]:
        with reaching_redis():
            entries = await self.redis.hgetall(self._key(player_id))
        parsed = []
        for session_id, value in entries.items():
            node, _, opened = value.decode().partition("|")
            parsed.append((session_id.decode(), node, float(opened or 0)))
        with reaching_redis():
            alive = await self._alive_nodes({node for _, node, _ in parsed})
            stale = [sid for sid, node, _ in parsed if node not in alive]
            if stale:
                await self.redis.hdel(self._key(player_id), *stale)
        return [entry for entry in parsed if entry[1] in alive]

    async def session_owner(self, session_id: str) -> str | None:
        with reaching_redis():
            value = await self.redis.get(f"{P}session:{session_id}")
        return value.decode() if value else None

    async def heartbeat_once(self) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(ALIVE + self.node_id, "1", ex=self.alive_seconds)
            pipe.hset(f"{P}nodes", self.node_id, orjson.dumps({
                "sockets": self._sockets(), "at": time.time(), **self._figures()}))
            await pipe.execute()

    async def heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self.heartbeat_once()
            except RedisError as exc:
                log.warning("bus heartbeat failed", extra={"error": str(exc)})

    async def leave(self) -> None:
        """This node stops: it drops out of the live nodes at once rather than when its heartbeat expires."""
        try:
            await self.redis.delete(ALIVE + self.node_id)
            await self.redis.hdel(f"{P}nodes", self.node_id)
        except RedisError:
            pass

    async def nodes(self) -> dict[str, dict[str, Any]]:
        """Every live node's last heartbeat (sockets, command rate, ...)."""
        entries = await self.redis.hgetall(f"{P}nodes")
        alive = await self._alive_nodes({k.decode() for k in entries})
        return {k.decode(): orjson.loads(v) for k, v in entries.items() if k.decode() in alive}
