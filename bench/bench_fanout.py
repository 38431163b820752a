"""A market event fanned out to N subscribers: time to the last delivery and deliveries per second.

N sockets subscribe to the market topic (`sub.add market`); one more socket publishes: on the node a `market.list`
of a potion (every subscriber receives `market.listed`; the potion is then taken back with `market.cancel`, whose
`market.cancelled` also fans out, between rounds), on the references (Starlette's echo, the plain-ASGI echo,
python-socketio) a `pub` command whose handler sends one event to every subscriber. Latency of a delivery = arrival
at the subscriber - the moment the publisher sent its
command (one monotonic clock for all processes). Per event: time to the last delivery; per delivery: p50/p99;
deliveries/s = N / time to the last delivery. Median over `--rounds` events per target, targets interleaved; the
node's ratios against each reference (`ratio_vs_echo`, `ratio_vs_plain`, `ratio_vs_socketio`).

Sustained fan-out, in the same rounds (issue 17's way of measuring a broadcast server: several broadcasts in
flight): `--in-flight` publisher sockets send `--stream-events` events in all, each socket its next as soon as its
last is answered; the node's are `chat.send` on `chat:global` (its subscribers follow that topic too; the text is
padded so a frame weighs what a listing does), the references' `pub`. Figures: deliveries/s = deliveries / (last
arrival - first send), and the server's CPU per delivery over the stream.

    python -m bench.bench_fanout --subscribers 1000,5000,10000 --rounds 5 [--in-flight 4 --stream-events 40]
"""

from __future__ import annotations

import argparse
import asyncio
import time

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
from bench.swarm import Swarm, split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", default="1000,5000,10000")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-process", type=int, default=5000)
    parser.add_argument("--in-flight", type=int, default=4, help="Publishers of the sustained fan-out (0: none).")
    parser.add_argument("--stream-events", type=int, default=40, help="Events of each round's sustained fan-out.")
    add_references_option(parser)
    add_transport_option(parser)
    args = parser.parse_args()
    sizes = [int(s) for s in args.subscribers.split(",")]
    references = references_of(args)

    with start_targets("fanout", transports_of(args), references) as targets:
        node, ports, pids, names = targets.node, targets.ports, targets.pids, targets.names
        players = asyncio.run(register_players(node.http, -(-max(sizes) // 200) + 1))
        publisher, tokens = players[0]["access_token"], [p["access_token"] for p in players[1:]]
        summary = {}
        for size in sizes:
            workers = -(-size // args.per_process)
            gap = 0.5 + size / 5000
            swarms = {t: Swarm(workers + 1, GENERATOR_CPUS) for t in names}  # the last worker publishes
            try:
                for target, swarm in swarms.items():
                    common = {"kind": kind_of(target), "host": "127.0.0.1", "port": ports[target]}
                    for i, n in enumerate(split(size, workers)):
                        swarm.send(i, "open", count=n, tokens=tokens, subscribe=True, **common)
                    swarm.send(workers, "open", count=max(1, args.in_flight), tokens=[publisher], group="pub",
                               **common)
                    opened = [swarm.receive(i) for i in range(workers + 1)]
                    if sum(o["opened"] for o in opened) != size + max(1, args.in_flight):
                        raise SystemExit(f"{target}: {opened}")
                rounds: dict[str, list[dict[str, float]]] = {t: [] for t in names}
                for _ in range(args.rounds):
                    for target, swarm in swarms.items():
                        meter = CpuMeter([pids[target]])
                        gen = CpuMeter(swarm.pids())
                        swarm.send(workers, "publish", kind=kind_of(target), rounds=1, gap=gap)
                        published = swarm.receive(workers)
                        if "error" in published:
                            raise SystemExit(f"{target}: {published}")
                        server_cpu, gen_cpu = meter.seconds(), gen.seconds()
                        key, t0 = published["sent"][0]
                        arrivals = [t for a in swarm.call("arrivals")[:workers] for t in a["arrivals"].get(key, [])]
                        lat = [(t - t0) * 1000 for t in arrivals]
                        last = max(lat) if lat else float("nan")
                        figures = {"delivered": len(lat), "last_ms": last, "p50_ms": percentile(lat, 50),
                                   "p99_ms": percentile(lat, 99), "deliveries_per_s": len(lat) / last * 1000,
                                   "server_cpu_ms": server_cpu * 1000, "generator_cpu_ms": gen_cpu * 1000}
                        if args.in_flight:
                            figures.update(stream(swarm, workers, target, pids[target], args.stream_events, size))
                        rounds[target].append(figures)
                        print(f"subscribers={size} {target}: " + ", ".join(f"{k} {v:.1f}" for k, v in figures.items()),
                              flush=True)
                med = {t: {k: median(r[k] for r in rounds[t]) for k in rounds[t][0]} for t in names}
                add_ratios(med, names, "deliveries_per_s")
                if args.in_flight:
                    add_ratios(med, names, "stream_per_s", label="stream_ratio")
                summary[str(size)] = med
            finally:
                for swarm in swarms.values():
                    swarm.close()
        record("fanout", {"rounds": args.rounds, "references": references, "tree": tree(), "results": summary})


def stream(swarm: Swarm, workers: int, target: str, pid: int, events: int, size: int) -> dict[str, float]:
    """One sustained fan-out on `target` to `size` subscribers: deliveries/s from the first send to the last
    arrival, and the server's CPU per delivery (until every delivery arrived, or 30 s)."""
    meter = CpuMeter([pid])
    swarm.send(workers, "stream", kind=kind_of(target), events=events)
    streamed = swarm.receive(workers)
    if "error" in streamed:
        raise SystemExit(f"{target}: {streamed}")
    sent = streamed["sent"]

    deadline = time.monotonic() + 30
    while (sum(a["count"] for a in swarm.call("arrivals", clear=False, count_only=True)[:workers])
           < len(sent) * size and time.monotonic() < deadline):
        time.sleep(0.05)  # polling the subscribers' counts, bounded by the deadline
    server_cpu = meter.seconds()
    arrivals = [a["arrivals"] for a in swarm.call("arrivals")[:workers]]
    arrived = [t for a in arrivals for key, _ in sent for t in a.get(key, [])]
    if not arrived:
        raise SystemExit(f"{target}: nothing of the stream arrived")
    first = min(t for _, t in sent)
    return {"stream_delivered": len(arrived), "stream_per_s": len(arrived) / (max(arrived) - first),
            "stream_server_us_per_delivery": server_cpu * 1e6 / len(arrived)}


if __name__ == "__main__":
    main()
