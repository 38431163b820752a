"""The seed's *peak* scenario: ramp to 1,000 players over 2 minutes, then hold them for 10 minutes.

    locust -f locustfiles/peak.py --headless --host http://127.0.0.1:8000 --csv peak

The whole run lasts 12 minutes. Against one node, remember each new player costs two argon2 hashes (register and
login) during the ramp: about 8 new players per second here.
"""

from __future__ import annotations

from game_user import ValgamePlayer, scaled_seconds, scaled_users
from locust import LoadTestShape

__all__ = ["PeakShape", "ValgamePlayer"]


class PeakShape(LoadTestShape):
    users = scaled_users(1000)
    ramp = scaled_seconds(2 * 60.0)
    hold = scaled_seconds(10 * 60.0)

    def tick(self) -> tuple[int, float] | None:
        run_time = self.get_run_time()
        if run_time >= self.ramp + self.hold:
            return None
        return self.users, self.users / self.ramp
