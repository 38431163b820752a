"""The player summary the protocol shows in the `auth` and `state.get` replies."""

from __future__ import annotations

import time
from typing import Any

from persistence import AccountStore, GameStore
from server.game.config import GameSettings
from server.game.energy import energy_now
from server.players import Players


async def player_summary(players: Players, store: GameStore, accounts: AccountStore, game: GameSettings,
                         player_id: str) -> dict[str, Any]:
    doc, state = await players.load(player_id)
    account = await accounts.account_by_id(player_id)
    energy, next_at = energy_now(state, game, time.time())
    return {
        "id": doc.id,
        "name": doc.name,
        "val": state.val,
        "evo": state.evo,
        "energy": energy,
        "energy_max": game.energy_max,
        "next_energy_at": next_at,
        "role": account.role if account else "player",
        "unread": await store.unread_count(player_id),
    }
