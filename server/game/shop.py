"""Buying EVO crystals with VAL (the only exchange between the two currencies)."""

from __future__ import annotations

from server.game.errors import bad_request
from server.game.outcome import Outcome, RuleContext
from server.game.state import PlayerState
from server.game.views import wallet_view

MAX_EVO_PER_PURCHASE = 1000  # a sanity bound on one command, not a rule of the game


def buy_evo(state: PlayerState, count: int, ctx: RuleContext) -> Outcome:
    # a negative count would turn the purchase into a sale of EVO at full price
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_EVO_PER_PURCHASE:
        raise bad_request("data.count", f"count must be an integer from 1 to {MAX_EVO_PER_PURCHASE}")
    out = Outcome.begin(state)
    out.adjust("VAL", -count * ctx.settings.evo_price_val, "evo_purchase", f"evo:{count}")
    out.adjust("EVO", count, "evo_purchase", f"evo:{count}")
    out.reply = wallet_view(out.state)
    return out
