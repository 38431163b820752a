"""Print the figures table (markdown) from the latest entry of each benchmark in the results file.

    python -m bench.report [/tmp/valgame-bench/results.jsonl]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.common import RESULTS


def f(value: Any, digits: int = 0) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:,.{digits}f}"


def ratio(a: Any, b: Any) -> float:
    return a / b if a is not None and b else float("nan")


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS
    latest: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        latest[entry["bench"]] = entry
    rows = ["| figure | Valgame node | bare echo (ceiling) | python-socketio | node / echo | node / socketio |",
            "|---|---|---|---|---|---|"]
    if "idle" in latest:
        r = latest["idle"]["results"]
        v, e, s = r.get("valgame", {}), r.get("echo", {}), r.get("socketio", {})
        rows.append(f"| idle sockets held (opened / still open) | {f(v.get('sockets'))} / {f(v.get('still_open'))} | "
                    f"{f(e.get('sockets'))} / {f(e.get('still_open'))} | {f(s.get('sockets'))} / "
                    f"{f(s.get('still_open'))} | | |")
        rows.append(f"| memory per idle socket (KiB, RSS delta) | {f(v.get('kib_per_socket'), 1)} | "
                    f"{f(e.get('kib_per_socket'), 1)} | {f(s.get('kib_per_socket'), 1)} | "
                    f"{f(r.get('kib_ratio_vs_echo'), 2)} | {f(r.get('kib_ratio_vs_socketio'), 2)} |")
        rows.append(f"| CPU to hold them (cores) | {f(v.get('hold_cores'), 3)} | {f(e.get('hold_cores'), 3)} | "
                    f"{f(s.get('hold_cores'), 3)} | | |")
    if "commands" in latest:
        for clients, r in latest["commands"]["results"].items():
            v, e, s = r["valgame"], r["echo"], r["socketio"]
            rows.append(f"| `energy.get` closed loop, {clients} clients: commands/s | {f(v['cmd_per_s'])} | "
                        f"{f(e['cmd_per_s'])} | {f(s['cmd_per_s'])} | {f(r['ratio_vs_echo'], 2)} | "
                        f"{f(r['ratio_vs_socketio'], 2)} |")
            rows.append(f"| ... p50 / p95 / p99 (ms) | {f(v['p50_ms'], 1)} / {f(v['p95_ms'], 1)} / "
                        f"{f(v['p99_ms'], 1)} | {f(e['p50_ms'], 1)} / {f(e['p95_ms'], 1)} / {f(e['p99_ms'], 1)} | "
                        f"{f(s['p50_ms'], 1)} / {f(s['p95_ms'], 1)} / {f(s['p99_ms'], 1)} | | |")
            rows.append(f"| ... server CPU per command (µs) | {f(v.get('server_us_per_cmd'))} | "
                        f"{f(e.get('server_us_per_cmd'))} | {f(s.get('server_us_per_cmd'))} | | |")
            rows.append(f"| ... generator CPU per command (µs) / cores | {f(v['generator_us_per_cmd'])} / "
                        f"{f(v['generator_cores'], 2)} | {f(e['generator_us_per_cmd'])} / "
                        f"{f(e['generator_cores'], 2)} | {f(s['generator_us_per_cmd'])} / "
                        f"{f(s['generator_cores'], 2)} | | |")
    if "fanout" in latest:
        for size, r in latest["fanout"]["results"].items():
            v, e, s = r["valgame"], r["echo"], r["socketio"]
            rows.append(f"| fan-out to {size} subscribers: deliveries/s | {f(v['deliveries_per_s'])} | "
                        f"{f(e['deliveries_per_s'])} | {f(s['deliveries_per_s'])} | {f(r['ratio_vs_echo'], 2)} | "
                        f"{f(r['ratio_vs_socketio'], 2)} |")
            rows.append(f"| ... delivery p50 / p99 / last (ms) | {f(v['p50_ms'])} / {f(v['p99_ms'])} / "
                        f"{f(v['last_ms'])} | {f(e['p50_ms'])} / {f(e['p99_ms'])} / {f(e['last_ms'])} | "
                        f"{f(s['p50_ms'])} / {f(s['p99_ms'])} / {f(s['last_ms'])} | | |")
    if "trades" in latest:
        r = latest["trades"]["results"]
        rows.append(f"| trades/s (SQLite, {latest['trades']['players']} traders), audit "
                    f"{'passed' if latest['trades']['audit_passed'] else 'FAILED'} | {f(r['trades_per_s'])} "
                    f"(+ {f(r['lists_per_s'])} lists/s) | {f(r['echo_cmd_per_s'])} commands/s; raw SQLite "
                    f"{f(r['sqlite_tx_per_s'])} tx/s | n/a (no storage) | "
                    f"{f(r['ratio_commands_vs_echo'], 2)} (commands); {f(r['ratio_trades_vs_sqlite'], 2)} "
                    f"(vs raw SQLite) | |")
        rows.append(f"| ... buy p50 / p99 (ms), server cores | {f(r['buy_p50_ms'], 1)} / {f(r['buy_p99_ms'], 1)}, "
                    f"{f(r['server_cores'], 2)} | | | | |")
    if "crossnode" in latest:
        for rate, r in latest["crossnode"]["results"].items():
            v, e, s = r["valgame"], r["echo"], r["socketio"]
            rows.append(f"| cross-node whispers at {rate}/s: p50 / p99 (ms) | {f(v['p50_ms'], 1)} / "
                        f"{f(v['p99_ms'], 1)} | {f(e['p50_ms'], 1)} / {f(e['p99_ms'], 1)} | {f(s['p50_ms'], 1)} / "
                        f"{f(s['p99_ms'], 1)} | | |")
            rows.append(f"| ... delivered/s, lost, servers' cores | {f(v.get('delivered_per_s'))}, {f(v['lost'])}, "
                        f"{f(v['servers_cores'], 2)} | {f(e.get('delivered_per_s'))}, {f(e['lost'])}, "
                        f"{f(e['servers_cores'], 2)} | {f(s.get('delivered_per_s'))}, {f(s['lost'])}, "
                        f"{f(s['servers_cores'], 2)} | "
                        f"{f(ratio(v.get('delivered_per_s'), e.get('delivered_per_s')), 2)} | "
                        f"{f(ratio(v.get('delivered_per_s'), s.get('delivered_per_s')), 2)} |")
    for name, entry in latest.items():
        rows.append(f"| ({name}: {entry['date']}, load average {', '.join(f(x, 1) for x in entry['loadavg'])}) "
                    "| | | | | |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
