"""The seed's *stress* scenario: 2,000 players for 15 minutes, with pass/fail thresholds.

    locust -f locustfiles/stress.py --headless --host http://127.0.0.1:8000 --csv stress

Users are spawned at 20 per second (100 s of ramp) and held until 15 minutes have passed. When the run ends, it
fails (exit code 1) unless the p95 of all requests is under 500 ms and fewer than 0.1 % of them failed
(`--valgame-p95-ms` and `--valgame-max-fail-ratio` override the two limits). Expected game refusals (see
game_user.EXPECTED) are not failures. 2,000 users with gevent fit in one Locust process on a spare core; beyond
that, run Locust distributed (`--processes N`).
"""

from __future__ import annotations

from typing import Any

from game_user import ValgamePlayer, check_thresholds, scaled_seconds, scaled_users
from locust import LoadTestShape, events
from locust.env import Environment
from locust.runners import WorkerRunner

__all__ = ["StressShape", "ValgamePlayer"]

P95_MS = 500.0
MAX_FAIL_RATIO = 0.001


class StressShape(LoadTestShape):
    users = scaled_users(2000)
    spawn_rate = 20.0
    duration = scaled_seconds(15 * 60.0)

    def tick(self) -> tuple[int, float] | None:
        if self.get_run_time() >= self.duration:
            return None
        return self.users, self.spawn_rate


@events.quitting.add_listener
def _stress_thresholds(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return  # the master judges the whole run
    options = environment.parsed_options
    p95 = getattr(options, "valgame_p95_ms", 0.0) or P95_MS
    ratio = getattr(options, "valgame_max_fail_ratio", -1.0)
    ratio = MAX_FAIL_RATIO if ratio is None or ratio < 0 else ratio
    breaches = check_thresholds(environment, p95, ratio)
    print(f"stress thresholds (p95 < {p95:g} ms, failures < {ratio * 100:.2f} %):",
          "; ".join(breaches) if breaches else "met")
