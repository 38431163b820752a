"""Shared fixtures: real nodes in their own processes, real WebSocket clients against them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import servers
from tests.support.client import Client, register, unique_name
from tests.support.servers import ServerProcess


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--transport", choices=("asgi", "picows"), default="asgi",
                     help="WebSocket transport of every node the tests start (server/transport/): asgi or picows")


def pytest_configure(config: pytest.Config) -> None:
    servers.TRANSPORT = config.getoption("transport")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One node with default settings, shared by the tests that do not change settings."""
    node = ServerProcess(tmp_path_factory.mktemp("node")).start()
    yield node
    node.terminate()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start a node with its own settings and data folder; stopped at the end of the test."""
    started: list[ServerProcess] = []

    def make(**settings: Any) -> ServerProcess:
        node = ServerProcess(tmp_path / f"node{len(started)}", **settings).start()
        started.append(node)
        return node

    yield make
    for node in started:
        node.kill()


@pytest.fixture(scope="module")
def make_module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ServerProcess]]:
    """Like `make_server`, for settings that several tests of a module share: stopped at the end of the module."""
    started: list[ServerProcess] = []

    def make(**settings: Any) -> ServerProcess:
        node = ServerProcess(tmp_path_factory.mktemp("module-node"), **settings).start()
        started.append(node)
        return node

    yield make
    for node in started:
        node.kill()


Connect = Callable[..., Awaitable[tuple[Client, dict[str, Any]]]]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Open authenticated sockets (registering a new player unless a login is given); closed at the end."""
    clients: list[Client] = []

    async def open_client(node: ServerProcess, login: dict[str, Any] | None = None,
                          **auth: Any) -> tuple[Client, dict[str, Any]]:
        login = login or await register(node.http, unique_name())
        client, reply = await Client.open(node.ws, login["access_token"], **auth)
        clients.append(client)
        return client, reply

    yield open_client
    for client in clients:
        try:
            await client.close()
        except Exception:
            pass
