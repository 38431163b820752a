"""What the Redis adapter takes for "Redis cannot be reached".

redis-py raises `RedisError` (or the socket's `OSError`) when a server cannot be reached, with one exception: a
command written to a connection whose peer closed it, or that the cluster client closed while reinitialising after
another command's connection error, leaks the transport's own `AttributeError`, `TypeError` or `RuntimeError`
(redis-py issues 3546 and 4287, unfixed in 8.1; seen here when 1,000 sockets opened at once on a Redis Cluster,
bench/bench_shards.py). `UNREACHABLE` is caught only around single calls into the client, never around code of
ours, so it hides no bug of ours.
"""

from __future__ import annotations

from redis.exceptions import RedisError

UNREACHABLE: tuple[type[BaseException], ...] = (RedisError, OSError, AttributeError, TypeError, RuntimeError)
