"""In-process claims and counters."""

from __future__ import annotations

import time

CLAIMS_PURGE_MIN = 4096


class MemoryClaims:
    def __init__(self) -> None:
        self._claims: dict[str, float] = {}
        self._claims_purge_at = CLAIMS_PURGE_MIN
        self._counts: dict[str, tuple[int, int]] = {}

    async def claim_once(self, key: str, ttl_seconds: int) -> bool:
        now = time.time()
        expires = self._claims.get(key)
        if expires is not None and expires > now:
            return False
        self._claims[key] = now + ttl_seconds
        if len(self._claims) >= self._claims_purge_at:
            # Energy ticks and combat rounds claim a new key each time: forget the lapsed ones, as Redis expires
            # them, at a cost that stays constant per claim (the next purge waits for the table to double).
            self._claims = {k: at for k, at in self._claims.items() if at > now}
            self._claims_purge_at = max(CLAIMS_PURGE_MIN, 2 * len(self._claims))
        return True

    async def release(self, key: str) -> None:
        self._claims.pop(key, None)

    def held(self) -> int:
        """How many claims are kept (lapsed ones included until the next purge)."""
        return len(self._claims)

    async def add_count(self, key: str, amount: int, ttl_seconds: int) -> None:
        calls, total = self._counts.get(key, (0, 0))
        self._counts[key] = (calls + 1, total + amount)

    async def get_count(self, key: str) -> tuple[int, int]:
        return self._counts.get(key, (0, 0))
