"""Rate limiters: a token bucket per socket, a sliding window counter for login attempts."""

from __future__ import annotations

import heapq
from collections import deque
from time import monotonic


class TokenBucket:
    """`rate` tokens per second up to `burst`; each command takes one."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = monotonic()

    def take(self) -> float:
        """Take a token; return 0 when granted, else the seconds until one is available. (Once per command: in
        locals, with no `min` call.)"""
        now = monotonic()
        tokens = self.tokens + (now - self.stamp) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        self.stamp = now
        if tokens >= 1:
            self.tokens = tokens - 1
            return 0.0
        self.tokens = tokens
        return (1 - tokens) / self.rate


class WindowCounter:
    """Counts events per key within a sliding window of `window` seconds, in bounded memory.

    An attacker must not be able to wipe the counters that protect a victim (a login lockout), so:
    - asking (`retry_after`) never creates state: only counted events (`hit`) do;
    - at `max_keys`, keys with nothing left in the window go first, then the keys with the fewest events: a key
      under attack holds many events and outlives a flood of one-event keys. Eviction frees a tenth of the table
      at once, so a flood of new keys costs O(log n) per key, not a scan each.
    """

    def __init__(self, limit: int, window: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max(1, max_keys)
        self._events: dict[str, deque[float]] = {}

    def __len__(self) -> int:
        return len(self._events)

    def _trim(self, events: deque[float], now: float) -> None:
        cutoff = now - self.window
        while events and events[0] <= cutoff:
            events.popleft()

    def retry_after(self, key: str) -> float:
        """0 when `key` is under its limit, else the seconds until it is. Creates no state."""
        events = self._events.get(key)
        if events is None:
            return 0.0
        now = monotonic()
        self._trim(events, now)
        if len(events) < self.limit:
            return 0.0
        return events[0] + self.window - now

    def hit(self, key: str) -> int:
        now = monotonic()
        events = self._events.get(key)
        if events is None:
            if len(self._events) >= self.max_keys:
                self._evict(now)
            events = self._events[key] = deque(maxlen=self.limit)
        self._trim(events, now)
        events.append(now)
        return len(events)

    def reset(self, key: str) -> None:
        self._events.pop(key, None)

    def _evict(self, now: float) -> None:
        for key in [k for k, events in self._events.items() if not events or events[-1] <= now - self.window]:
            del self._events[key]
        excess = len(self._events) - self.max_keys + max(1, self.max_keys // 10)
        if excess > 0:
            for key in heapq.nsmallest(excess, self._events, key=lambda k: (len(self._events[k]),
                                                                              self._events[k][-1])):
                del self._events[key]
