"""Fixtures of the multi-node tests: several nodes, each its own process on a free port, sharing one storage (a
SQLite file in WAL mode, or a MongoDB-wire server) and one real redis-server.

- `cluster`: three nodes shared by the tests that leave the cluster as they found it (session scope).
- `make_cluster`: a cluster of its own for a test that kills, drains or restarts something.

Every wait has a deadline; nothing sleeps as a way to synchronise with the nodes.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import Connect
from tests.support.client import Client, register, unique_name
from tests.support.economy import quick_login
from tests.support.game import MANY_COMMANDS, inventory
from tests.support.mongo import MongoProcess
from tests.support.redis import RedisProcess
from tests.support.servers import REPO, ServerProcess
from tests.support.wire import eventually, sample, scrape

CLI_TIMEOUT = 90


class Cluster:
    """Nodes sharing one storage and one redis-server, plus what a test needs to act on them as players and ops."""

    def __init__(self, root: Path, redis: RedisProcess, storage: str, nodes: list[ServerProcess]) -> None:
        self.root = root
        self.redis = redis
        self.storage = storage
        self.nodes = nodes
        self._admin_login: dict[str, Any] | None = None
        self._cli_runs = itertools.count(1)

    def __getitem__(self, index: int) -> ServerProcess:
        return self.nodes[index]

    def __len__(self) -> int:
        return len(self.nodes)

    # --- players ---------------------------------------------------------------------------------------------
    async def login(self, node: ServerProcess | None = None, prefix: str = "c") -> dict[str, Any]:
        """Register and log in over HTTP (two password hashes: for the players a test looks at closely)."""
        return await register((node or self.nodes[0]).http, unique_name(prefix))

    async def quick_login(self, node: ServerProcess | None = None, prefix: str = "q") -> dict[str, Any]:
        """Register over HTTP with a token signed by the cluster's shared secret (one password hash, not two)."""
        return await quick_login(node or self.nodes[0], unique_name(prefix))

    async def quick_logins(self, count: int, prefix: str = "q") -> list[dict[str, Any]]:
        """`count` players, registered a few at a time on every node in turn."""
        gate = asyncio.Semaphore(2 * len(self.nodes))

        async def one(i: int) -> dict[str, Any]:
            async with gate:
                return await self.quick_login(self.nodes[i % len(self.nodes)], prefix)

        return list(await asyncio.gather(*(one(i) for i in range(count))))

    # --- operators -------------------------------------------------------------------------------------------
    async def admin_login(self) -> dict[str, Any]:
        """An operator account (made with `valgame admin create-admin`), logged in after the role was given."""
        if self._admin_login is None:
            name = unique_name("ops")
            await register(self.nodes[0].http, name)
            result = await self.cli("create-admin", name)
            assert result.returncode == 0, result.stderr + result.stdout
            async with httpx.AsyncClient(base_url=self.nodes[0].http, timeout=30) as http:
                response = await http.post("/auth/login", json={"username": name,
                                                                "password": "correct horse battery"})
            assert response.status_code == 200, response.text
            self._admin_login = response.json()
        return self._admin_login

    async def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`python -m server admin <args> --storage <the cluster's storage>`, in its own data folder."""
        data_dir = self.root / f"cli{next(self._cli_runs)}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("VALGAME_")}
        command = [sys.executable, "-m", "server", "admin", *args, "--storage", self.storage,
                   "--data-dir", str(data_dir)]
        return await asyncio.to_thread(subprocess.run, command, cwd=REPO, env=env, capture_output=True, text=True,
                                       timeout=CLI_TIMEOUT)

    async def audit(self) -> dict[str, Any]:
        """Run `valgame admin audit` on the shared storage; fail unless it exits 0 with `ok`."""
        result = await self.cli("audit")
        assert result.returncode == 0, f"audit failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        report = orjson.loads(result.stdout)
        assert report["ok"] is True, report
        return report

    # --- observation -----------------------------------------------------------------------------------------
    async def node_id(self, node: ServerProcess) -> str:
        async with httpx.AsyncClient(base_url=node.http, timeout=10) as http:
            return (await http.get("/health")).json()["node"]

    async def wait_sockets(self, counts: dict[ServerProcess, int], timeout: float = 30) -> None:
        """Wait until each node's `valgame_sockets_open` is the given count (sockets of earlier tests gone)."""
        async def settled() -> bool:
            for node, count in counts.items():
                if sample(await scrape(node.http), "valgame_sockets_open") != count:
                    return False
            return True

        await eventually(settled, timeout, f"socket counts {[counts[n] for n in counts]}", interval=0.05)

    def logs(self) -> str:
        return "\n".join(f"--- node {n.port}\n{n.log()[-3000:]}" for n in self.nodes)


async def item_id(client: Client, code: str) -> str:
    """The id of one item of the player's inventory with this catalog code."""
    found = [i["id"] for i in await inventory(client) if i["code"] == code]
    assert found, f"no {code} in the inventory"
    return found[0]


async def list_dagger(seller: Client, price: int) -> str:
    """List the starting dagger; returns the listing id."""
    reply = await seller.call("market.list", {"item": await item_id(seller, "daga-oxidada"), "price": price})
    return reply["listing"]


async def whisper_crosses(talker: Client, listener: Client, name: str, text: str, timeout: float) -> None:
    """`talker` whispers to `name`, whose socket `listener` gets it within `timeout`."""
    await talker.call("chat.whisper", {"to": name, "text": text}, timeout=timeout)
    await listener.wait_event("chat.message", lambda d: d["text"] == text, timeout=timeout)


async def topic_watchers(connect: Connect, nodes: list[ServerProcess], topics: list[str]) -> list[Client]:
    """A socket on each node, subscribed to `topics`."""
    watchers = []
    for node in nodes:
        watcher, _ = await connect(node)
        for topic in topics:
            await watcher.call("sub.add", {"topic": topic})
        watchers.append(watcher)
    return watchers


def start_cluster(root: Path, count: int, storage: str | None = None, **settings: Any) -> Cluster:
    """A redis-server and `count` nodes on it, sharing `storage` (a SQLite file in `root` by default)."""
    root.mkdir(parents=True, exist_ok=True)
    redis = RedisProcess(root / "redis").start()
    try:
        return start_nodes(root, redis, redis.url, count, storage, **settings)
    except BaseException:
        redis.stop()
        raise


def start_nodes(root: Path, redis: RedisProcess, bus: str, count: int, storage: str | None = None,
                **settings: Any) -> Cluster:
    """`count` nodes on the bus URL `bus` (one redis-server, sentinels, a Redis Cluster), sharing `storage`;
    `redis` is the server the tests act on (kill, CLIENT KILL)."""
    storage = storage or f"sqlite:///{root / 'shared.db'}"
    cluster = Cluster(root, redis, storage, [])
    try:
        for i in range(count):
            cluster.nodes.append(ServerProcess(root / f"node{i}", bus=bus, storage=storage, **settings).start())
    except BaseException:
        for node in cluster.nodes:
            node.kill()
        raise
    return cluster


def stop_cluster(cluster: Cluster) -> None:
    for node in cluster.nodes:
        if node.proc is not None:
            node.kill()
    cluster.redis.stop()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three nodes for the tests that do not disturb the cluster (they open sockets and trade, nothing more)."""
    shared = start_cluster(tmp_path_factory.mktemp("cluster"), 3, presence_seconds=6, **MANY_COMMANDS)
    yield shared
    stop_cluster(shared)


def own_mongo(tmp_path: Path, transaction_lifetime: float | None = None) -> Iterator[MongoProcess]:
    """A MongoDB-wire server (secantusd) of the test's own, stopped after it; `transaction_lifetime`: how long it lets
    a dead client's transaction hold its documents (the daemon's fixed 60 s by default)."""
    server = MongoProcess(tmp_path / "mongo", transaction_lifetime=transaction_lifetime).start()
    yield server
    server.stop()


@pytest.fixture
def mongo(tmp_path: Path) -> Iterator[MongoProcess]:
    """A MongoDB-wire server (secantusd) of the test's own."""
    yield from own_mongo(tmp_path)


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """A cluster of its own (nodes killed and redis-server stopped at the end of the test)."""
    started: list[Cluster] = []

    def make(count: int = 2, storage: str | None = None, **settings: Any) -> Cluster:
        made = start_cluster(tmp_path / f"cluster{len(started)}", count, storage, **settings)
        started.append(made)
        return made

    yield make
    for made in started:
        stop_cluster(made)
