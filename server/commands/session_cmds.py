"""The session family: ping, state.get, sub.add, sub.remove."""

from __future__ import annotations

import time
from typing import Any

from protocol import ErrorCode
from server.commands.registry import Call, handles
from server.game.errors import GameError
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
    return {"player": await player_summary(ctx.players, ctx.store, ctx.game, call.player_id, call.session.role)}


@handles("sub.add")
async def sub_add(call: Call) -> dict[str, Any]:
    topic, followed = call.data["topic"], call.session.topics
    # Weekly boards make the topics endless: each one a socket follows costs the node a set entry.
    if topic not in followed and len(followed) >= call.ctx.max_topics:
        raise GameError(ErrorCode.BAD_REQUEST, f"at most {call.ctx.max_topics} topics per connection",
                        field="data.topic")
    call.ctx.topics.subscribe(call.session, topic)
    return {"topic": topic}


@handles("sub.remove")
async def sub_remove(call: Call) -> dict[str, Any]:
    call.ctx.topics.unsubscribe(call.session, call.data["topic"])
    return {"topic": call.data["topic"]}
