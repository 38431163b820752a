from __future__ import annotations

from server.game.rankings import add_ranking_points, iso_week, ranking_scores
from tests.unit.factories import T0, add_character, fresh_player, make_ctx


def test_iso_week() -> None:
    assert iso_week(T0) == "2025-W48"
    assert iso_week(1_767_225_600.0) == "2026-W01"  # 2026-01-01 (Thursday) belongs to week 1 of 2026
    assert iso_week(1_735_603_200.0) == "2025-W01"  # 2024-12-31 belongs to week 1 of 2025


def test_ranking_scores() -> None:
    ctx = make_ctx()
    state = fresh_player(ctx)
    add_character(state, ctx, level=7)
    add_ranking_points(state, 10, T0)
    add_ranking_points(state, 10, T0 + 7 * 86400)
    assert ranking_scores(state, T0) == {"points": 20, "points:2025-W48": 10, "level": 7, "wealth": 100}
    state.characters.clear()
    assert ranking_scores(state, T0 + 14 * 86400)["level"] == 0
    assert ranking_scores(state, T0 + 14 * 86400)["points:2025-W50"] == 0
