"""The Redis adapter's client, from a bus URL: one Redis, or a master that Sentinels watch.

- `redis://[:password@]host:port/db` (or `rediss://`): one server, through a blocking pool of 32 connections.
- `redis+sentinel://[:password@]h1:26379,h2:26379/mymaster/db` (or `rediss+sentinel://` for TLS to the master):
  redis-py's Sentinel client asks the sentinels which server is the master of `mymaster` on every new connection;
  a connection to a master that died or was demoted fails (refused, or READONLY), and the next one goes to whatever
  master the sentinels name then. The password, if any, is the data servers'; sentinels are asked without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
SOCKET_TIMEOUT = 5.0  # a command or a sentinel query that waits this long has lost its server


@dataclass(frozen=True, slots=True)
class SentinelAddress:
    sentinels: list[tuple[str, int]]
    service: str
    db: int
    password: str | None
    tls: bool


def parse_sentinel_url(url: str) -> SentinelAddress:
    """`redis+sentinel://[:password@]h1:26379,h2:26379/mymaster/0` as its parts (port 26379 when left out)."""
    parts = urlsplit(url)
    if parts.scheme not in SENTINEL_SCHEMES:
        raise ValueError(f"not a Sentinel bus URL: {parts.scheme}")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    password = unquote(userinfo.partition(":")[2]) if userinfo else None
    sentinels = []
    for host in hosts.split(","):
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "26379")
        sentinels.append((name, int(port)))
    path = [piece for piece in parts.path.split("/") if piece]
    if not path or not sentinels:
        raise ValueError("a Sentinel bus URL names its sentinels and the master: redis+sentinel://h1:26379/mymaster/0")
    db = int(path[1]) if len(path) > 1 else 0
    return SentinelAddress(sentinels, path[0], db, password or None, parts.scheme.startswith("rediss"))


def connect(url: str) -> tuple[aioredis.ConnectionPool, aioredis.Redis]:
    """The connection pool and client a bus URL names (a plain Redis or a Sentinel-watched master)."""
    if url.startswith(SENTINEL_SCHEMES):
        address = parse_sentinel_url(url)
        sentinel = Sentinel(address.sentinels, sentinel_kwargs={"socket_timeout": SOCKET_TIMEOUT,
                                                                "socket_connect_timeout": SOCKET_TIMEOUT})
        # Not a blocking pool: redis-py has no Sentinel flavour of one. Connections are still few: the outbox
        # batches the node's traffic, and only presence, chat and counters send commands of their own.
        pool: aioredis.ConnectionPool = SentinelConnectionPool(
            address.service, sentinel, db=address.db, password=address.password, ssl=address.tls,
            socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT, check_connection=True)
    else:
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=32, timeout=10)
    return pool, aioredis.Redis(connection_pool=pool)
