"""An asyncio WebSocket swarm spread over several client processes, for what Locust cannot hold on one machine.

The open-files hard limit is 20,000 per process here, so ≈ 19,500 sockets are spread over several worker processes
(5,000 each by default), all pinned to the generator's core. Each worker runs uvloop and the hand-rolled client of
bench/wsclient.py, and speaks one of three dialects (`valgame`, `echo`, `socketio`: bench/swarm_peer.py).

This module is the controller side (`Swarm`) and the command line. Workers (bench/swarm_worker.py) are driven over
stdin/stdout with one JSON object per line (see `Worker.op_*`); every operation is bounded in time and count and
reports the worker's own CPU time, so a benchmark can show the generator was not the limit.

As a command:

    python -m bench.swarm --kind valgame --url http://127.0.0.1:8000 --sockets 19500 --hold 60

registers players (`--per-player` sockets each, 200 by default: start the node with `--max-sessions-per-player`
at least that, or pass `--per-player 3` against a node with the default), opens and authenticates the sockets,
holds them idle, and closes them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]


class Swarm:
    """Worker processes, pinned to the generator's cores; `call` sends one operation to each worker."""

    def __init__(self, workers: int, cpus: set[int] | None = None) -> None:
        self.cpus = cpus
        self.procs = [subprocess.Popen([sys.executable, "-m", "bench.swarm_worker"], cwd=REPO,
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
    if args.worker:  # the worker's former entry point
        from bench.swarm_worker import main as worker

        worker()
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
