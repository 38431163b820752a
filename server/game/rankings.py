"""Leaderboard scores of one player: `points` (all time), `points:<ISO week>`, `level` (best character), `wealth`."""

from __future__ import annotations

from datetime import UTC, datetime

from server.game.state import PlayerState

BOARDS: tuple[str, ...] = ("points", "level", "wealth")


def iso_week(now: float) -> str:
    """ISO week of an epoch second in UTC, e.g. "2026-W48" (weeks start on Monday)."""
    year, week, _ = datetime.fromtimestamp(now, tz=UTC).isocalendar()
    return f"{year}-W{week:02d}"


def weekly_board(now: float) -> str:
    return f"points:{iso_week(now)}"


def ranking_scores(state: PlayerState, now: float) -> dict[str, int]:
    week = iso_week(now)
    return {
        "points": state.stats.points,
        f"points:{week}": state.stats.weekly.get(week, 0),
        "level": max((c.level for c in state.characters), default=0),
        "wealth": state.val,
    }


def add_ranking_points(state: PlayerState, points: int, now: float) -> None:
    week = iso_week(now)
    state.stats.points += points
    state.stats.weekly[week] = state.stats.weekly.get(week, 0) + points
