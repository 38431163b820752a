"""The ASGI application of one node."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from persistence import Unavailable
from server import http
from server.auth import PasswordsBusy
from server.bus import BusUnavailable
from server.node import Node
from server.settings import Settings
from server.socket import SocketEndpoint
from server.transport.port import SocketServer

STATIC_DIR = Path(__file__).parent / "static"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, http.HttpError)
    return http.error_response(exc)


async def _passwords_busy(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PasswordsBusy)
    return http.busy_response(exc)


async def _unavailable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Unavailable | BusUnavailable)
    if request.scope["type"] != "http":  # a socket answers these itself (1013); one that escapes it is a bug
        raise exc
    return http.unavailable_response(http.node_of(request).settings.retry_after_seconds)


def create_app(settings: Settings | None = None, node: Node | None = None,
               sockets: SocketServer | None = None) -> Starlette:
    """With `sockets`, `/ws` is served by it (on its own port) instead of by this app."""
    node = node or Node(settings or Settings.from_env())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await node.start()
        # What exists now (modules, catalog, settings) lives as long as the process: keep it out of every full
        # collection, whose pauses otherwise scan it again and show in the latency tail.
        gc.freeze()
        if sockets is not None:
            await sockets.start()
        try:
            yield
        finally:
            if sockets is not None:
                await node.drain()  # its sockets closed with 1012 while the node still serves their commands
                await sockets.stop()
            await node.stop()

    routes = [
        *([] if sockets is not None else [WebSocketRoute("/ws", SocketEndpoint(node))]),
        Route("/ws-url", http.ws_url),
        Route("/auth/register", http.register, methods=["POST"]),
        Route("/auth/login", http.login, methods=["POST"]),
        Route("/auth/refresh", http.refresh, methods=["POST"]),
        Route("/auth/logout", http.logout, methods=["POST"]),
        Route("/health", http.health),
        Route("/ready", http.ready),
        Route("/metrics", http.metrics),
        Route("/api/dungeons", http.api_dungeons),
        Route("/api/characters", http.api_characters),
        Route("/api/rankings/global", http.api_rankings_global),
        Route("/admin/broadcast", http.admin_broadcast, methods=["POST"]),
        Route("/admin/kick", http.admin_kick, methods=["POST"]),
        Route("/admin/drain", http.admin_drain, methods=["POST"]),
        Route("/admin/stats", http.admin_stats),
        Mount("/", app=StaticFiles(directory=STATIC_DIR, html=True), name="static"),  # the browser client
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={http.HttpError: _http_error, PasswordsBusy: _passwords_busy,
                                        Unavailable: _unavailable, BusUnavailable: _unavailable})
    app.state.node = node
    return app
