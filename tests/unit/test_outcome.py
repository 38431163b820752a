from __future__ import annotations

import pytest

from protocol.codes import ErrorCode
from server.game.errors import GameError
from server.game.outcome import Outcome
from server.game.shop import buy_evo
from server.game.state import PlayerState
from tests.unit.factories import error_code, make_ctx


def test_adjust_records_ledger_and_one_wallet_event() -> None:
    out = Outcome.begin(PlayerState(val=100))
    out.adjust("VAL", -30, "heal", "c1")
    out.adjust("EVO", 2, "buy_evo")
    assert out.state.val == 70 and out.state.evo == 2
    assert [(d.currency, d.delta, d.reason, d.ref) for d in out.ledger] == [("VAL", -30, "heal", "c1"),
                                                                          ("EVO", 2, "buy_evo", "")]
    assert out.events == [("wallet.updated", {"val": 70, "evo": 2})]


def test_adjust_refuses_going_negative_with_a_clear_message() -> None:
    out = Outcome.begin(PlayerState(val=80))
    with pytest.raises(GameError) as err:
        out.adjust("VAL", -120, "evolve")
    assert err.value.code is ErrorCode.INSUFFICIENT_FUNDS
    assert err.value.message == "need 120 VAL, have 80"
    assert out.state.val == 80 and out.ledger == []


def test_begin_never_touches_the_input() -> None:
    original = PlayerState(val=10)
    out = Outcome.begin(original)
    out.adjust("VAL", 5, "test")
    assert original.val == 10


def test_adjust_rejects_programming_errors() -> None:
    out = Outcome.begin(PlayerState())
    with pytest.raises(ValueError):
        out.adjust("GOLD", 1, "x")
    with pytest.raises(TypeError):
        out.adjust("VAL", 1.5, "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        out.adjust("VAL", 1, "")


def test_buy_evo() -> None:
    ctx = make_ctx()
    out = buy_evo(PlayerState(val=250, evo=0), 2, ctx)
    assert (out.state.val, out.state.evo) == (50, 2)
    assert out.reply == {"val": 50, "evo": 2}
    assert error_code(buy_evo, PlayerState(val=250), 3, ctx) is ErrorCode.INSUFFICIENT_FUNDS
    for bad in (0, -1, True, "2"):
        assert error_code(buy_evo, PlayerState(val=250, evo=5), bad, ctx) is ErrorCode.BAD_REQUEST
