"""What the Redis adapter takes for "Redis cannot be reached".

redis-py raises `RedisError` (or the socket's `OSError`) when a server cannot be reached, with one exception: a
command written to a connection whose peer closed it, or that the cluster client closed while reinitialising after
another command's connection error, leaks the transport's own `AttributeError`, `TypeError` or `RuntimeError`
(redis-py issues 3546 and 4287, unfixed in 8.1; seen here when 1,000 sockets opened at once on a Redis Cluster,
bench/bench_shards.py). `UNREACHABLE` is caught only around calls into the client (and the link's `follow`, which
does little but subscribe), never around logic of ours, so it hides no bug of ours.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import RedisError

from server.bus.port import BusUnavailable

UNREACHABLE: tuple[type[BaseException], ...] = (RedisError, OSError, AttributeError, TypeError, RuntimeError)


@contextmanager
def reaching_redis() -> Iterator[None]:
    """Around calls into the client: Redis out of reach becomes the port's `BusUnavailable`."""
    try:
        yield
    except UNREACHABLE as exc:
        raise BusUnavailable(str(exc)) from exc
