"""Command deadlines on one loop timer.

Every command a node runs has the same deadline (`command_deadline_seconds`), so the commands in flight expire in the
order they started. `CommandDeadlines` keeps them in that order in a dict and holds a single loop timer, set for the
oldest one's expiry: a command entering and leaving costs a dict insert and delete. `asyncio.timeout` arms and
cancels a loop timer for every command instead, about 6 µs here: a quarter of a light command's CPU on the picows
transport (docs/PERFORMANCE.md, run 8).

A command past its deadline is cancelled and its `with` block raises `TimeoutError`, as with `asyncio.timeout`,
with the same cancel/uncancel bookkeeping: a cancellation that comes from elsewhere (the socket closing) still
propagates as `CancelledError`.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any


class CommandDeadlines:
    """The deadlines of the commands running on one event loop, each `seconds` after it started."""

    def __init__(self, seconds: float) -> None:
        if not seconds > 0:
            raise ValueError(f"a command deadline must be above 0 seconds, not {seconds}")
        self.seconds = seconds
        self._running: dict[Deadline, None] = {}  # in start order, hence in expiry order
        self._timer: asyncio.TimerHandle | None = None

    def limit(self, task: asyncio.Task[Any]) -> Deadline:
        """The deadline of the commands `task` runs one after another (a socket's read loop): `with deadline:` runs
        its block (which awaits the command) under it. Given the task, entering costs no `asyncio.current_task()`,
        whose look-up of the running loop makes a getpid system call on Python 3.11 (~7 % of a light command's CPU
        with the two calls a command made)."""
        return Deadline(self, task)

    def running(self) -> int:
        return len(self._running)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """Cut off every command past its deadline; then wait for the oldest one left (none: no timer)."""
        self._timer = None
        now = loop.time()
        expired = []
        for deadline in self._running:
            if deadline.expires > now:
                break
            expired.append(deadline)
        for deadline in expired:
            del self._running[deadline]
            deadline.cut_off()
        if self._running:
            oldest = next(iter(self._running))
            self._timer = loop.call_at(oldest.expires, self._expire, loop)


class Deadline:
    """The deadline of one task's commands, a context manager entered once per command (made by
    `CommandDeadlines.limit`); the task runs one command at a time under it.

    A plain context manager, not an async one: entering and leaving never wait, and `async with` would make and run
    two coroutines per command for nothing (~0.2 µs)."""

    __slots__ = ("_cancelling", "_deadlines", "_loop", "_task", "expired", "expires")

    def __init__(self, deadlines: CommandDeadlines, task: asyncio.Task[Any]) -> None:
        self._deadlines = deadlines
        self._task = task
        self._loop = task.get_loop()
        self._cancelling = 0
        self.expires = 0.0
        self.expired = False

    def __enter__(self) -> Deadline:
        # Once per command: `CommandDeadlines`' bookkeeping is done here, without a method call of its own.
        deadlines, loop = self._deadlines, self._loop
        self._cancelling = self._task.cancelling()
        self.expired = False
        self.expires = expires = loop.time() + deadlines.seconds
        deadlines._running[self] = None
        if deadlines._timer is None:
            deadlines._timer = loop.call_at(expires, deadlines._expire, loop)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._deadlines._running.pop(self, None)
        # Ours was the cancellation (no other one was asked for since): the block ran out of time.
        if self.expired and self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc

    def cut_off(self) -> None:
        self.expired = True
        self._task.cancel()
