"""The same short Locust run (20 users, 20 s) through a real HAProxy (deploy/haproxy/haproxy.cfg, the compose file's
config) in front of two real nodes on a real redis-server and a real secantusd: the deployment bench/scenario.py
runs its cluster scenarios on. Nothing fails, and both nodes serve players."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.load.smoke import SMOKE_NODE, assert_every_command_without_failures, run_game_user, skip_without_locust
from tests.support.deployment import deployment
from tests.support.haproxy import haproxy_binary
from tests.support.wire import scrape


@pytest.mark.timeout(180)
async def test_a_short_locust_run_through_haproxy_on_a_cluster_without_failures(tmp_path: Path) -> None:
    skip_without_locust()
    if haproxy_binary() is None:
        pytest.skip("haproxy is not installed (scripts/test.sh installs Debian's package)")
    with deployment(tmp_path / "cluster", cluster=True, **SMOKE_NODE) as cluster:
        assert cluster.url != cluster.nodes[0].http and cluster.url != cluster.nodes[1].http
        run = await asyncio.to_thread(run_game_user, cluster.url, tmp_path)
        assert_every_command_without_failures(run)
        for node in cluster.nodes:  # HAProxy spread the players: each node answered commands
            samples = await scrape(node.http)
            handled = sum(v for (name, _), v in samples.items() if name == "valgame_commands_total")
            assert handled > 0, f"node {node.port} handled no command:\n{node.log()[-2000:]}"
