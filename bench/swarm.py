"""An asyncio WebSocket swarm spread over several client processes, for what Locust cannot hold on one machine.

The open-files hard limit is 20,000 per process here, so ≈ 19,500 sockets are spread over several worker processes
(5,000 each by default), all pinned to the generator's core. Each worker runs uvloop and the hand-rolled client of
bench/wsclient.py, and speaks one of three dialects:

- `valgame`: protocol v1 (`auth` with a JWT, then commands; replies start with `{"id"`, events with `{"type"`);
- `echo`: the same JSON envelope without auth, against bench/reference_echo.py;
- `socketio`: Engine.IO 4 / Socket.IO 5 over the websocket transport, against bench/reference_socketio.py.

Workers are driven over stdin/stdout with one JSON object per line (see `Worker.op_*`); every operation is bounded
in time and count and reports the worker's own CPU time, so a benchmark can show the generator was not the limit.

As a command:

    python -m bench.swarm --kind valgame --url http://127.0.0.1:8000 --sockets 19500 --hold 60

registers players (`--per-player` sockets each, 200 by default: start the node with `--max-sessions-per-player`
at least that, or pass `--per-player 3` against a node with the default), opens and authenticates the sockets,
holds them idle, and closes them.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

from bench.wsclient import WSClient

REPO = Path(__file__).resolve().parents[1]
perf = time.perf_counter  # CLOCK_MONOTONIC on Linux: comparable between processes

# A market listing as the node sends it (same size for the references).
LISTING: dict[str, Any] = {
    "id": "L_0", "status": "active", "price": 5, "kind": "consumable", "code": "pocion-vida-menor", "rank": "D",
    "level": 1, "featured": False, "created_at": 1764400000.25, "expires_at": 1765004800.25, "seller": "bench_pub",
    "seller_id": "p_0123456789abcdef", "item": {"id": "i_0123456789abcdef", "code": "pocion-vida-menor",
                                                "kind": "consumable", "uses": 1}}


class Peer(WSClient):
    """One socket of a worker."""

    def __init__(self, worker: Worker, kind: str, host: str, port: int, group: str, token: str = "",
                 key: str = "", subscribe: bool = False) -> None:
        path = "/socket.io/?EIO=4&transport=websocket" if kind == "socketio" else "/ws"
        super().__init__(host, port, path)
        self.worker, self.kind, self.group = worker, kind, group
        self.token, self.key, self.subscribe = token, key, subscribe
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiter: asyncio.Future[bytes] | None = None
        self._ids = itertools.count(100)
        self.looping = False
        self.command = b""
        self.sent_at = 0.0

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
                if self.subscribe:  # the market (single events) and global chat (sustained fan-out)
                    await self.call("sub.add", {"topic": "market"})
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
        if p[:5] == b'{"id"':
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


class Worker:
    def __init__(self) -> None:
        self.peers: list[Peer] = []
        self.lost = 0
        self.replies = 0
        self.measuring = False
        self.running = False
        self.latencies: list[float] = []
        self.loop_count = 0
        self.loop_errors = 0
        self.loop_max = 0
        self._looping = 0
        self._loop_finished: asyncio.Future[None] | None = None
        self.arrivals: dict[str, list[float]] = defaultdict(list)

    def group(self, name: str) -> list[Peer]:
        return [p for p in self.peers if p.group == name and not p.closed]

    # --- events ---------------------------------------------------------------------------------------------------
    def on_event(self, peer: Peer, p: bytes) -> None:
        """Time the events a benchmark waits for, keyed by the listing id or the whisper text. The key is cut out
        of the bytes (the first `"id":"` of a listing, the `"text":"` of a whisper): no JSON parsing per frame."""
        now = perf()
        if p.startswith(b'{"type":"market.listed"') or p.startswith(b'42["market.listed"'):
            start = p.find(b'"id":"') + 6
            self.arrivals[p[start:p.find(b'"', start)].decode()].append(now)
        elif p.startswith(b'{"type":"chat.message"') or p.startswith(b'42["chat.message"'):
            start = p.find(b'"text":"') + 8
            end = p.find(b'"', start)
            dash = p.find(b"-", start, end)  # a sustained fan-out's padding follows its key
            self.arrivals[p[start:dash if dash > 0 else end].decode()].append(now)

    def loop_done(self, peer: Peer) -> None:
        self._looping -= 1
        if self._looping <= 0 and self._loop_finished is not None and not self._loop_finished.done():
            self._loop_finished.set_result(None)

    # --- operations ---------------------------------------------------------------------------------------------
    async def op_open(self, kind: str, host: str, port: int, count: int, tokens: list[str] | None = None,
                      keys: list[str] | None = None, subscribe: bool = False, group: str = "main",
                      concurrency: int = 100, timeout: float = 120.0, spread: float = 0.0) -> dict[str, Any]:
        """Open `count` sockets (token i % len(tokens), key i when given), set each up, wait until all are ready.
        With `spread`, socket i is not opened before `spread * i / count` seconds: a steady pace, as real clients
        arrive, which spreads the server's per-socket ping timers evenly over time."""
        started, cpu = perf(), time.process_time()
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(concurrency)
        errors: list[str] = []
        opened = 0
        deadline = started + timeout

        async def one(i: int) -> None:
            nonlocal opened
            if spread:
                await asyncio.sleep(max(0.0, started + spread * i / count - perf()))  # pacing, not waiting on state
            async with gate:
                if perf() > deadline:
                    errors.append("deadline")
                    return
                token = tokens[i % len(tokens)] if tokens else ""
                key = keys[i] if keys else ""
                try:
                    _, peer = await loop.create_connection(
                        lambda: Peer(self, kind, host, port, group, token, key, subscribe), host, port)
                    self.peers.append(peer)
                    await asyncio.wait_for(peer.ready, max(1.0, deadline - perf()))
                    opened += 1
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])

        await asyncio.gather(*(one(i) for i in range(count)))
        return {"opened": opened, "failed": len(errors), "errors": errors[:5], "wall": perf() - started,
                "cpu": time.process_time() - cpu}

    async def op_loop(self, command: dict[str, Any], warmup: float, duration: float, max_commands: int,
                      group: str = "main") -> dict[str, Any]:
        """Closed loop: each socket sends the command, waits for its reply, sends again. Bounded by time and count;
        latencies are kept for the `duration` after `warmup`."""
        peers = self.group(group)
        if not peers:
            return {"error": "no sockets"}
        kind = peers[0].kind
        if kind == "socketio":
            payload = b"421" + orjson.dumps([command["type"], command.get("data") or {}])
        else:
            payload = orjson.dumps({"id": 1, **command})
        self.latencies, self.loop_count, self.loop_errors, self.loop_max = [], 0, 0, max_commands
        self.running, self.measuring = True, False
        self._looping = len(peers)
        self._loop_finished = asyncio.get_running_loop().create_future()
        now = perf()
        for peer in peers:
            peer.command, peer.looping, peer.sent_at = payload, True, now
            peer.send(payload)
        await asyncio.sleep(warmup)
        count0, cpu0, t0 = self.loop_count, time.process_time(), perf()
        self.measuring = True
        try:
            await asyncio.wait_for(asyncio.shield(self._loop_finished), duration)
        except TimeoutError:
            pass
        self.measuring = False
        window, cpu = perf() - t0, time.process_time() - cpu0
        count = self.loop_count - count0
        self.running = False
        try:
            await asyncio.wait_for(self._loop_finished, 10)
        except TimeoutError:
            pass
        return {"commands": count, "total": self.loop_count, "window": window, "cpu": cpu, "errors": self.loop_errors,
                "lat_us": [int(x * 1e6) for x in self.latencies], "lost": self.lost}

    async def op_hold(self, seconds: float) -> dict[str, Any]:
        cpu, started = time.process_time(), perf()
        await asyncio.sleep(seconds)
        return {"open": len([p for p in self.peers if not p.closed]), "lost": self.lost,
                "cpu": time.process_time() - cpu, "wall": perf() - started}

    async def op_publish(self, kind: str, rounds: int, gap: float, group: str = "pub") -> dict[str, Any]:
        """Publish `rounds` market events, `gap` seconds apart; return (key, send time) pairs.
        Valgame: `market.list` of a potion (the event is `market.listed`), then `market.cancel` to get it back."""
        peer = self.group(group)[0]
        sent: list[tuple[str, float]] = []
        cpu = time.process_time()
        item = ""
        if kind == "valgame":
            inventory = orjson.loads(await peer.call("inventory.get"))
            item = next(i["id"] for i in inventory["data"]["items"] if i["kind"] == "consumable")
        for r in range(rounds):
            t0 = perf()
            if kind == "valgame":
                reply = orjson.loads(await asyncio.wait_for(peer.call("market.list", {"item": item, "price": 5}),
                                                            30))
                if not reply.get("ok"):
                    return {"error": reply, "sent": sent}
                listing = reply["data"]["listing"]
                sent.append((listing, t0))
                await asyncio.sleep(gap)
                await asyncio.wait_for(peer.call("market.cancel", {"listing": listing}), 30)
            else:
                key = f"L_{os.getpid()}_{r}_{time.time_ns()}"
                sent.append((key, t0))
                await asyncio.wait_for(peer.call("pub", {**LISTING, "id": key}), 30)
            await asyncio.sleep(gap)
        return {"sent": sent, "cpu": time.process_time() - cpu}

    async def op_stream(self, kind: str, events: int, group: str = "pub") -> dict[str, Any]:
        """Sustained fan-out: this worker's `group` sockets publish `events` in all, each sending its next as soon
        as its last is answered (as many in flight as sockets). Valgame: `chat.send` on global chat, its text padded
        to a listing's length so the frames weigh what the references' `market.listed` do; the references: `pub`."""
        peers = self.group(group)
        if not peers:
            return {"error": "no open publisher sockets", "sent": []}
        sent: list[tuple[str, float]] = []
        pad = "x" * len(orjson.dumps(LISTING))

        async def publish(i: int, peer: Peer) -> None:
            for r in range(i, events, len(peers)):
                key = f"S{os.getpid()}_{r}_{time.time_ns()}"
                sent.append((key, perf()))
                if kind == "valgame":
                    reply = orjson.loads(await asyncio.wait_for(peer.call("chat.send", {"text": f"{key}-{pad}"}),
                                                                30))
                    if not reply.get("ok"):
                        raise RuntimeError(str(reply)[:200])
                else:
                    await asyncio.wait_for(peer.call("pub", {**LISTING, "id": key}), 30)

        cpu = time.process_time()
        try:
            await asyncio.gather(*(publish(i, peer) for i, peer in enumerate(peers)))
        except Exception as exc:
            return {"error": f"{type(exc).__name__}: {exc}"[:300], "sent": sent}
        return {"sent": sent, "cpu": time.process_time() - cpu}

    async def op_arrivals(self, clear: bool = True, count_only: bool = False) -> dict[str, Any]:
        if count_only:  # how many arrived so far, cheap enough to poll
            return {"count": sum(len(v) for v in self.arrivals.values())}
        out = {k: v for k, v in self.arrivals.items()}
        if clear:
            self.arrivals = defaultdict(list)
        return {"arrivals": out}

    async def op_whisper(self, kind: str, targets: list[str], rate: float, duration: float, settle: float = 5.0,
                         max_in_flight: int = 1000, group: str = "send") -> dict[str, Any]:
        """Open loop: `rate` whispers per second for `duration` s from this worker's senders to `targets` (names
        or keys of sockets on the other node, held by this worker's `recv` group), with at most `max_in_flight`
        commands unanswered (past that, sending waits: the achieved rate is then below `rate`). Latency from
        sending on one node to arrival on the other."""
        senders = self.group(group)
        if not senders:
            return {"error": "no open sender sockets", "lost_sockets": self.lost}
        self.arrivals = defaultdict(list)
        sent: dict[str, float] = {}
        total = int(rate * duration)
        sender_cycle, target_cycle = itertools.cycle(senders), itertools.cycle(targets)
        ids = itertools.count(1000)
        cpu, start = time.process_time(), perf()
        replies0 = self.replies
        n = 0
        capped = 0.0
        while n < total and perf() - start < duration * 3:
            rate_due = min(total, int((perf() - start) * rate) + 1)
            due = min(rate_due, self.replies - replies0 + max_in_flight)
            if due < rate_due:
                capped += 0.001  # about: one tick spent waiting for replies
            while n < due:
                text = f"k{n}"
                peer, to = next(sender_cycle), next(target_cycle)
                sent[text] = perf()
                if kind == "socketio":
                    peer.send(b"42" + str(next(ids)).encode() + orjson.dumps(["whisper", {"to": to, "text": text}]))
                else:
                    peer.send(orjson.dumps({"id": next(ids), "type": "whisper" if kind == "echo" else "chat.whisper",
                                            "data": {"to": to, "text": text}}))
                n += 1
            await asyncio.sleep(0.001)
        send_window = perf() - start
        deadline = perf() + settle
        while perf() < deadline and (len(self.arrivals) < len(sent) or self.replies - replies0 < len(sent)):
            await asyncio.sleep(0.05)
        latencies = [int((self.arrivals[k][0] - t) * 1e6) for k, t in sent.items() if k in self.arrivals]
        last = max((self.arrivals[k][0] for k in sent if k in self.arrivals), default=start)
        return {"sent": len(sent), "received": len(latencies), "send_window": send_window, "lat_us": latencies,
                "delivered_per_s": len(latencies) / max(1e-9, last - start), "capped_seconds": capped,
                "cpu": time.process_time() - cpu, "wall": perf() - start, "lost_sockets": self.lost}

    async def op_trade(self, duration: float, max_trades: int, group: str = "main",
                       keyed: bool = False) -> dict[str, Any]:
        """Each socket (one player each) lists its items, then loops: buy another player's listing, list what it
        received. Bounded by time and count. Returns successful trades (buys), listings, refusals by code.
        With `keyed`, every `market.list` and `market.buy` carries a unique `idem` key (`t<socket>-<n>`)."""
        peers = self.group(group)
        pool: list[tuple[str, int]] = []  # (listing, seller index)
        refusals: dict[str, int] = defaultdict(int)
        counts = {"trades": 0, "lists": 0}
        latencies: list[float] = []
        keys = itertools.count()
        cpu = time.process_time()

        def command(peer: Peer, index: int, type_: str, data: dict[str, Any]) -> asyncio.Future[bytes]:
            return peer.call(type_, data, f"t{index}-{next(keys)}" if keyed else None)

        async def sell(peer: Peer, index: int, item: str) -> None:
            reply = orjson.loads(await asyncio.wait_for(command(peer, index, "market.list",
                                                                {"item": item, "price": 5}), 30))
            if reply["ok"]:
                counts["lists"] += 1
                pool.append((reply["data"]["listing"], index))
            else:
                refusals["list:" + reply["error"]["code"]] += 1

        async def trader(index: int, peer: Peer) -> None:
            inventory = orjson.loads(await peer.call("inventory.get"))
            for item in inventory["data"]["items"]:
                if item["kind"] == "consumable":
                    await sell(peer, index, item["id"])
            while perf() < deadline and counts["trades"] < max_trades:
                offers = [i for i, (_, seller) in enumerate(pool) if seller != index]
                if not offers:
                    await asyncio.sleep(0.005)
                    continue
                listing, _ = pool.pop(offers[len(offers) // 2])
                t0 = perf()
                reply = orjson.loads(await asyncio.wait_for(command(peer, index, "market.buy", {"listing": listing}),
                                                            30))
                if reply["ok"]:
                    latencies.append(perf() - t0)
                    counts["trades"] += 1
                    await sell(peer, index, reply["data"]["received"]["id"])
                else:
                    refusals["buy:" + reply["error"]["code"]] += 1

        start = perf()
        deadline = start + duration
        await asyncio.gather(*(trader(i, p) for i, p in enumerate(peers)))
        wall = perf() - start
        return {**counts, "wall": wall, "refusals": dict(refusals), "cpu": time.process_time() - cpu,
                "lat_us": [int(x * 1e6) for x in latencies], "idem_keys": next(keys) if keyed else 0}

    async def op_close(self) -> dict[str, Any]:
        for peer in self.peers:
            peer.abort()
        self.peers = []
        await asyncio.sleep(0.1)
        return {"closed": True}


async def worker_main() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    worker = Worker()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    while True:
        line = await reader.readline()
        if not line:
            return
        request = orjson.loads(line)
        op = request.pop("op")
        try:
            result = await getattr(worker, f"op_{op}")(**request)
        except Exception as exc:
            result = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(orjson.dumps(result) + b"\n")
        out.flush()
        if op == "close":
            return


# --- the controller side ---------------------------------------------------------------------------------------
class Swarm:
    """Worker processes, pinned to the generator's cores; `call` sends one operation to each worker."""

    def __init__(self, workers: int, cpus: set[int] | None = None) -> None:
        self.cpus = cpus
        self.procs = [subprocess.Popen([sys.executable, "-m", "bench.swarm", "--worker"], cwd=REPO,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
                      for _ in range(workers)]

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def send(self, index: int, op: str, **args: Any) -> None:
        proc = self.procs[index]
        assert proc.stdin is not None
        proc.stdin.write(orjson.dumps({"op": op, **args}) + b"\n")
        proc.stdin.flush()

    def receive(self, index: int) -> dict[str, Any]:
        proc = self.procs[index]
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"swarm worker {proc.pid} exited ({proc.poll()})")
        return orjson.loads(line)

    def call(self, op: str, per_worker: list[dict[str, Any]] | None = None, **args: Any) -> list[dict[str, Any]]:
        """Run `op` on every worker at once (with its own extra arguments) and return their answers."""
        for i in range(len(self.procs)):
            self.send(i, op, **args, **(per_worker[i] if per_worker else {}))
        return [self.receive(i) for i in range(len(self.procs))]

    def close(self) -> None:
        for i, proc in enumerate(self.procs):
            if proc.poll() is None:
                try:
                    self.send(i, "close")
                    self.receive(i)
                except Exception:
                    pass
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> Swarm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kind", choices=("valgame", "echo", "socketio"), default="valgame")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="HTTP base URL of the target (loopback).")
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--per-process", type=int, default=5000, help="Sockets per worker process (< 20,000).")
    parser.add_argument("--per-player", type=int, default=200,
                        help="Sockets per registered player (valgame); at most the node's max_sessions_per_player.")
    parser.add_argument("--hold", type=float, default=30.0, help="Seconds to hold the sockets open (≤ 3600).")
    parser.add_argument("--cpus", default="1", help="Cores of the swarm, e.g. 1 or 0,1.")
    args = parser.parse_args()
    if args.worker:
        try:
            import uvloop
            uvloop.run(worker_main())
        except ImportError:
            asyncio.run(worker_main())
        return

    from urllib.parse import urlsplit

    from bench.common import check_loopback, register_players

    parts = urlsplit(args.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    check_loopback(host)
    tokens: list[str] = []
    if args.kind == "valgame":
        players = max(1, -(-args.sockets // max(1, args.per_player)))
        tokens = [p["access_token"] for p in asyncio.run(register_players(args.url, players))]
    workers = max(1, -(-args.sockets // args.per_process))
    with Swarm(workers, {int(c) for c in args.cpus.split(",")}) as swarm:
        opened = swarm.call("open", [{"count": n} for n in split(args.sockets, workers)],
                            kind=args.kind, host=host, port=port, tokens=tokens)
        print(json.dumps({"opened": sum(o.get("opened", 0) for o in opened),
                          "failed": sum(o.get("failed", 0) for o in opened),
                          "errors": [e for o in opened for e in o.get("errors", [])][:5]}))
        if any("(4009)" in e for o in opened for e in o.get("errors", [])):
            print("closed with 4009: the node allows fewer sockets per player; lower --per-player or raise the "
                  "node's --max-sessions-per-player", file=sys.stderr)
        held = swarm.call("hold", seconds=min(args.hold, 3600))
        print(json.dumps({"open": sum(h["open"] for h in held), "lost": sum(h["lost"] for h in held),
                          "swarm_cpu_seconds": round(sum(h["cpu"] for h in held), 3)}))


if __name__ == "__main__":
    main()
