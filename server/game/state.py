"""A player's whole game state as plain dataclasses, JSON-able through `to_dict()` / `from_dict()` (exact round trip).

Inventory model:
- `PlayerState.items` is the *free* inventory; an equipped item lives in `Character.equipment[slot]` instead.
- A consumable stack is one `Item` whose `uses` counts the uses left. Every unit received (starting pack, drop,
  purchase) is its own stack and stacks are never merged: three potions are three items of `uses` 1, a scroll is one
  item of `uses` 5. Using one spends one use; a stack at 0 uses disappears. The market sells whole stacks.
- Limits: at most `max_consumable_stacks` (50) consumable items, `max_equipment` (20) equipment items counting the
  free *and* the equipped ones (so equip/unequip never changes the count and never needs room), `max_characters` (50).
- Equipment items have `uses` 1 (unused).

Wounded: `wounded_at` is set when a character ends a combat at 0 HP; outside a combat `hp == 0` exactly when
`wounded_at` is not None. Inside a combat a member may be at 0 HP without being wounded yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Item:
    id: str
    code: str
    kind: str  # "equipment" | "consumable"
    uses: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "code": self.code, "kind": self.kind, "uses": self.uses}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Item:
        return cls(id=d["id"], code=d["code"], kind=d["kind"], uses=d["uses"])

    def copy(self) -> Item:
        return Item(self.id, self.code, self.kind, self.uses)


@dataclass
class Buff:
    stat: str  # "atk" | "def" | "xp"
    amount: int  # flat points for atk/def, a percentage for xp
    expires_at: float
    source: str = ""  # consumable code; reusing the same consumable refreshes its buff instead of stacking

    def to_dict(self) -> dict[str, Any]:
        return {"stat": self.stat, "amount": self.amount, "expires_at": self.expires_at, "source": self.source}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Buff:
        return cls(stat=d["stat"], amount=d["amount"], expires_at=d["expires_at"], source=d.get("source", ""))

    def copy(self) -> Buff:
        return Buff(self.stat, self.amount, self.expires_at, self.source)


@dataclass
class Character:
    id: str
    base: str
    rank: str
    level: int = 1
    stage: int = 1
    xp: int = 0
    hp: int = 0
    wounded_at: float | None = None
    equipment: dict[str, Item] = field(default_factory=dict)
    buffs: list[Buff] = field(default_factory=list)

    @property
    def wounded(self) -> bool:
        return self.wounded_at is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "base": self.base, "rank": self.rank, "level": self.level, "stage": self.stage,
            "xp": self.xp, "hp": self.hp, "wounded_at": self.wounded_at,
            "equipment": {slot: item.to_dict() for slot, item in self.equipment.items()},
            "buffs": [b.to_dict() for b in self.buffs],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Character:
        return cls(
            id=d["id"], base=d["base"], rank=d["rank"], level=d["level"], stage=d["stage"], xp=d["xp"], hp=d["hp"],
            wounded_at=d.get("wounded_at"),
            equipment={slot: Item.from_dict(i) for slot, i in d.get("equipment", {}).items()},
            buffs=[Buff.from_dict(b) for b in d.get("buffs", [])],
        )

    def copy(self) -> Character:
        return Character(self.id, self.base, self.rank, self.level, self.stage, self.xp, self.hp, self.wounded_at,
                         {slot: item.copy() for slot, item in self.equipment.items()}, [b.copy() for b in self.buffs])


@dataclass
class DungeonProgress:
    level: int = 1
    points: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "points": self.points}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DungeonProgress:
        return cls(level=d["level"], points=d["points"])

    def copy(self) -> DungeonProgress:
        return DungeonProgress(self.level, self.points)


@dataclass
class Stats:
    wins: int = 0
    losses: int = 0
    streak: int = 0
    points: int = 0
    weekly: dict[str, int] = field(default_factory=dict)  # ISO week ("2026-W48") -> ranking points earned in it

    def to_dict(self) -> dict[str, Any]:
        return {"wins": self.wins, "losses": self.losses, "streak": self.streak, "points": self.points,
                "weekly": dict(self.weekly)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Stats:
        return cls(wins=d["wins"], losses=d["losses"], streak=d["streak"], points=d["points"],
                   weekly=dict(d.get("weekly", {})))

    def copy(self) -> Stats:
        return Stats(self.wins, self.losses, self.streak, self.points, dict(self.weekly))


@dataclass
class Combat:
    """A running combat. `round` counts resolved rounds; round k (from 1) draws from Random(f"{seed}:{k}").

    `actions` holds every resolved team action (`action`, `item`, `target`, `at`), enough with the state at start to
    replay the combat; `rounds` holds the resolved round payloads. `deadline` is when the server resolves the next
    round by itself: the manual-mode timeout, or the auto-mode pacing delay.

    An entry of `actions` or `rounds` is never changed once appended (server/game/combat.py makes each whole, then
    appends it), so copies and `to_dict` share the entries and copy only the lists. Copying them deeply made every
    round cost as much as all the rounds before it: the largest part of a round's CPU on a busy node.
    """

    id: str
    dungeon: str
    dungeon_level: int
    mode: str  # "auto" | "manual"
    seed: int
    team: list[str]
    monster_hp: int
    monster_hp_max: int
    monster_atk: int
    monster_def: int
    started_at: float
    deadline: float | None = None
    round: int = 0
    actions: list[dict[str, Any]] = field(default_factory=list)
    rounds: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "dungeon": self.dungeon, "dungeon_level": self.dungeon_level, "mode": self.mode,
            "seed": self.seed, "team": list(self.team), "monster_hp": self.monster_hp,
            "monster_hp_max": self.monster_hp_max, "monster_atk": self.monster_atk, "monster_def": self.monster_def,
            "started_at": self.started_at, "deadline": self.deadline, "round": self.round,
            "actions": list(self.actions), "rounds": list(self.rounds),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Combat:
        return cls(
            id=d["id"], dungeon=d["dungeon"], dungeon_level=d["dungeon_level"], mode=d["mode"], seed=d["seed"],
            team=list(d["team"]), monster_hp=d["monster_hp"], monster_hp_max=d["monster_hp_max"],
            monster_atk=d["monster_atk"], monster_def=d["monster_def"], started_at=d["started_at"],
            deadline=d.get("deadline"), round=d.get("round", 0), actions=list(d.get("actions", [])),
            rounds=list(d.get("rounds", [])),
        )

    def copy(self) -> Combat:
        return Combat(self.id, self.dungeon, self.dungeon_level, self.mode, self.seed, list(self.team), self.monster_hp,
                      self.monster_hp_max, self.monster_atk, self.monster_def, self.started_at, self.deadline,
                      self.round, list(self.actions), list(self.rounds))


@dataclass
class PlayerState:
    val: int = 0
    evo: int = 0
    energy: int = 0  # energy at `energy_at`; the current value is `energy.energy_now(...)`
    energy_at: float = 0.0
    characters: list[Character] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    dungeons: dict[str, DungeonProgress] = field(default_factory=dict)
    stats: Stats = field(default_factory=Stats)
    combat: Combat | None = None

    def character(self, char_id: str) -> Character | None:
        return next((c for c in self.characters if c.id == char_id), None)

    def item(self, item_id: str) -> Item | None:
        return next((i for i in self.items if i.id == item_id), None)

    def in_combat(self, char_id: str) -> bool:
        return self.combat is not None and char_id in self.combat.team

    def dungeon_progress(self, dungeon: str) -> DungeonProgress:
        return self.dungeons.get(dungeon) or DungeonProgress()

    def to_dict(self) -> dict[str, Any]:
        return {
            "val": self.val, "evo": self.evo, "energy": self.energy, "energy_at": self.energy_at,
            "characters": [c.to_dict() for c in self.characters],
            "items": [i.to_dict() for i in self.items],
            "dungeons": {k: p.to_dict() for k, p in self.dungeons.items()},
            "stats": self.stats.to_dict(),
            "combat": self.combat.to_dict() if self.combat else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlayerState:
        return cls(
            val=d["val"], evo=d["evo"], energy=d["energy"], energy_at=d["energy_at"],
            characters=[Character.from_dict(c) for c in d.get("characters", [])],
            items=[Item.from_dict(i) for i in d.get("items", [])],
            dungeons={k: DungeonProgress.from_dict(p) for k, p in d.get("dungeons", {}).items()},
            stats=Stats.from_dict(d["stats"]) if d.get("stats") else Stats(),
            combat=Combat.from_dict(d["combat"]) if d.get("combat") else None,
        )

    def copy(self) -> PlayerState:
        """A deep copy, built field by field (copy.deepcopy took a fifth of a trade's CPU), but for a combat's
        recorded actions and rounds, which never change (`Combat`)."""
        return PlayerState(self.val, self.evo, self.energy, self.energy_at, [c.copy() for c in self.characters],
                           [i.copy() for i in self.items], {k: p.copy() for k, p in self.dungeons.items()},
                           self.stats.copy(), self.combat.copy() if self.combat is not None else None)

