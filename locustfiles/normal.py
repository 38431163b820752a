"""The seed's *normal* scenario: 100 players for 5 minutes.

    locust -f locustfiles/normal.py --headless --host http://127.0.0.1:8000 --csv normal

Users are spawned at 10 per second (each registers and logs in once: two argon2 hashes on the server), then held
until five minutes have passed since the start. The user class and its command mix are in game_user.py.
"""

from __future__ import annotations

from game_user import ValgamePlayer, scaled_seconds, scaled_users
from locust import LoadTestShape

__all__ = ["NormalShape", "ValgamePlayer"]


class NormalShape(LoadTestShape):
    users = scaled_users(100)
    spawn_rate = 10.0
    duration = scaled_seconds(5 * 60.0)

    def tick(self) -> tuple[int, float] | None:
        if self.get_run_time() >= self.duration:
            return None
        return self.users, self.spawn_rate
