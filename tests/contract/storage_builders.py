"""Builders of the storage contract suites' data: states with every shape the game stores, accounts, ledger
lines, notifications, idempotency records and listings."""

from __future__ import annotations

from typing import Any

from persistence.port import Account, Change, IdemRecord, LedgerEntry, Notification, PlayerWrite, Storage


def state(**extra: Any) -> dict[str, Any]:
    """A player state with the shapes the game stores: nested dicts and lists, ints, floats, bools, None, text."""
    base: dict[str, Any] = {
        "val": 1200, "evo": 3, "energy": 7.25, "energy_at": 1_700_000_000.5, "whole_float": 2.0,
        "big": 2**53 + 1, "negative": -17, "flag": True, "nothing": None, "empty_list": [], "empty_dict": {},
        "characters": [{"id": "c1", "base": "knight", "level": 3, "xp": 120, "equipment": {"weapon": "i1"},
                        "wounded_until": None}],
        "items": [{"id": "i1", "code": "iron_sword", "kind": "equipment"}],
        "consumables": {"healing_potion": 2},
        "text": "Valgame ✓ — ünïcødé",
    }
    base.update(extra)
    return base


async def add_player(storage: Storage, player_id: str, name: str | None = None, *, sweep_at: float | None = None,
                     **extra: Any) -> dict[str, Any]:
    doc = state(**extra)
    await storage.commit(Change(players=[PlayerWrite(player_id, name or f"name-{player_id}", None, doc,
                                                     sweep_at=sweep_at)]))
    return doc


def account(account_id: str, name: str, email: str | None = None) -> Account:
    return Account(account_id, name, email or f"{name}@example.test", "argon2$hash", "player", 1_700_000_000.25)


def entry(player_id: str, delta: int, at: float, currency: str = "VAL", ref: str = "r") -> LedgerEntry:
    return LedgerEntry(player_id, currency, delta, "test", ref, at)


def note(note_id: str, player_id: str, at: float, read: bool = False) -> Notification:
    return Notification(note_id, player_id, "market.sold", {"listing": note_id, "price": 10, "ok": True}, at, read)


def idem(player_id: str, key: str, at: float = 100.0, reply: dict[str, Any] | None = None) -> IdemRecord:
    return IdemRecord(player_id, key, "inventory.use", reply or {"type": "inventory.used", "ok": True}, at)


def listing(listing_id: str, *, price: int, featured: bool = False, status: str = "active", seller: str = "s1",
            kind: str = "equipment", code: str = "iron_sword", rank: str | None = "C", level: int = 1,
            created_at: float = 1000.0, expires_at: float = 5000.0) -> dict[str, Any]:
    return {"id": listing_id, "status": status, "seller_id": seller, "seller": f"Seller {seller}", "kind": kind,
            "code": code, "rank": rank, "level": level, "price": price, "featured": featured,
            "created_at": created_at, "expires_at": expires_at,
            "item": {"id": f"i-{listing_id}", "code": code, "kind": kind}}
