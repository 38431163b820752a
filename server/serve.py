"""Running a node under uvicorn, with a drain before uvicorn's own shutdown."""

from __future__ import annotations

import asyncio
import math
import resource
import signal
from collections.abc import Callable
from concurrent.futures import Future
from types import FrameType

import uvicorn

from server.app import create_app
from server.collector import PAUSES, set_thresholds
from server.edge import EdgeLimits, guarded_protocols, parse_networks
from server.edge_middleware import EdgeMiddleware
from server.logs import configure
from server.node import Node
from server.settings import Settings
from server.socket import native_sockets, socket_sources
from server.transport.port import SocketServer


class DrainingServer(uvicorn.Server):
    """A stop is the node's one drain (Node.drain), however it was asked for: the `drain` command, SIGTERM or SIGINT,
    any number of times. uvicorn stops only once the drain is over, so its own shutdown finds every socket closed
    and no reply left to cut; its grace, for HTTP requests, is what is left of the drain's deadline. Only a second
    SIGINT (Ctrl+C twice at a terminal) stops at once; SIGTERM never does (docs/DESIGN.md, "Stopping a node")."""

    def __init__(self, config: uvicorn.Config, node: Node) -> None:
        super().__init__(config)
        self.node = node
        self._stop: Future[None] | None = None  # the drain, then the exit; once a signal asked for it
        self._interrupted = False  # a SIGINT came: the next one stops at once

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig not in (signal.SIGTERM, signal.SIGINT):
            super().handle_exit(sig, frame)
        elif sig == signal.SIGINT and self._interrupted:
            self.force_exit = self.should_exit = True  # uvicorn closes every connection now, waits for nothing
        else:
            self._interrupted = self._interrupted or sig == signal.SIGINT
            if self._stop is None:
                # A Python signal handler runs between two bytecodes of whatever the loop was doing: hand the work
                # over the way another thread would.
                self._stop = asyncio.run_coroutine_threadsafe(self._drain_then_exit(), asyncio.get_running_loop())

    async def _drain_then_exit(self) -> None:
        try:
            await self.node.drain()  # the drain already under way, if the `drain` command started one
        finally:
            # uvicorn's grace (HTTP requests, a command that outlived the deadline): what the deadline left, in the
            # whole seconds uvicorn takes, at least one
            self.config.timeout_graceful_shutdown = max(1, math.ceil(self.node.drain_seconds_left()))
            # Not `super().handle_exit`: uvicorn would record the signal and raise it again once stopped, so a
            # graceful stop would end by the signal instead of with status 0.
            self.should_exit = True


def edge_limits(settings: Settings) -> EdgeLimits:
    max_connections = settings.max_connections or max(100, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 100)
    return EdgeLimits(max_connections=max_connections, max_header_bytes=settings.max_header_bytes,
                      max_headers=settings.max_headers, header_timeout=settings.header_timeout_seconds,
                      max_body_bytes=settings.max_body_bytes,
                      connections_per_address_per_10s=settings.connections_per_address_per_10s,
                      trusted=parse_networks(settings.trusted_addresses), limiter_keys=settings.limiter_max_keys)


def uvicorn_config(app: object, settings: Settings, limits: EdgeLimits | None = None,
                   open_connections: Callable[[], int] | None = None) -> uvicorn.Config:
    """uvicorn's configuration for a node; `open_connections` counts the node's connections on every server
    (server/edge.py), uvicorn's own when it runs alone."""
    limits = limits or edge_limits(settings)
    http_protocol, ws_protocol = guarded_protocols(limits, open_connections)
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
        timeout_graceful_shutdown=settings.drain_seconds,  # set again once the drain is over: what it left
        backlog=4096,
        # The connection limit is EdgeMiddleware's (503 / 1013, counting every server of the node). uvicorn's own
        # check refuses when its connections or tasks, the new one included, reach `limit_concurrency`: one above
        # the limit, it applies the same rule to uvicorn's count (never sooner), and still bounds the tasks.
        limit_concurrency=limits.max_connections + 1,
        timeout_keep_alive=settings.keepalive_seconds,
        server_header=False,
    )


def serve(settings: Settings) -> None:
    configure(settings.log_level)
    set_thresholds(settings.gc_threshold0, settings.gc_threshold1, settings.gc_threshold2)  # the process's, so here
    PAUSES.watch()
    node = Node(settings)
    limits = edge_limits(settings)
    connections: set[object] = set()  # uvicorn's set of open connections (HTTP, sockets on asgi), once it exists
    sockets: SocketServer | None = None

    def open_connections() -> int:
        """The node's open connections on both servers: what `max_connections` and the hard cap count."""
        return len(connections) + (sockets.open_count() if sockets is not None else 0)

    sockets = native_sockets(node, limits, open_connections)  # /ws on picows, when chosen
    app = EdgeMiddleware(create_app(node=node, sockets=sockets), limits, open_connections,
                         connect_src=socket_sources(settings))
    server = DrainingServer(uvicorn_config(app, settings, limits, open_connections), node)
    connections = server.server_state.connections
    server.run()
