"""Per-socket limits: the command rate limit (and its abuse), the slow reader, the sessions cap of a player."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import Connect
from tests.support.client import register, unique_name
from tests.support.servers import ServerProcess
from tests.support.wire import auth_frame, eventually, open_raw, ping_frame, read_until_closed, sample, scrape

WRITE_DEADLINE = 10.0  # the nodes' default `write_deadline_seconds`


@pytest.fixture(scope="module")
def limited_node(make_module_server: Callable[..., ServerProcess]) -> ServerProcess:
    return make_module_server(rate_per_second=2, rate_burst=2, rate_abuse_limit=5)


@pytest.fixture(scope="module")
def small_queue_node(make_module_server: Callable[..., ServerProcess]) -> ServerProcess:
    """No rate limit to speak of, an outbound queue of 256 KiB (about 4 of the largest replies), and the default
    write deadline, named here because a test waits for it."""
    return make_module_server(rate_per_second=100_000, rate_burst=100_000, outbound_max_bytes=256 * 1024,
                              write_deadline_seconds=WRITE_DEADLINE)


async def test_commands_past_the_rate_limit_get_rate_limited_with_retry_after(
        make_server: Callable[..., ServerProcess], connect: Connect) -> None:
    node = make_server(rate_per_second=5, rate_burst=5)
    client, _ = await connect(node)
    futures = [client.expect_reply(i) for i in range(12)]
    for i in range(12):
        await client.send_raw(ping_frame(i))
    replies = await asyncio.wait_for(asyncio.gather(*futures), 10)

    accepted = [r for r in replies if r["ok"]]
    refused = [r for r in replies if not r["ok"]]
    assert 5 <= len(accepted) <= 6, replies  # the burst, plus at most what refilled meanwhile
    assert [r["id"] for r in accepted[:5]] == [0, 1, 2, 3, 4]
    assert len(refused) >= 6
    for reply in refused:
        error = reply["error"]
        assert error["code"] == "rate_limited", reply
        assert isinstance(error["retry_after_ms"], int) and 0 < error["retry_after_ms"] <= 200 + 50, error
    assert client.close_code is None

    # retry_after_ms is honest: once it has passed, a command goes through.
    retry_at = time.monotonic() + refused[-1]["error"]["retry_after_ms"] / 1000

    async def retry_time_passed() -> bool:
        return time.monotonic() >= retry_at

    await eventually(retry_time_passed, timeout=5, what="retry_after_ms to pass")
    assert (await client.request("ping"))["ok"] is True
    assert sample(await scrape(node.http), "valgame_rate_limited_total") >= len(refused)


async def test_persistent_abuse_of_the_rate_limit_closes_with_4029(limited_node: ServerProcess,
                                                                   connect: Connect) -> None:
    client, _ = await connect(limited_node)
    for i in range(40):
        try:
            await client.send_raw(ping_frame(i))
        except ConnectionClosed:
            break  # the server closed while we were still sending
    assert await client.wait_closed() == 4029
    codes = [r["error"]["code"] for r in client.replies if not r["ok"]]
    assert codes and set(codes) == {"rate_limited"}, client.replies
    assert len(codes) < 40 - 2  # closed before answering everything


async def test_rate_limit_refusals_below_the_abuse_limit_keep_the_socket(limited_node: ServerProcess,
                                                                         connect: Connect) -> None:
    client, _ = await connect(limited_node)
    futures = [client.expect_reply(i) for i in range(5)]  # 2 accepted, 3 refused: under the abuse limit
    for i in range(5):
        await client.send_raw(ping_frame(i))
    replies = await asyncio.wait_for(asyncio.gather(*futures), 10)
    assert [r["ok"] for r in replies].count(False) in (2, 3)
    assert client.close_code is None


async def test_a_client_that_never_reads_is_closed_with_4008_and_others_stay_prompt(
        small_queue_node: ServerProcess, connect: Connect) -> None:
    """A client sends commands and never reads their replies: its queue overflows, the node closes the socket with
    4008 and drops the replies, while another client on the node is served promptly. The close frame can only go
    out after the reply the client is not taking, so it never reaches a client that never reads: at the write
    deadline the node drops the connection, and the client sees it end without a close frame (1006). (A client
    that reads again before the deadline gets the 4008 frame; whether one on a loaded machine does so in time is a
    race, so this test does not read until the node has dropped it.)"""
    node = small_queue_node
    bystander, _ = await connect(node)
    login = await register(node.http, unique_name("slow"))

    slow = await open_raw(node.ws, max_queue=1)
    await slow.send(auth_frame(login["access_token"]))
    assert orjson.loads(await asyncio.wait_for(slow.recv(), 10))["ok"] is True
    echo = "z" * 60_000

    before = await scrape(node.http)

    async def overflowed() -> bool:
        return sample(await scrape(node.http), "valgame_queue_overflows_total") > sample(
            before, "valgame_queue_overflows_total")

    sent = 0
    while not await overflowed():
        assert sent < 2000, "the slow client was never closed"
        for _ in range(25):
            await slow.send(ping_frame(sent, echo))
            sent += 1
        # Meanwhile the other client on the node is served promptly (the deadline is generous for a busy CI box).
        reply = await bystander.request("ping", {"echo": "quick"}, timeout=3)
        assert reply["ok"] is True

    async def dropped() -> bool:
        # the bystander stays prompt all the while the node holds the stuck socket
        assert (await bystander.request("ping", {"echo": "quick"}, timeout=3))["data"]["echo"] == "quick"
        return sample(await scrape(node.http), "valgame_write_deadline_closes_total") > sample(
            before, "valgame_write_deadline_closes_total")

    await eventually(dropped, WRITE_DEADLINE + 20, "the write deadline to drop the connection", interval=0.2)
    code, frames = await read_until_closed(slow, timeout=30)
    assert code == 1006, code  # the connection ended; no close frame could get through
    assert len(frames) < sent  # replies were dropped, not delivered late
    after = await scrape(node.http)
    assert sample(after, "valgame_socket_closes_total", code="4008") == sample(
        before, "valgame_socket_closes_total", code="4008") + 1  # what the node closed it with
    assert bystander.close_code is None


async def test_a_client_that_reads_promptly_may_pipeline_large_replies(small_queue_node: ServerProcess,
                                                                       connect: Connect) -> None:
    """The control of the test above: the same limits, the same burst, but the client reads; nothing overflows."""
    node = small_queue_node
    before = sample(await scrape(node.http), "valgame_queue_overflows_total")
    client, _ = await connect(node)
    echo = "z" * 60_000
    futures = [client.expect_reply(i) for i in range(60)]  # 3.6 MB of replies, 14 times the queue's limit
    for i in range(60):
        await client.send_raw(ping_frame(i, echo))
    replies = await asyncio.wait_for(asyncio.gather(*futures), 20)
    assert all(reply["ok"] and reply["data"]["echo"] == echo for reply in replies)
    assert client.close_code is None
    assert sample(await scrape(node.http), "valgame_queue_overflows_total") == before


async def test_a_fourth_session_replaces_the_oldest(server: ServerProcess, connect: Connect) -> None:
    login = await register(server.http, unique_name("cap"))
    first, _ = await connect(server, login)
    second, _ = await connect(server, login)
    third, _ = await connect(server, login)
    fourth, _ = await connect(server, login)

    assert await first.wait_closed() == 4009
    for client in (second, third, fourth):
        assert (await client.request("ping"))["ok"] is True
        assert client.close_code is None

    # The cap keeps applying: a fifth replaces the oldest still open.
    fifth, _ = await connect(server, login)
    assert await second.wait_closed() == 4009
    for client in (third, fourth, fifth):
        assert (await client.request("state.get"))["ok"] is True
        assert client.close_code is None


async def test_sessions_of_other_players_do_not_count(server: ServerProcess, connect: Connect) -> None:
    login = await register(server.http, unique_name("cap"))
    mine = [(await connect(server, login))[0] for _ in range(3)]
    others = [(await connect(server))[0]]
    for client in (*mine, *others):
        assert (await client.request("ping"))["ok"] is True
        assert client.close_code is None
