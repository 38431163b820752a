"""Hypothesis-generated frames against one live, authenticated connection: every frame gets exactly one reply,
never `internal`, and the connection stays open."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Connect
from tests.support.servers import ServerProcess
from tests.support.strategies import command_frames, json_values, valid_id

FRAMES = 300

# Text frames: mostly frames of real command types, some arbitrary JSON, some arbitrary text.
wire_frames = st.one_of(
    command_frames().map(lambda frame: (json.dumps(frame), frame)),
    command_frames().map(lambda frame: (json.dumps(frame), frame)),
    command_frames().map(lambda frame: (json.dumps(frame, ensure_ascii=False), frame)),
    json_values.map(lambda value: (json.dumps(value), value)),
    st.text(max_size=120).map(lambda text: (text, None)),
)


def generate(count: int) -> list[tuple[str, Any]]:
    """Run hypothesis's generation (not `.example()`) and keep what it produced."""
    frames: list[tuple[str, Any]] = []

    @settings(max_examples=count, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(wire_frames)
    def collect(frame: tuple[str, Any]) -> None:
        frames.append(frame)

    collect()
    return frames


async def test_generated_frames_never_fault_the_server_nor_close_the_socket(
        make_server: Callable[..., ServerProcess], connect: Connect) -> None:
    node = make_server(rate_per_second=100_000, rate_burst=100_000)
    frames = generate(FRAMES)
    assert len(frames) >= FRAMES * 0.9
    client, _ = await connect(node)

    start = len(client.replies)
    for raw, _ in frames:
        await client.send_raw(raw)
    sentinel = f"sentinel-{uuid.uuid4().hex}"
    last = await client.request("ping", {"echo": "end"}, frame_id=sentinel, timeout=30)
    assert last["ok"] is True and last["data"]["echo"] == "end"
    assert client.close_code is None

    # Replies come in order, one per frame: pair them up.
    replies = client.replies[start:-1]
    assert client.replies[-1]["id"] == sentinel
    assert len(replies) == len(frames), f"{len(frames)} frames got {len(replies)} replies"
    for (raw, sent), reply in zip(frames, replies, strict=True):
        assert isinstance(reply["ok"], bool), reply
        if not reply["ok"]:
            assert reply["error"]["code"] != "internal", (raw, reply)
            assert isinstance(reply["error"]["message"], str)
        if isinstance(sent, dict) and valid_id(sent.get("id")) and reply.get("error", {}).get("field") != "id":
            assert reply["id"] == sent["id"], (raw, reply)

    assert "Traceback" not in node.log(), node.log()[-3000:]
    assert (await client.request("ping", {"echo": "still open"}))["data"]["echo"] == "still open"
