"""The ops family (admin role): broadcast, kick, drain, stats."""

from __future__ import annotations

from typing import Any

from server.commands.registry import Call, handles


@handles("ops.broadcast")
async def ops_broadcast(call: Call) -> dict[str, Any]:
    return await call.ctx.ops.broadcast(call.data["message"], call.data.get("to"), call.data.get("key"))


@handles("ops.kick")
async def ops_kick(call: Call) -> dict[str, Any]:
    return await call.ctx.ops.kick(call.data["player"], call.data.get("reason", "kicked by an operator"))


@handles("ops.drain")
async def ops_drain(call: Call) -> dict[str, Any]:
    return await call.ctx.ops.drain(call.data.get("node"))


@handles("ops.stats")
async def ops_stats(call: Call) -> dict[str, Any]:
    return await call.ctx.ops.stats()
