"""Fixtures of the storage contract suite: the same tests run against every adapter.

`storage` is a freshly opened adapter: SQLite in the test's tmp_path, or MongoDB in a fresh database of one
secantusd-py started for the whole session (dropped when the test ends). `reopen` opens another instance on the
same data, as a second node (or a restarted one) would.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from persistence.mongo import MongoStorage
from persistence.port import Storage
from persistence.sqlite import SQLiteStorage
from tests.support.mongo import mongo_server

ADAPTERS = ["sqlite", "mongo"]

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
