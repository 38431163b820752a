"""Operator actions on a live cluster, shared by the socket's ops commands, the admin REST and the CLI."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any, Protocol

from protocol import CloseCode, ErrorCode, encode_event
from server.bus import Claims, Events, Presence
from server.event_log import EventLog
from server.game.errors import GameError
from server.names import NameCache

ACK_WAIT_SECONDS = 2.0
DEDUP_SECONDS = 24 * 3600


class LocalSockets(Protocol):
    """This node's sockets (the hub)."""

    @property
    def sessions(self) -> dict[str, Any]: ...


class Operations:
    def __init__(self, node_id: str, events: Events, event_log: EventLog, presence: Presence, claims: Claims,
                 names: NameCache, local: LocalSockets) -> None:
        self.node_id = node_id
        self._events = events
        self._event_log = event_log
        self._presence = presence
        self._claims = claims
        self._names = names
        self._local = local

    async def broadcast(self, message: str, to: str | None = None, key: str | None = None) -> dict[str, Any]:
        """Show `message` on every socket of every node (or every socket of one player). With `key`, a retried
        broadcast is shown once: the retry reaches nobody and says so."""
        if key is not None and not await self._claims.claim_once(f"broadcast:{key}", DEDUP_SECONDS):
            return {"delivered": 0, "duplicate": True}
        data = {"message": message, "at": time.time(), "id": key or secrets.token_hex(8)}
        if to is not None:
            player_id = await self._names.player_id_of(to)
            if player_id is None:
                raise GameError(ErrorCode.NOT_FOUND, f"no player named {to}", field="data.to")
            sessions = await self._presence.sessions_of(player_id)
            await self._event_log.append(player_id, [("ops.announcement", data)])
            return {"delivered": len(sessions), "duplicate": False}
        ack = f"ack:{data['id']}"
        expected = len(await self._presence.nodes())
        await self._events.control({"kind": "announce", "data": data, "ack": ack})
        deadline = time.monotonic() + ACK_WAIT_SECONDS
        calls, delivered = await self._claims.get_count(ack)
        while calls < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # polling a counter the other nodes fill, bounded by the deadline
            calls, delivered = await self._claims.get_count(ack)
        return {"delivered": delivered, "nodes": calls, "duplicate": False}

    def announce_locally(self, data: dict[str, Any]) -> int:
        """Hand one encoded announcement to every socket of this node."""
        frame = encode_event("ops.announcement", data, topic="ops")  # once, not once per socket
        sessions = list(self._local.sessions.values())
        for session in sessions:
            session.send(frame)
        return len(sessions)

    async def kick(self, name: str, reason: str = "kicked by an operator") -> dict[str, Any]:
        player_id = await self._names.player_id_of(name)
        if player_id is None:
            raise GameError(ErrorCode.NOT_FOUND, f"no player named {name}", field="data.player")
        sessions = await self._presence.sessions_of(player_id)
        for session_id, node_id, _ in sessions:
            await self._events.control({"kind": "close_session", "session": session_id, "code": CloseCode.KICKED,
                                        "reason": reason[:100]}, node_id)
        return {"kicked": len(sessions)}

    async def drain(self, node_id: str | None = None) -> dict[str, Any]:
        target = node_id or self.node_id
        if target not in await self._presence.nodes():
            raise GameError(ErrorCode.NOT_FOUND, f"no live node {target}", field="data.node")
        await self._events.control({"kind": "drain"}, target)
        return {"node": target, "draining": True}

    async def stats(self) -> dict[str, Any]:
        nodes = await self._presence.nodes()
        return {"nodes": nodes, "sockets": sum(int(n.get("sockets", 0)) for n in nodes.values()),
                "node": self.node_id}
