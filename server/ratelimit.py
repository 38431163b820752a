"""Rate limiters: a token bucket per socket, a sliding window counter for login attempts."""

from __future__ import annotations

import time
from collections import deque


class TokenBucket:
    """`rate` tokens per second up to `burst`; each command takes one."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> float:
        """Take a token; return 0 when granted, else the seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class WindowCounter:
    """Counts events per key within a sliding window of `window` seconds (memory bounded by `max_keys`)."""

    def __init__(self, limit: int, window: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._events: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            if len(self._events) >= self.max_keys:
                self._events.pop(next(iter(self._events)))
            events = self._events[key] = deque()
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    def retry_after(self, key: str) -> float:
        """0 when `key` is under its limit, else the seconds until it is."""
        now = time.monotonic()
        events = self._recent(key, now)
        if len(events) < self.limit:
            return 0.0
        return events[0] + self.window - now

    def hit(self, key: str) -> int:
        now = time.monotonic()
        events = self._recent(key, now)
        events.append(now)
        return len(events)

    def reset(self, key: str) -> None:
        self._events.pop(key, None)
