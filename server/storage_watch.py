"""What a node measures of its storage: every storage call timed and counted, whichever adapter and port it is.

`WatchedStorage` stands in front of the adapter and wraps each coroutine method the first time it is looked up, so
it needs no list of the port's methods (the port may be split by concern without touching this module). The figures
feed the storage alerts (pool use, slow operations) and the dashboard; see deploy/prometheus/.

The test-only failpoints (`testonly_storage_delays`, `testonly_storage_failures`) make chosen operations slow or
failing, so the end-to-end alert test can drive real alerts on a real node. They are empty in production, and the
node logs a warning when one is set.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from inspect import iscoroutinefunction
from typing import Any

from persistence import Conflict, Duplicate, Storage
from server.metrics import StorageFigures

log = logging.getLogger("valgame.storage")

# lifecycle calls are not operations the players wait on
UNWATCHED = frozenset({"open", "close"})
EXPECTED = (Conflict, Duplicate)  # outcomes the callers handle (a lost version race, a taken name), not faults


class StorageFault(RuntimeError):
    """Raised by a test-only failpoint."""


class WatchedStorage:
    def __init__(self, inner: Storage, figures: StorageFigures, slow_seconds: float,
                 delays: dict[str, float] | None = None, failures: frozenset[str] = frozenset()) -> None:
        self._inner = inner
        self._figures = figures
        self._slow_seconds = slow_seconds
        self._delays = delays or {}
        self._failures = failures
        figures.pool_size = lambda: pool_size(inner)
        if self._delays or self._failures:
            log.warning("test-only storage failpoints are set", extra={"delays": self._delays,
                                                                       "failures": sorted(self._failures)})

    @property
    def inner(self) -> Storage:
        return self._inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name in UNWATCHED or not iscoroutinefunction(attr):
            return attr
        if name in self._delays or name in self._failures:
            attr = _failpoint(name, attr, self._delays.get(name, 0.0), name in self._failures)
        watched = self._watch(name, attr)
        setattr(self, name, watched)  # found directly from now on: __getattr__ runs once per method
        return watched

    def _watch(self, name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        figures, slow_seconds, clock = self._figures, self._slow_seconds, time.perf_counter
        # [finished, slow, failed], at 0 from the first use: Prometheus sees no increase in a series that is born at
        # 1, so the first slow operation or failure would not count in `increase()` or `rate()` otherwise
        counts = figures.by_operation.setdefault(name, [0, 0, 0])

        async def watched(*args: Any, **kwargs: Any) -> Any:
            figures.inflight += 1
            started = clock()
            try:
                return await method(*args, **kwargs)
            except EXPECTED:
                raise
            except Exception:
                counts[2] += 1
                raise
            finally:
                elapsed = clock() - started
                figures.inflight -= 1
                figures.busy_seconds += elapsed
                counts[0] += 1
                if elapsed >= slow_seconds:
                    counts[1] += 1

        return watched


def _failpoint(name: str, method: Callable[..., Awaitable[Any]], delay: float,
               fail: bool) -> Callable[..., Awaitable[Any]]:
    async def faulty(*args: Any, **kwargs: Any) -> Any:
        if delay:
            await asyncio.sleep(delay)
        if fail:
            raise StorageFault(f"test-only failpoint: storage operation {name} fails")
        return await method(*args, **kwargs)

    return faulty


def pool_size(storage: Storage) -> int:
    """How many operations the adapter runs at once: a MongoDB client's connection pool (per server), or SQLite's
    threads (its writer, and its reader on a file)."""
    threads = getattr(storage, "threads", None)
    if isinstance(threads, int):
        return threads
    client = getattr(storage, "_client", None)
    options = getattr(client, "options", None)
    return int(options.pool_options.max_pool_size) if options is not None else 1


def parse_delays(raw: str) -> dict[str, float]:
    """`operation=seconds,...` (the `testonly_storage_delays` setting)."""
    delays = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        name, _, seconds = part.partition("=")
        delays[name.strip()] = float(seconds)
    return delays


def parse_failures(raw: str) -> frozenset[str]:
    return frozenset(filter(None, (p.strip() for p in raw.split(","))))


def watch_storage(storage: Storage, figures: StorageFigures, settings: Any) -> Storage:
    """The node's storage, watched: what `Node` holds as `storage`."""
    watched = WatchedStorage(storage, figures, settings.storage_slow_seconds,
                             parse_delays(settings.testonly_storage_delays),
                             parse_failures(settings.testonly_storage_failures))
    return watched  # type: ignore[return-value]  (it answers every method of the port)
