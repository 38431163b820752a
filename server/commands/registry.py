"""Command handlers by type. A handler gets a `Call` and returns the reply data (or a `Reply`)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from protocol import COMMANDS, Frame
from server.players import Idem, Reply

if TYPE_CHECKING:
    from server.node import Node
    from server.session import Session


@dataclass(slots=True)
class Call:
    node: Node
    session: Session
    frame: Frame
    now: float = field(default_factory=time.time)

    @property
    def data(self) -> dict[str, Any]:
        return self.frame.data

    @property
    def player_id(self) -> str:
        return self.session.player_id

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
