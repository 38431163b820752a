"""The HTTP edge under hostile traffic: huge bodies and headers, slow and silent connections, connection floods,
login floods that try to wipe a lockout, timing that would reveal accounts, and the static client's headers."""

from __future__ import annotations

import asyncio
import secrets
import socket
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from websockets.frames import Frame, Opcode

from tests.support.client import register, unique_name
from tests.support.servers import ServerProcess, wait_until
from tests.support.wire import open_raw, read_until_closed

PASSWORD = "correct horse battery"
MB = 1024 * 1024
CHEAP_HASH = {"password_hash_memory_kib": 1024, "password_hash_time_cost": 1}  # logins in a millisecond


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def raw_connection(node: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", node.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    return sock


def send_until_refused(sock: socket.socket, head: bytes, chunk: bytes, total: int) -> bytes:
    """Send the head, then `chunk` up to `total` bytes or until the server stops taking them; return its reply."""
    sock.sendall(head)
    sent = 0
    sock.settimeout(0.5)
    try:
        while sent < total:
            sock.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass  # the server answered and closed, or stopped reading: what it said is in the receive buffer
    sock.settimeout(10)
    reply = b""
    try:
        while data := sock.recv(65536):
            reply += data
    except (ConnectionResetError, TimeoutError):
        pass
    return reply


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


async def test_a_200_mb_body_is_refused_with_413_before_it_is_read(server: ServerProcess) -> None:
    assert server.proc is not None
    before = rss_bytes(server.proc.pid)
    head = (b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(200 * MB).encode() + b"\r\n\r\n")
    with raw_connection(server) as sock:
        reply = await asyncio.to_thread(send_until_refused, sock, head, b"x" * 65536, 200 * MB)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert rss_bytes(server.proc.pid) - before < 20 * MB


async def test_a_50_mb_chunked_body_is_refused_with_413_once_past_the_limit(server: ServerProcess) -> None:
    assert server.proc is not None
    before = rss_bytes(server.proc.pid)
    head = (b"POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"10000\r\n" + b"x" * 65536 + b"\r\n"
    with raw_connection(server) as sock:
        reply = await asyncio.to_thread(send_until_refused, sock, head, chunk, 50 * MB)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert rss_bytes(server.proc.pid) - before < 20 * MB
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await http.get("/health")).status_code == 200


async def test_bodies_within_the_limit_still_work(server: ServerProcess) -> None:
    login = await register(server.http, unique_name("big"))
    assert login["access_token"]


async def test_a_1_mb_header_is_refused_with_431(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await http.get("/api/characters", headers={"authorization": "Bearer " + "a" * MB})
        assert response.status_code == 431
        many = {f"x-h{i}": "1" for i in range(200)}
        assert (await http.get("/health", headers=many)).status_code == 431
        assert (await http.get("/health")).status_code == 200


async def test_slow_and_silent_connections_are_dropped_after_the_header_timeout(
        make_server: Callable[..., ServerProcess]) -> None:
    node = make_server(header_timeout_seconds=1.0)
    partial = [raw_connection(node) for _ in range(40)]
    silent = [raw_connection(node) for _ in range(20)]
    opened = time.monotonic()
    for sock in partial:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    # Dripping bytes does not buy time: the deadline runs from connect to the end of the headers.
    for sock in partial[:10]:
        sock.sendall(b"a")
    try:
        await asyncio.to_thread(wait_until, lambda: all(closed_by_server(s) for s in partial + silent), 6.0,
                                "slow connections dropped")
        assert time.monotonic() - opened < 1.0 + 5.0
        async with httpx.AsyncClient(base_url=node.http) as http:
            assert (await http.get("/health")).status_code == 200  # a prompt client is served meanwhile
    finally:
        for sock in partial + silent:
            sock.close()


async def test_connections_past_the_limit_are_refused_cleanly(make_server: Callable[..., ServerProcess]) -> None:
    node = make_server(max_connections=20, header_timeout_seconds=30)
    held = [raw_connection(node) for _ in range(20)]
    try:
        await asyncio.to_thread(wait_until, lambda: _http_status(node) == 503, 5.0, "503 at the limit")
        conn = await open_raw(node.ws)
        code, _ = await read_until_closed(conn, 5)
        assert code == 1013
    finally:
        for sock in held:
            sock.close()
    await asyncio.to_thread(wait_until, lambda: _http_status(node) == 200, 5.0, "served again")


def _http_status(node: ServerProcess) -> int:
    try:
        return httpx.get(node.http + "/health", timeout=2).status_code
    except httpx.HTTPError:
        return 0


async def test_an_address_opening_connections_too_fast_is_cut_off(make_server: Callable[..., ServerProcess]) -> None:
    node = make_server(connections_per_address_per_10s=30, trusted_addresses="")
    refused = 0
    for _ in range(60):
        status = await asyncio.to_thread(_http_status, node)
        refused += status == 0
    assert refused >= 25  # past 30 new connections in 10 s, each is dropped at accept


async def test_a_flood_of_unknown_usernames_does_not_wipe_a_lockout(make_server: Callable[..., ServerProcess]) -> None:
    node = make_server(login_attempts=3, limiter_max_keys=50, login_attempts_per_address=100_000, **CHEAP_HASH)
    victim = unique_name("victim")
    await register(node.http, victim, PASSWORD)
    async with httpx.AsyncClient(base_url=node.http) as http:
        for _ in range(3):
            response = await http.post("/auth/login", json={"username": victim, "password": "wrong password"})
            assert response.status_code == 401
        assert (await http.post("/auth/login", json={"username": victim, "password": PASSWORD})).status_code == 429
        for i in range(300):  # six times the limiter's capacity, each a new key
            flood = await http.post("/auth/login", json={"username": f"flood{i}", "password": "x"})
            assert flood.status_code == 401
        locked = await http.post("/auth/login", json={"username": victim, "password": PASSWORD})
        assert locked.status_code == 429, locked.text


async def test_login_takes_as_long_for_unknown_users_as_for_wrong_passwords(
        make_server: Callable[..., ServerProcess]) -> None:
    server = make_server(login_attempts=100)  # the default hash parameters; no lockout within the 20 tries
    name = unique_name("timing")
    await register(server.http, name, PASSWORD)

    async def median_ms(username: str) -> float:
        times = []
        async with httpx.AsyncClient(base_url=server.http) as http:
            for _ in range(20):
                started = time.perf_counter()
                response = await http.post("/auth/login", json={"username": username, "password": secrets.token_hex()})
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 401
        return statistics.median(times)

    known = await median_ms(name)
    unknown = await median_ms(unique_name("ghost"))
    assert max(known, unknown) < 2 * min(known, unknown), (known, unknown)


async def test_the_static_client_is_served_with_security_headers(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.http) as http:
        page = await http.get("/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("path", ["/auth/login", "/auth/register"])
async def test_refused_bodies_leave_the_connection_count_where_it_was(server: ServerProcess, path: str) -> None:
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await http.post(path, content=b"x" * (17 * 1024), headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert (await http.get("/health")).status_code == 200


async def test_protocol_errors_before_auth_log_one_line_per_kind(make_server: Callable[..., ServerProcess]) -> None:
    node = make_server()
    for _ in range(30):
        conn = await open_raw(node.ws)
        # A 7-byte text frame that is not UTF-8, sent past the client library's own check.
        conn.protocol.send_frame(Frame(Opcode.TEXT, b"\xff\xfe\xfd\x80abc"))
        conn.transport.write(b"".join(conn.protocol.data_to_send()))
        code, _ = await read_until_closed(conn, 5)
        assert code == 1007
    for _ in range(30):
        with raw_connection(node) as sock:
            sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            assert sock.recv(1024).startswith(b"HTTP/1.1 400")
    async with httpx.AsyncClient(base_url=node.http) as http:
        assert (await http.get("/health")).status_code == 200
    log = node.log()
    assert "Traceback" not in log
    assert sum("UTF-8" in line for line in log.splitlines()) == 1, log[-2000:]
    assert sum("Invalid HTTP request" in line for line in log.splitlines()) == 1, log[-2000:]


async def test_metrics_can_require_a_token(make_server: Callable[..., ServerProcess]) -> None:
    node = make_server(metrics_token="scrape-" + secrets.token_hex(8))
    async with httpx.AsyncClient(base_url=node.http) as http:
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", headers={"authorization": "Bearer wrong"})).status_code == 401
        token = node.settings["metrics_token"]
        scraped = await http.get("/metrics", headers={"authorization": f"Bearer {token}"})
        assert scraped.status_code == 200 and "valgame_sockets_open" in scraped.text


async def test_the_embedded_store_and_secret_are_readable_by_their_owner_only(
        make_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    store = tmp_path / "store"  # a folder the node makes itself
    node = make_server(jwt_secret="", storage=f"sqlite:///{store / 'valgame.db'}")
    for path in (store, store / "valgame.db", store / "valgame.db-wal", node.data_dir / "jwt_secret"):
        mode = path.stat().st_mode
        assert mode & 0o077 == 0, (path, oct(mode))
