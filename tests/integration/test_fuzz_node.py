"""The project's fuzzer against a live node: 20,000 frames over four authenticated sockets and 200 sockets that
send garbage before `auth`. No crash, no 1011, no `internal`, no traceback in replies or logs, /health 200 after.
`python scripts/fuzz.py --frames 100000` runs the same at length."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import httpx

from tests.support.client import register, unique_name
from tests.support.fuzz import fire, frame
from tests.support.servers import ServerProcess
from tests.support.wire import open_raw, read_until_closed

FRAMES = 20_000
SEED = 20261129


async def test_twenty_thousand_fuzzed_frames_never_fault_the_node(make_server: Callable[..., ServerProcess]) -> None:
    node = make_server(rate_per_second=1_000_000, rate_burst=1_000_000, chat_messages_per_10s=1_000_000)
    tokens = [(await register(node.http, unique_name("fz")))["access_token"] for _ in range(4)]
    report = await fire(node.ws, tokens, FRAMES, SEED)
    print(report.summary())
    assert report.frames == FRAMES
    assert report.replies == report.frames, report.summary()
    assert not report.internal, report.internal[:5]
    assert not report.tracebacks, report.tracebacks[:5]
    assert report.closes == [None] * len(tokens)  # every socket was still open at the end
    assert node.proc is not None and node.proc.poll() is None
    async with httpx.AsyncClient(base_url=node.http) as http:
        assert (await http.get("/health")).status_code == 200
    assert "Traceback" not in node.log(), node.log()[-3000:]


async def test_garbage_before_auth_is_refused_without_a_fault(make_server: Callable[..., ServerProcess]) -> None:
    node = make_server()
    rng = random.Random(SEED)
    codes = []
    for i in range(200):
        conn = await open_raw(node.ws)
        await conn.send(frame(rng, i))
        code, _ = await read_until_closed(conn, 10)
        codes.append(code)
    assert set(codes) <= {4001, 1007, 1009}, sorted(set(codes))
    async with httpx.AsyncClient(base_url=node.http) as http:
        assert (await http.get("/health")).status_code == 200
    assert "Traceback" not in node.log(), node.log()[-3000:]
    await asyncio.sleep(0)
