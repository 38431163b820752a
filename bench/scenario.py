"""Run one of the seed's Locust scenarios against a deployment this script starts, and judge it against the KPIs.

    python -m bench.scenario {normal,peak,stress} [--cluster] [--scale F] [--out DIR]

- normal: 100 players for 5 min; peak: 1,000 players, 2 min ramp then 10 min hold; stress: 2,000 players for 15 min
  (the LoadTestShape classes in locustfiles/; `--scale 0.05` multiplies their players and durations for a try-out).
- Deployment: one node on embedded defaults, or with `--cluster` two nodes on redis-server (bus) and secantusd (the
  MongoDB-wire store) behind HAProxy with deploy/haproxy/haproxy.cfg (tests/support/deployment.py), all on loopback.
- Output in DIR: Locust's CSVs (`--csv-full-history`) and HTML report, cpu.csv (each process's CPU, in cores, every
  second: nodes, redis, secantusd, haproxy, locust, and the whole machine), PNG charts, summary.json, the processes'
  logs; the verdict is printed (exit code 0 when every KPI is met, 1 when one is missed, 2 when the run did not
  finish by itself or gave no results, 130 when interrupted).

Everything it starts is stopped when it ends, also on Ctrl-C or SIGTERM; the load ends with the scenario's shape,
and a time bound stops Locust should it not. The stop itself is bounded (`STOP_SECONDS`: each process gets its own
bound, then is killed) and each of its stages is printed with its time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from bench.common import CLK_TCK, WORK, check_loopback, child_pids, cpu_seconds, machine
from bench.scenario_report import failure_kinds, read_stats, render_charts, verdict
from tests.support.deployment import STOP_SECONDS as DEPLOYMENT_STOP_SECONDS
from tests.support.deployment import deployment
from tests.support.servers import REPO, stop_process

LOCUST_STOP_SECONDS = 30  # Locust's own stop (users finish their task, reports written) before it is killed
# The longest a run's stop (Locust's, then the deployment's) can take once it ends or is interrupted: each process
# gets its own bound and is then killed.
STOP_SECONDS = LOCUST_STOP_SECONDS + DEPLOYMENT_STOP_SECONDS
TIME_BOUND_MARGIN = 120.0  # beyond the shape's duration: start-up, the ramp's first logins, the stop


@dataclass(frozen=True)
class Scenario:
    name: str
    shape: str  # what the LoadTestShape does (it owns the numbers; `seconds` only bounds the run from outside)
    seconds: float


SCENARIOS = {
    "normal": Scenario("normal", "100 players for 5 min", 5 * 60),
    "peak": Scenario("peak", "1,000 players: 2 min ramp, 10 min hold", 12 * 60),
    "stress": Scenario("stress", "2,000 players for 15 min", 15 * 60),
}


class CpuSampler(threading.Thread):
    """Every `interval`, the CPU each watched process used since the last sample (cores), and the machine's."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="cpu-sampler", daemon=True)
        self.interval = interval
        self.start_time = time.time()
        self.rows: list[tuple[float, str, float]] = []  # (seconds since start_time, process, cores)
        self._pids: dict[str, int] = {}
        self._trees: set[str] = set()  # names whose children count too (Locust's forked workers)
        self._lock = threading.Lock()
        self._done = threading.Event()

    def start(self) -> None:
        self.start_time = time.time()  # second 0 of the samples (and of the charts)
        super().start()

    def watch(self, name: str, pid: int, *, with_children: bool = False) -> None:
        with self._lock:
            self._pids[name] = pid
            if with_children:
                self._trees.add(name)

    def _read(self) -> dict[tuple[str, int], float]:
        """CPU seconds so far of each watched process (and each child of those watched with theirs), by (name, pid):
        a name's share of an interval is the sum over the pids seen at both ends, so a child that exits in between
        neither subtracts its past nor adds it twice."""
        with self._lock:
            pids, trees = dict(self._pids), set(self._trees)
        seconds: dict[tuple[str, int], float] = {}
        for name, pid in pids.items():
            for one in [pid, *(child_pids(pid) if name in trees else [])]:
                try:
                    seconds[name, one] = cpu_seconds(one)
                except (FileNotFoundError, ProcessLookupError):
                    pass  # exited: no more samples
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
        seconds["machine", 0] = (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK  # all but idle and iowait
        return seconds

    def run(self) -> None:
        before, at = self._read(), time.monotonic()
        while not self._done.wait(self.interval):
            now, now_at = self._read(), time.monotonic()
            elapsed = now_at - at
            offset = time.time() - self.start_time
            used: dict[str, float] = {}
            for key, total in now.items():
                if key in before:
                    used[key[0]] = used.get(key[0], 0.0) + total - before[key]
            self.rows.extend((offset, name, seconds / elapsed) for name, seconds in used.items())
            before, at = now, now_at

    def stop(self) -> None:
        self._done.set()
        if self.is_alive():
            self.join()

    def write(self, path: Path) -> None:
        with path.open("w") as f:
            f.write("seconds,process,cores\n")
            f.writelines(f"{t:.1f},{name},{cores:.3f}\n" for t, name, cores in self.rows)

    def summary(self) -> dict[str, dict[str, float]]:
        by_process: dict[str, list[float]] = {}
        for _, name, cores in self.rows:
            by_process.setdefault(name, []).append(cores)
        return {name: {"mean_cores": round(sum(v) / len(v), 3), "peak_cores": round(max(v), 3)}
                for name, v in by_process.items()}


def start_locust(scenario: Scenario, host: str, prefix: Path, scale: float, out: Path,
                 processes: int) -> subprocess.Popen[bytes]:
    check_loopback(httpx.URL(host).host)
    # Locust's users run in one process (one core) unless it forks workers: --processes N gives it N (plus the
    # master, which only aggregates), so a run on a machine with cores to spare measures the deployment, not Locust.
    forks = ["--processes", str(processes)] if processes > 1 else []
    # Locust runs in the output folder: the locustfiles import the client SDK of this checkout, installed or not.
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "VALGAME_SCALE": str(scale), "PYTHONPATH": path}
    log = (out / "locust.log").open("ab")
    try:
        # Its own session: a Ctrl-C at the terminal reaches this script, which stops Locust once, cleanly.
        return subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(REPO / "locustfiles" / f"{scenario.name}.py"), "--headless",
             "--host", host, "--csv", str(prefix), "--csv-full-history", "--html", f"{prefix}.html",
             "--stop-timeout", "10", "--only-summary", "--loglevel", "WARNING", *forks],
            cwd=out, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        log.close()


def stop_locust(locust: subprocess.Popen[bytes]) -> None:
    """SIGINT (Locust stops its users and writes its reports), then kill if it takes too long."""
    try:
        stop_process(locust, LOCUST_STOP_SECONDS, signal.SIGINT)
    except KeyboardInterrupt:  # a second Ctrl-C: no more waiting, but Locust (in its own session) must not outlive us
        locust.kill()
        locust.wait()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM takes the same way out as Ctrl-C: everything started is stopped


def run(args: argparse.Namespace) -> int:
    scenario = SCENARIOS[args.scenario]
    kind = "cluster" if args.cluster else "single"
    out: Path = (args.out or WORK / f"scenario-{scenario.name}-{kind}-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"scenario-{scenario.name}-", dir=WORK))  # data of the run, removed after
    prefix = out / scenario.name
    bound = scenario.seconds * args.scale + TIME_BOUND_MARGIN
    sampler = CpuSampler(args.cpu_interval)
    facts: dict[str, Any] = {"scenario": scenario.name, "shape": scenario.shape, "scale": args.scale,
                             "deployment": kind, "locust_processes": args.locust_processes,
                             "machine_at_start": machine()}
    print(f"{scenario.name} ({scenario.shape}) x {args.scale:g} on {kind}; results in {out}", flush=True)
    outcome = "finished"
    stopping_at = 0.0
    try:
        with deployment(work / kind, args.cluster) as deployed:
            locust: subprocess.Popen[bytes] | None = None
            try:
                for role, pid in deployed.pids().items():
                    sampler.watch(role, pid)
                locust = start_locust(scenario, deployed.url, prefix, args.scale, out, args.locust_processes)
                sampler.watch("locust", locust.pid, with_children=True)
                sampler.start()
                facts |= {"url": deployed.url, "pids": {**deployed.pids(), "locust": locust.pid},
                          "started": sampler.start_time}
                (out / "processes.json").write_text(json.dumps(facts["pids"]))
                print(f"load running against {deployed.url} (at most {bound:.0f} s)", flush=True)
                try:
                    locust.wait(bound)
                except subprocess.TimeoutExpired:
                    outcome = f"stopped at its time bound ({bound:.0f} s)"
            finally:
                # Each stage of the stop is logged with its time: a stop that takes long shows where.
                stopping_at = time.monotonic()
                if locust is not None:
                    print("stopping Locust", flush=True)
                    stop_locust(locust)
                sampler.stop()
                print(f"stopping the deployment ({time.monotonic() - stopping_at:.1f} s into the stop)", flush=True)
    except KeyboardInterrupt:
        outcome = "interrupted"
    except (RuntimeError, TimeoutError) as exc:  # a process of the deployment did not start
        outcome = f"failed: {exc}"
    finally:
        if stopping_at:
            print(f"deployment stopped ({time.monotonic() - stopping_at:.1f} s into the stop)", flush=True)
        logs = out / "logs"
        logs.mkdir(exist_ok=True)
        for log in work.rglob("*.log"):
            shutil.copy(log, logs / f"{log.parent.name}-{log.name}")
        shutil.rmtree(work, ignore_errors=True)
    return report(scenario, out, prefix, sampler, facts, outcome)


def report(scenario: Scenario, out: Path, prefix: Path, sampler: CpuSampler, facts: dict[str, Any],
           outcome: str) -> int:
    sampler.write(out / "cpu.csv")
    facts |= {"outcome": outcome, "cpu": sampler.summary()}
    print(f"run {outcome}")
    if not Path(f"{prefix}_stats.csv").exists():
        (out / "summary.json").write_text(json.dumps(facts, indent=2))
        print("no Locust results (see locust.log)")
        return 130 if outcome == "interrupted" else 2
    judged = verdict(scenario.name, read_stats(prefix))
    title = f"{scenario.name} x {facts['scale']:g}, {facts['deployment']}"
    charts = render_charts(scenario.name, title, prefix, out / "cpu.csv", out, facts.get("started"))
    facts |= {"verdict": judged.lines, "passed": judged.passed, "charts": [c.name for c in charts]}
    (out / "summary.json").write_text(json.dumps(facts, indent=2))
    print("\n".join(judged.lines))
    for kind in failure_kinds(prefix):
        print("      failed:", kind)
    print("CPU (cores, mean / peak):", "; ".join(
        f"{name} {v['mean_cores']:.2f} / {v['peak_cores']:.2f}" for name, v in sorted(facts["cpu"].items())))
    print("charts:", ", ".join(str(c) for c in charts))
    if outcome != "finished":
        return 130 if outcome == "interrupted" else 2
    return 0 if judged.passed else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scenario", description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--cluster", action="store_true",
                        help="two nodes + redis-server + secantusd behind HAProxy (default: one node, embedded)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply the scenario's players and durations, for a try-out (0 < F <= 1)")
    parser.add_argument("--out", type=Path, help="folder of the results (default: a new one under the bench dir)")
    parser.add_argument("--locust-processes", type=int, default=1,
                        help="Locust worker processes (its --processes); 1: Locust's users share one process")
    parser.add_argument("--cpu-interval", type=float, default=1.0, help="seconds between CPU samples")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1:
        parser.error("--scale must be in (0, 1]: it only shortens a scenario")
    if not 1 <= args.locust_processes <= 16:
        parser.error("--locust-processes must be in [1, 16]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
