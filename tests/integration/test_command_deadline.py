"""Every command is answered within its deadline (`command_deadline_seconds`), and one cut off while its commit
runs is applied whole, once: its reply is `unavailable` with `retry_after_ms`, the commit ends anyway with what
follows it (the feed event), and a retry with the same idem key, even one sent while that commit still runs, gets
the committed outcome as a replay.

The node's test-only storage failpoint `testonly_storage_delays` makes every commit take `COMMIT_DELAY` seconds,
longer than the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.conftest import Connect
from tests.support.game import inventory
from tests.support.servers import ServerProcess

DEADLINE = 1.0
COMMIT_DELAY = 1.6  # past the deadline, and less than twice it: the retry sent at the deadline is answered in time
NODE = {"command_deadline_seconds": DEADLINE, "storage_commit_seconds": 0.5, "retry_after_seconds": 0.1,
        "testonly_storage_delays": f"commit={COMMIT_DELAY}"}


async def test_a_command_cut_off_by_its_deadline_is_applied_whole_and_its_retry_replays_it(
        make_server: Callable[..., ServerProcess], connect: Connect) -> None:
    node = make_server(**NODE)
    watcher, _ = await connect(node)
    await watcher.call("sub.add", {"topic": "market"})
    client, _ = await connect(node)
    dagger = next(item["id"] for item in await inventory(client) if item["code"] == "daga-oxidada")
    listing = {"item": dagger, "price": 12}

    started = time.monotonic()
    first = await client.request("market.list", listing, idem="slow-list", timeout=10)
    took = time.monotonic() - started
    assert not first["ok"] and first["error"]["code"] == "unavailable", first
    assert first["error"]["retry_after_ms"] > 0
    assert DEADLINE - 0.1 < took < DEADLINE + 1, took

    started = time.monotonic()  # at once: the first copy's commit is still running, and holds the key
    again = await client.request("market.list", listing, idem="slow-list", timeout=10)
    assert time.monotonic() - started < DEADLINE + 1
    assert again["ok"] and again.get("replayed") is True, again
    listed = await watcher.wait_event("market.listed", lambda d: d["id"] == again["data"]["listing"], timeout=10)
    assert listed["data"]["price"] == 12

    mine: dict[str, Any] = await client.call("market.mine")
    assert [entry["id"] for entry in mine["listings"]] == [again["data"]["listing"]]  # listed once
    assert dagger not in [item["id"] for item in await inventory(client)]
