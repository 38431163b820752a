"""A rolling deploy's stop: `ops.drain`, then SIGTERM, then SIGTERM again. A node drains once: the commands in
flight finish and send their reply before their socket closes with 1012, and the process exits with status 0 when
the last one is done, or at the drain's deadline when one outlives it (docs/DESIGN.md, "Stopping a node").

A command is held in flight by the test-only `testonly_storage_delays` setting: a keyed command's first storage call
(the look-up of its key, `get_idem`) waits, then it commits as usual; registering and logging in do not wait."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import Connect
from tests.support.admin import make_admin
from tests.support.client import Client, register, unique_name
from tests.support.game import first_character, inventory
from tests.support.servers import ServerProcess, wait_until
from tests.support.wire import eventually, sample, scrape
from valgame_client.errors import ConnectionLost

HOLD_SECONDS = 3.0  # long enough for the drain request and both signals to land while the command runs


async def equip_in_flight(client: Client, node: ServerProcess) -> tuple[asyncio.Task[dict], str]:
    """Send a keyed `character.equip` and return once the node counts it as running; also the item's id."""
    hero = (await first_character(client))["id"]
    dagger = next(i["id"] for i in await inventory(client) if i["code"] == "daga-oxidada")
    equip = asyncio.create_task(client.request("character.equip", {"character": hero, "item": dagger},
                                                 idem=True, timeout=60))
    await eventually(lambda: running(node), 10, "the command to be in flight")
    return equip, dagger


async def running(node: ServerProcess) -> bool:
    return sample(await scrape(node.http), "valgame_commands_inflight") == 1


async def signal_handled(node: ServerProcess, sig: int) -> None:
    """Send `sig` and return once the node's Python handler has run: the kernel has delivered it (it is no longer
    pending in /proc) and the node's event loop has since answered a request (the handler runs before that)."""
    assert node.proc is not None
    node.proc.send_signal(sig)
    status = Path(f"/proc/{node.proc.pid}/status")

    def delivered() -> bool:
        masks = [int(line.split()[1], 16) for line in status.read_text().splitlines()
                 if line.startswith(("SigPnd:", "ShdPnd:"))]
        return not any(mask & (1 << (sig - 1)) for mask in masks)

    await asyncio.to_thread(wait_until, delivered, 5, f"signal {sig} to be delivered")
    try:
        still_running = await running(node)
    except httpx.TransportError as exc:
        raise AssertionError(f"the node stopped serving on signal {sig} while a command ran") from exc
    assert still_running, "the command ended before the signal was handled: raise HOLD_SECONDS"


async def exit_status(node: ServerProcess, timeout: float) -> int:
    assert node.proc is not None
    return await asyncio.to_thread(node.proc.wait, timeout)


async def test_drain_command_then_two_sigterms_let_the_command_finish_and_reply(
        make_server: Callable[..., ServerProcess], connect: Connect) -> None:
    node = make_server(testonly_storage_delays=f"get_idem={HOLD_SECONDS}")
    _, admin_token = await asyncio.to_thread(make_admin, node)
    login = await register(node.http, unique_name("drained"))
    client, _ = await connect(node, login)
    equip, dagger = await equip_in_flight(client, node)

    async with httpx.AsyncClient(base_url=node.http, timeout=10) as http:  # what `valgame ops drain` sends
        drained = await http.post("/admin/drain", json={}, headers={"Authorization": f"Bearer {admin_token}"})
    assert drained.status_code == 200 and drained.json()["draining"] is True, drained.text
    await signal_handled(node, signal.SIGTERM)
    await signal_handled(node, signal.SIGTERM)

    reply = await equip  # read before the close: a close first would have failed it with ConnectionLost
    assert reply["ok"], reply
    assert reply["data"]["character"]["equipment"]["weapon"]["id"] == dagger
    assert await client.wait_closed(timeout=10) == 1012
    assert await exit_status(node, 10) == 0
    assert "Traceback" not in node.log(), node.log()[-3000:]

    # applied: the next node on the same storage sees the dagger worn
    after = ServerProcess(node.data_dir).start()
    try:
        again, _ = await connect(after, login)
        assert (await first_character(again))["equipment"]["weapon"]["id"] == dagger
    finally:
        after.kill()


async def test_a_command_that_outlives_the_drain_deadline_does_not_hold_the_process(
        make_server: Callable[..., ServerProcess], connect: Connect) -> None:
    drain_seconds = 1.0
    node = make_server(testonly_storage_delays="get_idem=60", drain_seconds=drain_seconds)
    client, _ = await connect(node)
    equip, _ = await equip_in_flight(client, node)

    started = time.monotonic()
    await signal_handled(node, signal.SIGTERM)
    assert await client.wait_closed(timeout=10) == 1012
    assert await exit_status(node, 15) == 0
    # the deadline, the close frames, a second of uvicorn's grace and the node's stop; not the command's 60 s
    assert time.monotonic() - started < drain_seconds + 4
    with pytest.raises(ConnectionLost):
        await equip  # cut off without a reply: the client's keyed retry would get its one outcome elsewhere


async def test_a_second_sigint_stops_at_once(make_server: Callable[..., ServerProcess], connect: Connect) -> None:
    """Ctrl+C twice at a terminal: the one way short of SIGKILL to stop without waiting for the drain."""
    node = make_server(testonly_storage_delays="get_idem=60", drain_seconds=60)
    client, _ = await connect(node)
    equip, _ = await equip_in_flight(client, node)

    await signal_handled(node, signal.SIGINT)  # the first one only drains: the command still runs
    started = time.monotonic()
    assert node.proc is not None
    node.proc.send_signal(signal.SIGINT)
    assert await client.wait_closed(timeout=10) == 1012
    await exit_status(node, 10)
    assert time.monotonic() - started < 10  # neither the drain's 60 s nor the command's
    with pytest.raises(ConnectionLost):
        await equip
