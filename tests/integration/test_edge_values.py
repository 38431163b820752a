"""Every command with `null` in each optional field and with integers at 2^63 and 2^64 in each numeric one, and a
market cursor that carries such an integer: answered with a clear error or a normal reply, never `internal`."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from protocol import COMMANDS
from protocol.schema import Field
from tests.conftest import Connect
from tests.support.servers import ServerProcess

BIG = (2**63, 2**64, -(2**63) - 1)


def sample_value(spec: Field) -> Any:
    """A value the field accepts, so that the frame gets past every other field."""
    if spec.choices:
        return spec.choices[0]
    if spec.kind in ("int", "number"):
        return int(spec.min) if spec.min is not None else 1
    if spec.kind == "bool":
        return False
    if spec.kind == "list":
        return []
    if spec.kind == "object":
        return {f.name: sample_value(f) for f in spec.fields or () if f.required}
    return "x" * int(spec.min or 1) if not spec.pattern else "abc"


def variants() -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = []
    for command in COMMANDS.values():
        if command.type == "auth":
            continue
        base = {f.name: sample_value(f) for f in command.fields if f.required}
        for spec in command.fields:
            if not spec.required:
                cases.append((command.type, {**base, spec.name: None}))
            if spec.kind in ("int", "number"):
                cases.extend((command.type, {**base, spec.name: big}) for big in BIG)
    return cases


CASES = variants()


@pytest.fixture(scope="module")
def node(make_module_server: Callable[..., ServerProcess]) -> ServerProcess:
    return make_module_server(rate_per_second=100_000, rate_burst=100_000)


async def test_the_cases_cover_every_optional_and_numeric_field() -> None:
    types = {command_type for command_type, _ in CASES}
    assert {"market.browse", "ranking.top", "ranking.around", "chat.history", "notification.list"} <= types


async def test_null_and_huge_integers_never_get_internal(node: ServerProcess, connect: Connect) -> None:
    client, _ = await connect(node)
    for index, (command_type, data) in enumerate(CASES):
        frame_id = f"c{index}"
        future = client.expect_reply(frame_id)
        # json, not orjson: it writes integers past 64 bits
        await client.send_raw(json.dumps({"id": frame_id, "type": command_type, "data": data}))
        reply = await asyncio.wait_for(future, 10)
        if not reply["ok"]:
            assert reply["error"]["code"] != "internal", (command_type, data, reply)
    assert client.close_code is None


@pytest.mark.parametrize("value", [2**63, 2**64, -(2**63) - 1, 1e308, "x"])
async def test_a_market_cursor_holding_a_huge_value_is_a_bad_request(node: ServerProcess, connect: Connect,
                                                                      value: Any) -> None:
    client, _ = await connect(node)
    raw = json.dumps([0, value, "l_x"]).encode()  # json, not orjson: it writes integers past 64 bits
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    reply = await client.request("market.browse", {"cursor": cursor}, timeout=10)
    assert not reply["ok"] and reply["error"]["code"] == "bad_request", reply
