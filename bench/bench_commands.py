"""Light commands, closed loop: N clients each send `energy.get`, wait for the reply, send again.

For each client count, the node, the bare echo through Starlette (bench/reference_echo.py), the same echo as a plain
ASGI callable (bench/reference_plain.py: the stack's true ceiling) and python-socketio (bench/reference_socketio.py,
Redis manager) are measured in turn, run after run, so the machine's noise falls on all alike. Each run: `--warmup`
s, then `--duration` s measured (bounded also by `--max-commands`).
Printed per target: commands/s, p50/p95/p99 latency, server CPU (cores), generator CPU per command; then the
medians over runs and the ratios node/echo, node/plain and node/socketio.

    python -m bench.bench_commands --clients 100,1000 --runs 3 [--transports asgi,picows]

`--references ""` measures the nodes alone (as `bench_fanout` does): for a change's A/B, run it from two trees in turn
(docs/PERFORMANCE.md, run 15).
"""

from __future__ import annotations

import argparse
import asyncio

from bench.common import (
    GENERATOR_CPUS,
    CpuMeter,
    add_ratios,
    add_references_option,
    add_transport_option,
    kind_of,
    median,
    percentile,
    record,
    references_of,
    register_players,
    start_targets,
    transports_of,
    tree,
)
from bench.swarm import Swarm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="100,1000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--max-commands", type=int, default=2_000_000)
    add_references_option(parser)
    add_transport_option(parser)
    args = parser.parse_args()
    references = references_of(args)
    counts = [int(c) for c in args.clients.split(",")]

    with start_targets("commands", transports_of(args), references) as targets:
        node, ports, pids, names = targets.node, targets.ports, targets.pids, targets.names
        tokens = [p["access_token"] for p in asyncio.run(register_players(node.http, -(-max(counts) // 200)))]
        summary = {}
        for clients in counts:
            swarms = {t: Swarm(1, GENERATOR_CPUS) for t in names}
            try:
                for target, swarm in swarms.items():
                    opened = swarm.call("open", kind=kind_of(target), host="127.0.0.1", port=ports[target],
                                        count=clients, tokens=tokens)[0]
                    if opened["opened"] != clients:
                        raise SystemExit(f"{target}: opened {opened}")
                runs: dict[str, list[dict[str, float]]] = {t: [] for t in names}
                for run in range(args.runs):
                    for target, swarm in swarms.items():
                        meter = CpuMeter([pids[target]])
                        out = swarm.call("loop", command={"type": "energy.get", "data": {}}, warmup=args.warmup,
                                         duration=args.duration, max_commands=args.max_commands)[0]
                        server_cores, server_cpu = meter.cores(), meter.seconds()
                        lat = [x / 1000 for x in out["lat_us"]]
                        figures = {"cmd_per_s": out["commands"] / out["window"],
                                   "p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95),
                                   "p99_ms": percentile(lat, 99), "errors": out["errors"],
                                   "server_cores": server_cores,
                                   "server_us_per_cmd": server_cpu / max(1, out["total"]) * 1e6,
                                   "generator_cores": out["cpu"] / out["window"],
                                   "generator_us_per_cmd": out["cpu"] / max(1, out["commands"]) * 1e6}
                        runs[target].append(figures)
                        print(f"clients={clients} run={run} {target}: " +
                              ", ".join(f"{k} {v:.2f}" for k, v in figures.items()), flush=True)
                med = {t: {k: median(r[k] for r in runs[t]) for k in runs[t][0]} for t in names}
                add_ratios(med, names, "cmd_per_s")
                summary[str(clients)] = med
            finally:
                for swarm in swarms.values():
                    swarm.close()
        record("commands", {"runs": args.runs, "duration": args.duration, "references": references, "tree": tree(),
                            "results": summary})


if __name__ == "__main__":
    main()
