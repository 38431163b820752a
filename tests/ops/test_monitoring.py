"""deploy/prometheus and deploy/grafana: the rules pass promtool's checks and their own unit tests, the dashboard's
queries are valid PromQL, and every metric they and the autoscaler use is one a real node exports."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

from tests.support.client import Client, register, unique_name
from tests.support.prometheus import (
    PROMETHEUS_DIR,
    RULES,
    dashboard_expressions,
    exported_names,
    metric_names,
    rule_expressions,
    shorten_for_test,
    tool,
)
from tests.support.servers import REPO, ServerProcess

PLAN_ALERTS = {"ValgameSlowResponses": "warning", "ValgameHighErrorRate": "error", "ValgameHighCpu": "warning",
               "ValgameStoragePoolSaturated": "error", "ValgameSlowStorage": "warning",
               "ValgameActiveUsersMilestone": "info"}
SYNTHETIC = {"up"}  # made by Prometheus itself for every target


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, timeout=60)


def test_rules_and_config_pass_promtool_check() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "9 rules found" in checked.stdout
    checked = promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))  # loads the same rules file
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_rules_pass_their_unit_tests() -> None:
    tests = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
    assert tests
    result = promtool("test", "rules", *map(str, tests))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_encode_the_plans_alert_table() -> None:
    rules = {r["alert"]: r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    for name, severity in PLAN_ALERTS.items():
        assert rules[name]["labels"]["severity"] == severity, name
        assert rules[name]["annotations"]["runbook"].startswith("docs/OPERATIONS.md#"), name
    assert "> 1" in rules["ValgameSlowResponses"]["expr"]
    assert "> 0.05" in rules["ValgameHighErrorRate"]["expr"]
    assert "> 0.8" in rules["ValgameHighCpu"]["expr"]
    assert "> 0.9" in rules["ValgameStoragePoolSaturated"]["expr"]
    assert ">= 10000" in rules["ValgameActiveUsersMilestone"]["expr"]


def test_every_runbook_anchor_is_a_section_of_operations() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "OPERATIONS.md").read_text()
    for name in rule_expressions():
        assert f"#### {name}\n" in text, f"docs/OPERATIONS.md has no section for {name}"


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    expressions = dashboard_expressions()
    assert len(expressions) >= 15
    # promtool parses recording rules' expressions: each query becomes one
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{n}", "expr": expr} for n, expr in enumerate(expressions.values())]}]}
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_has_the_plans_panels() -> None:
    titles = {key.rsplit(" [", 1)[0] for key in dashboard_expressions()}
    assert {"Requests / min", "Errors / min", "Response time", "Sockets and players", "Commands / s by type",
            "p95 by type", "Event deliveries / s", "Bus lag and gaps", "Storage pool used"} <= titles


def test_metric_name_extraction() -> None:
    expr = ('histogram_quantile(0.95, sum by (type, le) (rate(valgame_command_seconds_bucket{type!="x"}[5m]))) '
            '> 1e3 and on (instance) up{job="valgame"} == 0')
    assert metric_names(expr) == {"valgame_command_seconds_bucket", "up"}


async def test_rules_and_dashboard_use_only_metrics_a_node_exports(
        make_server: Callable[..., ServerProcess]) -> None:
    node = make_server()
    login = await register(node.http, unique_name("mon"))
    client, _ = await Client.open(node.ws, login["access_token"])
    try:
        await client.call("state.get")
    finally:
        await client.close()
    exposition = httpx.get(node.http + "/metrics", timeout=10).text
    exported = exported_names(exposition) | SYNTHETIC
    used = {f"rule {name}": metric_names(expr) for name, expr in rule_expressions().items()}
    used |= {f"panel {name}": metric_names(expr) for name, expr in dashboard_expressions().items()}
    hpa = yaml.safe_load((REPO / "deploy" / "kubernetes" / "base" / "hpa.yaml").read_text())
    used["autoscaler"] = {m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"}
    missing = {where: sorted(names - exported) for where, names in used.items() if names - exported}
    assert missing == {}, missing
    everything = set().union(*used.values())
    assert {"valgame_storage_busy_seconds_total", "valgame_storage_pool_size", "valgame_players_active",
            "valgame_commands_inflight", "process_cpu_seconds_total"} <= everything


def test_the_test_copy_of_the_rules_changes_only_durations() -> None:
    shipped = RULES.read_text()
    short = shorten_for_test(shipped)
    assert "for: 5m" in shipped and "for: 5m" not in short and "[5m]" not in short
    assert shipped.count("for:") == short.count("for: 2s")
    strip = lambda text: [line for line in text.splitlines() if "for:" not in line and "[" not in line]  # noqa: E731
    assert strip(shipped) == strip(short)
