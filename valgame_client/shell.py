"""What the asyncio and the blocking shells share: their options, the core, and what they received."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from valgame_client.core import ClientProtocol, Resync

log = logging.getLogger("valgame_client")

TokenT = TypeVar("TokenT")  # a token, or what makes one (a plain or an async callable, by shell)


class Shell(Generic[TokenT]):
    def __init__(self, url: str, *, token: TokenT | None, reconnect: bool,
                 on_event: Callable[[dict[str, Any]], None] | None, on_resync: Callable[[Resync], None] | None,
                 timeout: float, max_backoff: float, keep_events: bool = True) -> None:
        self.url = url
        self.token = token
        self.reconnect = reconnect  # reopen and resume after a drop (not after a final close code)
        self.timeout = timeout  # default for a reply or an awaited event, in seconds
        self.max_backoff = max_backoff
        self.on_event = on_event
        self.on_resync = on_resync
        self.core = ClientProtocol()
        # Every event frame received, in order, for `wait_event`: it grows for as long as the client lives, so a
        # long-running client (a bot, a load generator) passes keep_events=False and takes them through `on_event`.
        self.keep_events = keep_events
        self.events: list[dict[str, Any]] = []
        self.resyncs: list[Resync] = []  # each time events were missed for good
        self.auth_reply: dict[str, Any] | None = None  # the data of the last successful `auth`
        self.close_code: int | None = None  # the last socket's close code
        self.close_reason = ""  # and its reason (an operator's kick says why)
        self.connects = 0  # sockets opened so far

    def backoff(self, attempt: int) -> float:
        """Seconds before reconnect attempt `attempt` (from 0): exponential, capped, with jitter so that the
        clients of a node that went away do not all come back at once."""
        return min(self.max_backoff, 0.1 * 2 ** attempt) * (0.5 + random.random() / 2)

    def check_kept(self) -> None:
        if not self.keep_events:
            raise RuntimeError("wait_event reads the kept events: this client was made with keep_events=False")

    def notify_event(self, frame: dict[str, Any]) -> None:
        """Hand an event to `on_event`; a failing callback is logged, and the connection carries on."""
        if self.on_event is not None:
            try:
                self.on_event(frame)
            except Exception:
                log.exception("on_event failed for %s", frame.get("type"))

    def notify_resync(self, resync: Resync) -> None:
        if self.on_resync is not None:
            try:
                self.on_resync(resync)
            except Exception:
                log.exception("on_resync failed")
