"""A swarm worker process (bench/swarm.py starts them): its sockets (bench/swarm_peer.py) and the operations a
benchmark drives them with, one JSON object per line on stdin, one answer per line on stdout (see `Worker.op_*`).
Every operation is bounded in time and count and reports the worker's own CPU time.

    python -m bench.swarm_worker    # as bench.swarm.Swarm starts it
"""

from __future__ import annotations

import asyncio
import itertools
import os
import resource
import sys
import time
from collections import defaultdict
from typing import Any

import orjson

from bench.swarm_peer import LISTING, Peer, perf


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
                      concurrency: int = 100, timeout: float = 120.0, spread: float = 0.0,
                      market_topic: str = "market") -> dict[str, Any]:
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
                        lambda: Peer(self, kind, host, port, group, token, key, subscribe, market_topic),
                        host, port)
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

    async def op_play(self, **args: Any) -> dict[str, Any]:
        """Active players (bench/swarm_players.py `play`)."""
        from bench.swarm_players import play

        return await play(self.peers, **args)

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


def main() -> None:
    try:
        import uvloop
        uvloop.run(worker_main())
    except ImportError:
        asyncio.run(worker_main())


if __name__ == "__main__":
    main()
