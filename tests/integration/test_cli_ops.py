"""`valgame ops ...` against a running node, as an operator runs it: a separate process that talks to the node's
admin REST through the client SDK, with credentials from the environment."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import orjson

from tests.conftest import Connect
from tests.support.admin import ADMIN_PASSWORD, make_admin
from tests.support.client import register, unique_name
from tests.support.servers import REPO, ServerProcess, free_port


async def ops(node_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VALGAME_")}
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "server", "ops", "--url", node_url, *args], cwd=REPO,
        env={**clean, **env}, capture_output=True, text=True, timeout=60)


async def test_ops_commands_reach_the_node_with_a_token_or_a_login(server: ServerProcess, connect: Connect) -> None:
    name, token = await asyncio.to_thread(make_admin, server)
    stats = await ops(server.http, "stats", VALGAME_ADMIN_TOKEN=token)
    assert stats.returncode == 0, stats.stderr
    assert orjson.loads(stats.stdout)["node"] in orjson.loads(stats.stdout)["nodes"]

    player_name = unique_name("kicked")
    player, _ = await connect(server, await register(server.http, player_name))
    key = unique_name("bc")
    sent = await ops(server.http, "broadcast", "maintenance soon", "--to", player_name, "--key", key,
                     VALGAME_ADMIN_USER=name, VALGAME_ADMIN_PASSWORD=ADMIN_PASSWORD)
    assert sent.returncode == 0, sent.stderr
    assert orjson.loads(sent.stdout) == {"delivered": 1, "duplicate": False}
    shown = await player.wait_event("ops.announcement", lambda d: d["id"] == key)
    assert shown["data"]["message"] == "maintenance soon"
    again = await ops(server.http, "broadcast", "maintenance soon", "--to", player_name, "--key", key,
                      VALGAME_ADMIN_TOKEN=token)
    assert orjson.loads(again.stdout) == {"delivered": 0, "duplicate": True}  # the key: shown once

    kicked = await ops(server.http, "kick", player_name, VALGAME_ADMIN_TOKEN=token)
    assert kicked.returncode == 0 and orjson.loads(kicked.stdout) == {"kicked": 1}, kicked.stderr
    assert await player.wait_closed() == 4003
    assert [e["data"]["id"] for e in player.events if e["type"] == "ops.announcement"] == [key]


async def test_ops_commands_report_refusals_and_unreachable_nodes(server: ServerProcess) -> None:
    player = await register(server.http, unique_name("notops"))
    refused = await ops(server.http, "stats", VALGAME_ADMIN_TOKEN=player["access_token"])
    assert refused.returncode == 1 and orjson.loads(refused.stderr)["error"]["code"] == "forbidden", refused.stderr
    wrong = await ops(server.http, "stats", VALGAME_ADMIN_USER="nobody_" + unique_name(),
                      VALGAME_ADMIN_PASSWORD="not the password")
    assert wrong.returncode == 1 and orjson.loads(wrong.stderr)["error"]["code"] == "unauthorized"
    missing = await ops(server.http, "stats")
    assert missing.returncode == 2 and "VALGAME_ADMIN_TOKEN" in missing.stderr
    nowhere = await ops(f"http://127.0.0.1:{free_port()}", "stats", VALGAME_ADMIN_TOKEN="x")
    assert nowhere.returncode == 1 and "cannot reach" in nowhere.stderr
