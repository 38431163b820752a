"""What operators see and do: health, readiness, Prometheus metrics, and a graceful stop on SIGTERM."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from protocol import COMMANDS
from tests.conftest import Connect
from tests.support.client import Client, register, unique_name
from tests.support.servers import ServerProcess
from tests.support.wire import auth_frame, eventually, open_raw, read_until_closed, sample, scrape


async def get(node: ServerProcess, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=node.http) as http:
        return await http.get(path)


async def test_health_says_alive(server: ServerProcess) -> None:
    response = await get(server, "/health")
    assert response.status_code == 200
    assert response.json()["status"] == "alive"


async def test_ready_reports_storage_and_bus(server: ServerProcess) -> None:
    response = await get(server, "/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ready"] is True
    assert body["storage"] is True
    assert body["bus"] is True
    assert body["draining"] is False


async def test_metrics_expose_the_documented_families(server: ServerProcess, connect: Connect) -> None:
    client, _ = await connect(server)
    await client.call("ping")
    response = await get(server, "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in ("valgame_sockets_open", "valgame_commands_total", "valgame_command_seconds",
                 "valgame_queue_overflows_total", "valgame_auth_failures_total"):
        assert f"# TYPE {name} " in text, name
    assert "# TYPE valgame_command_seconds histogram" in text
    assert "# TYPE valgame_sockets_open gauge" in text


async def test_commands_are_counted_by_type_and_outcome(server: ServerProcess, connect: Connect) -> None:
    client, _ = await connect(server)
    before = await scrape(server.http)
    for _ in range(3):
        await client.call("ping")
    await client.call("state.get")
    await client.expect_error("sub.add", {"topic": "nope"})
    await client.expect_error("no.such.type")
    after = await scrape(server.http)

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("valgame_commands_total", type="ping", outcome="ok") == 3
    assert delta("valgame_commands_total", type="state.get", outcome="ok") == 1
    assert delta("valgame_commands_total", type="sub.add", outcome="bad_request") == 1
    assert delta("valgame_commands_total", type="invalid", outcome="unknown_type") == 1
    assert delta("valgame_command_seconds_count", type="ping") == 3
    assert delta("valgame_command_seconds_bucket", type="ping", le="+Inf") == 3
    assert delta("valgame_command_seconds_sum", type="ping") > 0


async def test_unknown_types_do_not_create_metric_series(server: ServerProcess, connect: Connect) -> None:
    """Label values come from the protocol's command list, never from what a client sends (else any client could
    grow the node's metrics without bound)."""
    client, _ = await connect(server)
    for i in range(20):
        assert (await client.expect_error(f"bogus.type.{i}.{unique_name()}"))["code"] == "unknown_type"
    await client.expect_error("sub.add", {"topic": "nope", "spam": 1})
    types = {dict(labels).get("type") for (name, labels) in await scrape(server.http)
             if name.startswith(("valgame_commands_total", "valgame_command_seconds"))}
    assert types - {None}, "no command series at all"
    assert types - {None} <= set(COMMANDS) | {"invalid"}, sorted(t for t in types if t and t not in COMMANDS)


async def test_sockets_open_follows_connections(make_server: Callable[..., ServerProcess]) -> None:
    node = make_server()
    logins = [await register(node.http, unique_name("g")) for _ in range(2)]
    assert sample(await scrape(node.http), "valgame_sockets_open") == 0
    clients = [(await Client.open(node.ws, login["access_token"]))[0] for login in logins]
    assert sample(await scrape(node.http), "valgame_sockets_open") == 2
    for client in clients:
        await client.close()

    async def all_closed() -> bool:
        return sample(await scrape(node.http), "valgame_sockets_open") == 0

    await eventually(all_closed, timeout=10, what="valgame_sockets_open to drop to 0")


async def test_auth_failures_are_counted_by_reason(server: ServerProcess) -> None:
    before = await scrape(server.http)
    conn = await open_raw(server.ws)
    await conn.send(auth_frame("garbage"))
    code, _ = await read_until_closed(conn)
    assert code == 4001
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await http.post("/auth/login", json={"username": unique_name("nobody"), "password": "x" * 10})
        assert response.status_code == 401
    after = await scrape(server.http)
    invalid = sample(after, "valgame_auth_failures_total", reason="invalid") - sample(
        before, "valgame_auth_failures_total", reason="invalid")
    bad_password = sample(after, "valgame_auth_failures_total", reason="bad_password") - sample(
        before, "valgame_auth_failures_total", reason="bad_password")
    assert invalid == 1
    assert bad_password == 1


async def test_sigterm_closes_every_socket_with_1012_and_exits_0(make_server: Callable[..., ServerProcess],
                                                                 connect: Connect) -> None:
    node = make_server()
    clients: list[Client] = [(await connect(node))[0] for _ in range(2)]
    login = await register(node.http, unique_name("t"))
    clients += [(await connect(node, login))[0] for _ in range(2)]  # two sockets of one player
    not_yet_authenticated = await open_raw(node.ws)
    for client in clients:
        assert (await client.request("ping"))["ok"] is True

    returncode = asyncio.create_task(asyncio.to_thread(node.terminate))
    codes = await asyncio.gather(*(client.wait_closed(timeout=20) for client in clients))
    raw_code, _ = await read_until_closed(not_yet_authenticated, timeout=20)
    assert codes == [1012] * len(clients)
    assert raw_code == 1012
    assert await asyncio.wait_for(returncode, 40) == 0
    assert "Traceback" not in node.log(), node.log()[-3000:]


async def test_the_garbage_collector_runs_with_the_node_thresholds_and_its_pauses_are_counted(
        make_server: Callable[..., ServerProcess], connect: Connect) -> None:
    """The thresholds are the node's settings (server/collector.py), applied in its process; each collection's
    time is counted by generation. A young generation of 100 objects makes collections happen within a few
    commands."""
    node = make_server(gc_threshold0=100, gc_threshold1=3, gc_threshold2=7)
    client, _ = await connect(node)
    first = await scrape(node.http)
    assert [sample(first, "valgame_gc_threshold", generation=g) for g in "012"] == [100, 3, 7]

    async def collected() -> bool:
        await client.call("state.get")
        now = await scrape(node.http)
        return all(sample(now, "valgame_gc_collections_total", generation=g)
                   > sample(first, "valgame_gc_collections_total", generation=g) for g in "01")

    await eventually(collected, 10, "young and middle collections counted")
    last = await scrape(node.http)
    assert sample(last, "valgame_gc_pause_seconds_total", generation="0") > 0
