"""In-process leaderboards: a sorted list per board."""

from __future__ import annotations

import bisect
from collections import defaultdict


class _Board:
    """A sorted set: members ordered by score descending, then by member id."""

    def __init__(self) -> None:
        self.scores: dict[str, float] = {}
        self.order: list[tuple[float, str]] = []  # (-score, member), ascending == best first

    def set(self, member: str, score: float) -> None:
        old = self.scores.get(member)
        if old is not None:
            index = bisect.bisect_left(self.order, (-old, member))
            del self.order[index]
        self.scores[member] = score
        bisect.insort(self.order, (-score, member))

    def rank(self, member: str) -> int | None:
        score = self.scores.get(member)
        if score is None:
            return None
        return bisect.bisect_left(self.order, (-score, member)) + 1


class MemoryLeaderboards:
    def __init__(self) -> None:
        self._boards: dict[str, _Board] = defaultdict(_Board)

    async def rank_set(self, board: str, scores: dict[str, float]) -> None:
        target = self._boards[board]
        for member, score in scores.items():
            target.set(member, score)

    async def rank_top(self, board: str, count: int) -> list[tuple[str, float]]:
        return await self.rank_range(board, 0, count - 1)

    async def rank_of(self, board: str, member: str) -> tuple[int, float] | None:
        target = self._boards.get(board)
        if target is None:
            return None
        rank = target.rank(member)
        return None if rank is None else (rank, target.scores[member])

    async def rank_range(self, board: str, start: int, stop: int) -> list[tuple[str, float]]:
        target = self._boards.get(board)
        if target is None:
            return []
        return [(member, -negative) for negative, member in target.order[max(start, 0): stop + 1]]

    async def rank_clear(self, board: str) -> None:
        self._boards.pop(board, None)
