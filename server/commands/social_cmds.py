"""Chat, notifications and rankings: what players see of each other."""

from __future__ import annotations

from typing import Any

from protocol import ErrorCode
from server.commands.registry import Call, handles
from server.game.errors import GameError
from server.players import make_id


def _chat_admit(call: Call) -> None:
    limiter = call.ctx.chat_limit
    wait = limiter.retry_after(call.player_id)
    if wait > 0:
        raise GameError(ErrorCode.RATE_LIMITED, "chatting too fast", retry_after_ms=int(wait * 1000) + 1)
    limiter.hit(call.player_id)


@handles("chat.send")
async def chat_send(call: Call) -> dict[str, Any]:
    _chat_admit(call)
    message = {"id": make_id("m"), "from": call.session.name, "player": call.player_id,
               "text": call.data["text"], "at": call.now, "channel": "global"}
    await call.ctx.chat.chat_append(message, call.ctx.game.chat_history)
    await call.ctx.events.broadcast("chat:global", "chat.message", message)
    return {"id": message["id"], "at": message["at"]}


@handles("chat.whisper")
async def chat_whisper(call: Call) -> dict[str, Any]:
    target = await call.ctx.names.player_id_of(call.data["to"])
    if target is None:
        raise GameError(ErrorCode.NOT_FOUND, f"no player named {call.data['to']}", field="data.to")
    if target == call.player_id:
        raise GameError(ErrorCode.BAD_REQUEST, "cannot whisper to yourself", field="data.to")
    _chat_admit(call)
    message = {"id": make_id("m"), "from": call.session.name, "player": call.player_id, "to": call.data["to"],
               "text": call.data["text"], "at": call.now, "channel": "whisper"}
    await call.ctx.event_log.append(target, [("chat.message", message)], call.now)
    return {"id": message["id"], "at": message["at"]}


@handles("chat.history")
async def chat_history(call: Call) -> dict[str, Any]:
    limit = call.data.get("limit", call.ctx.game.chat_history)
    return {"messages": await call.ctx.chat.chat_history(min(limit, call.ctx.game.chat_history))}


@handles("notification.list")
async def notification_list(call: Call) -> dict[str, Any]:
    storage = call.ctx.store
    notes = await storage.notifications(call.player_id, call.data.get("limit", 50),
                                        bool(call.data.get("unread_only", False)))
    return {"notifications": [{"id": n.id, "kind": n.kind, "data": n.data, "at": n.at, "read": n.read}
                              for n in notes],
            "unread": await storage.unread_count(call.player_id)}


@handles("notification.read")
async def notification_read(call: Call) -> dict[str, Any]:
    storage = call.ctx.store
    marked = await storage.mark_read(call.player_id, call.data.get("ids"))
    return {"marked": marked, "unread": await storage.unread_count(call.player_id)}


async def _entries(call: Call, rows: list[tuple[str, float]], first_rank: int) -> list[dict[str, Any]]:
    names = await call.ctx.names.names_of([player for player, _ in rows])
    return [{"rank": first_rank + i, "player": player, "name": names.get(player), "score": int(score)}
            for i, (player, score) in enumerate(rows)]


@handles("ranking.top")
async def ranking_top(call: Call) -> dict[str, Any]:
    board = call.data["board"]
    limit = min(call.data.get("limit", 10), call.ctx.game.ranking_top_max)
    rows = await call.ctx.leaderboards.rank_top(board, limit)
    return {"board": board, "entries": await _entries(call, rows, 1)}


@handles("ranking.me")
async def ranking_me(call: Call) -> dict[str, Any]:
    board = call.data["board"]
    found = await call.ctx.leaderboards.rank_of(board, call.player_id)
    rank, score = found if found else (None, 0)
    return {"board": board, "rank": rank, "score": int(score)}


@handles("ranking.around")
async def ranking_around(call: Call) -> dict[str, Any]:
    board = call.data["board"]
    radius = call.data.get("radius", 5)
    found = await call.ctx.leaderboards.rank_of(board, call.player_id)
    if found is None:
        return {"board": board, "entries": []}
    start = max(found[0] - 1 - radius, 0)
    rows = await call.ctx.leaderboards.rank_range(board, start, found[0] - 1 + radius)
    return {"board": board, "entries": await _entries(call, rows, start + 1)}
