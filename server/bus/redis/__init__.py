"""The Redis bus adapter: fan-out between nodes, presence, claims, rankings and chat history.

Every port shares one connection pool and one outbox (server/bus/redis/outbox.py), so a node's publications,
claims and ranking updates go out in pipelined batches, in the order they were made; the subscription, its loss
and its recovery live in server/bus/redis/link.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from server.bus.port import Bus
from server.bus.redis.chat import RedisChatHistory
from server.bus.redis.claims import RedisClaims
from server.bus.redis.connect import connect, is_cluster
from server.bus.redis.events import RedisEvents
from server.bus.redis.leaderboards import RedisLeaderboards
from server.bus.redis.link import RedisLink
from server.bus.redis.outbox import Outbox
from server.bus.redis.presence import RedisPresence


def open_redis_bus(url: str, node_id: str, history_seconds: float = 900,
                   presence_seconds: float = 30, sockets: Callable[[], int] = lambda: 0,
                   figures: Callable[[], dict[str, Any]] = dict, on_gap: Callable[[], None] | None = None,
                   on_recovered: Callable[[bool], Awaitable[None]] | None = None,
                   probe_seconds: float = 2.0, probe_timeout: float = 3.0) -> Bus:
    pool, redis = connect(url)
    sharded = is_cluster(url)
    outbox = Outbox(redis, node_id)
    presence = RedisPresence(redis, node_id, presence_seconds, history_seconds, sockets, figures, sharded)
    link = RedisLink(pool, redis, node_id, outbox, presence, on_gap, on_recovered, probe_seconds, probe_timeout,
                     sharded)
    return Bus(link=link, events=RedisEvents(redis, outbox, sharded), presence=presence,
               claims=RedisClaims(redis, outbox, node_id, link), leaderboards=RedisLeaderboards(redis, outbox),
               chat=RedisChatHistory(redis))
