"""examples/bot.py runs as a user would run it, against a real node: it must sign up, fight and print the result."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable

import orjson

from tests.support.client import Client, unique_name
from tests.support.servers import REPO, ServerProcess
from valgame_client import http


def run_bot(node: ServerProcess, username: str, password: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VALGAME_")}
    env["VALGAME_BOT_PASSWORD"] = password
    return subprocess.run([sys.executable, str(REPO / "examples" / "bot.py"), "--url", node.http,
                           "--username", username], cwd=REPO, env=env, capture_output=True, text=True, timeout=90)


async def test_the_example_bot_signs_up_fights_and_prints_the_outcome(
        make_server: Callable[..., ServerProcess]) -> None:
    node = make_server(game={"auto_round_delay_seconds": 0.05})
    name, password = unique_name("bot"), "bot password 1"
    first = await asyncio.to_thread(run_bot, node, name, password)
    assert first.returncode == 0, first.stdout + first.stderr
    lines = first.stdout.splitlines()
    summary = orjson.loads(lines[-1])
    assert lines[0] == f"registered {name}" and summary["player"] == name
    assert summary["dungeon"] == "cueva-goblins" and summary["outcome"] in ("win", "loss")
    assert sum(line.startswith("  round ") for line in lines) == summary["rounds"] > 0

    # what the bot printed is what the node recorded
    tokens = await asyncio.to_thread(http.login, node.http, name, password)
    client, hello = await Client.open(node.ws, tokens.access_token)
    characters = (await client.call("character.list"))["characters"]
    hero = next(c for c in characters if c["id"] == summary["character"])
    assert (hero["level"], hero["xp"]) == (1, summary["xp"].get(hero["id"], 0))  # 50 XP at most: no level-up
    assert hero["wounded"] is (summary["outcome"] == "loss")
    assert hello["player"]["val"] == 100 + summary["val"]
    await client.close()

    # a second run logs in to the same account (the name is taken) instead of failing
    again = await asyncio.to_thread(run_bot, node, name, password)
    assert not again.stdout.startswith("registered"), again.stdout
    if summary["outcome"] == "loss":  # its only character is wounded: the bot says so and stops
        assert again.returncode == 1 and "wounded" in again.stderr, again.stdout + again.stderr
    else:
        assert again.returncode == 0, again.stdout + again.stderr
        second = orjson.loads(again.stdout.splitlines()[-1])
        assert second["player"] == name and second["combat"] != summary["combat"]
