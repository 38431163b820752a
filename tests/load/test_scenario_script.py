"""bench/scenario.py, scaled down to seconds: it starts its deployment, runs the scenario's Locust shape, writes the
reports, charts and CPU samples, judges the run, and stops every process it started, also when interrupted."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import child_pids
from bench.scenario import STOP_SECONDS, CpuSampler
from tests.load.smoke import skip_without_locust
from tests.support.haproxy import haproxy_binary
from tests.support.servers import REPO, process_alive, wait_until

PNG = b"\x89PNG\r\n\x1a\n"


def scenario_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.scenario", *args]


def scenario_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "VALGAME_BENCH_DIR": str(tmp_path / "bench")}


@pytest.mark.timeout(150)
def test_a_scaled_run_reports_judges_and_stops_what_it_started(tmp_path: Path) -> None:
    skip_without_locust()
    out = tmp_path / "out"
    run = subprocess.run(scenario_command("normal", "--scale", "0.04", "--out", str(out)), cwd=REPO,
                         env=scenario_env(tmp_path), capture_output=True, text=True, timeout=140)
    output = run.stdout + run.stderr[-3000:]
    assert run.returncode in (0, 1), output  # 1: a KPI missed on a loaded machine; the run itself worked
    assert ("PASS  p95" in run.stdout or "FAIL  p95" in run.stdout) and "failures" in run.stdout, output

    summary = json.loads((out / "summary.json").read_text())
    assert summary["outcome"] == "finished" and summary["deployment"] == "single", summary
    assert summary["passed"] is (run.returncode == 0)
    with (out / "normal_stats.csv").open() as f:
        total = {row["Name"]: row for row in csv.DictReader(f)}["Aggregated"]
    assert int(total["Request Count"]) > 0
    with (out / "normal_stats_history.csv").open() as f:
        assert sum(1 for row in csv.DictReader(f) if row["Name"] == "Aggregated") >= 5  # a row a second
    assert (out / "normal.html").read_text().lstrip().startswith("<!DOCTYPE html>")
    with (out / "cpu.csv").open() as f:
        sampled = {row["process"] for row in csv.DictReader(f)}
    assert {"node", "locust", "machine"} <= sampled, sampled
    for chart in ("response_times", "throughput", "cpu"):
        assert (out / f"normal_{chart}.png").read_bytes().startswith(PNG), chart
    assert list((out / "logs").glob("node-server-*.log")), list((out / "logs").iterdir())

    pids = json.loads((out / "processes.json").read_text())
    assert set(pids) == {"node", "locust"}
    assert not [role for role, pid in pids.items() if process_alive(pid)]
    assert not list((tmp_path / "bench").glob("scenario-normal-*"))  # the run's data was removed


@pytest.mark.timeout(90 + STOP_SECONDS + 60)
def test_an_interrupted_cluster_run_stops_everything_it_started(tmp_path: Path) -> None:
    skip_without_locust()
    if haproxy_binary() is None:
        pytest.skip("haproxy is not installed (scripts/test.sh installs Debian's package)")
    out = tmp_path / "out"
    log = (tmp_path / "scenario.log").open("wb")
    command = scenario_command("stress", "--cluster", "--scale", "0.05", "--out", str(out), "--locust-processes", "2")
    script = subprocess.Popen(command, cwd=REPO, env=scenario_env(tmp_path), stdout=log, stderr=subprocess.STDOUT)
    pids: dict[str, int] = {}
    try:
        history = out / "stress_stats_history.csv"

        def load_running() -> bool:
            if script.poll() is not None:
                raise AssertionError((tmp_path / "scenario.log").read_text()[-3000:])
            return history.exists() and history.read_text().count("Aggregated") >= 3

        wait_until(load_running, 90, "the stress scenario's load", interval=0.2)
        pids = json.loads((out / "processes.json").read_text())
        assert set(pids) == {"node1", "node2", "redis", "secantusd", "haproxy", "locust"}, pids
        assert all(process_alive(pid) for pid in pids.values())
        workers = child_pids(pids["locust"])
        assert len(workers) == 2, workers  # Locust forked its two worker processes
        script.send_signal(signal.SIGINT)  # the script alone, as a Ctrl-C it handles
        try:  # within the script's own bound on its stop, plus the report (charts drawn with matplotlib)
            code = script.wait(STOP_SECONDS + 30)
        except subprocess.TimeoutExpired:
            raise AssertionError("the script did not exit within its stop's bound:\n"
                                 + (tmp_path / "scenario.log").read_text()[-3000:]) from None
        assert code == 130, (tmp_path / "scenario.log").read_text()[-3000:]
    finally:
        if script.poll() is None:  # failing: what it started must not outlive the test and load the next ones
            script.kill()
            script.wait()
            for pid in [*pids.values(), *(child_pids(pids["locust"]) if "locust" in pids else [])]:
                if process_alive(pid):
                    os.kill(pid, signal.SIGKILL)
        log.close()
    assert not [role for role, pid in pids.items() if process_alive(pid)]
    # Locust's workers outlive its master by a moment (they see it gone and exit): stopped, within a bound
    wait_until(lambda: not [pid for pid in workers if process_alive(pid)], 10, "Locust's workers exited")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outcome"] == "interrupted" and summary["deployment"] == "cluster"
    assert summary["locust_processes"] == 2
    with (out / "cpu.csv").open() as f:
        locust_cpu = [float(row["cores"]) for row in csv.DictReader(f) if row["process"] == "locust"]
    assert locust_cpu and min(locust_cpu) >= 0, locust_cpu  # workers that exit do not take their past with them
    assert "run interrupted" in (tmp_path / "scenario.log").read_text()


BUSY_HALF_SECOND = "import time\\nend = time.process_time() + 0.5\\nwhile time.process_time() < end: pass"
CHILD_THEN_WAIT = f"""
import subprocess, sys
subprocess.run([sys.executable, "-c", "{BUSY_HALF_SECOND}"])
print("child done", flush=True)
sys.stdin.read()
"""


def test_the_cpu_sampler_counts_children_and_never_subtracts_one_that_exited() -> None:
    """Locust's workers are children of its master: their CPU is the master's row, and a worker that exits while the
    master lives on must not turn the next sample negative (its past is not taken back)."""
    parent = subprocess.Popen([sys.executable, "-c", CHILD_THEN_WAIT], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    sampler = CpuSampler(0.05)
    try:
        sampler.watch("tree", parent.pid, with_children=True)
        sampler.start()
        assert parent.stdout is not None and parent.stdout.readline() == b"child done\n"
        seen = len(sampler.rows)
        wait_until(lambda: len(sampler.rows) >= seen + 4, 10, "samples after the child exited", interval=0.05)
    finally:
        sampler.stop()
        parent.kill()
        parent.wait()
    tree = [cores for _, name, cores in sampler.rows if name == "tree"]
    assert min(tree) >= 0, tree
    assert sum(tree) * sampler.interval > 0.25, tree  # most of the child's 0.5 s was counted under its parent
