"""What the MongoDB adapter takes for "the store cannot be reached", and the one place it becomes the port's
`Unavailable`.

Every operation of the two ports (`AccountStore`, `GameStore`) runs inside `reaching_mongo`: a connection-level
failure of PyMongo's becomes `Unavailable`, which the node answers `unavailable` with `retry_after_ms` like a commit
that ran out of time. Without it, a read whose pool checkout met a connection reset (seen by thousands when
secantusd sat at its connection cap under load) reached the dispatcher as an unknown exception and was answered
`internal`, a reply the protocol keeps for bugs.

What counts as out of reach (`unreachable`), and nothing else:
- `ConnectionFailure` and its subclasses: `AutoReconnect` (connection refused, reset or closed, at checkout or
  mid-operation), `NetworkTimeout`, `ServerSelectionTimeoutError`, `WaitQueueTimeoutError`, `NotPrimaryError`;
- any PyMongo error whose `timeout` is true: the operation's time budget (`pymongo.timeout`) ran out, the server's
  `maxTimeMS` expired (code 50), a write concern timed out;
- the server's own failure, `InternalError` (code 1): nothing in the request caused it (secantusd answered it to
  some 1,700 reads and writes of the cluster's 10,000-player run while it sat at its 1,000-connection cap).
A query the server refuses (`OperationFailure` for a bad filter, a missing index hint, a type error) and errors of
ours stay what they are: they are bugs, and must keep reaching the log as `internal`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from persistence.mongo_pool import finish_on_connection
from persistence.port import AccountStore, GameStore, Unavailable

T = TypeVar("T")


INTERNAL_ERROR = 1  # MongoDB's error code for a failure of the server itself


def unreachable(exc: BaseException) -> bool:
    """Whether a PyMongo error says the store could not do the operation in time (not that the request was wrong)."""
    return (isinstance(exc, ConnectionFailure) or (isinstance(exc, PyMongoError) and exc.timeout)
            or (isinstance(exc, OperationFailure) and exc.code == INTERNAL_ERROR))


@contextmanager
def reaching_mongo() -> Iterator[None]:
    """Around a store operation: the store out of reach becomes the port's `Unavailable`."""
    try:
        yield
    except PyMongoError as exc:
        if unreachable(exc):
            raise Unavailable(f"storage out of reach: {type(exc).__name__}: {exc}") from exc
        raise


def port_operations() -> list[str]:
    """The operations of the storage ports, by name: what `guard_operations` wraps (lifecycle and `ping` are not
    port operations: `open` fails loudly at start, `ping` answers False by itself)."""
    return sorted({name for port in (AccountStore, GameStore) for name, value in vars(port).items()
                   if inspect.isfunction(value) and not name.startswith("_")})


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def guarded(*args: Any, **kwargs: Any) -> Any:
        with reaching_mongo():
            return await finish_on_connection(method(*args, **kwargs))
    return guarded


def _guarded_iterator(method: Callable[..., AsyncIterator[T]]) -> Callable[..., AsyncIterator[T]]:
    @functools.wraps(method)
    async def guarded(*args: Any, **kwargs: Any) -> AsyncIterator[T]:
        with reaching_mongo():
            async for item in method(*args, **kwargs):
                yield item
    return guarded


def guard_operations(cls: type[T]) -> type[T]:
    """Class decorator of the adapter: every port operation runs inside `reaching_mongo`, and (but the iteration of
    all players, a job's) keeps its connection when its caller is cancelled (persistence/mongo_pool.py)."""
    for name in port_operations():
        method = getattr(cls, name)
        wrapped = _guarded_iterator(method) if inspect.isasyncgenfunction(method) else _guarded(method)
        setattr(cls, name, wrapped)
    return cls
