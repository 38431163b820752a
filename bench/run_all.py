"""Run every benchmark in turn (each prints its figures and appends them to the results file), then print the
table of docs/PERFORMANCE.md from the results.

    python -m bench.run_all            # about 20 minutes on the 2-core machine
    python -m bench.run_all --quick    # smaller and shorter, to check the scripts (a few minutes)
    python -m bench.run_all --transports asgi,picows   # the node on both socket transports, in the same series
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from bench.common import REPO, RESULTS

FULL = [
    ["bench.bench_idle", "--sockets", "19500"],
    ["bench.bench_commands", "--clients", "100,1000", "--runs", "3"],
    ["bench.bench_fanout", "--subscribers", "1000,5000,10000", "--rounds", "5"],
    ["bench.bench_trades", "--players", "40", "--duration", "10", "--runs", "3"],
    ["bench.bench_crossnode", "--rates", "1000,10000", "--duration", "5", "--runs", "3"],
]
QUICK = [
    ["bench.bench_idle", "--sockets", "2000", "--window", "5", "--windows", "1", "--spread", "2"],
    ["bench.bench_commands", "--clients", "100", "--runs", "1", "--duration", "3"],
    ["bench.bench_fanout", "--subscribers", "1000", "--rounds", "2"],
    ["bench.bench_trades", "--players", "10", "--duration", "3", "--runs", "1"],
    ["bench.bench_crossnode", "--rates", "1000", "--duration", "2", "--runs", "1"],
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="", help="Comma-separated names, e.g. idle,commands.")
    parser.add_argument("--transports", default="asgi",
                        help="The node's socket transports, comma-separated (asgi,picows), measured side by side.")
    args = parser.parse_args()
    failed = []
    for command in QUICK if args.quick else FULL:
        name = command[0].removeprefix("bench.bench_")
        if args.only and name not in args.only.split(","):
            continue
        # bench_trades measures the node alone: once per transport; the others take them all in one series.
        runs = ([[*command, "--transport", t] for t in args.transports.split(",")] if name == "trades"
                else [[*command, "--transports", args.transports]])
        for run in runs:
            print(f"=== {name} {' '.join(run[1:])}", flush=True)
            if subprocess.run([sys.executable, "-m", *run], cwd=REPO, timeout=3600).returncode != 0:
                failed.append(name)
    subprocess.run([sys.executable, "-m", "bench.report", str(RESULTS)], cwd=REPO)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
