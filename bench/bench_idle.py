"""Idle authenticated sockets held by one node: how many, the memory per socket and the CPU to hold them.

For each target (the node, the bare echo through Starlette, the plain-ASGI echo, python-socketio), in a fresh
server process pinned to core 0:
open `--warm` sockets, read the server's RSS, open the rest up to `--sockets` (spread over worker processes of
5,000 sockets each: the open-files limit is 20,000 per process) at a steady pace over `--spread` seconds, as
clients arrive in production, so that every target's ping timers are spread alike; read the RSS again, hold them
idle for
`--windows` windows of `--window` seconds and read the server's CPU in each. Memory per socket is the marginal
cost (RSS delta / sockets opened after the warm-up batch); CPU is the median of the windows (the node and uvicorn
ping every socket every 25 s, so a window of 25 s covers one ping round).

The node's sockets are authenticated (`auth` with a JWT): players are few and each holds up to 250 sockets
(`max_sessions_per_player=250` on the benchmark node; registering 19,500 players would cost 19,500 argon2 hashes).

    python -m bench.bench_idle --sockets 19500
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time

from bench.common import (
    BENCH_NODE,
    GENERATOR_CPUS,
    REFERENCES,
    TARGETS,
    CpuMeter,
    Reference,
    add_transport_option,
    kind_of,
    median,
    node_target,
    ratio,
    record,
    register_players,
    rss_bytes,
    start_redis,
    start_valgame,
    stop_node,
    transport_of,
    transports_of,
)
from bench.swarm import Swarm, split


def measure(target: str, args: argparse.Namespace, redis_url: str) -> dict[str, float]:
    node = ref = None
    tokens: list[str] = []
    if target.startswith("valgame"):
        node = start_valgame("idle", transport=transport_of(target))
        port, pid = node.ws_port, node.proc.pid
        players = -(-args.sockets // (BENCH_NODE["max_sessions_per_player"] - 50))  # spread: i % players
        tokens = [p["access_token"] for p in asyncio.run(register_players(node.http, players))]
    else:
        ref = Reference(f"bench.reference_{target}", redis_url if target == "socketio" else None)
        port, pid = ref.port, ref.proc.pid
    workers = -(-args.sockets // args.per_process)
    swarm = Swarm(workers, GENERATOR_CPUS)
    try:
        common = {"kind": kind_of(target), "host": "127.0.0.1", "port": port, "tokens": tokens}
        swarm.send(0, "open", count=args.warm, **common)
        warm = swarm.receive(0)
        time.sleep(2)
        rss0 = rss_bytes(pid)
        rest = args.sockets - warm["opened"]
        started = time.perf_counter()
        # Open at a steady pace over at least one ping interval: how fast a target accepts sockets must not decide
        # how its ping timers bunch up (bunched pings share event-loop wake-ups and cost less per socket).
        opened = swarm.call("open", [{"count": n} for n in split(rest, workers)], **common, timeout=300,
                            spread=args.spread)
        open_seconds = time.perf_counter() - started
        total = warm["opened"] + sum(o["opened"] for o in opened)
        errors = [e for o in opened for e in o.get("errors", [])][:3]
        time.sleep(3)
        rss1 = rss_bytes(pid)
        cores, swarm_cores = [], []
        for _ in range(args.windows):
            meter = CpuMeter([pid])
            gen = CpuMeter(swarm.pids())
            held = swarm.call("hold", seconds=args.window)
            cores.append(meter.cores())
            swarm_cores.append(gen.cores())
        still_open = sum(h["open"] for h in held)
        figures = {"sockets": total, "still_open": still_open, "failed": args.sockets - total,
                   "open_seconds": open_seconds, "rss_mib": rss1 / 2**20,
                   "kib_per_socket": (rss1 - rss0) / max(1, total - warm["opened"]) / 1024,
                   "hold_cores": median(cores), "generator_cores": median(swarm_cores)}
        print(f"{target}: {figures} {errors}", flush=True)
        return figures
    finally:
        swarm.close()
        if node is not None:
            stop_node(node)
        if ref is not None:
            ref.stop()
        gc.collect()
        time.sleep(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=19_500)
    parser.add_argument("--warm", type=int, default=500)
    parser.add_argument("--per-process", type=int, default=5000)
    parser.add_argument("--window", type=float, default=25.0)
    parser.add_argument("--spread", type=float, default=30.0,
                        help="Seconds over which the sockets are opened (at least the 25-s ping interval).")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--targets", default=",".join(TARGETS))
    add_transport_option(parser)
    args = parser.parse_args()
    # The node on each transport asked for, in place of `valgame` (the asgi node keeps that name).
    nodes = [node_target(t) for t in transports_of(args)]
    targets = [n for t in args.targets.split(",") for n in (nodes if t == "valgame" else [t])]
    redis = start_redis("idle")
    try:
        results = {t: measure(t, args, redis.url) for t in targets}
    finally:
        redis.stop()
    for reference in (r for r in REFERENCES if "valgame" in results and r in results):
        results[f"kib_ratio_vs_{reference}"] = ratio(results["valgame"]["kib_per_socket"],
                                                     results[reference]["kib_per_socket"])
    for target in nodes:
        if target != "valgame" and "valgame" in results and target in results:
            results[f"kib_ratio{target.removeprefix('valgame')}_vs_asgi"] = ratio(
                results[target]["kib_per_socket"], results["valgame"]["kib_per_socket"])
    record("idle", {"window": args.window, "windows": args.windows, "results": results})


if __name__ == "__main__":
    main()
