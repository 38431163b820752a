"""An HTTP request whose store does not answer in time is answered 503 with Retry-After, never 500.

A node on a MongoDB-wire store (secantusd) registers players. The store is then frozen (SIGSTOP: the process holds
its sockets and answers nothing, as an overloaded or paused server does); a registration must come back within the
node's commit bound as 503 `unavailable` with `Retry-After`, the node staying up, and succeed again once the store
is thawed. Before this answer existed, the port's `Unavailable` reached Starlette as an unhandled error: a 500.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from tests.support.client import unique_name
from tests.support.mongo import MongoProcess
from tests.support.servers import ServerProcess

COMMIT_SECONDS = 1.0
PASSWORD = "correct horse battery"


def register(client: httpx.Client, name: str) -> httpx.Response:
    return client.post("/auth/register", json={"username": name, "email": f"{name}@example.test",
                                               "password": PASSWORD})


def test_a_registration_the_store_cannot_take_is_answered_503_with_retry_after(
        tmp_path: Path, mongo: MongoProcess) -> None:
    node = ServerProcess(tmp_path / "node", storage=mongo.url("valgame"), storage_commit_seconds=COMMIT_SECONDS,
                         command_deadline_seconds=2 * COMMIT_SECONDS, retry_after_seconds=2.0).start()
    try:
        with httpx.Client(base_url=node.http, timeout=30) as client:
            assert register(client, unique_name("before")).status_code == 201
            assert mongo.proc is not None
            os.kill(mongo.proc.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                refused = register(client, unique_name("frozen"))
                took = time.monotonic() - started
            finally:
                os.kill(mongo.proc.pid, signal.SIGCONT)
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "unavailable"
            assert int(refused.headers["retry-after"]) >= 2  # the node's retry_after_seconds, spread upwards
            assert took < 10 * COMMIT_SECONDS, took  # within the store's bound, not after a socket timeout
            assert client.get("/health").status_code == 200
            assert register(client, unique_name("after")).status_code == 201
    finally:
        node.kill()
