"""A short Locust run (20 users, 20 s) against a real node: every command of the mix is exercised over the socket,
and nothing fails except the game refusals the user expects (which are recorded under their own names)."""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.servers import REPO, ServerProcess

COMMANDS = ("auth", "energy.get", "state.get", "combat.start", "market.browse", "market.list", "market.buy",
            "chat.send")


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open() as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


@pytest.mark.timeout(90)
def test_a_short_locust_run_exercises_every_command_without_failures(
        make_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    # Never import locust here: it monkey-patches the whole process for gevent.
    if importlib.util.find_spec("locust") is None or importlib.util.find_spec("websocket") is None:
        pytest.skip("the load extra is not installed (pip install -e '.[load]')")
    node = make_server(rate_per_second=1000, rate_burst=2000)
    prefix = tmp_path / "smoke"
    env = {**os.environ, "VALGAME_WAIT_MIN": "0.1", "VALGAME_WAIT_MAX": "0.3"}
    run = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(REPO / "locustfiles" / "game_user.py"), "--headless",
         "-u", "20", "-r", "10", "-t", "20s", "--stop-timeout", "5", "--host", node.http, "--csv", str(prefix),
         "--only-summary", "--loglevel", "WARNING"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=75)
    output = run.stdout[-4000:] + run.stderr[-4000:]

    stats = _rows(Path(f"{prefix}_stats.csv"))
    total = stats["Aggregated"]
    assert int(total["Failure Count"]) == 0, output
    for command in COMMANDS:
        assert command in stats and int(stats[command]["Request Count"]) > 0, f"no {command} requests:\n{output}"
        assert int(stats[command]["Failure Count"]) == 0, output
    assert int(stats["/auth/login"]["Request Count"]) > 0, output
    failures = Path(f"{prefix}_failures.csv").read_text().splitlines()
    assert len(failures) <= 1, "\n".join(failures)  # the header alone
    assert run.returncode == 0, output

    with Path(f"{prefix}_events.csv").open() as f:
        received = {row["event"]: int(row["count"]) for row in csv.DictReader(f)}
    assert received.get("combat.started", 0) > 0, received
    assert received.get("chat.message", 0) > 0, received
