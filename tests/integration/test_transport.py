"""The WebSocket transports (server/transport/): where clients find the socket, and what the picows adapter must do
itself that uvicorn's websockets does for the ASGI path: the upgrade's limits, message reassembly, invalid UTF-8,
the close handshake, settings checked at start. The behaviour above the port (sessions, limits, faults) is tested
on both transports by the rest of the suite (`pytest --transport=picows`)."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from websockets.frames import Frame, Opcode

from tests.integration.test_stuck_sockets import established_server_ports
from tests.support.client import register, unique_name
from tests.support.servers import ServerProcess
from tests.support.wire import auth_frame, eventually, open_raw, ping_frame, read_until_closed


@pytest.fixture(scope="module")
def picows_node(make_module_server: Callable[..., ServerProcess]) -> ServerProcess:
    return make_module_server(transport="picows")


async def authenticated(node: ServerProcess) -> Any:
    login = await register(node.http, unique_name("tr"))
    conn = await open_raw(node.ws)
    await conn.send(auth_frame(login["access_token"]))
    assert orjson.loads(await asyncio.wait_for(conn.recv(), 10))["ok"] is True
    return conn


async def test_ws_url_names_the_socket_the_node_serves(server: ServerProcess) -> None:
    """Whatever the transport (`--transport`), `/ws-url` leads to a socket that authenticates."""
    async with httpx.AsyncClient(base_url=server.http) as http:
        url = (await http.get("/ws-url")).json()["url"]
    if url.startswith("/"):
        url = server.http.replace("http", "ws", 1) + url
    assert url == server.ws
    conn = await authenticated(server)
    await conn.send(ping_frame(7))
    assert orjson.loads(await asyncio.wait_for(conn.recv(), 10))["id"] == 7
    await conn.close()


async def test_replies_of_each_frame_length_encoding_arrive_whole(server: ServerProcess) -> None:
    """Whoever frames them (on asgi the direct write of server/edge.py, else uvicorn's `send`; picows), replies
    arrive whole: their length, in UTF-8 bytes rather than characters, takes 7 or 16 bits on the wire."""
    conn = await authenticated(server)
    for frame_id, echo in enumerate(["", "a" * 60, "€" * 25, "€" * 45, "a" * 200, "€" * 21_000], start=10):
        await conn.send(ping_frame(frame_id, echo))
        reply = orjson.loads(await asyncio.wait_for(conn.recv(), 10))
        assert reply["id"] == frame_id and reply["data"]["echo"] == echo
    await conn.close()


async def test_with_per_message_deflate_the_asgi_node_still_compresses(
        make_server: Callable[..., ServerProcess]) -> None:
    """The direct frame write steps aside on a connection that negotiated compression: uvicorn's `send` compresses
    the auth reply (RSV1 set)."""
    node = make_server(transport="asgi", ws_per_message_deflate=True)
    login = await register(node.http, unique_name("df"))

    def first_frame_head() -> tuple[bytes, int]:
        with socket.create_connection(("127.0.0.1", node.ws_port), timeout=10) as sock:
            key = base64.b64encode(os.urandom(16)).decode()
            sock.sendall(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                         "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                assert chunk, head
                head += chunk
            response, rest = head.split(b"\r\n\r\n", 1)
            sock.sendall(Frame(Opcode.TEXT, auth_frame(login["access_token"]).encode()).serialize(mask=True))
            return response, (rest or sock.recv(1))[0]

    response, first_byte = await asyncio.to_thread(first_frame_head)
    assert b"permessage-deflate" in response.lower()
    assert first_byte == 0b1100_0001  # FIN, RSV1 (compressed), text


async def test_ws_public_url_is_what_clients_are_told(make_server: Callable[..., ServerProcess]) -> None:
    node = make_server(ws_public_url="/game/ws")
    assert httpx.get(node.http + "/ws-url").json() == {"url": "/game/ws"}


async def test_with_picows_the_http_port_serves_no_socket(picows_node: ServerProcess) -> None:
    assert picows_node.ws_port != picows_node.port
    with pytest.raises(Exception):  # noqa: B017 (refused at the handshake, whatever the client calls it)
        await open_raw(f"ws://127.0.0.1:{picows_node.port}/ws")


def upgrade_request(path: str = "/ws", extra: bytes = b"") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n").encode() + extra + b"\r\n"


def status_of(node: ServerProcess, request: bytes) -> str:
    """The status line the socket port answers `request` with ('' when it drops the connection)."""
    with socket.create_connection(("127.0.0.1", node.ws_port), timeout=10) as sock:
        try:
            sock.sendall(request)
            return sock.recv(4096).split(b"\r\n", 1)[0].decode()
        except (ConnectionResetError, BrokenPipeError):
            return ""


async def test_picows_upgrade_is_refused_on_another_path_and_past_the_header_limits(
        picows_node: ServerProcess) -> None:
    assert " 101 " in status_of(picows_node, upgrade_request())
    assert " 404 " in status_of(picows_node, upgrade_request("/other"))
    many = b"".join(f"x-h{i}: v\r\n".encode() for i in range(101))
    assert " 431 " in status_of(picows_node, upgrade_request(extra=many))
    assert status_of(picows_node, upgrade_request(extra=b"x-big: " + b"a" * 20_000 + b"\r\n")) in (
        "HTTP/1.1 431 Request Header Fields Too Large", "")


async def test_an_upgrade_head_of_max_header_bytes_is_accepted(server: ServerProcess) -> None:
    """On either transport, with the default `max_header_bytes` (picows' own ceiling: see the next test)."""
    limit = 16 * 1024  # Settings.max_header_bytes' default
    lines = [f"x-pad{i}: ".encode() + b"a" * 3000 + b"\r\n" for i in range(4)]  # a line each < 8 KiB (websockets')
    pad = limit - len(upgrade_request(extra=b"".join(lines) + b"x-pad: \r\n"))
    head = upgrade_request(extra=b"".join(lines) + b"x-pad: " + b"a" * pad + b"\r\n")
    assert len(head) == limit
    assert " 101 " in status_of(server, head)


async def test_picows_refuses_at_start_a_header_limit_beyond_what_picows_reads(
        make_server: Callable[..., ServerProcess]) -> None:
    with pytest.raises(RuntimeError, match=r"max_header_bytes \(32768\) must not exceed 16384"):
        make_server(transport="picows", max_header_bytes=32 * 1024)


async def test_picows_drops_a_connection_that_sends_no_upgrade_within_the_header_timeout(
        make_server: Callable[..., ServerProcess]) -> None:
    node = make_server(transport="picows", header_timeout_seconds=1)
    with socket.create_connection(("127.0.0.1", node.ws_port), timeout=10) as sock:
        sock.sendall(b"GET /ws HTTP/1.1\r\n")
        assert await asyncio.to_thread(sock.recv, 1) == b""  # closed by the node, no reply, within 1 s + margin


async def test_picows_reassembles_a_fragmented_message(picows_node: ServerProcess) -> None:
    conn = await authenticated(picows_node)
    text = ping_frame(3, "y" * 1000).encode()
    conn.protocol.send_frame(Frame(Opcode.TEXT, text[:10], fin=False))
    conn.protocol.send_frame(Frame(Opcode.CONT, text[10:500], fin=False))
    conn.protocol.send_frame(Frame(Opcode.CONT, text[500:], fin=True))
    conn.send_data()
    reply = orjson.loads(await asyncio.wait_for(conn.recv(), 10))
    assert reply["id"] == 3 and reply["data"]["echo"] == "y" * 1000
    await conn.close()


async def test_picows_closes_with_1009_a_fragmented_message_over_64_kib(picows_node: ServerProcess) -> None:
    conn = await authenticated(picows_node)
    chunk = b"a" * 40_000  # each fragment is within the frame limit; the message is not
    conn.protocol.send_frame(Frame(Opcode.TEXT, chunk, fin=False))
    conn.protocol.send_frame(Frame(Opcode.CONT, chunk, fin=True))
    conn.send_data()
    code, _ = await read_until_closed(conn)
    assert code == 1009


async def test_picows_closes_with_1007_a_text_frame_of_invalid_utf8(picows_node: ServerProcess) -> None:
    conn = await authenticated(picows_node)
    conn.protocol.send_frame(Frame(Opcode.TEXT, b'{"id": 1, "type": "ping", "x": "\xff"}'))
    conn.send_data()
    code, _ = await read_until_closed(conn)
    assert code == 1007


async def test_picows_answers_a_clients_close_with_its_code(picows_node: ServerProcess) -> None:
    conn = await authenticated(picows_node)
    await asyncio.wait_for(conn.close(code=4321, reason="bye"), 10)
    assert conn.protocol.close_rcvd is not None and conn.protocol.close_rcvd.code == 4321


async def test_picows_refuses_a_ping_timeout_longer_than_the_interval_at_start(
        make_server: Callable[..., ServerProcess]) -> None:
    with pytest.raises(RuntimeError, match="ping_timeout_seconds must not exceed"):
        make_server(transport="picows", ping_interval_seconds=5, ping_timeout_seconds=10)


async def test_picows_drops_a_peer_that_answers_no_ping(make_server: Callable[..., ServerProcess]) -> None:
    node = make_server(transport="picows", ping_interval_seconds=0.5, ping_timeout_seconds=0.5)
    login = await register(node.http, unique_name("mute"))
    # A client that answers no pings: its pongs would be automatic, so it stops reading altogether after auth.
    conn = await open_raw(node.ws, ping_interval=None, max_queue=1)
    await conn.send(auth_frame(login["access_token"]))
    assert orjson.loads(await asyncio.wait_for(conn.recv(), 10))["ok"] is True
    conn.transport.pause_reading()
    client_port = conn.transport.get_extra_info("sockname")[1]
    assert client_port in established_server_ports(node.ws_port)

    async def dropped() -> bool:  # the node closed its end once no pong came back in time
        return client_port not in established_server_ports(node.ws_port)

    await eventually(dropped, 10, "the node to drop a peer that answers no ping")
    conn.transport.abort()
