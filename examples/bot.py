"""An example bot on the client SDK: sign up (or log in), find its character and a dungeon, fight, print the result.

    VALGAME_BOT_PASSWORD='a long password' python examples/bot.py --url http://127.0.0.1:8000 --username bot1

What it shows, in order: the HTTP helpers (register, login), the asyncio client (auth with a token, commands,
events as they come), an idempotency key on the one command that changes state (a retry after a dropped connection
is applied once), and reading the outcome from the `combat.ended` event. tests/integration/test_example_bot.py
runs it against a real node, so it stays working.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from typing import Any

import orjson

from valgame_client import http
from valgame_client.aio import AsyncClient
from valgame_client.errors import CommandError


async def sign_in(url: str, username: str, password: str) -> http.Tokens:
    """Register the account the first time (409 means it exists already), then log in."""
    try:
        await asyncio.to_thread(http.register, url, username, password)
        print(f"registered {username}")
    except http.HttpError as exc:
        if exc.status != 409:
            raise
    return await asyncio.to_thread(http.login, url, username, password)


def show_round(event: dict[str, Any]) -> None:
    """Called by the client for every event, as it arrives."""
    if event["type"] == "combat.round":
        r = event["data"]
        print(f"  round {r['round']}: dealt {r['damage_dealt']}{' (crit)' if r['crit'] else ''}, "
              f"monster at {r['monster_hp']} HP, team {r['team_hp']}")


async def play(url: str, username: str, password: str, dungeon: str | None) -> dict[str, Any]:
    tokens = await sign_in(url, username, password)
    socket = await asyncio.to_thread(http.discover_socket_url, url)  # the node says where its socket is
    client = AsyncClient(socket, token=tokens.access_token, reconnect=True, on_event=show_round)
    hello = await client.connect()
    assert hello is not None
    me = hello["player"]
    print(f"playing as {me['name']} on {hello['node']}: {me['val']} VAL, {me['energy']}/{me['energy_max']} energy")
    try:
        # A new player starts with one character; `character.list` gives its id.
        characters = (await client.call("character.list"))["characters"]
        fit = [c for c in characters if not c["wounded"]]
        if not fit:
            raise SystemExit("every character is wounded: revive one first (character.revive)")
        hero = max(fit, key=lambda c: c["level"])
        # Dungeons are in the catalog, each with its `code` and the level it asks for.
        catalog = await client.call("catalog.get")
        codes = [d["code"] for d in catalog["dungeons"] if d["min_level"] <= hero["level"]]
        code = dungeon or codes[0]
        print(f"{hero['base']} (level {hero['level']}, {hero['hp']}/{hero['hp_max']} HP) enters {code}")

        # The one change: keyed, so the SDK may resend it after a dropped connection without fighting twice.
        mark = len(client.events)
        started = await client.call("combat.start", {"dungeon": code, "team": [hero["id"]], "mode": "auto"},
                                    idem=True)
        ended = await client.wait_event("combat.ended", lambda d: d["combat"] == started["combat"], timeout=300,
                                        after=mark)
        result = ended["data"]
        print(f"{result['outcome']} after {result['rounds']} rounds: +{result['val']} VAL, xp {result['xp']}, "
              f"drops {[d['code'] for d in result['drops']]}")
        return {"player": me["name"], "character": hero["id"], "dungeon": code, "combat": started["combat"],
                "outcome": result["outcome"], "rounds": result["rounds"], "val": result["val"], "xp": result["xp"]}
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A Valgame bot: sign in, fight once, print the result.")
    parser.add_argument("--url", default=os.environ.get("VALGAME_URL", "http://127.0.0.1:8000"),
                        help="A node's HTTP address [VALGAME_URL].")
    parser.add_argument("--username", required=True, help="3-24 of a-z, 0-9 and _.")
    parser.add_argument("--dungeon", help="A dungeon code from the catalog (default: the first one open to you).")
    args = parser.parse_args(argv)
    # The password comes from the environment (or a prompt), never from the command line.
    password = os.environ.get("VALGAME_BOT_PASSWORD") or getpass.getpass("password: ")
    try:
        summary = asyncio.run(play(args.url, args.username, password, args.dungeon))
    except (http.HttpError, CommandError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    print(orjson.dumps(summary).decode())  # the last line: a summary for scripts
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
