"""The Redis adapter's client, from a bus URL: one Redis, or a master that Sentinels watch.

- `redis://[:password@]host:port/db` (or `rediss://`): one server, through a blocking pool of 32 connections.
- `redis+sentinel://[:password@]h1:26379,h2:26379/mymaster/db` (or `rediss+sentinel://` for TLS to the master):
  redis-py's Sentinel client asks the sentinels which server is the master of `mymaster` on every new connection;
  a connection to a master that died or was demoted fails (refused, or READONLY), and the next one goes to whatever
  master the sentinels name then. The password, if any, is the data servers'; sentinels are asked without one.
- `redis+cluster://[:password@]h1:7000,h2:7001/` (or `rediss+cluster://`): redis-py's asyncio `RedisCluster`,
  which learns the slot map from any of the nodes named, routes each command (and each command of a pipeline) to
  the shard of its key, and follows MOVED/ASK and failovers by refreshing the map. Pub/sub is sharded
  (server/bus/redis/sharded.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SOCKET_TIMEOUT = 5.0  # a command or a sentinel query that waits this long has lost its server
CLUSTER_CONNECTIONS = 1000  # per shard, per node (see `connect`)


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
    password, sentinels = _hosts(parts.netloc, 26379)
    path = [piece for piece in parts.path.split("/") if piece]
    if not path or not sentinels:
        raise ValueError("a Sentinel bus URL names its sentinels and the master: redis+sentinel://h1:26379/mymaster/0")
    db = int(path[1]) if len(path) > 1 else 0
    return SentinelAddress(sentinels, path[0], db, password or None, parts.scheme.startswith("rediss"))


def is_cluster(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEMES)


def _hosts(netloc: str, default_port: int) -> tuple[str | None, list[tuple[str, int]]]:
    userinfo, _, hosts = netloc.rpartition("@")
    password = unquote(userinfo.partition(":")[2]) if userinfo else None
    found = []
    for host in hosts.split(","):
        name, _, port = host.rpartition(":") if ":" in host else (host, "", str(default_port))
        found.append((name, int(port)))
    return password or None, found


def connect(url: str) -> tuple[aioredis.ConnectionPool | None, aioredis.Redis]:
    """The connection pool (none for a cluster: the client keeps one per shard) and client a bus URL names."""
    if is_cluster(url):
        parts = urlsplit(url)
        password, nodes = _hosts(parts.netloc, 6379)
        # redis-py's cluster client refuses a command beyond its connection cap (100 per shard by default) instead
        # of waiting for a free one, and a refusal there makes it reinitialise and close connections other commands
        # are using. A burst of sockets opening (each looks up presence while another holds a connection) passed
        # 100 (bench/bench_shards.py, 1,000 sockets): the cap is CLUSTER_CONNECTIONS per shard per node, which
        # Redis's `maxclients` (10,000 by default) must cover for every node (docs/OPERATIONS.md).
        cluster = RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in nodes], password=password,
                               ssl=parts.scheme.startswith("rediss"), socket_timeout=SOCKET_TIMEOUT,
                               socket_connect_timeout=SOCKET_TIMEOUT, max_connections=CLUSTER_CONNECTIONS)
        # The ports use the commands both clients have (pipelines, strings, hashes, lists, sorted sets).
        return None, cast(aioredis.Redis, cluster)
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
