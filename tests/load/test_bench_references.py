"""The benchmarks that judge the node against references, scaled down to seconds: every reference, the plain-ASGI
ceiling (bench/reference_plain.py) included, answers every command and receives every delivery, and the node's
ratio against each is recorded and printed in the report's table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import REPO

REFERENCES = ("echo", "plain", "socketio")


def run_bench(tmp_path: Path, *args: str, timeout: float = 150) -> dict[str, Any]:
    """Run one benchmark with its results file under `tmp_path`; its recorded entry."""
    env = {**os.environ, "VALGAME_BENCH_DIR": str(tmp_path / "bench")}
    done = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = (tmp_path / "bench" / "results.jsonl").read_text().splitlines()
    return json.loads(lines[-1])


@pytest.mark.timeout(180)
def test_commands_measure_the_node_against_the_three_references(tmp_path: Path) -> None:
    entry = run_bench(tmp_path, "bench.bench_commands", "--clients", "20", "--runs", "1", "--warmup", "0.5",
                      "--duration", "1")
    result = entry["results"]["20"]
    for target in ("valgame", *REFERENCES):
        assert result[target]["cmd_per_s"] > 0 and result[target]["errors"] == 0, (target, result[target])
    for reference in REFERENCES:
        assert result[f"ratio_vs_{reference}"] == pytest.approx(
            result["valgame"]["cmd_per_s"] / result[reference]["cmd_per_s"])

    table = subprocess.run([sys.executable, "-m", "bench.report", str(tmp_path / "bench" / "results.jsonl")],
                           cwd=REPO, capture_output=True, text=True, timeout=30)
    assert table.returncode == 0, table.stderr
    header, _, row = table.stdout.splitlines()[:3]
    assert "plain ASGI echo" in header and "node / plain" in header
    assert row.count("|") == header.count("|"), (header, row)
    assert f"{result['ratio_vs_plain']:.2f}" in row


@pytest.mark.timeout(180)
def test_commands_measure_the_nodes_alone_for_an_a_b_between_trees(tmp_path: Path) -> None:
    entry = run_bench(tmp_path, "bench.bench_commands", "--clients", "20", "--runs", "1", "--warmup", "0.5",
                      "--duration", "1", "--references", "", "--transports", "picows")
    result = entry["results"]["20"]
    assert set(result) == {"valgame_picows"}, result  # no reference started, no ratio
    assert result["valgame_picows"]["cmd_per_s"] > 0 and result["valgame_picows"]["errors"] == 0
    assert entry["references"] == [] and entry["tree"]["commit"]


@pytest.mark.timeout(180)
def test_fanout_reaches_every_subscriber_of_every_reference(tmp_path: Path) -> None:
    entry = run_bench(tmp_path, "bench.bench_fanout", "--subscribers", "30", "--rounds", "1")
    result = entry["results"]["30"]
    for target in ("valgame", *REFERENCES):
        assert result[target]["delivered"] == 30, (target, result[target])
    assert result["ratio_vs_plain"] == pytest.approx(
        result["valgame"]["deliveries_per_s"] / result["plain"]["deliveries_per_s"])


@pytest.mark.timeout(180)
def test_crossnode_relays_every_whisper_through_the_plain_references(tmp_path: Path) -> None:
    entry = run_bench(tmp_path, "bench.bench_crossnode", "--rates", "100", "--duration", "1", "--runs", "1",
                      "--pairs", "2", "--senders", "4")
    result = entry["results"]["100"]
    for target in ("valgame", *REFERENCES):
        assert result[target]["received"] > 0 and result[target]["lost"] == 0, (target, result[target])
    assert "ratio_vs_plain" in result
