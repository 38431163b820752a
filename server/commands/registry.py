"""Command handlers by type. A handler gets a `Call` (the command, its socket, and the node's services a handler may
use: `CommandContext`) and returns the reply data (or a `Reply`)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from persistence import GameStore
from protocol import COMMANDS, Frame
from server.bus import ChatHistory, Events, Leaderboards
from server.combat_driver import CombatDriver
from server.event_log import EventLog
from server.game.config import GameSettings
from server.hub import Hub
from server.names import NameCache
from server.operations import Operations
from server.players import Idem, Players, Reply
from server.ratelimit import WindowCounter
from server.session import Session


@dataclass(slots=True, frozen=True)
class CommandContext:
    """What command handlers may use of their node: the write path, the ports they read, and a few services."""

    game: GameSettings
    players: Players
    store: GameStore
    events: Events
    event_log: EventLog  # a player's personal events that no other change causes (a whisper)
    chat: ChatHistory
    leaderboards: Leaderboards
    names: NameCache
    topics: Hub  # subscriptions of this node's sockets
    combats: CombatDriver
    ops: Operations
    chat_limit: WindowCounter
    max_topics: int = 16  # broadcast topics one socket may follow


@dataclass(slots=True)
class Call:
    ctx: CommandContext
    session: Session
    frame: Frame
    player_id: str  # the session's player: whom the command acts for (a field, not a property: read by most handlers)
    now: float = field(default_factory=time.time)

    @property
    def data(self) -> dict[str, Any]:
        return self.frame.data

    @property
    def idem(self) -> Idem | None:
        return Idem(self.frame.idem, self.frame.type) if self.frame.idem else None


Handler = Callable[[Call], Awaitable["dict[str, Any] | Reply"]]
HANDLERS: dict[str, Handler] = {}


def handles(command_type: str) -> Callable[[Handler], Handler]:
    if command_type not in COMMANDS:
        raise ValueError(f"{command_type} is not a command of the protocol")

    def register(fn: Handler) -> Handler:
        if command_type in HANDLERS:
            raise ValueError(f"{command_type} has two handlers")
        HANDLERS[command_type] = fn
        return fn
    return register
