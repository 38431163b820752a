"""Password hashing off the event loop, with parameters from settings, and a queue bounded by time: an overloaded
node answers a login 503 with Retry-After at once instead of after seconds of queueing."""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
from collections.abc import Callable

import httpx

from tests.conftest import Connect
from tests.support.client import register, unique_name
from tests.support.servers import ServerProcess

PASSWORD = "correct horse battery"


def stored_hash(node: ServerProcess, name: str) -> str:
    with sqlite3.connect(node.data_dir / "valgame.db") as db:
        return db.execute("SELECT password_hash FROM accounts WHERE name=?", (name,)).fetchone()[0]


async def test_hash_parameters_come_from_settings(make_server: Callable[..., ServerProcess]) -> None:
    node = make_server(password_hash_memory_kib=8192, password_hash_time_cost=1, password_hash_parallelism=1)
    name = unique_name("params")
    await register(node.http, name, PASSWORD)
    assert stored_hash(node, name).startswith("$argon2id$v=19$m=8192,t=1,p=1$")


async def test_fifty_registrations_leave_the_event_loop_free(make_server: Callable[..., ServerProcess],
                                                            connect: Connect) -> None:
    server = make_server(password_queue_seconds=60,  # all 50 wait their turn: none is refused
                         rate_per_second=100_000, rate_burst=100_000)
    client, _ = await connect(server)
    latencies: list[float] = []
    done = asyncio.Event()

    async def pings() -> None:
        while not done.is_set():
            started = time.perf_counter()
            assert (await client.request("ping", {}))["ok"]
            latencies.append(time.perf_counter() - started)

    async def registrations() -> None:
        async with httpx.AsyncClient(base_url=server.http, timeout=60) as http:
            async def one(i: int) -> None:
                name = unique_name(f"reg{i}_")
                body = {"username": name, "email": f"{name}@example.test", "password": PASSWORD}
                assert (await http.post("/auth/register", json=body)).status_code == 201
            await asyncio.gather(*(one(i) for i in range(50)))
        done.set()

    await asyncio.gather(pings(), registrations())
    assert len(latencies) >= 20
    p99 = statistics.quantiles(latencies, n=100)[98]
    assert p99 < 0.05, f"ping p99 {p99 * 1000:.1f} ms while hashing"


async def test_an_overloaded_node_answers_a_login_503_with_retry_after_at_once(
        make_server: Callable[..., ServerProcess]) -> None:
    node = make_server(password_hash_workers=1, password_queue_seconds=0.05, password_hash_memory_kib=64 * 1024,
                       password_hash_time_cost=3, login_attempts_per_address=1000)
    name = unique_name("busy")
    await register(node.http, name, PASSWORD)  # also measures what one hash costs
    async with httpx.AsyncClient(base_url=node.http, timeout=60) as http:
        async def login() -> tuple[httpx.Response, float]:
            started = time.perf_counter()
            response = await http.post("/auth/login", json={"username": name, "password": PASSWORD})
            return response, time.perf_counter() - started

        results = await asyncio.gather(*(login() for _ in range(12)))
    refused = [(r, t) for r, t in results if r.status_code == 503]
    served = [r for r, _ in results if r.status_code == 200]
    assert refused and served, [r.status_code for r, _ in results]
    for response, took in refused:
        assert took < 0.1, took
        assert int(response.headers["retry-after"]) >= 1
        error = response.json()["error"]
        assert error["code"] == "unavailable" and error["retry_after_ms"] >= 1000
