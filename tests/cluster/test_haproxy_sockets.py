"""The load balancer of the deployment (a real HAProxy configured by deploy/haproxy/haproxy.cfg, nodes on this
machine) routes `/ws` to the nodes' socket server, whichever transport serves it: the HTTP port itself (asgi) or
each node's picows port. A client that follows `/ws-url` through HAProxy keeps one origin, gets authenticated and
answered, and HAProxy spreads the sockets over both nodes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection

from tests.cluster.conftest import Cluster
from tests.support.client import register, unique_name
from tests.support.haproxy import HaproxyProcess, haproxy_binary
from tests.support.wire import auth_frame, open_raw, ping_frame


@pytest.mark.parametrize("transport", ["asgi", "picows"])
async def test_sockets_through_haproxy_reach_every_node(make_cluster: Callable[..., Cluster], tmp_path: Path,
                                                        transport: str) -> None:
    if haproxy_binary() is None:
        pytest.skip("haproxy is not installed (scripts/test.sh installs Debian's package)")
    cluster = make_cluster(2, transport=transport, ws_public_url="/ws")
    picows = transport == "picows"
    assert all((node.ws_port != node.port) == picows for node in cluster.nodes)
    balancer = HaproxyProcess(tmp_path / "haproxy", [f"127.0.0.1:{n.port}" for n in cluster.nodes],
                              socket_nodes=[f"127.0.0.1:{n.ws_port}" for n in cluster.nodes] if picows else None)
    balancer.start()
    sockets: list[ClientConnection] = []
    try:
        async with httpx.AsyncClient(base_url=balancer.http) as http:
            assert (await http.get("/ws-url")).json() == {"url": "/ws"}  # on HAProxy's address
        served_by: set[str] = set()
        for i in range(4):  # held open: least-connections sends the next to the other node
            login = await register(balancer.http, unique_name("lb"))
            conn = await open_raw(balancer.ws)
            sockets.append(conn)
            await conn.send(auth_frame(login["access_token"]))
            reply = orjson.loads(await asyncio.wait_for(conn.recv(), 10))
            assert reply["ok"] is True, reply
            served_by.add(reply["data"]["node"])
            await conn.send(ping_frame(100 + i))
            assert orjson.loads(await asyncio.wait_for(conn.recv(), 10))["id"] == 100 + i
        assert served_by == {await cluster.node_id(node) for node in cluster.nodes}
    finally:
        for conn in sockets:
            await conn.close()
        balancer.stop()
