"""A real Prometheus (Debian's binary) scraping real nodes, the metric names PromQL expressions use, and what a node
exports, for the tests of deploy/prometheus and deploy/grafana."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.servers import REPO, free_port, wait_until

PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "rules" / "valgame.rules.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "valgame-dashboard.json"

# words of PromQL that look like metric names
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
             "inf", "nan", "atan2"}
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count", ""),
             "gauge": ("",), "untyped": ("",), "info": ("_info",)}


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (scripts/test.sh installs Debian's prometheus package)")
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (label names, functions and keywords left out)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery durations
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)  # label lists
    names = set()
    for found in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", text):
        if text[found.end():].lstrip().startswith("(") or found[0].lower() in _KEYWORDS:
            continue  # a function call, or a keyword
        names.add(found[0])
    return names


def rule_expressions(path: Path = RULES) -> dict[str, str]:
    """Alert or record name -> expression."""
    groups = yaml.safe_load(path.read_text())["groups"]
    return {rule.get("alert") or rule["record"]: rule["expr"] for group in groups for rule in group["rules"]}


def dashboard_expressions(path: Path = DASHBOARD) -> dict[str, str]:
    """"panel title [refId]" -> expression, for every query of the dashboard."""
    found = {}
    for panel in json.loads(path.read_text())["panels"]:
        for target in panel.get("targets", []):
            found[f"{panel['title']} [{target['refId']}]"] = target["expr"]
    return found


def exported_names(exposition: str) -> set[str]:
    """Every series name a /metrics page offers, including the samples a declared family will have once it is
    observed (a labelled counter shows only its HELP and TYPE until then)."""
    names = set()
    for family in text_string_to_metric_families(exposition):
        names.update(sample.name for sample in family.samples)
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return names


def shorten_for_test(rules_text: str, hold: str = "2s", window: str = "15s") -> str:
    """The shipped rules with every `for:` cut to `hold` and every minutes-long range to `window`, so a test sees
    alerts fire in seconds. Only durations change: the expressions and thresholds are the shipped ones."""
    text = re.sub(r"(?m)^(\s+for:\s*)\S+", rf"\g<1>{hold}", rules_text)
    return re.sub(r"\[\d+m\]", f"[{window}]", text)


class PrometheusProcess:
    """`prometheus` on a free loopback port with its own config and data folder, scraping `targets` every second
    and evaluating `rule_files` every second."""

    def __init__(self, workdir: Path, targets: list[str], rule_files: list[Path]) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.targets = targets
        self.rule_files = rule_files
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "prometheus.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> PrometheusProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
                  "rule_files": [str(p) for p in self.rule_files],
                  "scrape_configs": [{"job_name": "valgame", "static_configs": [{"targets": self.targets}]}]}
        config_path = self.workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        log = open(self.log_path, "ab")  # noqa: SIM115 (owned by the child process)
        self.proc = subprocess.Popen(
            [tool("prometheus"), f"--config.file={config_path}", f"--storage.tsdb.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._ready, timeout, "prometheus ready", interval=0.1)
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"prometheus exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
        try:
            return httpx.get(self.url + "/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def api(self, path: str, **params: Any) -> Any:
        reply = httpx.get(self.url + "/api/v1/" + path, params=params, timeout=5).json()
        assert reply["status"] == "success", reply
        return reply["data"]

    def alert_states(self) -> dict[str, str]:
        """Alert name -> inactive, pending or firing (the worst state among its series), from /api/v1/rules."""
        states = {}
        for group in self.api("rules", type="alert")["groups"]:
            for rule in group["rules"]:
                states[rule["name"]] = rule["state"]
        return states

    def firing(self) -> list[dict[str, Any]]:
        """The alerts /api/v1/alerts reports as firing."""
        return [a for a in self.api("alerts")["alerts"] if a["state"] == "firing"]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""
