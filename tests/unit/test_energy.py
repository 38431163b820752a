from __future__ import annotations

import pytest

from protocol.codes import ErrorCode
from server.game.energy import energy_now, spend_energy
from server.game.errors import GameError
from server.game.outcome import Outcome
from server.game.state import PlayerState
from tests.unit.factories import T0, at, make_ctx


def test_full_energy_has_no_next_tick() -> None:
    ctx = make_ctx()
    assert energy_now(PlayerState(energy=100, energy_at=T0 - 5000), ctx.settings, T0) == (100, None)


def test_regeneration_is_lazy_and_keeps_partial_progress() -> None:
    ctx = make_ctx()
    state = PlayerState(energy=10, energy_at=T0)
    assert energy_now(state, ctx.settings, T0 + 359) == (10, T0 + 360)
    assert energy_now(state, ctx.settings, T0 + 720) == (12, T0 + 1080)
    out = Outcome.begin(state)
    spend_energy(out, 5, at(ctx, T0 + 1000))  # 2 ticks in, 280 s towards the third
    assert out.state.energy == 7 and out.state.energy_at == T0 + 720
    assert out.events == [("energy.updated", {"energy": 7, "max": 100, "next_at": T0 + 1080})]


def test_spending_from_max_starts_the_clock_now() -> None:
    ctx = make_ctx()
    out = Outcome.begin(PlayerState(energy=100, energy_at=T0 - 99999))
    spend_energy(out, 5, ctx)
    assert (out.state.energy, out.state.energy_at) == (95, T0)
    assert energy_now(out.state, ctx.settings, T0 + 360 * 5) == (100, None)
    assert energy_now(out.state, ctx.settings, T0 + 360 * 500) == (100, None)


def test_insufficient_energy() -> None:
    ctx = make_ctx()
    out = Outcome.begin(PlayerState(energy=4, energy_at=T0))
    with pytest.raises(GameError) as err:
        spend_energy(out, 5, ctx)
    assert err.value.code is ErrorCode.INSUFFICIENT_ENERGY


def test_clock_behind_counts_no_time() -> None:
    ctx = make_ctx()
    assert energy_now(PlayerState(energy=3, energy_at=T0), ctx.settings, T0 - 1000) == (3, T0 + 360)


def test_override_speeds_up_regeneration() -> None:
    ctx = make_ctx(settings=make_ctx().settings.with_overrides({"energy_regen_seconds": 1}))
    assert energy_now(PlayerState(energy=0, energy_at=T0), ctx.settings, T0 + 50.5) == (50, T0 + 51)
