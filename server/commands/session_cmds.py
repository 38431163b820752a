"""The session family: ping, state.get, sub.add, sub.remove."""

from __future__ import annotations

import time
from typing import Any

from server.commands.registry import Call, handles
from server.player_summary import player_summary


@handles("ping")
async def ping(call: Call) -> dict[str, Any]:
    reply: dict[str, Any] = {"server_time": time.time()}
    if "echo" in call.data:
        reply["echo"] = call.data["echo"]
    return reply


@handles("state.get")
async def state_get(call: Call) -> dict[str, Any]:
    ctx = call.ctx
    return {"player": await player_summary(ctx.players, ctx.store, ctx.accounts, ctx.game, call.player_id)}


@handles("sub.add")
async def sub_add(call: Call) -> dict[str, Any]:
    call.ctx.topics.subscribe(call.session, call.data["topic"])
    return {"topic": call.data["topic"]}


@handles("sub.remove")
async def sub_remove(call: Call) -> dict[str, Any]:
    call.ctx.topics.unsubscribe(call.session, call.data["topic"])
    return {"topic": call.data["topic"]}
