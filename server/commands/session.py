"""The session family: ping, state.get, sub.add, sub.remove."""

from __future__ import annotations

import time
from typing import Any

from server.commands.registry import Call, handles
from server.views import player_summary


@handles("ping")
async def ping(call: Call) -> dict[str, Any]:
    reply: dict[str, Any] = {"server_time": time.time()}
    if "echo" in call.data:
        reply["echo"] = call.data["echo"]
    return reply


@handles("state.get")
async def state_get(call: Call) -> dict[str, Any]:
    return {"player": await player_summary(call.node, call.player_id)}


@handles("sub.add")
async def sub_add(call: Call) -> dict[str, Any]:
    call.node.hub.subscribe(call.session, call.data["topic"])
    return {"topic": call.data["topic"]}


@handles("sub.remove")
async def sub_remove(call: Call) -> dict[str, Any]:
    call.node.hub.unsubscribe(call.session, call.data["topic"])
    return {"topic": call.data["topic"]}
