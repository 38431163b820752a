"""The two deployments the load scenarios run against, started on this machine and stopped afterwards:

- single: one node on embedded defaults (SQLite in its data folder, in-process bus);
- cluster: two nodes on a real redis-server (bus) and a real secantusd (the MongoDB-wire store), behind a real HAProxy
  configured by deploy/haproxy/haproxy.cfg. On the picows transport HAProxy routes `/ws` to the nodes' socket
  ports, and the nodes tell clients `/ws` (on HAProxy's address), as in the compose deployment.

Clients go to `Deployment.url` (the node, or HAProxy). Used by bench/scenario.py and the load tests.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import servers
from tests.support.haproxy import HaproxyProcess
from tests.support.mongo import MongoProcess
from tests.support.redis import RedisProcess
from tests.support.servers import ServerProcess

CLUSTER_NODES = 2
NODE_START_SECONDS = 60  # a loaded shared machine starts a node slowly
NODE_STOP_SECONDS = 20  # a node's graceful drain, before it is killed
SERVICE_STOP_SECONDS = 10  # redis-server's, secantusd's and HAProxy's stop, before each is killed
# The longest a cluster's stop can take: one after another, each process gets its bound and is then killed.
STOP_SECONDS = CLUSTER_NODES * NODE_STOP_SECONDS + 3 * SERVICE_STOP_SECONDS


@dataclass
class Deployment:
    kind: str  # "single" or "cluster"
    url: str  # where clients go
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)  # by role: node1, redis, ...
    nodes: list[ServerProcess] = field(default_factory=list)

    def pids(self) -> dict[str, int]:
        return {role: proc.pid for role, proc in self.processes.items()}


def _stop_node(node: ServerProcess) -> None:
    if node.proc is not None:
        node.terminate(timeout=NODE_STOP_SECONDS)  # a graceful drain; killed when it takes longer


def _stop_all(stops: list[Callable[[], Any]]) -> None:
    """Stop in reverse order of start; one that fails does not keep the others running."""
    errors: list[BaseException] = []
    for stop in reversed(stops):
        try:
            stop()
        except BaseException as exc:  # e.g. a second Ctrl-C: still stop the rest, then re-raise
            errors.append(exc)
    if errors:
        raise errors[0]


@contextmanager
def deployment(root: Path, cluster: bool, **node_settings: Any) -> Iterator[Deployment]:
    """Start a deployment in `root` (data and logs); everything started is stopped on exit, whatever happened."""
    stops: list[Callable[[], Any]] = []
    try:
        if not cluster:
            node = ServerProcess(root / "node", **node_settings)
            stops.append(lambda: _stop_node(node))
            node.start(NODE_START_SECONDS)
            assert node.proc is not None
            yield Deployment("single", node.http, {"node": node.proc}, [node])
            return
        redis = RedisProcess(root / "redis")
        stops.append(lambda: redis.stop(SERVICE_STOP_SECONDS))
        redis.start()
        mongo = MongoProcess(root / "secantusd")
        stops.append(lambda: mongo.stop(SERVICE_STOP_SECONDS))
        mongo.start()
        nodes: list[ServerProcess] = []
        picows = node_settings.get("transport", servers.TRANSPORT) == "picows"
        if picows:
            node_settings.setdefault("ws_public_url", "/ws")  # the socket through HAProxy, not beside it
        for i in range(1, CLUSTER_NODES + 1):
            node = ServerProcess(root / f"node{i}", bus=redis.url, storage=mongo.url("valgame"), **node_settings)
            stops.append(lambda node=node: _stop_node(node))  # type: ignore[misc]
            node.start(NODE_START_SECONDS)
            nodes.append(node)
        balancer = HaproxyProcess(root / "haproxy", [f"127.0.0.1:{n.port}" for n in nodes],
                                  socket_nodes=[f"127.0.0.1:{n.ws_port}" for n in nodes] if picows else None)
        stops.append(lambda: balancer.stop(SERVICE_STOP_SECONDS))
        balancer.start()
        processes = {f"node{i}": n.proc for i, n in enumerate(nodes, 1) if n.proc is not None}
        assert redis.proc and mongo.proc and balancer.proc
        processes |= {"redis": redis.proc, "secantusd": mongo.proc, "haproxy": balancer.proc}
        yield Deployment("cluster", balancer.http, processes, nodes)
    finally:
        _stop_all(stops)
