"""Real redis-server processes on free ports, for the tests that need the distributed bus: one server
(`RedisProcess`), or a master, its replica and three sentinels (`SentinelSet`)."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import redis

from tests.support.servers import free_port, stop_process, wait_until


class RedisProcess:
    def __init__(self, workdir: Path, args: list[str] | None = None, config: str = "") -> None:
        self.workdir = workdir
        self.port = free_port()
        self.args = args or []  # more command-line options, e.g. ["--replicaof", host, port]
        self.config = config  # with it, the server reads (and may rewrite) this config file: a sentinel must
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (scripts/test.sh installs it)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [binary]
        if self.config:
            config = self.workdir / "redis.conf"
            if not config.exists():  # a restarted sentinel keeps what it learnt
                config.write_text(self.config)
            command.append(str(config))
        command += ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir), *self.args]
        if "--sentinel" not in self.args:
            command += ["--save", "", "--appendonly", "no"]
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 (owned by the child process)
        self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._answers, 10, f"redis-server on port {self.port}")
        return self

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM; SIGKILL when it has not exited within `timeout` (it must not outlive a test)."""
        stop_process(self.proc, timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown, connections cut."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> None:
        """Stop and start again on the same port (an empty server: nothing is persisted)."""
        self.stop()
        self.start()


SERVICE = "mymaster"


class SentinelSet:
    """A master, one replica and three sentinels (quorum 2) with short failover settings: a master that stops
    answering is declared down after `down_after_ms` and its replica promoted a moment later."""

    def __init__(self, workdir: Path, down_after_ms: int = 1000, failover_timeout_ms: int = 3000) -> None:
        self.master = RedisProcess(workdir / "master")
        self.replica = RedisProcess(workdir / "replica")
        self.sentinels = [RedisProcess(workdir / f"sentinel{i}", ["--sentinel"]) for i in range(3)]
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms

    def processes(self) -> list[RedisProcess]:
        return [self.master, self.replica, *self.sentinels]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def start(self) -> SentinelSet:
        self.master.start()
        self.replica.args = ["--replicaof", "127.0.0.1", str(self.master.port)]
        self.replica.start()
        for sentinel in self.sentinels:
            sentinel.config = (
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}\n"
                f"sentinel failover-timeout {SERVICE} {self.failover_timeout_ms}\n"
                f"sentinel parallel-syncs {SERVICE} 1\n")
            sentinel.start()
        wait_until(self._replica_known, 20, "the sentinels to see the replica")
        return self

    def master_port(self) -> int | None:
        """The master's port as the first sentinel that answers names it."""
        for sentinel in self.sentinels:
            if sentinel.proc is None or sentinel.proc.poll() is not None:
                continue
            reply = _command(sentinel.port, "SENTINEL", "get-master-addr-by-name", SERVICE)
            if reply and len(reply) == 2:
                return int(reply[1])
        return None

    def replicas_up(self) -> int:
        """Replicas the first sentinel that answers sees up and linked to the master."""
        for sentinel in self.sentinels:
            if sentinel.proc is None or sentinel.proc.poll() is not None:
                continue
            replicas = _command(sentinel.port, "SENTINEL", "replicas", SERVICE)
            if replicas is None:
                continue
            return sum(1 for r in replicas if isinstance(r, dict) and "s_down" not in str(r.get("flags", ""))
                       and r.get("master-link-status") == "ok")
        return 0

    def describe(self) -> str:
        """What each sentinel says of the master and its replicas, each server's ROLE, and the tail of every log: for
        a test's failure message, when the sentinels did not do what it waited for."""
        lines = []
        for sentinel in self.sentinels:
            master = _command(sentinel.port, "SENTINEL", "get-master-addr-by-name", SERVICE)
            replicas = _command(sentinel.port, "SENTINEL", "replicas", SERVICE) or []
            seen = [{key: r.get(key) for key in ("name", "flags", "master-link-status", "role-reported")}
                    for r in replicas if isinstance(r, dict)]
            lines.append(f"sentinel {sentinel.port}: master {master}, replicas {seen}")
        for server in (self.master, self.replica):
            lines.append(f"server {server.port}: ROLE {_command(server.port, 'ROLE')}")
        for process in (*self.sentinels, self.master, self.replica):
            log = process.workdir / "redis.log"
            tail = log.read_text().splitlines()[-12:] if log.exists() else []
            lines += [f"--- {process.workdir.name} ({process.port})", *tail]
        return "\n".join(lines)

    def _replica_known(self) -> bool:
        for sentinel in self.sentinels:
            replicas = _command(sentinel.port, "SENTINEL", "replicas", SERVICE) or []
            if not replicas:
                return False
        return True

    def stop(self) -> None:
        for process in (*self.sentinels, self.replica, self.master):
            process.stop()


def _cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free and valid too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def _start_cluster_node(server: RedisProcess, attempts: int = 3) -> None:
    """Start a cluster node. Its bus port (+10000) lies in the ephemeral range, so another process's connection can
    take it between `_cluster_port`'s probe and the start (seen in CI: "Failed listening on port ... (cluster)"); the
    server then exits at once, and it is started again on a fresh pair of ports, a bounded number of times."""
    for attempt in range(attempts):
        try:
            server.start()
            return
        except RuntimeError:
            if attempt == attempts - 1:
                raise
            (server.workdir / "nodes.conf").unlink(missing_ok=True)
            server.port = _cluster_port()


def _one(port: int, *args: str) -> Any:
    """One command that must succeed; its single reply."""
    reply = _command(port, *args)
    assert reply is not None, f"{args} on port {port} failed"
    return reply[0]


def _command(port: int, *args: str) -> list[Any] | None:
    """One command to a server on this port, with redis-py's plain client (what the tests' support needs)."""
    client = redis.Redis(port=port, socket_timeout=2, decode_responses=True)
    try:
        reply = client.execute_command(*args)
        return reply if isinstance(reply, list) else [reply]
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()


class ClusterSet:
    """A Redis Cluster of `masters` masters with `replicas` replicas each (`redis-cli --cluster create`), with a short
    node timeout so a dead master's replica takes over within a few seconds."""

    def __init__(self, workdir: Path, masters: int = 3, replicas: int = 0, node_timeout_ms: int = 1000) -> None:
        args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(node_timeout_ms)]
        self.servers = [RedisProcess(workdir / f"node{i}", list(args)) for i in range(masters * (1 + replicas))]
        for server in self.servers:
            server.port = _cluster_port()
        self.replicas = replicas

    def processes(self) -> list[RedisProcess]:
        return list(self.servers)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{s.port}" for s in self.servers[:2]) + "/"

    def start(self) -> ClusterSet:
        """Start every server and make them one cluster; if any step fails, the servers already started are
        stopped (a fixture that fails to start has no teardown to do it, and a stray server loads later tests)."""
        try:
            for server in self.servers:
                _start_cluster_node(server)
            binary = shutil.which("redis-cli")
            if binary is None:
                raise RuntimeError("redis-cli is not installed")
            subprocess.run([binary, "--cluster", "create", *(f"127.0.0.1:{s.port}" for s in self.servers),
                            "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                           check=True, capture_output=True, timeout=60)
            wait_until(self.healthy, 30, "the cluster to be ok on every server")
        except BaseException:
            self.stop()
            raise
        return self

    def healthy(self) -> bool:
        for server in self.servers:
            if server.proc is None or server.proc.poll() is not None:
                continue
            info = _command(server.port, "CLUSTER", "INFO")
            if not info or "cluster_state:ok" not in str(info[0]):
                return False
        return True

    def owner(self, key: str) -> RedisProcess:
        """The server that masters the slot of `key` now, as the cluster says (redis-py's own cluster client)."""
        live = next(s for s in self.servers if s.proc is not None and s.proc.poll() is None)
        client = redis.RedisCluster(host="127.0.0.1", port=live.port, socket_timeout=2)
        try:
            node = client.get_node_from_key(key)
        finally:
            client.close()
        return next(s for s in self.servers if s.port == node.port)

    def masters(self) -> list[RedisProcess]:
        """The live servers that are masters now."""
        return [s for s in self.servers if s.proc is not None and s.proc.poll() is None
                and (_command(s.port, "ROLE") or [""])[0] == "master"]

    def move_slot(self, key: str, to: RedisProcess) -> int:
        """Move the slot of `key`, with its keys, to the master `to`, the way `redis-cli --cluster reshard` does
        (IMPORTING / MIGRATING, MIGRATE of each key, then SETSLOT NODE on every master). Returns the slot."""
        source = self.owner(key)
        assert source is not to
        slot = int(_one(to.port, "CLUSTER", "KEYSLOT", key))
        source_id, target_id = _one(source.port, "CLUSTER", "MYID"), _one(to.port, "CLUSTER", "MYID")
        _one(to.port, "CLUSTER", "SETSLOT", str(slot), "IMPORTING", source_id)
        _one(source.port, "CLUSTER", "SETSLOT", str(slot), "MIGRATING", target_id)
        while keys := _command(source.port, "CLUSTER", "GETKEYSINSLOT", str(slot), "100"):
            _one(source.port, "MIGRATE", "127.0.0.1", str(to.port), "", "0", "5000", "KEYS", *keys)
        for server in self.servers:
            if server.proc is not None and server.proc.poll() is None:
                _command(server.port, "CLUSTER", "SETSLOT", str(slot), "NODE", target_id)
        wait_until(lambda: self.owner(key) is to, 10, f"slot {slot} owned by the server on port {to.port}")
        return slot

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
