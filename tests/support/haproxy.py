"""A real HAProxy (Debian's package) on a free loopback port in front of nodes on this machine, configured by the
same deploy/haproxy/haproxy.cfg as the compose deployment (the node addresses come from environment variables;
with nodes on the picows transport, their socket addresses too, where HAProxy sends `/ws`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx

from tests.support.servers import REPO, free_port, stop_process, wait_until

CONFIG = REPO / "deploy" / "haproxy" / "haproxy.cfg"
MAX_NODES = 4  # the config names VALGAME_LB_NODE1..4


def haproxy_binary() -> str | None:
    """Debian installs it in /usr/sbin, which a user's PATH may lack."""
    return shutil.which("haproxy") or (str(Path("/usr/sbin/haproxy")) if Path("/usr/sbin/haproxy").exists() else None)


class HaproxyProcess:
    def __init__(self, workdir: Path, nodes: list[str], maxconn: int = 8000,
                 socket_nodes: list[str] | None = None) -> None:
        """`nodes`: the nodes' HTTP addresses; `socket_nodes`: where each serves `/ws`, in the same order, when
        that is another port (picows); None: `/ws` goes to `nodes` with everything else (asgi)."""
        if not 1 <= len(nodes) <= MAX_NODES:
            raise ValueError(f"deploy/haproxy/haproxy.cfg takes 1 to {MAX_NODES} node addresses, not {len(nodes)}")
        if socket_nodes is not None and len(socket_nodes) != len(nodes):
            raise ValueError(f"one socket address per node: {len(socket_nodes)} for {len(nodes)} nodes")
        self.workdir = workdir
        self.nodes = nodes
        self.socket_nodes = socket_nodes
        self.maxconn = maxconn  # the compose default (100,000) asks for more file descriptors than a test has
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"haproxy-{self.port}.log"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self, timeout: float = 20) -> HaproxyProcess:
        binary = haproxy_binary()
        if binary is None:
            raise RuntimeError("haproxy is not installed (scripts/test.sh installs Debian's package)")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VALGAME_LB_")}
        env["VALGAME_LB_BIND"] = f"127.0.0.1:{self.port}"
        env["VALGAME_LB_MAXCONN"] = str(self.maxconn)
        env.update({f"VALGAME_LB_NODE{i}": address for i, address in enumerate(self.nodes, 1)})
        env.update({f"VALGAME_LB_WS_NODE{i}": address for i, address in enumerate(self.socket_nodes or [], 1)})
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 (owned by the child process)
        try:
            # -db: stay in the foreground (no daemon, no master process), so this pid is the one that works.
            self.proc = subprocess.Popen([binary, "-f", str(CONFIG), "-db"], env=env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        seen: set[str] = set()
        try:
            wait_until(lambda: self._every_node_answered(seen), timeout, f"haproxy on {self.port} reaching every node",
                       interval=0.05)
        except BaseException:
            self.stop()
            raise
        return self

    def _every_node_answered(self, seen: set[str]) -> bool:
        """Ask /health through the balancer until each node has answered once (each is up behind it)."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"haproxy exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
        try:
            response = httpx.get(self.http + "/health", timeout=1)
        except httpx.HTTPError:
            return False
        if response.status_code == 200:
            seen.add(response.json()["node"])
        return len(seen) >= len(self.nodes)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 10) -> None:
        # SIGTERM is HAProxy's hard stop: a soft stop (SIGUSR1) would wait for the game's sockets to end.
        stop_process(self.proc, timeout)
