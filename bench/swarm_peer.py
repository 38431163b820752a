"""One socket of a swarm worker (bench/swarm_worker.py) and the three dialects it speaks:

- `valgame`: protocol v1 (`auth` with a JWT, then commands; replies start with `{"id"`, events with `{"type"`);
- `echo`: the same JSON envelope without auth, against bench/reference_echo.py and bench/reference_plain.py;
- `socketio`: Engine.IO 4 / Socket.IO 5 over the websocket transport, against bench/reference_socketio.py.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from bench.wsclient import WSClient

perf = time.perf_counter  # CLOCK_MONOTONIC on Linux: comparable between processes

# A market listing as the node sends it (same size for the references).
LISTING: dict[str, Any] = {
    "id": "L_0", "status": "active", "price": 5, "kind": "consumable", "code": "pocion-vida-menor", "rank": "D",
    "level": 1, "featured": False, "created_at": 1764400000.25, "expires_at": 1765004800.25, "seller": "bench_pub",
    "seller_id": "p_0123456789abcdef", "item": {"id": "i_0123456789abcdef", "code": "pocion-vida-menor",
                                                "kind": "consumable", "uses": 1}}


class Worker(Protocol):
    """What a peer needs of the worker process holding it (bench/swarm_worker.py): the counts it keeps, the closed
    loop's state, and where events and a finished loop go."""

    replies: int
    lost: int
    measuring: bool
    running: bool
    latencies: list[float]
    loop_count: int
    loop_errors: int
    loop_max: int

    def on_event(self, peer: Peer, p: bytes) -> None: ...

    def loop_done(self, peer: Peer) -> None: ...


class Peer(WSClient):
    """One socket of a worker."""

    def __init__(self, worker: Worker, kind: str, host: str, port: int, group: str, token: str = "",
                 key: str = "", subscribe: bool = False, market_topic: str = "market") -> None:
        path = "/socket.io/?EIO=4&transport=websocket" if kind == "socketio" else "/ws"
        super().__init__(host, port, path)
        self.worker, self.kind, self.group = worker, kind, group
        self.token, self.key, self.subscribe = token, key, subscribe
        self.market_topic = market_topic  # `market` (every event) or `market:digest` (one frame per interval)
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiter: asyncio.Future[bytes] | None = None
        self._ids = itertools.count(100)
        self.looping = False
        self.command = b""
        self.sent_at = 0.0
        self.auth_reply = b""  # the `auth` reply (valgame): the player's summary and the event `seq` it starts from
        self.listener: Callable[[bytes], None] | None = None  # takes every frame once set (an active player)

    # --- set-up calls (one outstanding at a time) ---------------------------------------------------------------
    def call(self, type_: str, data: dict[str, Any] | None = None, idem: str | None = None) -> asyncio.Future[bytes]:
        waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        n = next(self._ids)
        if self.kind == "socketio":
            self.send(b"42" + str(n).encode() + orjson.dumps([type_, data or {}]))
        else:
            frame = {"id": n, "type": type_, "data": data or {}}
            if idem is not None:
                frame["idem"] = idem
            self.send(orjson.dumps(frame))
        return waiter

    def _resolve(self, payload: bytes) -> None:
        self.worker.replies += 1
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(payload)

    async def _setup(self) -> None:
        try:
            if self.kind == "valgame":
                reply = await self.call("auth", {"token": self.token})
                if b'"ok":true' not in reply[:80]:
                    raise RuntimeError(reply[:200].decode(errors="replace"))
                self.auth_reply = reply
                if self.subscribe:  # the market (single events) and global chat (sustained fan-out)
                    await self.call("sub.add", {"topic": self.market_topic})
                    await self.call("sub.add", {"topic": "chat:global"})
            else:  # the references: `sub` joins the market topic, `hello` names the socket
                if self.subscribe:
                    await self.call("sub")
                if self.key:
                    await self.call("hello", {"key": self.key})
            if not self.ready.done():
                self.ready.set_result(True)
        except Exception as exc:
            if not self.ready.done():
                self.ready.set_exception(exc)

    # --- WSClient hooks ----------------------------------------------------------------------------------------
    def on_open(self) -> None:
        if self.kind != "socketio":
            asyncio.get_running_loop().create_task(self._setup())

    def on_close(self) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed ({self.close_code})"))
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("closed"))
        self.worker.lost += 1
        if self.looping:
            self.looping = False
            self.worker.loop_done(self)

    def on_message(self, p: bytes) -> None:
        w = self.worker
        if self.kind == "socketio":
            head = p[:2]
            if head == b"43":  # an ack
                if self.looping:
                    self._loop_reply(p)
                else:
                    self._resolve(p)
            elif head == b"42":
                w.on_event(self, p)
            elif p == b"2":  # engine.io ping
                self.send(b"3")
            elif head == b"0{":
                self.send(b"40")
            elif head == b"40":
                asyncio.get_running_loop().create_task(self._setup())
            return
        if self.listener is not None:
            self.listener(p)
        elif p[:5] == b'{"id"':
            if self.looping:
                self._loop_reply(p)
            else:
                self._resolve(p)
        else:
            w.on_event(self, p)

    # --- closed loop --------------------------------------------------------------------------------------------
    def _loop_reply(self, p: bytes) -> None:
        w = self.worker
        now = perf()
        if w.measuring:
            w.latencies.append(now - self.sent_at)
            if self.kind != "socketio" and b'"ok":true' not in p[:80]:
                w.loop_errors += 1
        w.loop_count += 1
        if w.running and w.loop_count < w.loop_max:
            self.sent_at = now
            self.send(self.command)
        else:
            self.looping = False
            w.loop_done(self)
