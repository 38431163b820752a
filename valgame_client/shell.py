"""What the asyncio and the blocking shells share: their options, the core, and what they received."""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any, Generic, TypeVar, overload

from valgame_client.core import ClientProtocol, Resync

log = logging.getLogger("valgame_client")

TokenT = TypeVar("TokenT")  # a token, or what makes one (a plain or an async callable, by shell)

MAX_KEPT_EVENTS = 10_000  # the events a client keeps for `wait_event` by default: ~10 MB of frames at most


class KeptEvents:
    """The last `limit` events received, numbered from the first one ever received: `len()` is how many came so
    far (the `after` a caller passes to `wait_event` to wait for a new one), `events[after:]` those kept from number
    `after` on. An event older than the last `limit` is gone (`dropped` counts them), so a client that lives long
    holds a bounded number of frames. A limit of 0 keeps none (a client that takes its events through `on_event`)."""

    __slots__ = ("_kept", "dropped")

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError(f"a client keeps 0 events or more, not {limit}")
        self._kept: deque[dict[str, Any]] = deque(maxlen=limit)
        self.dropped = 0

    @property
    def limit(self) -> int:
        return self._kept.maxlen or 0

    def append(self, event: dict[str, Any]) -> None:
        if len(self._kept) == self._kept.maxlen:
            self.dropped += 1
        self._kept.append(event)

    def index(self, event: dict[str, Any]) -> int:
        """The number of a kept event."""
        return self.dropped + self._kept.index(event)

    def __len__(self) -> int:
        return self.dropped + len(self._kept)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._kept)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            if index.step is not None or index.stop is not None:
                raise IndexError("kept events are read from a number on: events[after:]")
            start = index.start or 0
            return list(islice(self._kept, max(0, (start if start >= 0 else len(self) + start) - self.dropped), None))
        number = index if index >= 0 else len(self) + index
        if number < self.dropped:
            raise IndexError(f"event {index} is no longer kept (the last {self._kept.maxlen} are)")
        return self._kept[number - self.dropped]


class Shell(Generic[TokenT]):
    def __init__(self, url: str, *, token: TokenT | None, reconnect: bool,
                 on_event: Callable[[dict[str, Any]], None] | None, on_resync: Callable[[Resync], None] | None,
                 timeout: float, max_backoff: float, max_kept_events: int = MAX_KEPT_EVENTS) -> None:
        self.url = url
        self.token = token
        self.reconnect = reconnect  # reopen and resume after a drop (not after a final close code)
        self.timeout = timeout  # default for a reply or an awaited event, in seconds
        self.max_backoff = max_backoff
        self.on_event = on_event
        self.on_resync = on_resync
        self.core = ClientProtocol()
        # The events received, in order, for `wait_event`: the last `max_kept_events` of them. A client that needs
        # none (a bot, a load generator takes them through `on_event`) passes max_kept_events=0.
        self.events = KeptEvents(max_kept_events)
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
        if not self.events.limit:
            raise RuntimeError("wait_event reads the kept events: this client was made with max_kept_events=0")

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
