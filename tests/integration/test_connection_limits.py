"""`max_connections` counts the node's open connections, HTTP and sockets, whichever server holds them: uvicorn's
HTTP port, and picows' socket port with `--transport picows` (run this file with `pytest --transport=picows` too).
Up to the limit a connection is served; one more is refused (503 / 1013); past the hard cap (the limit + 16 here) a
new connection is dropped at accept, on either port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection

from tests.support.client import register, unique_name
from tests.support.servers import ServerProcess, wait_until
from tests.support.wire import auth_frame, open_raw, read_until_closed

LIMIT = 4
HARD_CAP = LIMIT + 16  # EdgeLimits.hard_cap: the limit plus max(16, 5 %)
# Connections held idle outlive the test: no header timeout, keep-alive or auth timeout closes them meanwhile.
HOLDING = {"max_connections": LIMIT, "header_timeout_seconds": 60, "keepalive_seconds": 60,
           "password_hash_memory_kib": 1024, "password_hash_time_cost": 1}
HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


async def served_socket(node: ServerProcess, token: str) -> ClientConnection:
    """A socket the node served: authenticated, not refused with 1013."""
    conn = await open_raw(node.ws)
    await conn.send(auth_frame(token))
    reply = orjson.loads(await asyncio.wait_for(conn.recv(), 10))
    assert reply["ok"] is True, reply
    return conn


def first_reply(port: int, request: bytes) -> bytes:
    """What the node answers `request` on a new connection to `port` (b'' when it drops the connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(request)
            return sock.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            return b""


def status_line(port: int, request: bytes) -> str:
    return first_reply(port, request).split(b"\r\n", 1)[0].decode()


def held_keep_alive(node: ServerProcess) -> socket.socket:
    """An HTTP connection that was served a request and stays open (keep-alive), idle."""
    sock = socket.create_connection(("127.0.0.1", node.port), timeout=10)
    sock.sendall(HEALTH)
    reply = b""
    while not _complete(reply):
        chunk = sock.recv(4096)
        assert chunk, reply
        reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    return sock


def _complete(reply: bytes) -> bool:
    head, found, body = reply.partition(b"\r\n\r\n")
    if not found:
        return False
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    return len(body) >= length


def silent(port: int, count: int) -> list[socket.socket]:
    """Connections that send nothing: each holds a slot until the header timeout."""
    return [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]


async def wait_for(predicate: Callable[[], Any], what: str) -> None:
    await asyncio.to_thread(wait_until, predicate, 10.0, what, 0.1)


async def test_open_sockets_count_against_http_requests(make_server: Callable[..., ServerProcess]) -> None:
    node = make_server(**HOLDING)
    logins = [await register(node.http, unique_name("cap")) for _ in range(LIMIT)]
    sockets = [await served_socket(node, login["access_token"]) for login in logins[:-1]]
    held: list[socket.socket] = []
    try:
        # LIMIT - 1 sockets and this request: within the limit
        await wait_for(lambda: " 200 " in status_line(node.port, HEALTH), "a request served beside 3 sockets")
        sockets.append(await served_socket(node, logins[-1]["access_token"]))
        # LIMIT sockets: a request would be one more
        await wait_for(lambda: " 503 " in status_line(node.port, HEALTH), "503 beside 4 sockets")
        # Up to the hard cap with connections to the socket port that never send their upgrade: a new HTTP
        # connection is dropped at accept
        await wait_for(lambda: node.held_connections() == LIMIT, "the refused requests let go")
        held = silent(node.ws_port, HARD_CAP - LIMIT)
        await wait_for(lambda: node.held_connections() == HARD_CAP, "every silent connection held")
        await wait_for(lambda: first_reply(node.port, HEALTH) == b"", "HTTP dropped at accept past the hard cap")
    finally:
        for sock in held:
            sock.close()
        for conn in sockets:
            await conn.close()
    await wait_for(lambda: " 200 " in status_line(node.port, HEALTH), "served again")


async def test_open_http_connections_count_against_sockets(make_server: Callable[..., ServerProcess]) -> None:
    node = make_server(**HOLDING)
    login = await register(node.http, unique_name("cap"))
    held = [held_keep_alive(node) for _ in range(LIMIT - 1)]
    conn: ClientConnection | None = None
    try:
        conn = await served_socket(node, login["access_token"])  # LIMIT - 1 HTTP connections and this socket
        refused = await open_raw(node.ws)  # one more
        code, _ = await read_until_closed(refused, 5)
        assert code == 1013
        # Up to the hard cap with silent connections to the HTTP port: a new socket is dropped at accept. The node
        # lets go of the refused socket when it reads the client's FIN: wait, or one silent connection could find
        # the cap full and be dropped.
        await wait_for(lambda: node.held_connections() == LIMIT, "the refused socket let go")
        held += silent(node.port, HARD_CAP - LIMIT)
        await wait_for(lambda: node.held_connections() == HARD_CAP, "every silent connection held")
        await wait_for(lambda: first_reply(node.ws_port, UPGRADE) == b"", "socket dropped at accept past the hard cap")
    finally:
        for sock in held:
            sock.close()
        if conn is not None:
            await conn.close()
    await wait_for(lambda: " 101 " in status_line(node.ws_port, UPGRADE), "sockets served again")
