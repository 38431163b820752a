"""Running a node under uvicorn, with a drain before uvicorn's own shutdown."""

from __future__ import annotations

import asyncio
import resource
import signal
from types import FrameType

import uvicorn

from server.app import create_app
from server.edge import EdgeLimits, EdgeMiddleware, guarded_protocols, parse_networks
from server.logs import configure
from server.node import Node
from server.settings import Settings
from server.socket import native_sockets, socket_sources


class DrainingServer(uvicorn.Server):
    """On the first SIGTERM or SIGINT: refuse new sockets, let in-flight commands finish, close every socket
    with 1012, then let uvicorn stop. A second signal stops at once."""

    def __init__(self, config: uvicorn.Config, node: Node) -> None:
        super().__init__(config)
        self.node = node
        self._drain_task: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drain_task is not None or sig not in (signal.SIGTERM, signal.SIGINT):
            super().handle_exit(sig, frame)
            return

        async def drain_then_exit() -> None:
            try:
                await self.node.drain()
            finally:
                # Not `super().handle_exit`: uvicorn would record the signal and raise it again once stopped,
                # so a graceful stop would end by the signal instead of with status 0.
                self.should_exit = True

        self._drain_task = asyncio.get_running_loop().create_task(drain_then_exit())


def edge_limits(settings: Settings) -> EdgeLimits:
    max_connections = settings.max_connections or max(100, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 100)
    return EdgeLimits(max_connections=max_connections, max_header_bytes=settings.max_header_bytes,
                      max_headers=settings.max_headers, header_timeout=settings.header_timeout_seconds,
                      max_body_bytes=settings.max_body_bytes,
                      connections_per_address_per_10s=settings.connections_per_address_per_10s,
                      trusted=parse_networks(settings.trusted_addresses), limiter_keys=settings.limiter_max_keys)


def uvicorn_config(app: object, settings: Settings, limits: EdgeLimits | None = None) -> uvicorn.Config:
    limits = limits or edge_limits(settings)
    http_protocol, ws_protocol = guarded_protocols(limits)
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop=loop,
        http=http_protocol,
        ws=ws_protocol,
        ws_max_size=64 * 1024,
        ws_per_message_deflate=settings.ws_per_message_deflate,
        ws_ping_interval=settings.ping_interval_seconds,
        ws_ping_timeout=settings.ping_timeout_seconds,
        lifespan="on",
        log_config=None,
        timeout_graceful_shutdown=settings.drain_seconds + 5,
        backlog=4096,
        limit_concurrency=limits.max_connections,  # HTTP past it: 503 (sockets: 1013, in EdgeMiddleware)
        timeout_keep_alive=settings.keepalive_seconds,
        server_header=False,
    )


def serve(settings: Settings) -> None:
    configure(settings.log_level)
    node = Node(settings)
    limits = edge_limits(settings)
    connections: set[object] = set()  # uvicorn's set of open connections, once the server exists
    sockets = native_sockets(node, limits, lambda: len(connections))  # /ws on picows, when chosen
    app = EdgeMiddleware(create_app(node=node, sockets=sockets), limits, lambda: len(connections),
                         connect_src=socket_sources(settings))
    server = DrainingServer(uvicorn_config(app, settings, limits), node)
    connections = server.server_state.connections
    server.run()
