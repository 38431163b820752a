"""How the masters of a Redis Cluster share the bus's load when players chat and trade (issue 15).

A cluster of three masters (pinned to the server core, like the nodes) carries the bus of two nodes on one shared
SQLite store. `--players` players each hold two sockets: half of them on node A, half on node B. At the same time,
for `--duration` s:

- whispers: the players on A whisper to the players on B (open loop, `--whispers` per second);
- trades: every player lists its potions and loops buying another player's listing and listing what it got
  (`market.list` / `market.buy`, across the two nodes; each sale notifies the seller, and every listing and sale
  goes to the market feed, a topic).

A player's events ride the player's own sharded channel (`vg:player:{id}`), on the master that owns its slot;
topics (the market feed) ride one channel on one master. The figures, per master, counted by Redis itself over the
traffic only (`CONFIG RESETSTAT` before it): `SPUBLISH` calls, all commands, CPU seconds, the slots it owns, and
which of the two node-wide channels it holds (the topics', and control: every commit tells all nodes the versions
it wrote, so their state caches stay current).

    python -m bench.bench_shards --players 1000 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

import redis as redis_client

from bench.common import (
    GENERATOR_CPUS,
    SERVER_CPUS,
    WORK,
    pin,
    record,
    register_players,
    start_valgame,
    stop_node,
)
from bench.swarm import Swarm
from server.bus.redis.keys import BROADCAST, CONTROL
from tests.support.redis import ClusterSet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--whispers", type=float, default=500.0, help="Whispers per second, A to B.")
    parser.add_argument("--max-trades", type=int, default=1_000_000)
    args = parser.parse_args()
    half = args.players // 2

    cluster = ClusterSet(WORK / f"shards-{os.getpid()}").start()
    for server in cluster.processes():
        assert server.proc is not None
        pin(server.proc.pid, SERVER_CPUS)
    shared = WORK / f"shards-{os.getpid()}.db"
    nodes = [start_valgame(f"shards{i}", bus=cluster.url, storage=f"sqlite:///{shared}") for i in range(2)]
    swarm = Swarm(2, GENERATOR_CPUS)
    try:
        players = asyncio.run(register_players(nodes[0].http, 2 * half))
        on_a, on_b = players[:half], players[half:]
        tokens_a, tokens_b = [p["access_token"] for p in on_a], [p["access_token"] for p in on_b]
        opened = [
            swarm.call("open", per_worker=[{"port": nodes[0].ws_port, "tokens": tokens_a, "group": "send"},
                                           {"port": nodes[0].ws_port, "tokens": tokens_a, "group": "main"}],
                       kind="valgame", host="127.0.0.1", count=half),
            swarm.call("open", per_worker=[{"port": nodes[1].ws_port, "tokens": tokens_b, "group": "recv"},
                                           {"port": nodes[1].ws_port, "tokens": tokens_b, "group": "main"}],
                       kind="valgame", host="127.0.0.1", count=half),
        ]
        if any(out["opened"] != half for step in opened for out in step):
            raise SystemExit(f"sockets not opened: {opened}")

        for server in cluster.masters():
            with redis_client.Redis(port=server.port, socket_timeout=2) as client:
                client.config_resetstat()
        before = {server.port: cpu_seconds(server.port) for server in cluster.masters()}
        swarm.send(0, "whisper", kind="valgame", targets=[p["name"] for p in on_b], rate=args.whispers,
                   duration=args.duration)
        swarm.send(1, "trade", duration=args.duration, max_trades=args.max_trades)
        whispered, traded = swarm.receive(0), swarm.receive(1)
        if "error" in whispered:
            raise SystemExit(f"whispers: {whispered}")

        shards: dict[str, dict[str, Any]] = {}
        slots = slots_by_port(cluster.masters()[0].port)
        for server in cluster.masters():
            with redis_client.Redis(port=server.port, socket_timeout=2) as client:
                stats = client.info("commandstats")
            shards[str(server.port)] = {
                "spublish": int(stats.get("cmdstat_spublish", {}).get("calls", 0)),
                "commands": sum(int(s.get("calls", 0)) for s in stats.values()),
                "cpu_s": round(cpu_seconds(server.port) - before[server.port], 2),
                "slots": slots.get(server.port, 0),
                "holds": [name for name, channel in (("topics", BROADCAST), ("control", CONTROL))
                          if cluster.owner(channel) is server]}
        total = {k: sum(s[k] for s in shards.values()) or 1 for k in ("spublish", "commands", "cpu_s")}
        for port, figures in shards.items():
            share = ", ".join(f"{k} {100 * figures[k] / total[k]:.0f} %" for k in ("spublish", "commands", "cpu_s"))
            print(f"master {port}: {figures} ({share})", flush=True)
        print(f"whispers sent {whispered['sent']}, received {whispered['received']}; trades {traded['trades']}, "
              f"listings {traded['lists']}, refusals {traded['refusals']}", flush=True)
        record("shards", {"players": 2 * half, "duration": args.duration, "whispers_per_s": args.whispers,
                          "results": {"shards": shards, "whispers_sent": whispered["sent"],
                                      "whispers_received": whispered["received"], "trades": traded["trades"],
                                      "listings": traded["lists"]}})
    finally:
        swarm.close()
        for node in nodes:
            stop_node(node)
        cluster.stop()


def slots_by_port(port: int) -> dict[int, int]:
    """How many slots each master serves, as `CLUSTER SLOTS` on the node at `port` tells."""
    with redis_client.Redis(port=port, socket_timeout=2) as client:
        ranges = client.execute_command("CLUSTER", "SLOTS")
    counts: dict[int, int] = {}
    for start, end, master, *_ in ranges:
        counts[int(master[1])] = counts.get(int(master[1]), 0) + int(end) - int(start) + 1
    return counts


def cpu_seconds(port: int) -> float:
    with redis_client.Redis(port=port, socket_timeout=2) as client:
        cpu = client.info("cpu")
    return float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"])


if __name__ == "__main__":
    main()
