"""Fixtures of the contract suites: the same tests run against every adapter of a port.

Storage: `storage` is a freshly opened adapter: SQLite in the test's tmp_path, or MongoDB in a fresh database of one
secantusd-py started for the whole session (dropped when the test ends). `reopen` opens another instance on the
same data, as a second node (or a restarted one) would.

Bus: `bus` is a started bus, in-process, on one redis-server, on a Sentinel-watched master or on a three-master
Redis Cluster (each started for the whole session, emptied before each test); `listener` records what the bus
delivered to the node.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from persistence.mongo import MongoStorage
from persistence.port import Storage
from persistence.sqlite import SQLiteStorage
from server.bus import Bus, open_bus
from tests.support.mongo import mongo_server
from tests.support.redis import ClusterSet, RedisProcess, SentinelSet

ADAPTERS = ["sqlite", "mongo"]
BUS_ADAPTERS = ["memory", "redis", "sentinel", "cluster"]

Reopen = Callable[[], Awaitable[Storage]]


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One secantusd-py for the session: its URL without a database name."""
    with mongo_server(tmp_path_factory.mktemp("secantusd")) as url:
        yield url


@pytest.fixture
def fresh_mongo_url(mongo_url: str) -> str:
    return f"{mongo_url}/t_{uuid.uuid4().hex[:16]}"


@pytest.fixture(params=ADAPTERS)
def make_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Storage]:
    """Build (not open) an adapter on this test's own data; every call gives a new instance on the same data."""
    if request.param == "sqlite":
        path = tmp_path / "game.db"
        return lambda: SQLiteStorage(path)
    url = request.getfixturevalue("fresh_mongo_url")
    return lambda: MongoStorage(url)


@pytest.fixture
async def storage(make_storage: Callable[[], Storage]) -> AsyncIterator[Storage]:
    store = make_storage()
    await store.open()
    yield store
    if isinstance(store, MongoStorage):
        await store.client.drop_database(store.db.name)
    await store.close()


@pytest.fixture
async def reopen(storage: Storage, make_storage: Callable[[], Storage]) -> AsyncIterator[Reopen]:
    opened: list[Storage] = []

    async def open_another() -> Storage:
        store = make_storage()
        await store.open()
        opened.append(store)
        return store

    yield open_another
    for store in opened:
        await store.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One redis-server for the session."""
    redis = RedisProcess(tmp_path_factory.mktemp("redis")).start()
    yield redis.url
    redis.stop()


@pytest.fixture(scope="session")
def sentinel_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """One master, replica and three sentinels for the session: (the bus URL, the master's own URL)."""
    sentinels = SentinelSet(tmp_path_factory.mktemp("sentinel")).start()
    yield sentinels.url, sentinels.master.url
    sentinels.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterSet]:
    """A three-master Redis Cluster for the session."""
    cluster = ClusterSet(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster
    cluster.stop()


class Recorder:
    """A node's hub as the bus sees it: it records every delivery."""

    def __init__(self) -> None:
        self.player: list[tuple[str, int, bytes]] = []
        self.topic: list[tuple[str, bytes]] = []
        self.control: list[dict[str, Any]] = []

    def deliver_player(self, player_id: str, seq: int, frame: bytes) -> None:
        self.player.append((player_id, seq, frame))

    def deliver_topic(self, topic: str, frame: bytes) -> None:
        self.topic.append((topic, frame))

    def deliver_control(self, message: dict[str, Any]) -> None:
        self.control.append(message)


OpenBus = Callable[..., Awaitable[tuple[Bus, Recorder]]]


@pytest.fixture(params=BUS_ADAPTERS)
async def open_test_bus(request: pytest.FixtureRequest) -> AsyncIterator[OpenBus]:
    """Start buses of one adapter on shared data (a node each; the in-process bus has one node only)."""
    url = "memory://"
    if request.param == "cluster":
        shards: ClusterSet = request.getfixturevalue("redis_cluster")
        url = shards.url
        for server in shards.servers:
            client = aioredis.Redis.from_url(server.url)
            await client.flushall()
            await client.aclose()
    elif request.param in ("redis", "sentinel"):
        if request.param == "sentinel":
            url, data = request.getfixturevalue("sentinel_urls")
        else:
            url = data = request.getfixturevalue("redis_url")
        client = aioredis.Redis.from_url(data)
        await client.flushall()
        await client.aclose()
    started: list[Bus] = []

    async def start(node_id: str = "n1", **options: Any) -> tuple[Bus, Recorder]:
        bus = open_bus(url, node_id, 60, **options)
        recorder = Recorder()
        await bus.start(recorder)
        started.append(bus)
        return bus, recorder

    yield start
    for bus in started:
        await bus.close()
