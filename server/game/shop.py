"""Buying EVO crystals with VAL."""

from __future__ import annotations

from server.game.outcome import Outcome, RuleContext
from server.game.state import PlayerState, wallet_view


def buy_evo(state: PlayerState, count: int, ctx: RuleContext) -> Outcome:
    out = Outcome.begin(state)
    out.adjust("VAL", -count * ctx.settings.evo_price_val, "evo_purchase", f"evo:{count}")
    out.adjust("EVO", count, "evo_purchase", f"evo:{count}")
    out.reply = wallet_view(out.state)
    return out
