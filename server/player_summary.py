"""The player summary the protocol shows in the `auth` and `state.get` replies."""

from __future__ import annotations

import time
from typing import Any

from persistence import GameStore
from server.game.config import GameSettings
from server.game.energy import energy_now
from server.players import Players


async def player_summary(players: Players, store: GameStore, game: GameSettings, player_id: str,
                         role: str) -> dict[str, Any]:
    """`role` is the one the connection acts with (read from the account when it authenticated): what its commands
    are allowed, and one store read fewer per `state.get` than reading the account again."""
    doc, state = await players.load(player_id)
    energy, next_at = energy_now(state, game, time.time())
    return {
        "id": doc.id,
        "name": doc.name,
        "val": state.val,
        "evo": state.evo,
        "energy": energy,
        "energy_max": game.energy_max,
        "next_energy_at": next_at,
        "role": role,
        "unread": await store.unread_count(player_id),
    }
