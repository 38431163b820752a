"""Shared pieces of the benchmarks: servers under test (pinned to core 0), process CPU and memory from /proc,
players in bulk, statistics and the results file."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import ipaddress
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.client import send_when_served
from tests.support.redis import RedisProcess
from tests.support.servers import REPO, ServerProcess, free_port, wait_until
from valgame_client import http as sdk_http

SERVER_CPUS = {0}
GENERATOR_CPUS = {1}
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
WORK = Path(os.environ.get("VALGAME_BENCH_DIR", "/tmp/valgame-bench"))
RESULTS = WORK / "results.jsonl"
PASSWORD = "bench-password-1"

# Settings of the node under benchmark, beside the defaults (docs/PERFORMANCE.md explains each):
BENCH_NODE = {
    "rate_per_second": 1_000_000,  # a closed-loop client sends far more than a player's 30/s
    "rate_burst": 1_000_000,
    "rate_abuse_limit": 1_000_000,
    "max_sessions_per_player": 250,  # players are few (argon2 costs ~50 ms each); sockets per player are many
    "chat_messages_per_10s": 10_000_000,  # whispers as a per-player event stream
    "login_attempts": 1_000_000,
}


def check_loopback(host: str) -> None:
    """Benchmarks only ever target this machine."""
    try:
        address = ipaddress.ip_address(socket.gethostbyname(host))
    except OSError as exc:
        raise SystemExit(f"cannot resolve {host}: {exc}") from None
    if not address.is_loopback:
        raise SystemExit(f"{host} is not a loopback address: benchmarks only target 127.0.0.0/8")


# --- processes -------------------------------------------------------------------------------------------------
def pin(pid: int, cpus: set[int]) -> None:
    """Pin every thread of a process (threads started later inherit from the main thread)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:
            pass


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def child_pids(pid: int) -> list[int]:
    """The living children of a process (none once it is gone)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(child) for child in f.read().split()]
    except FileNotFoundError:
        return []


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


class CpuMeter:
    """CPU used by some processes between `start` and `stop`, in cores (CPU seconds per wall second)."""

    def __init__(self, pids: Iterable[int]) -> None:
        self.pids = list(pids)
        self.t0 = time.perf_counter()
        self.c0 = sum(cpu_seconds(p) for p in self.pids)

    def cores(self) -> float:
        return (sum(cpu_seconds(p) for p in self.pids) - self.c0) / (time.perf_counter() - self.t0)

    def seconds(self) -> float:
        return sum(cpu_seconds(p) for p in self.pids) - self.c0


def start_valgame(name: str, **settings: Any) -> ServerProcess:
    data_dir = WORK / f"{name}-{os.getpid()}-{time.time_ns()}"
    node = ServerProcess(data_dir, **{**BENCH_NODE, **settings}).start(timeout=60)
    assert node.proc is not None
    pin(node.proc.pid, SERVER_CPUS)
    return node


class Reference:
    """bench/reference_echo.py, reference_plain.py or reference_socketio.py as a process pinned to the server core."""

    def __init__(self, module: str, redis_url: str | None = None) -> None:
        self.port = free_port()
        args = [sys.executable, "-m", module, "--port", str(self.port)]
        if redis_url:
            args += ["--redis", redis_url]
        self.log_path = WORK / f"{module.rsplit('.', 1)[-1]}-{self.port}.log"
        WORK.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(args, cwd=REPO, stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT,
                                     preexec_fn=lambda: os.sched_setaffinity(0, SERVER_CPUS))
        wait_until(self._up, 30, f"{module} on {self.port}")

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"reference exited: {self.log_path.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_redis(name: str) -> RedisProcess:
    redis = RedisProcess(WORK / f"redis-{name}-{os.getpid()}").start()
    assert redis.proc is not None
    pin(redis.proc.pid, SERVER_CPUS)
    return redis


def stop_node(node: ServerProcess) -> None:
    try:
        node.terminate(timeout=20)
    except Exception:
        node.kill()


TARGETS = ("valgame", "echo", "plain", "socketio")
REFERENCES = ("echo", "plain", "socketio")  # Starlette's echo, the plain-ASGI echo, python-socketio
TRANSPORTS = ("asgi", "picows")  # the node's socket transports (server/transport/)


def add_transport_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transports", default="asgi",
                        help="Socket transports of the node, comma-separated (asgi,picows): one node per transport, "
                             "measured in the same series as the references (targets valgame, valgame_picows).")


def add_references_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--references", default=",".join(REFERENCES),
                        help="References measured beside the nodes, comma-separated (echo,plain,socketio; empty: "
                             "none, the nodes alone: for a change's A/B, run it from two trees in turn).")


def references_of(args: argparse.Namespace) -> list[str]:
    return _chosen(args.references, REFERENCES, "--references", allow_none=True)


def transports_of(args: argparse.Namespace) -> list[str]:
    return _chosen(args.transports, TRANSPORTS, "--transports", allow_none=False)


def _chosen(value: str, allowed: tuple[str, ...], option: str, *, allow_none: bool) -> list[str]:
    """A comma-separated option's names, each one of `allowed` (and at least one unless `allow_none`)."""
    chosen = [name.strip() for name in value.split(",") if name.strip()]
    if set(chosen) - set(allowed) or not (chosen or allow_none):
        raise SystemExit(f"{option}: choose among {', '.join(allowed)}")
    return chosen


def node_target(transport: str) -> str:
    """The target name of a node on `transport`: `valgame` (asgi, the reference series' name) or `valgame_<t>`."""
    return "valgame" if transport == "asgi" else f"valgame_{transport}"


def transport_of(target: str) -> str:
    """The transport of a node target (`node_target`'s inverse)."""
    return "asgi" if target == "valgame" else target.removeprefix("valgame_")


def kind_of(target: str) -> str:
    """The swarm's client kind for a target: every node target speaks the node's protocol, both echo references the
    echo dialect."""
    return "valgame" if target.startswith("valgame") else "echo" if target == "plain" else target


def add_ratios(med: dict[str, Any], names: Iterable[str], key: str, label: str = "ratio") -> None:
    """Each node target's `key` against the references it ran beside (`ratio_vs_echo`, `ratio_vs_plain`,
    `ratio_picows_vs_socketio`, ...) and a native transport's against the asgi node (`ratio_picows_vs_asgi`);
    `label` names a second figure's ratios."""
    for target in (t for t in names if t.startswith("valgame")):
        suffix = target.removeprefix("valgame")
        for reference in (r for r in REFERENCES if r in med):
            med[f"{label}{suffix}_vs_{reference}"] = ratio(med[target][key], med[reference][key])
        if target != "valgame" and "valgame" in med:
            med[f"{label}{suffix}_vs_asgi"] = ratio(med[target][key], med["valgame"][key])


@dataclass
class Targets:
    """The nodes (one per transport) and the three references, side by side on the server core; python-socketio has
    its Redis. The nodes share one SQLite file, so the players registered on `node` exist on all of them."""

    node: ServerProcess
    ports: dict[str, int]  # by target name (`names`): where its sockets are
    pids: dict[str, int]
    names: tuple[str, ...]  # node targets first, then the references (echo, plain and socketio unless fewer asked)


@contextmanager
def start_targets(name: str, transports: Iterable[str] = ("asgi",),
                  references: Iterable[str] = REFERENCES) -> Iterator[Targets]:
    """Start Redis, the nodes and the references for one benchmark; stop them all afterwards."""
    redis = start_redis(name)
    references = tuple(references)
    started: list[Reference] = []
    nodes: dict[str, ServerProcess] = {}
    shared = WORK / f"{name}-{os.getpid()}-{time.time_ns()}.db"
    try:
        for transport in transports:
            nodes[node_target(transport)] = start_valgame(f"{name}-{transport}", transport=transport,
                                                          storage=f"sqlite:///{shared}")
        for reference in references:
            started.append(Reference(f"bench.reference_{reference}", redis.url if reference == "socketio" else None))
        ports = {target: node.ws_port for target, node in nodes.items()}
        pids = {target: node.proc.pid for target, node in nodes.items() if node.proc is not None}
        for reference, ref in zip(references, started, strict=True):
            ports[reference], pids[reference] = ref.port, ref.proc.pid
        yield Targets(next(iter(nodes.values())), ports, pids, (*nodes, *references))
    finally:
        for node in nodes.values():
            stop_node(node)
        for ref in started:
            ref.stop()
        redis.stop()


# --- players ---------------------------------------------------------------------------------------------------
async def register_players(http: str, count: int, prefix: str = "b", concurrency: int = 8) -> list[dict[str, Any]]:
    """Register `count` new players, each signed in by its registration (argon2 on the server: ~50 ms each, so few
    and concurrent)."""
    check_loopback(httpx.URL(http).host)
    gate = asyncio.Semaphore(concurrency)
    run = f"{prefix}{os.getpid() % 10000}{time.time_ns() % 10**6}"

    async def post(client: httpx.AsyncClient, request: sdk_http.HttpRequest) -> httpx.Response:
        """Sent, coming back after `Retry-After` while the node's password hashing is saturated (503, or 429)."""
        r = await send_when_served(client, request, tries=20)
        r.raise_for_status()
        return r

    async def one(client: httpx.AsyncClient, i: int) -> dict[str, Any]:
        name = f"{run}_{i}"[:24]
        async with gate:
            r = await post(client, sdk_http.register_request(name, f"{name}@bench.test", PASSWORD))
            return {**r.json(), "name": name}

    async with httpx.AsyncClient(base_url=http, timeout=120) as client:
        return list(await asyncio.gather(*(one(client, i) for i in range(count))))


# --- statistics and reporting ----------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(values: Iterable[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def spread(values: Iterable[float]) -> dict[str, float]:
    """The median and the range of one figure over a series' runs or rounds (NaN, as `median`, when none)."""
    values = [v for v in values if v == v]
    nan = float("nan")
    return {"median": median(values), "min": min(values, default=nan), "max": max(values, default=nan)}


def tree() -> dict[str, Any]:
    """The git tree measured: HEAD's commit, and whether tracked files differed from it (then the commit alone does
    not name the code that ran)."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30)
        return done.stdout.strip() if done.returncode == 0 else ""

    return {"commit": git("rev-parse", "--short", "HEAD") or None,
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def machine() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "nproc": os.cpu_count(),
            "cpu": model, "memory_gib": round(mem_kb / 1024 / 1024, 1), "python": platform.python_version(),
            "loadavg": os.getloadavg()}


def record(bench: str, figures: dict[str, Any]) -> None:
    """Print the figures and append them to the results file."""
    WORK.mkdir(parents=True, exist_ok=True)
    entry = {"bench": bench, **machine(), **figures}
    with RESULTS.open("a") as f:
        f.write(json.dumps(entry) + "\n")
    print(json.dumps(entry, indent=2))
