"""What a rule needs (`RuleContext`) and what it gives back (`Outcome`).

Rules copy the state first (`Outcome.begin`) and change only the copy, so a refusal half-way leaves the caller's state
untouched: the caller simply drops the outcome. Every VAL/EVO change goes through `Outcome.adjust`, which keeps the
economy invariant (balance == sum of ledger deltas) true by construction.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from protocol.codes import ErrorCode
from server.game.config import GameSettings
from server.game.errors import GameError
from server.game.state import PlayerState

CURRENCIES = ("VAL", "EVO")


@dataclass(frozen=True)
class RuleContext:
    settings: GameSettings
    now: float
    rng: random.Random
    make_id: Callable[[str], str]  # make_id("c") -> a fresh unique id with that prefix; injected to stay pure


@dataclass(frozen=True)
class LedgerDelta:
    currency: str  # "VAL" | "EVO"
    delta: int
    reason: str
    ref: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"currency": self.currency, "delta": self.delta, "reason": self.reason, "ref": self.ref}


@dataclass
class Outcome:
    state: PlayerState  # the NEW state
    reply: dict[str, Any] = field(default_factory=dict)
    ledger: list[LedgerDelta] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # personal events, pushed after the write
    notifications: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (kind, data), stored + pushed
    ended_combat: dict[str, Any] | None = None  # the finished combat record (seed, actions, rounds), for audit/replay

    @classmethod
    def begin(cls, state: PlayerState) -> Outcome:
        return cls(state=state.copy())

    def adjust(self, currency: str, delta: int, reason: str, ref: str = "") -> None:
        """Changes VAL or EVO by `delta`, refusing to go negative, and records it in the ledger."""
        if currency not in CURRENCIES:
            raise ValueError(f"unknown currency {currency!r}")
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError("delta must be an int")
        if not reason:
            raise ValueError("every balance change needs a reason")
        if delta == 0:
            return
        attr = currency.lower()
        have = getattr(self.state, attr)
        if have + delta < 0:
            raise GameError(ErrorCode.INSUFFICIENT_FUNDS, f"need {-delta} {currency}, have {have}",
                            currency=currency, need=-delta, have=have)
        setattr(self.state, attr, have + delta)
        self.ledger.append(LedgerDelta(currency, delta, reason, ref))
        self.set_event("wallet.updated", {"val": self.state.val, "evo": self.state.evo})

    def set_event(self, kind: str, data: dict[str, Any]) -> None:
        """Adds an event that must appear once per outcome (wallet, energy), replacing an earlier one of that kind."""
        for index, (existing, _) in enumerate(self.events):
            if existing == kind:
                self.events[index] = (kind, data)
                return
        self.events.append((kind, data))

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))

    def notify(self, kind: str, data: dict[str, Any]) -> None:
        self.notifications.append((kind, data))
