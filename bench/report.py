"""Print the figures table (markdown) from the latest entry of each benchmark in the results file.

    python -m bench.report [/tmp/valgame-bench/results.jsonl]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.common import REFERENCES, RESULTS, TARGETS


def f(value: Any, digits: int = 0) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:,.{digits}f}"


def cells(targets: tuple[dict[str, Any], ...], keys: tuple[str, ...], digits: int | tuple[int, ...] = 0,
          sep: str = " / ") -> str:
    """One table cell per target, each the `keys` figures joined by `sep` (`digits`: one for all, or one per key)."""
    places = digits if isinstance(digits, tuple) else (digits,) * len(keys)
    return " | ".join(sep.join(f(t.get(k), d) for k, d in zip(keys, places, strict=True)) for t in targets)


def ratio(a: Any, b: Any) -> float:
    return a / b if a is not None and b else float("nan")


def ratio_cells(node: dict[str, Any], references: list[dict[str, Any]], key: str) -> str:
    """The node's `key` over each reference's (a series without a reference shows n/a)."""
    return " | ".join(f(ratio(node.get(key), ref.get(key)), 2) for ref in references)


NATIVE_FIGURES = {"idle": ("kib_per_socket", "hold_cores"), "commands": ("cmd_per_s", "p99_ms", "server_us_per_cmd"),
                  "fanout": ("deliveries_per_s", "p99_ms", "last_ms"), "crossnode": ("p50_ms", "p99_ms")}


def native_rows(latest: dict[str, dict[str, Any]]) -> list[str]:
    """Rows of the node on another socket transport (`--transports asgi,picows`): its figures beside the asgi
    node's, in the first two figure columns, and its ratios to the references."""
    rows = []
    for bench, keys in NATIVE_FIGURES.items():
        results = latest.get(bench, {}).get("results", {})
        series = {"": results} if bench == "idle" else results
        for label, r in series.items():
            for target in (t for t in r if t.startswith("valgame_")):
                native, asgi = r[target], r.get("valgame", {})
                suffix = target.removeprefix("valgame")
                rows.append(f"| {bench} {label} on {target.removeprefix('valgame_')} (vs asgi): "
                            f"{' / '.join(keys)} | {' / '.join(f(native.get(k), 1) for k in keys)} | "
                            f"{' / '.join(f(asgi.get(k), 1) for k in keys)} | | | "
                            f"{f(r.get(f'ratio{suffix}_vs_echo'), 2)} | {f(r.get(f'ratio{suffix}_vs_plain'), 2)} | "
                            f"{f(r.get(f'ratio{suffix}_vs_socketio'), 2)} |")
    return rows


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS
    latest: dict[str, dict[str, Any]] = {}
    trades: dict[tuple[str, bool], dict[str, Any]] = {}  # by (bus, idem keys): the default mode first
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        latest[entry["bench"]] = entry
        if entry["bench"] == "trades":
            trades[(entry.get("bus", "memory"), entry.get("idem", False))] = entry
    rows = ["| figure | Valgame node | bare echo (Starlette) | plain ASGI echo (ceiling) | python-socketio "
            "| node / echo | node / plain | node / socketio |",
            "|---|---|---|---|---|---|---|---|"]
    if "idle" in latest:
        r = latest["idle"]["results"]
        v, *refs = (r.get(t, {}) for t in TARGETS)
        rows.append(f"| idle sockets held (opened / still open) | {cells((v, *refs), ('sockets', 'still_open'))} "
                    "| | | |")
        rows.append(f"| memory per idle socket (KiB, RSS delta) | {cells((v, *refs), ('kib_per_socket',), 1)} | "
                    f"{' | '.join(f(r.get(f'kib_ratio_vs_{ref}'), 2) for ref in REFERENCES)} |")
        rows.append(f"| CPU to hold them (cores), sockets opened at a steady pace | "
                    f"{cells((v, *refs), ('hold_cores',), 3)} | {ratio_cells(v, refs, 'hold_cores')} |")
    if "commands" in latest:
        for clients, r in latest["commands"]["results"].items():
            v, *refs = (r.get(t, {}) for t in TARGETS)
            rows.append(f"| `energy.get` closed loop, {clients} clients: commands/s | "
                        f"{cells((v, *refs), ('cmd_per_s',))} | {ratio_cells(v, refs, 'cmd_per_s')} |")
            rows.append(f"| ... p50 / p95 / p99 (ms) | {cells((v, *refs), ('p50_ms', 'p95_ms', 'p99_ms'), 1)} "
                        "| | | |")
            rows.append(f"| ... server CPU per command (µs) | {cells((v, *refs), ('server_us_per_cmd',))} | | | |")
            rows.append(f"| ... generator CPU per command (µs) / cores | "
                        f"{cells((v, *refs), ('generator_us_per_cmd', 'generator_cores'), (0, 2))} | | | |")
    if "fanout" in latest:
        for size, r in latest["fanout"]["results"].items():
            v, *refs = (r.get(t, {}) for t in TARGETS)
            rows.append(f"| fan-out to {size} subscribers: deliveries/s | "
                        f"{cells((v, *refs), ('deliveries_per_s',))} | {ratio_cells(v, refs, 'deliveries_per_s')} |")
            rows.append(f"| ... delivery p50 / p99 / last (ms) | "
                        f"{cells((v, *refs), ('p50_ms', 'p99_ms', 'last_ms'))} | | | |")
    for (bus, idem), entry in sorted(trades.items(), key=lambda item: (item[0] != ("memory", False), item[0])):
        r = entry["results"]
        mode = "" if (bus, idem) == ("memory", False) else f", {bus} bus{', idem keys' if idem else ''}"
        rows.append(f"| trades/s (SQLite{mode}, {entry['players']} traders), audit "
                    f"{'passed' if entry['audit_passed'] else 'FAILED'} | {f(r['trades_per_s'])} "
                    f"(+ {f(r['lists_per_s'])} lists/s) | {f(r['echo_cmd_per_s'])} commands/s; raw SQLite "
                    f"{f(r['sqlite_tx_per_s'])} tx/s | | n/a (no storage) | "
                    f"{f(r['ratio_commands_vs_echo'], 2)} (commands); {f(r['ratio_trades_vs_sqlite'], 2)} "
                    f"(vs raw SQLite) | | |")
        rows.append(f"| ... buy p50 / p99 (ms), server cores | {f(r['buy_p50_ms'], 1)} / {f(r['buy_p99_ms'], 1)}, "
                    f"{f(r['server_cores'], 2)} | | | | | | |")
    if "crossnode" in latest:
        for rate, r in latest["crossnode"]["results"].items():
            v, *refs = (r.get(t, {}) for t in TARGETS)
            rows.append(f"| cross-node whispers at {rate}/s: p50 / p99 (ms) | "
                        f"{cells((v, *refs), ('p50_ms', 'p99_ms'), 1)} | | | |")
            rows.append(f"| ... delivered/s, lost, servers' cores | "
                        f"{cells((v, *refs), ('delivered_per_s', 'lost', 'servers_cores'), (0, 0, 2), ', ')} | "
                        f"{ratio_cells(v, refs, 'delivered_per_s')} |")
    rows += native_rows(latest)
    for name, entry in latest.items():
        rows.append(f"| ({name}: {entry['date']}, load average {', '.join(f(x, 1) for x in entry['loadavg'])}) "
                    "| | | | | | | |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
