"""bench/bench_command_path.py scaled down to a second: every command went through the node (its own count), each
run has its figure, and the entry names its tree and load."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.load.test_bench_references import run_bench


@pytest.mark.timeout(120)
def test_the_command_path_is_timed_through_the_node(tmp_path: Path) -> None:
    entry = run_bench(tmp_path, "bench.bench_command_path", "--sockets", "10", "--commands", "2000", "--runs", "2")
    assert entry["bench"] == "command_path" and entry["sockets"] == 10
    assert entry["handled"] == (2 + 2) * 2000  # two runs of warm-up, two measured
    assert len(entry["us_per_command"]) == 2 and all(v > 0 for v in entry["us_per_command"])
    assert entry["min"] <= entry["median"] <= entry["max"]
    assert entry["tree"]["commit"] and len(entry["loadavg_start"]) == 3
