"""Frames after auth: every bad frame gets one error reply naming the problem, and the connection stays."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from tests.conftest import Connect
from tests.support.client import Client, register, unique_name
from tests.support.servers import ServerProcess

MAX_FRAME = 64 * 1024


@pytest.fixture(scope="module")
async def player(server: ServerProcess) -> dict[str, Any]:
    """One registered player for the whole module (argon2 makes registering slow on purpose); each test opens
    its own socket, closed at its end, so the player never holds more sessions than allowed."""
    return await register(server.http, unique_name("fr"))


@pytest.fixture
async def client(server: ServerProcess, connect: Connect, player: dict[str, Any]) -> Client:
    connected, _ = await connect(server, player)
    return connected


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def assert_still_answers(client: Client) -> None:
    reply = await client.request("ping", {"echo": "still here"})
    assert reply["ok"] is True, reply
    assert reply["data"]["echo"] == "still here"
    assert client.close_code is None


# (raw frame, expected id on the reply, error code, field named)
BAD_FRAMES: list[tuple[str, Any, str, str | None]] = [
    ("{", None, "bad_request", None),
    ('{"id": 1, "type": "ping",}', None, "bad_request", None),
    ("", None, "bad_request", None),
    ("[1, 2, 3]", None, "bad_request", None),
    ('[{"id": 1, "type": "ping"}]', None, "bad_request", None),
    ('"ping"', None, "bad_request", None),
    ("42", None, "bad_request", None),
    ("null", None, "bad_request", None),
    # wrong types
    (dumps({"id": 1, "type": 5}), 1, "bad_request", "type"),
    (dumps({"id": 1, "type": None}), 1, "bad_request", "type"),
    (dumps({"id": True, "type": "ping"}), None, "bad_request", "id"),
    (dumps({"id": 1.5, "type": "ping"}), None, "bad_request", "id"),
    (dumps({"id": {"a": 1}, "type": "ping"}), None, "bad_request", "id"),
    (dumps({"id": "x" * 65, "type": "ping"}), None, "bad_request", "id"),
    (dumps({"id": 2**53, "type": "ping"}), None, "bad_request", "id"),
    (dumps({"id": 1, "type": "ping", "data": []}), 1, "bad_request", "data"),
    (dumps({"id": 1, "type": "ping", "data": "hi"}), 1, "bad_request", "data"),
    (dumps({"id": 1, "type": "ping", "data": {"echo": 5}}), 1, "bad_request", "data.echo"),
    (dumps({"id": 1, "type": "sub.add", "data": {"topic": ["market"]}}), 1, "bad_request", "data.topic"),
    (dumps({"id": 1, "type": "ping", "data": {"echo": "x" * 60_001}}), 1, "bad_request", "data.echo"),
    # invalid values
    (dumps({"id": 1, "type": "sub.add", "data": {"topic": "nope"}}), 1, "bad_request", "data.topic"),
    (dumps({"id": 1, "type": "ping", "idem": "key-1"}), 1, "bad_request", "idem"),  # ping changes nothing
    # unknown fields
    (dumps({"id": 1, "type": "ping", "extra": 1}), 1, "bad_request", "extra"),
    (dumps({"id": 1, "type": "ping", "data": {}, "meta": {}}), 1, "bad_request", "meta"),
    (dumps({"id": 1, "type": "ping", "data": {"echo": "a", "loud": True}}), 1, "bad_request", "data.loud"),
    (dumps({"id": 1, "type": "state.get", "data": {"x": 1}}), 1, "bad_request", "data.x"),
    # missing fields
    (dumps({"id": 1}), 1, "bad_request", "type"),
    (dumps({"id": 1, "data": {}}), 1, "bad_request", "type"),
    (dumps({"id": 1, "type": "sub.add", "data": {}}), 1, "bad_request", "data.topic"),
    (dumps({"id": 1, "type": "sub.add"}), 1, "bad_request", "data.topic"),
    # unknown types
    (dumps({"id": 1, "type": "nope"}), 1, "unknown_type", None),
    (dumps({"id": 1, "type": ""}), 1, "unknown_type", None),
    (dumps({"id": 1, "type": "PING"}), 1, "unknown_type", None),
    (dumps({"id": 1, "type": "ops.definitely_not"}), 1, "unknown_type", None),
    # auth again on an authenticated socket
    (dumps({"id": 1, "type": "auth", "data": {"token": "t"}}), 1, "bad_request", None),
]


@pytest.mark.parametrize(("raw", "frame_id", "code", "field"), BAD_FRAMES,
                         ids=[f"{i}-{raw[:30]}" for i, (raw, *_) in enumerate(BAD_FRAMES)])
async def test_a_bad_frame_gets_an_error_reply_and_the_socket_stays(
        client: Client, raw: str, frame_id: Any, code: str, field: str | None) -> None:
    reply = await client.raw_request(raw, frame_id)
    assert reply["ok"] is False, reply
    assert reply["id"] == frame_id
    error = reply["error"]
    assert error["code"] == code, reply
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in error["message"]
    if field is not None:
        assert error.get("field") == field, reply
    if code == "unknown_type":
        assert reply["type"] == orjson.loads(raw)["type"]
    await assert_still_answers(client)


async def test_many_bad_frames_in_a_row_leave_the_socket_usable(client: Client) -> None:
    for raw, frame_id, code, _field in BAD_FRAMES:
        reply = await client.raw_request(raw, frame_id)
        assert reply["error"]["code"] == code, (raw, reply)
    await assert_still_answers(client)


@pytest.mark.parametrize("frame_id", ["c17", "", "ñ-✓-🎲", "x" * 64, 0, 42, -7, 2**53 - 1, -(2**53) + 1])
async def test_replies_echo_the_id(client: Client, frame_id: str | int) -> None:
    ok = await client.request("ping", {"echo": "e"}, frame_id=frame_id)
    assert ok["id"] == frame_id and type(ok["id"]) is type(frame_id)
    assert ok["type"] == "ping" and ok["ok"] is True
    error = await client.request("sub.add", {"topic": "nope"}, frame_id=frame_id)
    assert error["id"] == frame_id and error["ok"] is False
    assert error["type"] == "sub.add"


async def test_a_frame_without_id_gets_a_reply_with_a_null_id(client: Client) -> None:
    reply = await client.raw_request(dumps({"type": "ping", "data": {"echo": "no id"}}), None)
    assert reply["ok"] is True and reply["data"]["echo"] == "no id"
    assert reply["id"] is None


async def test_the_largest_echo_fits_in_a_frame(client: Client) -> None:
    echo = "x" * 60_000  # the schema's limit, well under 64 KiB on the wire
    reply = await client.request("ping", {"echo": echo})
    assert reply["ok"] is True and reply["data"]["echo"] == echo


async def test_a_frame_of_exactly_64_kib_is_read(client: Client) -> None:
    head = '{"id":"big","type":"ping","data":{"echo":"'
    tail = '"}}'
    raw = head + "x" * (MAX_FRAME - len(head) - len(tail)) + tail
    assert len(raw.encode()) == MAX_FRAME
    reply = await client.raw_request(raw, "big")
    assert reply["error"]["field"] == "data.echo"  # read and validated: the echo is over 60,000 characters
    await assert_still_answers(client)


async def test_a_frame_over_64_kib_closes_with_1009(client: Client) -> None:
    head = '{"id":"big","type":"ping","data":{"echo":"'
    tail = '"}}'
    raw = head + "x" * (MAX_FRAME + 1 - len(head) - len(tail)) + tail
    await client.send_raw(raw)
    assert await client.wait_closed() == 1009


async def test_a_huge_frame_closes_with_1009(client: Client) -> None:
    await client.send_raw(dumps({"id": 1, "type": "ping", "data": {"echo": "y" * 1_000_000}}))
    assert await client.wait_closed() == 1009


async def test_a_binary_frame_gets_bad_request_and_the_socket_stays(client: Client) -> None:
    reply = await client.raw_request(orjson.dumps({"id": 1, "type": "ping"}), None)
    assert reply["ok"] is False and reply["error"]["code"] == "bad_request", reply
    reply = await client.raw_request(b"\x00\xff\x10", None)
    assert reply["error"]["code"] == "bad_request"
    await assert_still_answers(client)


async def test_commands_are_answered_in_arrival_order(client: Client) -> None:
    """50 commands sent back to back, storage reads mixed with pure pings: replies come back in id order."""
    before = len(client.replies)
    futures = [client.expect_reply(i) for i in range(50)]
    for i in range(50):
        command = "state.get" if i % 3 == 0 else "ping"
        await client.send_raw(dumps({"id": i, "type": command, "data": {}}))
    replies = await asyncio.wait_for(asyncio.gather(*futures), 10)
    assert all(reply["ok"] for reply in replies), replies
    received = [reply["id"] for reply in client.replies[before:]]
    assert received == list(range(50))


async def test_unknown_type_does_not_close_and_a_valid_command_follows(client: Client) -> None:
    error = await client.expect_error("market.teleport", {"x": 1})
    assert error["code"] == "unknown_type"
    summary = await client.call("state.get")
    assert summary["player"]["name"]

