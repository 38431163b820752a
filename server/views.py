"""Read-side views of stored state as the protocol shows them."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from server.game.energy import energy_now

if TYPE_CHECKING:
    from server.node import Node


async def player_summary(node: Node, player_id: str) -> dict[str, Any]:
    doc, state = await node.players.load(player_id)
    account = await node.storage.account_by_id(player_id)
    energy, next_at = energy_now(state, node.game, time.time())
    return {
        "id": doc.id,
        "name": doc.name,
        "val": state.val,
        "evo": state.evo,
        "energy": energy,
        "energy_max": node.game.energy_max,
        "next_energy_at": next_at,
        "role": account.role if account else "player",
        "unread": await node.storage.unread_count(player_id),
    }
