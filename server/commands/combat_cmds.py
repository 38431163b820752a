"""The combat family: start, act, read. Timed rounds are driven by server/combat_driver.py."""

from __future__ import annotations

from typing import Any

from server.commands.registry import Call, handles
from server.game.combat import combat_view, resolve_round, start_combat
from server.players import Reply


@handles("combat.start")
async def combat_start(call: Call) -> Reply:
    data = call.data
    mode = data.get("mode", "auto")
    reply = await call.ctx.players.apply(
        call.player_id, lambda s, ctx: start_combat(s, data["dungeon"], data["team"], mode, ctx), call.idem)
    call.ctx.combats.drive(call.player_id)
    return Reply({"combat": reply.data["combat"], "state": reply.data}, reply.replayed)


@handles("combat.action")
async def combat_action(call: Call) -> Reply:
    data = call.data
    reply = await call.ctx.players.apply(
        call.player_id,
        lambda s, ctx: resolve_round(s, data["action"], ctx, data.get("item"), data.get("target"), data["combat"]),
        call.idem)
    call.ctx.combats.nudge(call.player_id)
    return Reply({"round": reply.data}, reply.replayed)


@handles("combat.state")
async def combat_state(call: Call) -> dict[str, Any]:
    _, state = await call.ctx.players.load(call.player_id)
    if state.combat is not None:
        call.ctx.combats.drive(call.player_id)
    return {"combat": combat_view(state.combat, state) if state.combat else None}
