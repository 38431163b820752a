"""Start real `valgame serve` processes on free ports, and real redis-server / secantusd-py when asked."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

REPO = Path(__file__).resolve().parents[2]
DEFAULT_JWT_SECRET = "test-secret-" + "x" * 40
TRANSPORT = "asgi"  # the WebSocket transport nodes start with: pytest's `--transport` (tests/conftest.py) sets it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll `predicate` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float, sig: int = signal.SIGTERM) -> None:
    """Ask a process to stop with `sig`; kill it when it has not within `timeout`."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def process_alive(pid: int) -> bool:
    """Whether a process runs (a zombie, exited but not yet reaped by its parent, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class ServerProcess:
    """One node as a separate process, the way an operator runs it."""

    def __init__(self, data_dir: Path, *, game: dict[str, Any] | None = None, env: dict[str, str] | None = None,
                 **settings: Any) -> None:
        self.data_dir = data_dir
        self.env = env or {}  # extra variables, e.g. a secret setting that must not show in the process list
        self.port = free_port()
        self.transport: str = settings.pop("transport", TRANSPORT)
        self.ws_port = free_port() if self.transport == "picows" else self.port  # where `/ws` listens
        self.settings = settings
        self.game = game or {}
        self.jwt_secret: str = settings.pop("jwt_secret", DEFAULT_JWT_SECRET)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / f"server-{self.port}.log"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/ws"

    def start(self, timeout: float = 20) -> ServerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VALGAME_")}
        env["VALGAME_GAME"] = orjson.dumps(self.game).decode()
        env["VALGAME_JWT_SECRET"] = self.jwt_secret
        env.update(self.env)
        args = [sys.executable, "-m", "server", "serve", "--port", str(self.port),
                "--data-dir", str(self.data_dir), "--log-level", "warning"]
        if self.transport != "asgi":
            args += ["--transport", self.transport, "--ws-port", str(self.ws_port)]
        for key, value in self.settings.items():
            flag = "--" + key.replace("_", "-")
            if isinstance(value, bool):
                args.append(flag if value else "--no-" + key.replace("_", "-"))
            else:
                args += [flag, str(value)]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 (owned by the child process)
        self.proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._healthy, timeout, f"server on port {self.port}")
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
        try:
            return httpx.get(self.http + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        stop_process(self.proc, timeout)
        return self.proc.returncode

    def kill(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def held_connections(self) -> int:
        """Connections the node's process holds open on its own ports (HTTP and socket), read from /proc (Linux):
        what its connection caps count, seen from outside. A client's view lags the node's: a socket the client
        saw closed may still be held until the node reads the client's FIN."""
        assert self.proc is not None
        inodes = set()
        for fd in Path(f"/proc/{self.proc.pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except FileNotFoundError:  # closed meanwhile
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
        ports = {self.port, self.ws_port}
        held = 0
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()  # local address, remote, state (0A: listening), ..., inode (the tenth)
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port in ports and fields[3] != "0A" and fields[9] in inodes:
                    held += 1
        return held

    def create_admin(self, name: str) -> None:
        """Give a registered account the operator role with `valgame admin create-admin`, as an operator would (its
        next login carries the role)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("VALGAME_")}
        env["VALGAME_JWT_SECRET"] = self.jwt_secret
        command = [sys.executable, "-m", "server", "admin", "create-admin", name, "--data-dir", str(self.data_dir)]
        subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
