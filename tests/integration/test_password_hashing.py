"""Password hashing off the event loop, with parameters from settings, and a queue bounded by time: an overloaded
node answers a login 503 with Retry-After at once instead of after seconds of queueing; a hash made with older
parameters is upgraded at the next good login, when a hashing thread is free."""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Connect
from tests.support.client import register, unique_name
from tests.support.servers import ServerProcess
from tests.support.wire import sample, scrape

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


LOW = {"password_hash_memory_kib": 8192, "password_hash_time_cost": 1, "password_hash_parallelism": 1}


@contextmanager
def node_on(data_dir: Path, **settings: Any) -> Iterator[ServerProcess]:
    """A node on `data_dir`'s store, stopped after: the same store across restarts with other settings."""
    node = ServerProcess(data_dir, **settings).start()
    try:
        yield node
    finally:
        node.terminate()


async def login_status(http: httpx.AsyncClient, name: str, password: str = PASSWORD) -> int:
    return (await http.post("/auth/login", json={"username": name, "password": password})).status_code


async def test_a_login_upgrades_a_hash_made_with_older_parameters(tmp_path: Path) -> None:
    name = unique_name("rehash")
    with node_on(tmp_path / "node", **LOW) as low:
        await register(low.http, name, PASSWORD)
    old = stored_hash(low, name)
    assert old.startswith("$argon2id$v=19$m=8192,t=1,p=1$")

    # The operator raises the parameters and restarts the node on the same store.
    with node_on(tmp_path / "node", password_hash_memory_kib=16384, password_hash_time_cost=2,
                 password_hash_parallelism=2) as raised:
        async with httpx.AsyncClient(base_url=raised.http, timeout=30) as http:
            assert await login_status(http, name) == 200  # verified against the old hash, then upgraded
            upgraded = stored_hash(raised, name)
            assert upgraded.startswith("$argon2id$v=19$m=16384,t=2,p=2$") and upgraded != old
            assert await login_status(http, name) == 200  # the new hash verifies the same password
            assert await login_status(http, name, "not the password") == 401
        assert stored_hash(raised, name) == upgraded  # an up-to-date hash is left alone
        metrics = await scrape(raised.http)
        assert sample(metrics, "valgame_password_rehashes_total", outcome="upgraded") == 1
        assert sample(metrics, "valgame_password_rehashes_total", outcome="deferred") == 0


async def test_an_upgrade_never_queues_behind_other_logins(tmp_path: Path) -> None:
    name = unique_name("rehash_busy")
    with node_on(tmp_path / "node", **LOW) as low:
        await register(low.http, name, PASSWORD)

    # One hashing thread and slow hashes: while logins wait for the thread, a finished one does not re-hash (that
    # would take the thread from them); it answers at once and leaves the upgrade to a quieter login.
    with node_on(tmp_path / "node", password_hash_workers=1, password_queue_seconds=60,
                 password_hash_memory_kib=64 * 1024, password_hash_time_cost=3, login_attempts_per_address=1000) \
            as raised:
        async with httpx.AsyncClient(base_url=raised.http, timeout=60) as http:
            statuses = await asyncio.gather(*(login_status(http, name) for _ in range(12)))
            assert statuses == [200] * 12
            metrics = await scrape(raised.http)
            assert sample(metrics, "valgame_password_rehashes_total", outcome="deferred") >= 1
            assert sample(metrics, "valgame_password_rehashes_total", outcome="upgraded") >= 1  # the last, alone
            assert stored_hash(raised, name).startswith("$argon2id$v=19$m=65536,t=3,p=1$")
            assert await login_status(http, name) == 200
