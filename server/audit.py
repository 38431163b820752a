"""The economy audit: balances equal ledger sums, nothing is owned twice, nothing is negative."""

from __future__ import annotations

from collections import Counter
from typing import Any

from persistence import GameStore
from server.game.state import PlayerState


async def audit(storage: GameStore) -> dict[str, Any]:
    players, sums, listings = await storage.economy_snapshot()
    mismatches, negatives = [], []
    items: Counter[str] = Counter()
    characters: Counter[str] = Counter()
    total = {"VAL": 0, "EVO": 0}
    for doc in players:
        state = PlayerState.from_dict(doc.state)
        for currency, balance in (("VAL", state.val), ("EVO", state.evo)):
            total[currency] += balance
            ledger = sums.get((doc.id, currency), 0)
            if ledger != balance:
                mismatches.append({"player": doc.id, "currency": currency, "balance": balance, "ledger": ledger})
            if balance < 0:
                negatives.append({"player": doc.id, "currency": currency, "balance": balance})
        items.update(item.id for item in state.items)
        for char in state.characters:
            characters[char.id] += 1
            items.update(item.id for item in char.equipment.values())
    for listing in listings:
        if "item" in listing:
            items[listing["item"]["id"]] += 1
        if "character" in listing:
            characters[listing["character"]["id"]] += 1
            items.update(item["id"] for item in listing["character"].get("equipment", {}).values())
    duplicated_items = sorted(i for i, n in items.items() if n > 1)
    duplicated_characters = sorted(c for c, n in characters.items() if n > 1)
    ok = not (mismatches or negatives or duplicated_items or duplicated_characters)
    return {
        "ok": ok, "players": len(players), "active_listings": len(listings), "items": len(items),
        "characters": len(characters), "val_total": total["VAL"], "evo_total": total["EVO"],
        "ledger_mismatches": mismatches[:50], "negative_balances": negatives[:50],
        "duplicated_items": duplicated_items[:50], "duplicated_characters": duplicated_characters[:50],
    }
