"""bench/bench_rules.py scaled down: a figure per mark and run, the context's figure, the entry's tree and load."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.load.test_bench_references import run_bench


@pytest.mark.timeout(120)
def test_rules_time_a_round_by_rounds_fought(tmp_path: Path) -> None:
    entry = run_bench(tmp_path, "bench.bench_rules", "--rounds", "1,3", "--runs", "2", "--number", "20")
    assert entry["bench"] == "rules" and entry["runs"] == 2
    assert set(entry["round_us_by_rounds_fought"]) == {"1", "3"}
    for figures in (*entry["round_us_by_rounds_fought"].values(), entry["context_and_id_us"]):
        assert len(figures["us"]) == 2 and all(v > 0 for v in figures["us"])
        assert figures["min"] == min(figures["us"])
    assert entry["tree"]["commit"] and len(entry["loadavg_start"]) == 3
