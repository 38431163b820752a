"""The short Locust run both smoke tests make (20 users, 20 s of the game user's mix), and what they require of it:
every command of the mix exercised over the socket, and nothing failed except the game refusals the user expects
(which are recorded under their own names)."""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import REPO

# Settings of the nodes under the smoke runs. Logins wait for a hashing thread rather than being refused 503: the runs
# check the command mix, and on a busy shared machine a hash can take long enough for the 0.5 s bound to refuse a
# burst of logins (tests/integration/test_password_hashing.py checks the refusal itself).
SMOKE_NODE = {"rate_per_second": 1000, "rate_burst": 2000, "password_queue_seconds": 10}

COMMANDS = ("auth", "energy.get", "state.get", "combat.start", "market.browse", "market.list", "market.buy",
            "chat.send")


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open() as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


@dataclass
class SmokeRun:
    prefix: Path  # Locust's --csv prefix
    output: str
    returncode: int

    def stats(self) -> dict[str, dict[str, str]]:
        return _rows(Path(f"{self.prefix}_stats.csv"))


def skip_without_locust() -> None:
    # Never import locust here: it monkey-patches the whole process for gevent.
    if importlib.util.find_spec("locust") is None or importlib.util.find_spec("websocket") is None:
        pytest.skip("the load extra is not installed (pip install -e '.[load]')")


def run_game_user(host: str, workdir: Path) -> SmokeRun:
    """`locust -f locustfiles/game_user.py --headless -u 20 -r 10 -t 20s` against `host`, players pausing 0.1-0.3 s."""
    prefix = workdir / "smoke"
    env = {**os.environ, "VALGAME_WAIT_MIN": "0.1", "VALGAME_WAIT_MAX": "0.3"}
    run = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(REPO / "locustfiles" / "game_user.py"), "--headless",
         "-u", "20", "-r", "10", "-t", "20s", "--stop-timeout", "5", "--host", host, "--csv", str(prefix),
         "--only-summary", "--loglevel", "WARNING"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=75)
    return SmokeRun(prefix, run.stdout[-4000:] + run.stderr[-4000:], run.returncode)


def assert_every_command_without_failures(run: SmokeRun) -> None:
    stats = run.stats()
    total = stats["Aggregated"]
    assert int(total["Failure Count"]) == 0, run.output
    for command in COMMANDS:
        assert command in stats and int(stats[command]["Request Count"]) > 0, f"no {command} requests:\n{run.output}"
        assert int(stats[command]["Failure Count"]) == 0, run.output
    # every player registered, and its registration signed it in: no second password hash for a login
    assert int(stats["/auth/register"]["Request Count"]) >= int(stats["auth"]["Request Count"]) > 0, run.output
    assert "/auth/login" not in stats, run.output
    failures = Path(f"{run.prefix}_failures.csv").read_text().splitlines()
    assert len(failures) <= 1, "\n".join(failures)  # the header alone
    assert run.returncode == 0, run.output

    with Path(f"{run.prefix}_events.csv").open() as f:
        received = {row["event"]: int(row["count"]) for row in csv.DictReader(f)}
    assert received.get("combat.started", 0) > 0, received
    assert received.get("chat.message", 0) > 0, received
