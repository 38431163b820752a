"""One authenticated socket: its bounded outbound queue, its writer task and its event ordering.

Everything that reaches a client goes through `send`, which never blocks: a socket that cannot keep up is closed
with 4008 instead of slowing anybody else down.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket

from protocol import CloseCode
from server.ratelimit import TokenBucket

if TYPE_CHECKING:
    from server.metrics import Metrics


class Session:
    def __init__(
        self,
        ws: WebSocket,
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
    ) -> None:
        self.ws = ws
        self.id = session_id
        self.player_id = player_id
        self.name = name
        self.role = role
        self.opened_at = time.time()
        self.topics: set[str] = set()
        self.bucket = TokenBucket(rate, burst)
        self.refusals: deque[float] = deque()
        self.last_seq = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.accepting = True  # false once draining: further commands are refused
        self.close_code: int | None = None
        self._close_reason = ""
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self._metrics = metrics
        self._out: deque[bytes] = deque()
        self._out_bytes = 0
        self._wake = asyncio.Event()
        self._held: list[tuple[int, bytes]] | None = []  # events held back until the auth reply (and replay) is out
        self._writer: asyncio.Task[None] | None = None

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    @property
    def queued_bytes(self) -> int:
        """Bytes waiting for the writer."""
        return self._out_bytes

    def start_writer(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name=f"writer-{self.id}")

    # --- outbound ------------------------------------------------------------------------------------------------
    def send(self, frame: bytes) -> None:
        if self.close_code is not None:
            return
        self._out.append(frame)
        self._out_bytes += len(frame)
        if len(self._out) > self._max_frames or self._out_bytes > self._max_bytes:
            self._metrics.queue_overflows.inc()
            self.close(CloseCode.TOO_SLOW, "outbound queue overflow", flush=False)
            return
        self._wake.set()

    def push_event(self, seq: int, frame: bytes) -> None:
        """A personal event: delivered once, in seq order, after the auth reply and any replay."""
        if self._held is not None:
            self._held.append((seq, frame))
            return
        if seq <= self.last_seq:
            return
        self.last_seq = seq
        self._metrics.events.inc()
        self.send(frame)

    def release_events(self, replayed: list[tuple[int, bytes]], last_seq: int) -> None:
        """Send replayed events, then those that arrived meanwhile, skipping any already covered."""
        held, self._held = self._held or [], None
        self.last_seq = last_seq
        for seq, frame in [*replayed, *sorted(held, key=lambda item: item[0])]:
            self.push_event(seq, frame)

    def close(self, code: int, reason: str = "", *, flush: bool = True) -> None:
        """Close after the queued frames (flush) or at once, dropping them (a too-slow client)."""
        if self.close_code is not None:
            return
        self.close_code = code
        self._metrics.closes.labels(str(code)).inc()
        if not flush:
            self._out.clear()
            self._out_bytes = 0
        self._close_reason = reason
        self._wake.set()

    async def _write_loop(self) -> None:
        ws = self.ws
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._out:
                    frame = self._out.popleft()
                    self._out_bytes -= len(frame)
                    await ws.send({"type": "websocket.send", "text": frame.decode()})
                if self.close_code is not None:
                    await ws.send({"type": "websocket.close", "code": self.close_code,
                                   "reason": self._close_reason})
                    return
        except Exception:
            # The peer went away mid-send; the reader sees the disconnect and cleans up.
            self.close_code = self.close_code or CloseCode.NORMAL

    async def finish(self) -> None:
        """Wait for the writer to send what it can (used when the reader ends)."""
        if self._writer is not None and not self._writer.done():
            if self.close_code is None:
                self.close_code = CloseCode.NORMAL
                self._wake.set()
            self._writer.cancel()
            try:
                await self._writer
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
        if wait == 0:
            return 0.0
        now = time.monotonic()
        self.refusals.append(now)
        while self.refusals and self.refusals[0] < now - 10:
            self.refusals.popleft()
        if len(self.refusals) >= abuse_limit:
            self.close(CloseCode.RATE_LIMIT_ABUSED, "rate limit abused")
        return wait

    def describe(self) -> dict[str, Any]:
        return {"session": self.id, "player": self.player_id, "opened_at": self.opened_at, "queued": len(self._out)}
