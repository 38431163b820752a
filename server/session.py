"""One authenticated socket: its bounded outbound queue, its writer and its event ordering.

Everything that reaches a client goes through `send`, which never blocks: a socket that cannot keep up is closed
with 4008 instead of slowing anybody else down. Two bounds make "cannot keep up" precise: the queue's size, and the
write deadline: a peer that accepts none of its pending bytes for `write_deadline` seconds has its transport
aborted (not drained: it would never read the close frame either), which frees the socket, its queue and its cap
slot at once.

Sending costs no task switch in the common case: when nothing is queued for the socket, `send` hands the frame to
the transport (server/transport/port.py) at once, which writes it without suspending. Only when the transport
pushes back (the peer reads slowly) does a writer task take over, finish that send and drain the queue that builds
up meanwhile (bounded: past it, 4008). An idle socket holds no task and no event object. The session is the same
on every transport (ASGI on uvicorn, picows).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from protocol import CloseCode
from server.ratelimit import TokenBucket, WindowCounter
from server.transport.port import Transport

if TYPE_CHECKING:
    from server.metrics import Metrics

ABUSE_WINDOW_SECONDS = 10  # refusals counted over this window; `rate_abuse_limit` of them close the socket (4029)


class Flag:
    """What the session needs of `asyncio.Event` (set, clear, is_set, wait) without its per-instance deque
    (about 700 bytes on every socket)."""

    __slots__ = ("_set", "_waiters")

    def __init__(self, value: bool = False) -> None:
        self._set = value
        self._waiters: list[asyncio.Future[bool]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(True)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            return await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)


class Session:
    __slots__ = (
        "__weakref__",
        "_behind",
        "_close_reason",
        "_deadline_timer",
        "_max_bytes",
        "_max_frames",
        "_metrics",
        "_out",
        "_progress_at",
        "_refusals",
        "_seen",
        "_started",
        "_write_deadline",
        "_writer",
        "accepting",
        "bucket",
        "close_code",
        "credentials",
        "id",
        "idle",
        "last_seq",
        "name",
        "opened_at",
        "player_id",
        "queued_bytes",
        "role",
        "topics",
        "transport",
    )

    def __init__(
        self,
        transport: Transport,
        *,
        session_id: str,
        player_id: str,
        name: str,
        role: str,
        max_frames: int,
        max_bytes: int,
        rate: float,
        burst: int,
        metrics: Metrics,
        write_deadline: float = 10.0,
        credentials: tuple[str, str] = ("", ""),
    ) -> None:
        self.transport = transport  # the connection, on whichever server serves it
        self.id = session_id
        self.player_id = player_id
        self.name = name
        self.role = role
        self.credentials = credentials  # (refresh family, access token id) it authenticated with: revocable
        self.opened_at = time.time()
        self.topics: set[str] = set()
        self.bucket = TokenBucket(rate, burst)
        self._refusals: WindowCounter | None = None  # refused commands, counted from the first refusal on
        self.last_seq = 0
        self.idle = Flag(True)
        self.accepting = True  # false once draining: further commands are refused
        self.close_code: int | None = None
        self._close_reason = ""
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self._metrics = metrics
        self._out: deque[bytes] = deque()
        self.queued_bytes = 0  # bytes waiting for the writer (read before every command: an attribute)
        # Until the auth reply is out, and while events are read back from the log to fill a gap, events from the
        # bus are not sent: only the highest seq seen is noted, and the catch-up goes on until it has that one.
        self._behind = True
        self._seen = 0
        self._started = False  # nothing goes out before `start_writer`
        self._writer: asyncio.Task[None] | None = None  # only while the transport pushes back, or to close
        self._write_deadline = write_deadline
        self._deadline_timer: asyncio.TimerHandle | None = None  # armed while a writer runs
        self._progress_at = 0.0  # when the writer last finished a send

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    def start_writer(self) -> None:
        """From now on frames go out (anything queued before goes first)."""
        self._started = True
        if self._out or self.close_code is not None:
            self._spawn_writer()

    def _spawn_writer(self, pending: Awaitable[None] | None = None) -> None:
        if self._writer is None and self._started:
            loop = asyncio.get_running_loop()
            self._writer = loop.create_task(self._write_loop(pending), name=f"writer-{self.id}")
            self._progress_at = loop.time()
            if self._deadline_timer is None:
                self._deadline_timer = loop.call_later(self._write_deadline, self._check_deadline)

    def _check_deadline(self) -> None:
        """The writer has run for a deadline: cut the peer off if it accepted nothing for that long."""
        self._deadline_timer = None
        writer = self._writer
        if writer is None or writer.done():
            return
        loop = asyncio.get_running_loop()
        stalled = loop.time() - self._progress_at
        if stalled < self._write_deadline:
            self._deadline_timer = loop.call_later(self._write_deadline - stalled, self._check_deadline)
            return
        self._metrics.write_deadline_closes.inc()
        self._cut_off(CloseCode.TOO_SLOW)

    def _cut_off(self, code: int) -> None:
        """Closed with `code` (unless it already was) and the connection dropped, no close frame sent."""
        if self.close_code is None:
            self.close_code = code
            self._metrics.closes.labels(str(code)).inc()
        self.abort()

    def abort(self) -> None:
        """Drop the connection now, with whatever is queued or half-sent: the reader then sees the disconnect
        and releases the session."""
        self._out.clear()
        self.queued_bytes = 0
        if not self.transport.abort() and self._writer is not None and not self._writer.done():
            self._writer.cancel()  # the server offers no abort: at least stop writing

    # --- outbound ------------------------------------------------------------------------------------------------
    def send(self, frame: bytes) -> None:
        """Queue one text frame: its encoded JSON (the same bytes object for every socket of a broadcast)."""
        if self.close_code is not None:
            return
        if self._writer is None and self._started and not self._out:
            self._send_now(frame)
            return
        self._out.append(frame)
        self.queued_bytes += len(frame)
        if len(self._out) > self._max_frames or self.queued_bytes > self._max_bytes:
            self._metrics.queue_overflows.inc()
            self.close(CloseCode.TOO_SLOW, "outbound queue overflow", flush=False)
            return
        self._spawn_writer()

    def _send_now(self, frame: bytes) -> None:
        """Hand a frame to the transport without a task switch; if it pushes back, a writer task finishes that
        send, and later frames queue behind it."""
        try:
            pending = self.transport.send(frame)
        except Exception:
            # The peer went away; the reader sees the disconnect and cleans up.
            self.close_code = self.close_code or CloseCode.NORMAL
            return
        if pending is not None:
            self._spawn_writer(pending)

    def push_event(self, seq: int, frame: bytes) -> bool:
        """A personal event from the bus: sent once, in seq order. False when it shows a gap (an event between the
        last one sent and this one has not come): the session is then behind, and the caller has the missing events
        read from the log (server/event_log.py `catch_up`), which covers this one too."""
        if self._behind:
            self._seen = max(self._seen, seq)
            return True
        if seq <= self.last_seq:
            return True  # a duplicate (the log's copy went out first)
        if seq > self.last_seq + 1:
            self._behind, self._seen = True, seq
            return False
        self._send_event(seq, frame)
        return True

    def fell_behind(self, head: int) -> bool:
        """The log holds events up to `head`: True when this session is missing some and was not already catching
        up (the caller starts a catch-up)."""
        if self._behind:
            self._seen = max(self._seen, head)
            return False
        if head <= self.last_seq:
            return False
        self._behind, self._seen = True, head
        return True

    def start_from(self, last_seq: int, head: int) -> None:
        """The auth reply told the client its last seq; the log holds events up to `head`: the catch-up that follows
        sends what came after the one, up to the other at least."""
        self.last_seq = last_seq
        self._seen = max(self._seen, head)

    def caught_up(self, frames: list[tuple[int, bytes]], complete: bool) -> bool:
        """Send events read from the log (in order, from `last_seq + 1`; `complete` when the log holds none after
        them). True when nothing known is still missing: the session takes events from the bus again."""
        for seq, frame in frames:
            if seq == self.last_seq + 1:
                self._send_event(seq, frame)
        if complete and self._seen <= self.last_seq:
            self._behind = False
            return True
        return False

    def lost_events(self) -> None:
        """Events it misses are gone from the log (or never were): the client must reconnect and re-read."""
        self.close(CloseCode.DRAINING, "missed events; reconnect")

    def _send_event(self, seq: int, frame: bytes) -> None:
        self.last_seq = seq
        self._metrics.events.inc()
        self.send(frame)

    def close(self, code: int, reason: str = "", *, flush: bool = True, abort_if_blocked: bool = False) -> None:
        """Close after the queued frames (flush) or at once, dropping them (a too-slow client). With
        `abort_if_blocked`, a peer that is not taking what was sent (a writer is waiting on it) is cut off now
        instead of at the write deadline: for a socket whose cap slot another one waits for."""
        if abort_if_blocked and self._writer is not None and not self._writer.done():
            self._cut_off(code)
            return
        if self.close_code is not None:
            return
        self.close_code = code
        self._metrics.closes.labels(str(code)).inc()
        if not flush:
            self._out.clear()
            self.queued_bytes = 0
        # A close reason is at most 123 bytes (RFC 6455); cut on a character boundary.
        self._close_reason = reason.encode()[:123].decode(errors="ignore")
        self._spawn_writer()  # sends the close frame (after the queue, or after the send in progress)

    async def _write_loop(self, pending: Awaitable[None] | None = None) -> None:
        """Finish the send in progress, send what is queued, then the close frame when closing; then end."""
        send, out = self.transport.send, self._out
        try:
            if pending is not None:
                await pending
            loop = asyncio.get_running_loop()
            self._progress_at = loop.time()
            while out:
                frame = out.popleft()
                self.queued_bytes -= len(frame)
                pending = send(frame)
                if pending is not None:
                    await pending
                self._progress_at = loop.time()
            if self.close_code is not None:
                await self.transport.close(self.close_code, self._close_reason)
        except Exception:
            # The peer went away mid-send; the reader sees the disconnect and cleans up.
            self.close_code = self.close_code or CloseCode.NORMAL
        finally:
            if self._deadline_timer is not None:
                self._deadline_timer.cancel()
                self._deadline_timer = None
            if self.close_code is None:
                self._writer = None  # back to direct sends; a closed session keeps its finished writer

    async def finish(self) -> None:
        """Stop writing (used when the reader ends: the peer is gone)."""
        if self.close_code is None:
            self.close_code = CloseCode.NORMAL
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()
            try:
                await writer
            except (asyncio.CancelledError, Exception):
                pass

    async def wait_closed(self, timeout: float) -> None:
        if self._writer is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), timeout)
            except (TimeoutError, Exception):
                pass

    # --- inbound rate limiting ---------------------------------------------------------------------------------
    def admit(self, abuse_limit: int) -> float:
        """0 when the command may run; else the seconds to wait. Persistent abuse closes the socket (4029)."""
        wait = self.bucket.take()
        if not wait:
            return 0.0
        refusals = self._refusals
        if refusals is None:  # made on the first refusal: a socket that keeps to its rate holds none
            refusals = self._refusals = WindowCounter(abuse_limit, ABUSE_WINDOW_SECONDS, max_keys=1)
        if refusals.hit(self.id) >= abuse_limit:
            self.close(CloseCode.RATE_LIMIT_ABUSED, "rate limit abused")
        return wait

    def describe(self) -> dict[str, Any]:
        return {"session": self.id, "player": self.player_id, "opened_at": self.opened_at, "queued": len(self._out)}
