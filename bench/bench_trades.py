"""Trades per second on the embedded store (SQLite, WAL, synchronous=NORMAL), then the economy audit.

`--players` players (one socket each) list their potions, then each loops: buy another player's listing
(`market.buy`: one atomic commit of both players' states, the listing, the ledger lines), then list the potion
it received. The node runs with a large starting balance (`start_val`) so nobody runs out of VAL. After
`--duration` s the node is stopped and `valgame admin audit` must pass on its database (balances = ledger,
every item owned once).

What idempotency keys cost: with `--idem`, every `market.buy` and `market.list` carries a unique `idem` key, so
the node first claims it on the bus (then releases it) and commits an idempotency record with the trade. `--bus
redis` runs the node on a real redis-server (pinned to the server core; its CPU is reported apart) instead of the
in-process bus, where a claim is two more bus commands (SET NX EX, then DEL, pipelined with the node's other bus
traffic) instead of a dict operation.

References in the same run: the bare echo's request/reply rate with the same number of clients (the transport
ceiling) and raw SQLite doing a trade's writes (two player rows of the node's size, a listing, two ledger lines)
in one transaction per trade, in a loop (the storage ceiling). python-socketio has no storage to compare.

    python -m bench.bench_trades --players 40 --duration 10 --runs 3
    python -m bench.bench_trades --players 40 --duration 10 --runs 3 --bus redis --idem
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from bench.common import (
    GENERATOR_CPUS,
    REPO,
    TRANSPORTS,
    CpuMeter,
    Reference,
    median,
    percentile,
    ratio,
    record,
    register_players,
    start_redis,
    start_valgame,
    stop_node,
)
from bench.swarm import Swarm


def sqlite_ceiling(seconds: float, state_bytes: int) -> float:
    """Transactions per second of a trade's writes on raw SQLite (WAL, synchronous=NORMAL), one thread."""
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "t.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE players (id TEXT PRIMARY KEY, version INTEGER, state TEXT)")
        db.execute("CREATE TABLE listings (id TEXT PRIMARY KEY, status TEXT, doc TEXT)")
        db.execute("CREATE TABLE ledger (player_id TEXT, currency TEXT, delta INTEGER, reason TEXT, ref TEXT, at REAL)")
        state = orjson.dumps({"blob": "x" * state_bytes}).decode()
        db.executemany("INSERT INTO players VALUES (?, 1, ?)", [(f"p{i}", state) for i in range(100)])
        db.executemany("INSERT INTO listings VALUES (?, 'active', ?)", [(f"L{i}", "{}") for i in range(100_000)])
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            a, b = f"p{n % 100}", f"p{(n + 1) % 100}"
            db.execute("BEGIN IMMEDIATE")
            db.execute("SELECT state FROM players WHERE id=?", (a,)).fetchone()
            db.execute("SELECT state FROM players WHERE id=?", (b,)).fetchone()
            db.execute("UPDATE listings SET status='sold', doc=? WHERE id=? AND status='active'", ("{}", f"L{n}"))
            for p in (a, b):
                db.execute("UPDATE players SET version=version+1, state=? WHERE id=?", (state, p))
            db.executemany("INSERT INTO ledger VALUES (?, 'VAL', ?, 'trade', ?, ?)",
                           [(a, -5, f"L{n}", time.time()), (b, 4, f"L{n}", time.time())])
            db.execute("COMMIT")
            n += 1
        rate = n / (time.perf_counter() - start)
        db.close()
        return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--players", type=int, default=40)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-trades", type=int, default=200_000)
    parser.add_argument("--idem", action="store_true", help="Every market.buy and market.list carries an idem key.")
    parser.add_argument("--transport", choices=TRANSPORTS, default="asgi",
                        help="The node's socket transport (run the series once per transport, interleaved).")
    parser.add_argument("--bus", choices=("memory", "redis"), default="memory",
                        help="The node's bus: in-process, or a real redis-server started for the run.")
    args = parser.parse_args()
    print(f"mode: idem {args.idem}, bus {args.bus}", flush=True)

    redis = start_redis("trades") if args.bus == "redis" else None
    bus = {"bus": redis.url} if redis is not None else {}
    echo = None
    runs: list[dict[str, float]] = []
    audits: list[dict[str, object]] = []
    try:
        echo = Reference("bench.reference_echo")
        for run in range(args.runs):
            node = start_valgame("trades", game={"start_val": 1_000_000}, transport=args.transport, **bus)
            try:
                tokens = [p["access_token"] for p in asyncio.run(register_players(node.http, args.players))]
                with Swarm(1, GENERATOR_CPUS) as swarm:
                    opened = swarm.call("open", kind="valgame", host="127.0.0.1", port=node.ws_port,
                                        count=args.players, tokens=tokens)[0]
                    assert opened["opened"] == args.players, opened
                    meter = CpuMeter([node.proc.pid])
                    redis_meter = CpuMeter([redis.proc.pid]) if redis is not None and redis.proc else None
                    out = swarm.call("trade", duration=args.duration, max_trades=args.max_trades,
                                     keyed=args.idem)[0]
                    server_cores = meter.cores()
                    redis_cores = redis_meter.cores() if redis_meter is not None else 0.0
                    if "error" in out:
                        raise SystemExit(f"trade: {out}")
                with Swarm(1, GENERATOR_CPUS) as swarm:
                    swarm.call("open", kind="echo", host="127.0.0.1", port=echo.port, count=args.players)
                    ceiling = swarm.call("loop", command={"type": "market.buy", "data": {"listing": "L_0"}},
                                         warmup=1, duration=min(5.0, args.duration), max_commands=10**7)[0]
                db_path = node.data_dir / "valgame.db"
                state_bytes = 2000
                try:
                    with sqlite3.connect(db_path) as db:
                        state_bytes = int(db.execute("SELECT avg(length(state)) FROM players").fetchone()[0])
                except sqlite3.Error:
                    pass
            finally:
                stop_node(node)
            audit = subprocess.run([sys.executable, "-m", "server", "admin", "audit", "--storage",
                                    f"sqlite:///{db_path}"], cwd=REPO, capture_output=True, text=True, timeout=300)
            audits.append({"exit": audit.returncode, "output": (audit.stdout + audit.stderr).strip()[-400:]})
            lat = [x / 1000 for x in out["lat_us"]]
            raw = sqlite_ceiling(3.0, state_bytes)
            figures = {"trades_per_s": out["trades"] / out["wall"], "lists_per_s": out["lists"] / out["wall"],
                       "buy_p50_ms": percentile(lat, 50), "buy_p99_ms": percentile(lat, 99),
                       "server_cores": server_cores, "redis_cores": redis_cores,
                       "generator_cores": out["cpu"] / out["wall"], "idem_keys": out["idem_keys"],
                       "echo_cmd_per_s": ceiling["commands"] / ceiling["window"], "sqlite_tx_per_s": raw,
                       "audit_exit": audit.returncode}
            runs.append(figures)
            print(f"run {run} (idem {args.idem}, bus {args.bus}): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()), out["refusals"], audits[-1], flush=True)
    finally:
        if echo is not None:
            echo.stop()
        if redis is not None:
            redis.stop()
    med = {k: median(r[k] for r in runs) for k in runs[0]}
    # A trade is two commands (buy, then list the item again); compare commands with the echo's.
    med["ratio_commands_vs_echo"] = ratio(med["trades_per_s"] + med["lists_per_s"], med["echo_cmd_per_s"])
    med["ratio_trades_vs_sqlite"] = ratio(med["trades_per_s"], med["sqlite_tx_per_s"])
    record("trades", {"players": args.players, "duration": args.duration, "runs": args.runs, "idem": args.idem,
                      "bus": args.bus, "transport": args.transport, "results": med,
                      "audits": audits, "audit_passed": all(a["exit"] == 0 for a in audits)})


if __name__ == "__main__":
    main()
