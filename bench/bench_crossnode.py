"""Cross-node delivery through Redis: whispers sent on node A to players whose socket is on node B.

Two nodes share one store and one Redis (the distributed bus); `--pairs` sender players hold a socket on A,
`--pairs` receiver players a socket on B. The generator sends `chat.whisper` at a fixed rate (open loop, `--rates`
events/s for `--duration` s); node A resolves the name, commits the whisper to the receiver's event log (the shared
SQLite store numbers it) and publishes it (batched pipelines) to the node holding the receiver's socket, and node B
hands it to the socket. Latency = arrival on B's socket -
sending on A's (one monotonic clock). At most 1,000 whispers are unanswered at a time: when the servers cannot keep
up, sending waits and the achieved rate (`delivered_per_s`) is what they sustain. Commands of one socket run one
after the other, so `--senders` sockets (200) carry the load. References in the same run, same topology: two bare
echo processes relaying through Redis pub/sub (one PUBLISH per whisper), the same as plain ASGI callables, and two
python-socketio servers with the Redis manager (emit to the receiver's room). All servers and Redis are pinned to
core 0, the generator to core 1.

    python -m bench.bench_crossnode --rates 1000,10000 --duration 5 --runs 3
    python -m bench.bench_crossnode --bus sentinel   # or cluster: the nodes on a Sentinel set or a 3-master cluster
"""

from __future__ import annotations

import argparse
import asyncio
import os

import redis as redis_client

from bench.common import (
    GENERATOR_CPUS,
    REFERENCES,
    SERVER_CPUS,
    WORK,
    CpuMeter,
    Reference,
    add_ratios,
    add_transport_option,
    kind_of,
    median,
    node_target,
    percentile,
    pin,
    record,
    register_players,
    start_redis,
    start_valgame,
    stop_node,
    transport_of,
    transports_of,
)
from bench.swarm import Swarm
from tests.support.redis import ClusterSet, SentinelSet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="1000,10000")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=20, help="Sender players and receiver players.")
    parser.add_argument("--senders", type=int, default=200, help="Sender sockets on A (players reused).")
    parser.add_argument("--bus", choices=("single", "sentinel", "cluster"), default="single",
                        help="The nodes' Redis: one server; a master, a replica and three sentinels; or a cluster of "
                             "three masters (the references always use one server).")
    add_transport_option(parser)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]

    redis = start_redis("crossnode")
    ha = start_bus(args.bus)
    shared = WORK / f"crossnode-{redis.port}.db"
    bus_url = redis.url if ha is None else ha.url
    # Two nodes per transport asked for (the pairs share the storage and the bus, each has its own players).
    node_targets = [node_target(t) for t in transports_of(args)]
    nodes = {target: [start_valgame(f"cross{i}-{target}", bus=bus_url, storage=f"sqlite:///{shared}",
                                    transport=transport_of(target)) for i in range(2)] for target in node_targets}
    references = {r: [Reference(f"bench.reference_{r}", redis.url) for _ in range(2)] for r in REFERENCES}
    servers = {**{target: [(n.ws_port, n.proc.pid) for n in pair] for target, pair in nodes.items()},
               **{r: [(ref.port, ref.proc.pid) for ref in pair] for r, pair in references.items()}}
    names = (*node_targets, *REFERENCES)
    swarms: dict[str, Swarm] = {}
    try:
        keys = [f"r{i}" for i in range(args.pairs)]
        targets: dict[str, list[str]] = dict.fromkeys(REFERENCES, keys)
        tokens: dict[str, tuple[list[str], list[str]]] = {}
        for target, pair in nodes.items():
            players = asyncio.run(register_players(pair[0].http, 2 * args.pairs))
            senders, receivers = players[:args.pairs], players[args.pairs:]
            targets[target] = [p["name"] for p in receivers]
            tokens[target] = ([p["access_token"] for p in senders], [p["access_token"] for p in receivers])
        for target in names:
            (port_a, _), (port_b, _) = servers[target]
            swarm = swarms[target] = Swarm(1, GENERATOR_CPUS)
            tokens_send, tokens_recv = tokens.get(target, (None, None))
            kind = kind_of(target)
            a = swarm.call("open", kind=kind, host="127.0.0.1", port=port_a, count=args.senders,
                           tokens=tokens_send, group="send")[0]
            b = swarm.call("open", kind=kind, host="127.0.0.1", port=port_b, count=args.pairs, tokens=tokens_recv,
                           keys=None if kind == "valgame" else keys, group="recv")[0]
            if a["opened"] != args.senders or b["opened"] != args.pairs:
                raise SystemExit(f"{target}: {a} {b}")
        summary = {}
        for rate in rates:
            runs: dict[str, list[dict[str, float]]] = {t: [] for t in names}
            for _ in range(args.runs):
                for target, swarm in swarms.items():
                    meter = CpuMeter([pid for _, pid in servers[target]])
                    out = swarm.call("whisper", kind=kind_of(target), targets=targets[target], rate=rate,
                                     duration=args.duration)[0]
                    if "error" in out:
                        raise SystemExit(f"{target}: {out}")
                    lat = [x / 1000 for x in out["lat_us"]]
                    figures = {"sent_per_s": out["sent"] / out["send_window"],
                               "delivered_per_s": out["delivered_per_s"], "received": out["received"],
                               "lost": out["sent"] - out["received"], "p50_ms": percentile(lat, 50),
                               "p99_ms": percentile(lat, 99), "max_ms": max(lat) if lat else float("nan"),
                               "servers_cores": meter.seconds() / out["wall"], "capped_s": out["capped_seconds"],
                               "generator_cores": out["cpu"] / out["wall"]}
                    runs[target].append(figures)
                    print(f"rate={rate:g} {target}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()),
                          flush=True)
            med = {t: {k: median(r[k] for r in runs[t]) for k in runs[t][0]} for t in names}
            add_ratios(med, names, "delivered_per_s")
            summary[f"{rate:g}"] = med
        shards = shard_messages(ha) if isinstance(ha, ClusterSet) else None
        if shards is not None:
            print(f"messages published per shard (SPUBLISH calls): {shards}", flush=True)
        record("crossnode", {"duration": args.duration, "runs": args.runs, "pairs": args.pairs, "bus": args.bus,
                             "shards": shards, "results": summary})
    finally:
        for swarm in swarms.values():
            swarm.close()
        for pair in nodes.values():
            for node in pair:
                stop_node(node)
        for pair in references.values():
            for ref in pair:
                ref.stop()
        redis.stop()
        if ha is not None:
            ha.stop()


def start_bus(kind: str) -> SentinelSet | ClusterSet | None:
    """The nodes' Redis when it is not the single server: its processes pinned to the servers' core."""
    workdir = WORK / f"{kind}-{os.getpid()}"
    ha = SentinelSet(workdir).start() if kind == "sentinel" else ClusterSet(workdir).start() if kind == "cluster" \
        else None
    for server in () if ha is None else ha.processes():
        assert server.proc is not None
        pin(server.proc.pid, SERVER_CPUS)
    return ha


def shard_messages(cluster: ClusterSet) -> dict[int, int]:
    """SPUBLISH calls each master has served since it started (port -> calls)."""
    counts = {}
    for server in cluster.servers:
        with redis_client.Redis(port=server.port, socket_timeout=2) as client:
            stats = client.info("commandstats")
        counts[server.port] = int(stats.get("cmdstat_spublish", {}).get("calls", 0))
    return counts


if __name__ == "__main__":
    main()
