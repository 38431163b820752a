"""A short Locust run (20 users, 20 s) against a real node: every command of the mix is exercised over the socket,
and nothing fails except the game refusals the user expects (which are recorded under their own names)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.load.smoke import SMOKE_NODE, assert_every_command_without_failures, run_game_user, skip_without_locust
from tests.support.servers import ServerProcess


@pytest.mark.timeout(90)
def test_a_short_locust_run_exercises_every_command_without_failures(
        make_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    skip_without_locust()
    node = make_server(**SMOKE_NODE)
    assert_every_command_without_failures(run_game_user(node.http, tmp_path))
