"""Sockets whose clients stop reading: cut off within the write deadline (4008, transport aborted), their memory
and cap slot released, while everybody else is served as before."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from websockets.asyncio.client import ClientConnection

from tests.conftest import Connect
from tests.support.client import register, unique_name
from tests.support.servers import ServerProcess
from tests.support.wire import auth_frame, eventually, open_raw, ping_frame, sample, scrape

DEADLINE = 2.0
ECHO = "z" * 60_000  # a reply of ~60 KB


def established_server_ports(server_port: int) -> set[int]:
    """Remote ports of the node's ESTABLISHED connections (its side of each TCP connection), from /proc."""
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == server_port:
                ports.add(int(remote.rsplit(":", 1)[1], 16))
    return ports


async def stuck_socket(node: ServerProcess, token: str) -> tuple[ClientConnection, int]:
    """An authenticated socket with a 4 KiB receive buffer that, once it has its auth reply, never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", node.ws_port))
    sock.setblocking(False)
    conn = await open_raw(node.ws, sock=sock, max_queue=1)
    await conn.send(auth_frame(token))
    assert orjson.loads(await asyncio.wait_for(conn.recv(), 10))["ok"] is True
    return conn, sock.getsockname()[1]


async def flood(conn: ClientConnection, count: int) -> None:
    for i in range(count):
        await conn.send(ping_frame(i, ECHO))


async def test_twenty_sockets_that_never_read_are_gone_within_the_write_deadline(
        make_server: Callable[..., ServerProcess], connect: Connect) -> None:
    node = make_server(write_deadline_seconds=DEADLINE, rate_per_second=100_000, rate_burst=100_000,
                       outbound_max_bytes=64 * 1024 * 1024, outbound_max_frames=100_000)
    bystander, _ = await connect(node)
    stuck = []
    for _ in range(20):
        login = await register(node.http, unique_name("stuck"))
        stuck.append(await stuck_socket(node, login["access_token"]))
    ports = {port for _, port in stuck}
    assert ports <= established_server_ports(node.ws_port)
    flooded = time.monotonic()
    await asyncio.gather(*(flood(conn, 60) for conn, _ in stuck))  # ~3.6 MB of replies each, none read

    latencies = []

    async def gone() -> bool:
        started = time.monotonic()
        assert (await bystander.request("ping", {"echo": "quick"}, timeout=3))["ok"] is True
        latencies.append(time.monotonic() - started)
        return not (ports & established_server_ports(node.ws_port))

    await eventually(gone, DEADLINE + 5, "stuck sockets dropped by the node")
    assert time.monotonic() - flooded < DEADLINE + 5
    metrics = await scrape(node.http)
    assert sample(metrics, "valgame_sockets_open") == 1  # only the bystander counts
    assert sample(metrics, "valgame_write_deadline_closes_total") >= 20
    assert max(latencies) < 1.0, latencies  # the bystander was served promptly all along
    for conn, _ in stuck:
        conn.transport.abort()


async def test_a_fourth_socket_never_makes_four_while_three_stuck_ones_close(
        make_server: Callable[..., ServerProcess], connect: Connect) -> None:
    node = make_server(write_deadline_seconds=30, rate_per_second=100_000, rate_burst=100_000,
                       outbound_max_bytes=64 * 1024 * 1024, outbound_max_frames=100_000)
    login = await register(node.http, unique_name("capped"))
    stuck = [await stuck_socket(node, login["access_token"]) for _ in range(3)]
    await asyncio.gather(*(flood(conn, 60) for conn, _ in stuck))
    await eventually(lambda: _writers_blocked(node), 10, "the stuck sockets' sends to block")

    most = 0
    watching = True

    async def watch() -> None:
        nonlocal most
        while watching:
            most = max(most, int(sample(await scrape(node.http), "valgame_sockets_open")))
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    started = time.monotonic()
    await connect(node, login)
    took = time.monotonic() - started
    watching = False
    await watcher
    assert most <= 3, most
    assert took < 10  # the oldest stuck socket was cut off, not waited for until the 30 s deadline
    assert len(established_server_ports(node.ws_port) & {port for _, port in stuck}) == 2
    for conn, _ in stuck:
        conn.transport.abort()


async def _writers_blocked(node: ServerProcess) -> bool:
    # Every ping of the flood has been handled, so its ~60 KB reply is sent or queued behind a send the client
    # does not read: the writers are blocked from here on.
    metrics = await scrape(node.http)
    return sample(metrics, "valgame_commands_total", type="ping", outcome="ok") >= 3 * 60
