"""The bus: its ports (server/bus/port.py) and `open_bus`, which builds one adapter's set of them from a URL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from server.bus.port import Bus, BusListener, BusUnavailable, ChatHistory, Claims, Events, Leaderboards, Presence

__all__ = ["Bus", "BusListener", "BusUnavailable", "ChatHistory", "Claims", "Events", "Leaderboards", "Presence",
           "open_bus"]


def open_bus(url: str, node_id: str, history_seconds: float, *,
             presence_seconds: float = 30,
             sockets: Callable[[], int] = lambda: 0,
             figures: Callable[[], dict[str, Any]] = dict,
             on_gap: Callable[[], None] | None = None,
             on_recovered: Callable[[bool], Awaitable[None]] | None = None,
             probe_seconds: float = 2.0, probe_timeout: float = 3.0) -> Bus:
    """Build the adapter a bus URL names: `memory://`, `redis://host:port/db` or, for a master Sentinels watch,
    `redis+sentinel://h1:26379,h2:26379/mymaster/db`, or Redis Cluster, `redis+cluster://h1:7000,h2:7001/`
    (server/bus/redis/connect.py).

    `history_seconds` is how long a closed session can be resumed. `sockets` and `figures` are what the node
    reports with its heartbeats. `on_gap` is called when the connection is lost; `on_recovered` is awaited when it
    is back, before any new delivery, with whether the bus lost its data meanwhile (presence, claims, rankings),
    e.g. an empty restarted Redis. Every `probe_seconds` a Redis bus checks that a message it publishes to itself
    arrives within `probe_timeout` (`Bus.delivery`)."""
    if url.startswith("memory:"):
        from server.bus.memory import open_memory_bus

        return open_memory_bus(node_id, history_seconds, sockets, figures)
    if url.startswith(("redis://", "rediss://", "redis+sentinel://", "rediss+sentinel://", "redis+cluster://",
                       "rediss+cluster://")):
        from server.bus.redis import open_redis_bus

        return open_redis_bus(url, node_id, history_seconds, presence_seconds, sockets, figures,
                              on_gap, on_recovered, probe_seconds, probe_timeout)
    raise ValueError(f"unknown bus URL scheme: {url.split(':', 1)[0]}")
