"""How the MongoDB adapter's operations hold the client's pooled connections: a bounded pool, and no connection
lost to a cancelled operation.

PyMongo closes a connection whose operation is cancelled while it holds it (mid-send or mid-receive: the reply
still to come would be read by the next user of the connection), and its pool opens a new one for the next
operation. The node cancels every operation of a command past its deadline (server/dispatch.py), so an overloaded
store saw a storm of fresh connections while it had not yet processed the closes of the old ones: in a 2,000-player
bench on two nodes, secantusd counted 1,000 live connections (its cap) and closed the rest at once, which became
errors of commands that had done nothing wrong.

So an operation runs in a task of its own (`finish_on_connection`): when its caller is cancelled, the operation is
cancelled too if it holds no connection (it is waiting for one, or between two commands of a cursor: nothing is
lost), and otherwise runs to its end, so that its connection goes back to the pool. The pool, bounded by
`maxPoolSize` (the node's `storage_pool_size`), is then what bounds the node's connections to the store; an
operation finishing for nobody lasts at most its time budget, or until the store answers.

Whether an operation holds a connection is known from the pool's own checkout and check-in events (`HeldCount`,
a PyMongo pool listener), counted per operation through a context variable: every task runs in its own context.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any, TypeVar

from pymongo.monitoring import ConnectionCheckedInEvent, ConnectionCheckedOutEvent, ConnectionPoolListener

T = TypeVar("T")


class _Holding:
    """The connections one operation holds now."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


_holding: contextvars.ContextVar[_Holding | None] = contextvars.ContextVar("valgame_mongo_holding", default=None)
_finishing: set[asyncio.Task[Any]] = set()  # operations finishing after their caller left (kept from the GC)


class HeldCount(ConnectionPoolListener):
    """Counts the connections the running operation holds (the pool calls it in the operation's task)."""

    def connection_checked_out(self, event: ConnectionCheckedOutEvent) -> None:
        holding = _holding.get()
        if holding is not None:
            holding.count += 1

    def connection_checked_in(self, event: ConnectionCheckedInEvent) -> None:
        holding = _holding.get()
        if holding is not None:
            holding.count -= 1

    # The pool's other events tell nothing about which operation holds what.
    def pool_created(self, event: Any) -> None: ...

    def pool_ready(self, event: Any) -> None: ...

    def pool_cleared(self, event: Any) -> None: ...

    def pool_closed(self, event: Any) -> None: ...

    def connection_created(self, event: Any) -> None: ...

    def connection_ready(self, event: Any) -> None: ...

    def connection_closed(self, event: Any) -> None: ...

    def connection_check_out_started(self, event: Any) -> None: ...

    def connection_check_out_failed(self, event: Any) -> None: ...


def _forget(task: asyncio.Task[Any]) -> None:
    _finishing.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: an operation nobody waits for any more fails quietly


async def finish_on_connection(operation: Coroutine[Any, Any, T]) -> T:
    """Run a store operation; if the caller is cancelled while the operation holds a connection, let the operation
    end (its result dropped) so the connection returns to the pool, instead of being closed."""
    holding = _Holding()

    async def run() -> T:
        _holding.set(holding)
        return await operation

    task = asyncio.ensure_future(run())
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done() and holding.count == 0:
            task.cancel()  # waiting for a connection, or between two commands: nothing to lose
        _finishing.add(task)
        task.add_done_callback(_forget)
        raise
