"""A real MongoDB-wire server for tests: `secantusd-py` (PyPI `secantusdb`) on a free port, in-memory storage.

It advertises itself as a single-node replica set, so transactions, sessions and retryable writes work as they do
against a MongoDB replica set. Its `find_one_and_update` scans the collection: keep test data small.
With `transaction_lifetime`, the same server is started through tests/support/secantusd_lifetime.py, which sets
how long a transaction may live (the daemon has no option for it: 60 s), and with `max_connections` how many
connections it holds at once (1,000 in the daemon) before it closes new ones at once.
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bson
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import PyMongoError

from tests.support.servers import REPO, free_port, stop_process, wait_until

OP_MSG = 2013  # the wire protocol's message opcode


class MongoProcess:
    def __init__(self, log_dir: Path | None = None, transaction_lifetime: float | None = None,
                 max_connections: int | None = None) -> None:
        self.port = free_port()
        self.log_dir = log_dir
        self.transaction_lifetime = transaction_lifetime
        self.max_connections = max_connections
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
        command = [binary, "--host", "127.0.0.1", "--port", str(self.port), "--storage-path", ":memory:",
                   "--log-level", "WARNING"]
        if self.transaction_lifetime is not None or self.max_connections is not None:
            command = [sys.executable, "-m", "tests.support.secantusd_lifetime", "--port", str(self.port)]
            if self.transaction_lifetime is not None:
                command += ["--transaction-lifetime", str(self.transaction_lifetime)]
            if self.max_connections is not None:
                command += ["--max-connections", str(self.max_connections)]
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


def _hello(sock: socket.socket) -> bool:
    """Say `hello` on a raw connection (OP_MSG); whether the server answered (False: it closed the connection)."""
    body = struct.pack("<I", 0) + b"\x00" + bson.encode({"hello": 1, "$db": "admin"})
    try:
        sock.sendall(struct.pack("<iiii", 16 + len(body), 1, 0, OP_MSG) + body)
        header = sock.recv(4)
        if len(header) < 4:
            return False
        left = struct.unpack("<i", header)[0] - 4
        while left > 0:
            chunk = sock.recv(left)
            if not chunk:
                return False
            left -= len(chunk)
        return True
    except OSError:  # reset by the server
        return False


def take_free_connections(address: str, most: int = 2000, timeout: float = 10) -> list[socket.socket]:
    """Open connections to a MongoDB-wire server until it refuses one (at its connection cap), and return those it
    took: the server is then full until they are closed."""
    host, port = address.rsplit(":", 1)
    taken: list[socket.socket] = []
    for _ in range(most):
        sock = socket.create_connection((host, int(port)), timeout=timeout)
        if not _hello(sock):
            sock.close()
            return taken
        taken.append(sock)
    for sock in taken:
        sock.close()
    raise RuntimeError(f"{address} took {most} connections and refused none")
