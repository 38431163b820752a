"""The content of the world as immutable data: base characters, ranks, equipment, consumables and dungeons.

Codes are the catalog ids of the protocol (`vision-espectral`, `daga-oxidada`, `cueva-goblins`...). The spec gives no
slot per item: every blade is a `weapon` and the ring a `ring`; `armor` and `shield` have no item yet.
Tunable rule numbers (recruit chances, scaling) live in `GameSettings`; `catalog_as_dict` merges them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.game.config import DEFAULT_SETTINGS, GameSettings

CATALOG_VERSION = 1

SLOTS: tuple[str, ...] = ("weapon", "armor", "shield", "ring")
ITEM_KINDS: tuple[str, ...] = ("equipment", "consumable")
STAT_NAMES: tuple[str, ...] = ("atk", "def", "xp")


@dataclass(frozen=True)
class BaseCharacter:
    code: str
    atk: int
    hp: int
    defense: int


@dataclass(frozen=True)
class Rank:
    code: str
    weight: float  # chance of this rank for a recruited character
    atk_per_level: int
    hp_per_level: int
    def_per_level: int


@dataclass(frozen=True)
class Equipment:
    code: str
    slot: str
    rank: str
    min_level: int
    atk: int
    defense: int
    hp: int


@dataclass(frozen=True)
class Consumable:
    code: str
    uses: int
    heal: int = 0  # instant HP, capped at the target's max; never revives
    atk: int = 0  # timed buffs below last `duration_seconds`
    defense: int = 0
    xp_pct: int = 0
    duration_seconds: float = 0.0

    @property
    def has_timed_effect(self) -> bool:
        return bool(self.atk or self.defense or self.xp_pct) and self.duration_seconds > 0


@dataclass(frozen=True)
class Drop:
    code: str
    chance: float


@dataclass(frozen=True)
class Dungeon:
    code: str
    min_level: int
    hp: int
    atk: int
    defense: int
    team_miss: float
    monster_miss: float
    xp_base: int
    val_base: int
    drops: tuple[Drop, ...]


BASE_CHARACTERS: dict[str, BaseCharacter] = {
    c.code: c
    for c in (
        BaseCharacter("vision-espectral", 10, 20, 5),
        BaseCharacter("sir-nocturno", 12, 22, 7),
        BaseCharacter("arcanis", 13, 21, 6),
        BaseCharacter("draco-igneo", 15, 25, 8),
        BaseCharacter("tenebris", 18, 28, 10),
        BaseCharacter("fenix-solar", 20, 30, 12),
        BaseCharacter("leviatan", 22, 32, 14),
        BaseCharacter("arbol-caos", 25, 35, 16),
    )
}

RANKS: dict[str, Rank] = {
    r.code: r
    for r in (
        Rank("D", 0.40, 2, 10, 2),
        Rank("C", 0.30, 3, 15, 3),
        Rank("B", 0.15, 4, 20, 4),
        Rank("A", 0.08, 5, 25, 5),
        Rank("S", 0.05, 6, 30, 6),
        Rank("SS", 0.01, 7, 35, 7),
        Rank("SSS", 0.01, 8, 40, 8),
    )
}

EQUIPMENT: dict[str, Equipment] = {
    e.code: e
    for e in (
        Equipment("daga-oxidada", "weapon", "D", 1, 5, 0, 0),
        Equipment("espada-de-acero", "weapon", "C", 10, 12, 0, 0),
        Equipment("katana-del-dragon", "weapon", "A", 40, 40, 5, 10),
        Equipment("guadana-del-caos", "weapon", "S", 60, 60, 10, 20),
        Equipment("anillo-del-fenix", "ring", "SS", 70, 30, 30, 100),
    )
}

_MINUTE = 60.0
CONSUMABLES: dict[str, Consumable] = {
    c.code: c
    for c in (
        Consumable("pocion-vida-menor", 1, heal=50),
        Consumable("elixir-de-resurreccion", 1, heal=9999),
        Consumable("pan-de-campo", 1, atk=5, duration_seconds=30 * _MINUTE),
        Consumable("pergamino-de-sabiduria", 5, xp_pct=10, duration_seconds=60 * _MINUTE),
        Consumable("tomo-ancestral", 1, xp_pct=100, duration_seconds=180 * _MINUTE),
        Consumable("fruto-divino", 1, heal=150, atk=20, defense=20, duration_seconds=60 * _MINUTE),
    )
}

DUNGEONS: dict[str, Dungeon] = {
    d.code: d
    for d in (
        Dungeon("cueva-goblins", 1, 40, 8, 3, 0.10, 0.30, 50, 10,
                (Drop("pocion-vida-menor", 0.30), Drop("daga-oxidada", 0.10))),
        Dungeon("bosque-maldito", 10, 200, 30, 20, 0.15, 0.25, 150, 25,
                (Drop("espada-de-acero", 0.08), Drop("pan-de-campo", 0.20))),
        Dungeon("fortaleza-caballero-negro", 20, 800, 50, 45, 0.20, 0.20, 350, 50,
                (Drop("pergamino-de-sabiduria", 0.10), Drop("espada-de-acero", 0.10))),
        Dungeon("templo-dragon-ancestral", 30, 1500, 80, 70, 0.25, 0.15, 750, 100,
                (Drop("katana-del-dragon", 0.04), Drop("elixir-de-resurreccion", 0.05))),
        Dungeon("abismo-caos-eterno", 50, 3000, 120, 100, 0.30, 0.10, 2000, 250,
                (Drop("guadana-del-caos", 0.02), Drop("anillo-del-fenix", 0.01), Drop("tomo-ancestral", 0.03))),
    )
}

STARTING_CHARACTER = ("vision-espectral", "D")
STARTING_ITEMS: tuple[tuple[str, int], ...] = (("pocion-vida-menor", 3), ("daga-oxidada", 1))


def item_kind(code: str) -> str:
    """`equipment` or `consumable`; KeyError for a code the catalog does not know."""
    if code in EQUIPMENT:
        return "equipment"
    if code in CONSUMABLES:
        return "consumable"
    raise KeyError(code)


def catalog_as_dict(settings: GameSettings = DEFAULT_SETTINGS) -> dict[str, Any]:
    """The whole catalog as JSON-able data (for `GET /api/dungeons` and clients)."""
    return {
        "version": CATALOG_VERSION,
        "characters": [{"code": c.code, "atk": c.atk, "hp": c.hp, "def": c.defense} for c in BASE_CHARACTERS.values()],
        "ranks": [
            {"code": r.code, "weight": r.weight,
             "per_level": {"atk": r.atk_per_level, "hp": r.hp_per_level, "def": r.def_per_level}}
            for r in RANKS.values()
        ],
        "slots": list(SLOTS),
        "equipment": [
            {"code": e.code, "slot": e.slot, "rank": e.rank, "min_level": e.min_level,
             "atk": e.atk, "def": e.defense, "hp": e.hp}
            for e in EQUIPMENT.values()
        ],
        "consumables": [
            {"code": c.code, "uses": c.uses, "heal": c.heal, "atk": c.atk, "def": c.defense, "xp_pct": c.xp_pct,
             "duration_seconds": c.duration_seconds}
            for c in CONSUMABLES.values()
        ],
        "dungeons": [
            {"code": d.code, "min_level": d.min_level, "hp": d.hp, "atk": d.atk, "def": d.defense,
             "team_miss": d.team_miss, "monster_miss": d.monster_miss, "xp_base": d.xp_base,
             "val_base": d.val_base, "drops": [{"code": x.code, "chance": x.chance} for x in d.drops],
             "recruit_chance": settings.recruit_chance(d.code)}
            for d in DUNGEONS.values()
        ],
    }
