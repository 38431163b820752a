"""What bench/scenario.py makes of a run: the verdict against the seed's KPIs from Locust's `_stats.csv`, and PNG charts
from its `--csv-full-history` file (`_stats_history.csv`) and the per-process CPU samples.

KPIs (the scalability plan): p95 < 200 ms over every request, sign-ins included, and failures < 0.1 %; the stress
scenario is held to the seed's own thresholds (p95 < 500 ms, failures < 0.1 %) and its p95 is reported against the
200 ms KPI beside them.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

KPI_P95_MS = 200.0
STRESS_P95_MS = 500.0
MAX_FAIL_RATIO = 0.001
AGGREGATED = "Aggregated"


@dataclass
class Verdict:
    lines: list[str] = field(default_factory=list)
    passed: bool = True

    def check(self, what: str, ok: bool) -> None:
        self.lines.append(f"{'PASS' if ok else 'FAIL'}  {what}")
        self.passed = self.passed and ok

    def note(self, what: str) -> None:
        self.lines.append(f"      {what}")


def _number(text: str) -> float:
    """A Locust CSV cell: 'N/A' (no request in the window) is NaN."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def read_stats(prefix: Path) -> dict[str, dict[str, str]]:
    """The final `_stats.csv` rows by name (`Aggregated` is every request together)."""
    with Path(f"{prefix}_stats.csv").open() as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


def verdict(scenario: str, stats: dict[str, dict[str, str]]) -> Verdict:
    total = stats.get(AGGREGATED)
    result = Verdict()
    requests = int(total["Request Count"]) if total else 0
    if not total or requests == 0:
        result.check("requests were made", False)
        return result
    failures = int(total["Failure Count"])
    p95 = _number(total["95%"])
    fail_ratio = failures / requests
    failed = f"failures {failures} of {requests} ({fail_ratio:.3%}) < {MAX_FAIL_RATIO:.1%}"
    if scenario == "stress":
        result.check(f"p95 {p95:.0f} ms < {STRESS_P95_MS:.0f} ms (the seed's stress threshold), every request",
                     p95 < STRESS_P95_MS)
        result.check(failed, fail_ratio < MAX_FAIL_RATIO)
        meets = "meets" if p95 < KPI_P95_MS else "misses"
        result.note(f"against the {KPI_P95_MS:.0f} ms KPI: p95 {p95:.0f} ms {meets} it")
    else:
        result.check(f"p95 {p95:.0f} ms < {KPI_P95_MS:.0f} ms, every request (sign-ins included)", p95 < KPI_P95_MS)
        result.check(failed, fail_ratio < MAX_FAIL_RATIO)
    for name in ("/auth/register", "/auth/login"):
        if name in stats:
            row = stats[name]
            result.note(f"{name}: p95 {_number(row['95%']):.0f} ms, median {_number(row['50%']):.0f} ms, "
                        f"{row['Request Count']} requests, {row['Failure Count']} failed")
    return result


def failure_kinds(prefix: Path, most: int = 5) -> list[str]:
    """The commonest failures of `_failures.csv`, most frequent first: what the failure ratio is made of."""
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return []
    with path.open() as f:
        rows = sorted(csv.DictReader(f), key=lambda row: -int(row["Occurrences"]))
    return [f"{row['Occurrences']} x {row['Method']} {row['Name']}: {row['Error'][:120]}" for row in rows[:most]]


@dataclass
class Series:
    """The `Aggregated` rows of the full-history CSV: one point a second (percentiles over Locust's last 10 s)."""

    seconds: list[float] = field(default_factory=list)
    users: list[float] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)
    failures_per_s: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p95: list[float] = field(default_factory=list)


def read_history(prefix: Path, start: float | None = None) -> Series:
    """`start`: the Unix time that is second 0 (the first row's when None)."""
    series = Series()
    with Path(f"{prefix}_stats_history.csv").open() as f:
        for row in csv.DictReader(f):
            if row["Name"] != AGGREGATED:
                continue
            at = float(row["Timestamp"])
            start = at if start is None else start
            series.seconds.append(at - start)
            series.users.append(float(row["User Count"]))
            series.rps.append(_number(row["Requests/s"]))
            series.failures_per_s.append(_number(row["Failures/s"]))
            series.p50.append(_number(row["50%"]))
            series.p95.append(_number(row["95%"]))
    return series


def read_cpu(path: Path) -> dict[str, tuple[list[float], list[float]]]:
    """bench/scenario.py's cpu.csv: (seconds, cores) by process."""
    by_process: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    with path.open() as f:
        for row in csv.DictReader(f):
            seconds, cores = by_process[row["process"]]
            seconds.append(float(row["seconds"]))
            cores.append(float(row["cores"]))
    return dict(by_process)


def render_charts(scenario: str, title: str, prefix: Path, cpu_csv: Path, out: Path,
                  start: float | None = None) -> list[Path]:
    """Three PNGs in `out`: response times with users, throughput and failures with users, CPU by process; second 0
    is `start` (Unix time), the time zero of the CPU samples too."""
    import matplotlib  # imported here: only the charts need it (the `load` extra)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = read_history(prefix, start)
    kpi = STRESS_P95_MS if scenario == "stress" else KPI_P95_MS
    written = []

    def with_users(ax: plt.Axes) -> None:
        twin = ax.twinx()
        twin.plot(series.seconds, series.users, color="grey", linestyle=":", label="users")
        twin.set_ylabel("users")
        twin.set_ylim(bottom=0)
        lines, labels = ax.get_legend_handles_labels()
        more, more_labels = twin.get_legend_handles_labels()
        ax.legend(lines + more, labels + more_labels, loc="upper left")

    def save(fig: plt.Figure, name: str) -> None:
        path = out / f"{scenario}_{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.plot(series.seconds, series.p50, label="p50")
    ax.plot(series.seconds, series.p95, label="p95")
    ax.axhline(KPI_P95_MS, color="red", linewidth=0.8, linestyle="--", label=f"KPI {KPI_P95_MS:.0f} ms")
    if kpi != KPI_P95_MS:
        ax.axhline(kpi, color="darkred", linewidth=0.8, linestyle="--", label=f"stress threshold {kpi:.0f} ms")
    ax.set(title=f"{title}: response times (every request, Locust's last 10 s)", xlabel="seconds", ylabel="ms")
    ax.set_ylim(bottom=0)
    with_users(ax)
    save(fig, "response_times")

    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.plot(series.seconds, series.rps, label="requests/s")
    ax.plot(series.seconds, series.failures_per_s, color="red", label="failures/s")
    ax.set(title=f"{title}: throughput and failures", xlabel="seconds", ylabel="per second")
    ax.set_ylim(bottom=0)
    with_users(ax)
    save(fig, "throughput")

    fig, ax = plt.subplots(figsize=(10, 4.5))
    for process, (seconds, cores) in sorted(read_cpu(cpu_csv).items()):
        ax.plot(seconds, cores, label=process, linestyle="--" if process == "machine" else "-")
    ax.set(title=f"{title}: CPU by process (cores; 'machine' is every process on it)", xlabel="seconds",
           ylabel="cores")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left")
    save(fig, "cpu")
    return written
