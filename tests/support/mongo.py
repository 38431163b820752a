"""A real MongoDB-wire server for tests: `secantusd-py` (PyPI `secantusdb`) on a free port, in-memory storage.

It advertises itself as a single-node replica set, so transactions, sessions and retryable writes work as they do
against a MongoDB replica set. Its `find_one_and_update` scans the collection: keep test data small.
With `transaction_lifetime`, the same server is started through tests/support/secantusd_lifetime.py, which sets
how long a transaction may live (the daemon has no option for it: 60 s).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import PyMongoError

from tests.support.servers import REPO, free_port, stop_process, wait_until


class MongoProcess:
    def __init__(self, log_dir: Path | None = None, transaction_lifetime: float | None = None,
                 storage_path: Path | None = None) -> None:
        self.port = free_port()
        self.log_dir = log_dir
        self.transaction_lifetime = transaction_lifetime
        self.storage_path = storage_path  # a folder keeps the data across a stop and a start (default: in memory)
        self.log_path: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, database: str | None = None) -> str:
        """The storage URL of a database on this server (a fresh, unique name when none is given)."""
        return f"mongodb://{self.address}/{database or 'test_' + uuid.uuid4().hex[:12]}"

    def start(self, timeout: float = 30) -> MongoProcess:
        binary = shutil.which("secantusd-py")
        if binary is None:
            raise RuntimeError("secantusd-py is not installed (pip install secantusdb)")
        log_dir = self.log_dir or Path(tempfile.mkdtemp(prefix="secantusd-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"secantusd-{self.port}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 (owned by the child process)
        storage = str(self.storage_path) if self.storage_path is not None else ":memory:"
        command = [binary, "--host", "127.0.0.1", "--port", str(self.port), "--storage-path", storage,
                   "--log-level", "WARNING"]
        if self.transaction_lifetime is not None:
            command = [sys.executable, "-m", "tests.support.secantusd_lifetime", "--port", str(self.port),
                       "--transaction-lifetime", str(self.transaction_lifetime)]
        try:
            self.proc = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        finally:
            log.close()
        try:
            wait_until(self._answers, timeout, f"secantusd-py on port {self.port}", interval=0.05)
        except BaseException:
            self.stop()
            raise
        return self

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"secantusd-py exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
        client: MongoClient[dict[str, object]] = MongoClient(
            self.address, directConnection=True, serverSelectionTimeoutMS=250, connectTimeoutMS=250)
        try:
            return bool(client.admin.command("ping").get("ok"))
        except PyMongoError:
            return False
        finally:
            client.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self, timeout: float = 10) -> None:
        stop_process(self.proc, timeout)


@contextmanager
def mongo_server(log_dir: Path | None = None) -> Iterator[str]:
    """Start a secantusd-py, yield its URL without a database (`mongodb://127.0.0.1:<port>`; append `/<name>`
    for a storage URL), stop it."""
    server = MongoProcess(log_dir).start()
    try:
        yield f"mongodb://{server.address}"
    finally:
        server.stop()


@contextmanager
def database(url: str) -> Iterator[Database[dict[str, Any]]]:
    """The database a storage URL names (`mongodb://host:port/name`), for a test to read straight from it."""
    client: MongoClient[dict[str, Any]] = MongoClient(url.rsplit("/", 1)[0], directConnection=True)
    try:
        yield client[url.rsplit("/", 1)[1]]
    finally:
        client.close()
