"""The leaderboards port, on every bus adapter: best first, ranks from 1, ranges, clearing."""

from __future__ import annotations

from tests.contract.conftest import OpenBus


async def test_boards_order_members_best_first(open_test_bus: OpenBus) -> None:
    bus, _ = await open_test_bus()
    boards = bus.leaderboards
    await boards.rank_set("points", {"a": 10, "b": 30, "c": 20})
    await boards.rank_set("points", {"a": 40})  # a new score replaces the old one
    await boards.rank_set("points", {})
    assert await boards.rank_top("points", 2) == [("a", 40.0), ("b", 30.0)]
    assert await boards.rank_of("points", "c") == (3, 20.0)
    assert await boards.rank_of("points", "zz") is None
    assert await boards.rank_range("points", 1, 2) == [("b", 30.0), ("c", 20.0)]
    assert await boards.rank_range("points", -3, 0) == [("a", 40.0)]
    assert await boards.rank_top("level", 5) == []  # boards are apart
    assert await boards.rank_of("level", "a") is None


async def test_a_cleared_board_is_empty(open_test_bus: OpenBus) -> None:
    bus, _ = await open_test_bus()
    await bus.leaderboards.rank_set("wealth", {"a": 1, "b": 2})
    await bus.leaderboards.rank_clear("wealth")
    assert await bus.leaderboards.rank_top("wealth", 10) == []
    assert await bus.leaderboards.rank_of("wealth", "a") is None
