"""One thread that runs the calls handed to it, in order, each answered on the caller's event loop.

The embedded store uses each SQLite connection from one thread (its writer, its reader, its checkpointer), so every
storage call hops to a thread and back. `loop.run_in_executor` on a one-worker `ThreadPoolExecutor` makes that hop
heavy for the event loop: per call a `concurrent.futures.Future` (a `Condition` and its `RLock`), the executor's
semaphore and lock, and the chaining of that future to an asyncio one (`wrap_future`), all in Python. On one node
with 10,000 players that machinery was ~12 % of the event loop's samples (docs/PERFORMANCE.md). Here a call is an
asyncio future and a tuple on a `SimpleQueue` (C), answered with one `call_soon_threadsafe`.

A call always runs once queued, even if its caller stopped waiting (a command's deadline): the executor would have
dropped one that had not started, which for a write leaves the caller as unsure either way, and for a read costs
only the read. What it holds is bounded by its callers (each socket runs one command at a time).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

T = TypeVar("T")

_Call = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


def _answer(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():  # its caller may have been cancelled meanwhile
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


class WorkerThread:
    """Runs `fn(*args)` calls on one thread of its own, started at the first call."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._queue: SimpleQueue[_Call | None] = SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """`fn(*args)` on the thread; await the returned future for its result (or its exception)."""
        if self._closed:
            raise RuntimeError(f"{self.name} is shut down")
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
            self._thread.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((loop, future, fn, args))
        return future

    def _work(self) -> None:
        queue = self._queue
        while True:
            call = queue.get()
            if call is None:
                return
            loop, future, fn, args = call
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the caller, as an executor would
                answer: Callable[..., None] = _fail
                outcome: Any = exc
            else:
                answer, outcome = _answer, result
            try:
                loop.call_soon_threadsafe(answer, future, outcome)
            except RuntimeError:
                pass  # the loop is closed: nobody waits any more

    def shutdown(self) -> None:
        """Let the calls already queued run, then stop the thread (blocking until it has)."""
        self._closed = True
        thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join()
