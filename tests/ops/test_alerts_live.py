"""The shipped alerting rules in a real Prometheus (Debian's binary), scraping a real node every second: healthy
traffic leaves the alerts inactive; failing commands fire the error-rate alert (and only it); slow storage fires the
response-time and slow-storage alerts.

The node is made to fail and to be slow by its test-only storage failpoints (`testonly_storage_failures`,
`testonly_storage_delays`); `storage_slow_seconds` is 1 s here instead of 5 so a slow operation costs 1.2 s.
Prometheus evaluates a copy of deploy/prometheus/rules/valgame.rules.yml whose `for:` durations are 2 s and whose
5-minute windows are 15 s (`shorten_for_test`): the expressions and thresholds are the shipped ones.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.client import Client, register, unique_name
from tests.support.prometheus import RULES, PrometheusProcess, shorten_for_test
from tests.support.servers import ServerProcess

pytestmark = pytest.mark.timeout(180)
DEADLINE = 45  # seconds for an alert to fire once its cause runs (15 s windows, 2 s holds, 1 s evaluations)


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[ServerProcess, PrometheusProcess]]:
    node = ServerProcess(tmp_path / "node", rate_per_second=2000, rate_burst=2000, storage_slow_seconds=1.0,
                         testonly_storage_failures="notifications", testonly_storage_delays="query_listings=1.2")
    rules = tmp_path / "valgame.rules.yml"
    rules.write_text(shorten_for_test(RULES.read_text()))
    prometheus = PrometheusProcess(tmp_path / "prometheus", [f"127.0.0.1:{node.port}"], [rules])
    node.start()
    try:
        prometheus.start()
        yield node, prometheus
    finally:
        prometheus.stop()
        node.kill()


async def poll(check: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.25)  # polling Prometheus's API, which evaluates every second


async def keep_sending(client: Client, command: str, stop: asyncio.Event, pace: float = 0.02) -> None:
    """Send `command` again and again until told to stop (paced: the machine is shared)."""
    while not stop.is_set():
        await client.request(command, {}, timeout=20)
        await asyncio.sleep(pace)


async def running(clients: list[Client], command: str) -> tuple[asyncio.Event, list[asyncio.Task[None]]]:
    stop = asyncio.Event()
    return stop, [asyncio.create_task(keep_sending(c, command, stop)) for c in clients]


async def halt(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    stop.set()
    await asyncio.gather(*tasks)


async def test_alerts_go_from_inactive_to_firing(watched: tuple[ServerProcess, PrometheusProcess]) -> None:
    node, prometheus = watched
    clients = []
    for _ in range(4):
        login = await register(node.http, unique_name("alert"))
        clients.append((await Client.open(node.ws, login["access_token"]))[0])
    states = prometheus.alert_states
    watched_alerts = ("ValgameHighErrorRate", "ValgameSlowResponses", "ValgameSlowStorage")

    # healthy traffic, scraped and evaluated: every alert inactive
    stop, tasks = await running(clients[:2], "state.get")
    try:
        await poll(lambda: _query(prometheus, 'sum(increase(valgame_commands_total{outcome="ok"}[15s]))') > 20,
                   "Prometheus to see healthy traffic")
        evaluated = time.time()
        await poll(lambda: _evaluated_after(prometheus, evaluated), "an evaluation of the rules after that")
        assert all(states()[name] == "inactive" for name in watched_alerts), states()
        assert prometheus.firing() == []

        # failing commands: the error-rate alert fires, the latency alerts do not
        errors, error_tasks = await running(clients[2:], "notification.list")
        await poll(lambda: _firing(prometheus, "ValgameHighErrorRate"), "ValgameHighErrorRate firing")
        assert states()["ValgameSlowResponses"] == "inactive" and states()["ValgameSlowStorage"] == "inactive"
        await halt(errors, error_tasks)
    finally:
        await halt(stop, tasks)

    # slow storage: commands take 1.2 s, so p95 is above 1 s, and each is a slow storage operation
    slow, slow_tasks = await running(clients, "market.browse")
    try:
        await poll(lambda: _firing(prometheus, "ValgameSlowResponses"), "ValgameSlowResponses firing")
        await poll(lambda: _firing(prometheus, "ValgameSlowStorage"), "ValgameSlowStorage firing")
    finally:
        await halt(slow, slow_tasks)
    storage = [a for a in prometheus.firing() if a["labels"]["alertname"] == "ValgameSlowStorage"]
    assert {a["labels"]["operation"] for a in storage} == {"query_listings"}
    assert {a["labels"]["severity"] for a in storage} == {"warning"}
    for client in clients:
        await client.close()


def _query(prometheus: PrometheusProcess, expr: str) -> float:
    result = prometheus.api("query", query=expr)["result"]
    return float(result[0]["value"][1]) if result else 0.0


def _evaluated_after(prometheus: PrometheusProcess, moment: float) -> bool:
    """Whether the rule group was last evaluated after `moment` (Unix time); Prometheus gives RFC 3339 in UTC."""
    for group in prometheus.api("rules", type="alert")["groups"]:
        found = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$", group["lastEvaluation"])
        assert found, group["lastEvaluation"]
        return datetime.fromisoformat(found[1] + "+00:00").timestamp() + float(found[2] or 0) > moment
    return False


def _firing(prometheus: PrometheusProcess, name: str) -> bool:
    return any(a["labels"]["alertname"] == name for a in prometheus.firing())
