"""The `/ws` endpoint: the auth handshake, then one reader loop feeding the dispatcher in arrival order.

`serve_socket` runs one accepted connection over the transport port (server/transport/port.py), whichever server
accepted it. On uvicorn, `SocketEndpoint` is a plain ASGI app rather than a Starlette `WebSocket` endpoint: every
frame in and out then passes through no state-checking wrapper, which is measurable on light commands
(docs/PERFORMANCE.md). On picows, server/transport/picows.py calls `serve_socket` for each upgraded connection.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from persistence import Unavailable
from protocol import PROTOCOL_VERSION, CloseCode, ErrorCode, FrameError, decode, encode_error, encode_reply
from server.auth import AuthError, Claims
from server.bus import BusUnavailable
from server.deadlines import Deadline
from server.dispatch import dispatch
from server.edge import EdgeLimits, socket_hooks_of
from server.node import Node
from server.player_summary import player_summary
from server.session import Session
from server.settings import Settings
from server.transport.asgi import AsgiTransport
from server.transport.port import KeepAlive, SocketServer, Transport

log = logging.getLogger("valgame.socket")


async def _authenticate(node: Node, transport: Transport) -> tuple[Claims, object, dict] | None:
    """Wait for the `auth` frame; on any failure close with 4001 and return None."""
    metrics = node.metrics
    try:
        raw = await asyncio.wait_for(transport.receive(), node.settings.auth_timeout_seconds)
    except TimeoutError:
        metrics.auth_failures.labels("timeout").inc()
        await transport.close(CloseCode.NOT_AUTHENTICATED, "auth timeout")
        return None
    if raw is None:
        return None
    try:
        frame = decode(raw)
    except FrameError:
        frame = None
    if frame is None or frame.type != "auth":
        metrics.auth_failures.labels("no_auth_frame").inc()
        await transport.close(CloseCode.NOT_AUTHENTICATED, "first frame must be auth")
        return None
    assert node.tokens is not None
    try:
        claims = await node.tokens.verify_access(frame.data["token"])
    except AuthError as exc:
        metrics.auth_failures.labels(exc.reason).inc()
        await transport.close(CloseCode.NOT_AUTHENTICATED, f"token {exc.reason}")
        return None
    return claims, frame.id, frame.data


class SocketEndpoint:
    """The ASGI app of `/ws` for one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        # In a task of its own: each frame received resumes the task from its outermost coroutine down to the
        # innermost, and this one runs a dozen deep (uvicorn's run_asgi, the middlewares, Starlette's router): its
        # own task starts at serve_socket. Cancelling this one cancels that task.
        await asyncio.get_running_loop().create_task(
            serve_socket(self.node, AsgiTransport(receive, send, *socket_hooks_of(scope))))


def native_sockets(node: Node, limits: EdgeLimits, open_connections: Callable[[], int]) -> SocketServer | None:
    """The server of `/ws` beside uvicorn that `transport` asks for (None: `asgi`, uvicorn serves it);
    `open_connections` counts the node's connections on both servers."""
    settings = node.settings
    if settings.transport == "asgi":
        return None
    if settings.transport != "picows":
        raise ValueError(f"unknown transport {settings.transport!r}: asgi or picows")
    from server.transport.picows import PicowsServer  # picows is an optional dependency: imported when chosen

    return PicowsServer(lambda transport: serve_socket(node, transport), limits,
                        KeepAlive(settings.ping_interval_seconds, settings.ping_timeout_seconds),
                        host=settings.host, port=settings.ws_port, open_connections=open_connections)


def socket_sources(settings: Settings) -> str:
    """What the browser client's content security policy must add to `connect-src 'self'` to reach the socket."""
    if settings.ws_public_url.startswith(("ws://", "wss://")):
        return settings.ws_public_url
    if settings.transport == "picows" and not settings.ws_public_url:
        return f"ws://*:{settings.ws_port} wss://*:{settings.ws_port}"
    return ""


async def serve_socket(node: Node, transport: Transport) -> None:
    """One accepted connection, from auth to its end."""
    if node.draining:
        await transport.close(CloseCode.DRAINING, "node draining")
        return
    try:  # the token's revocation and the account are read from the store
        authenticated = await _authenticate(node, transport)
        if authenticated is None:
            return
        claims, frame_id, data = authenticated
        account = await node.storage.account_by_id(claims.player_id)
    except Unavailable as exc:
        log.warning("socket refused: storage unavailable", extra={"error": str(exc)[:200]})
        await transport.close(CloseCode.TRY_AGAIN_LATER, "storage unavailable; try again")
        return
    if account is None:
        node.metrics.auth_failures.labels("unknown_player").inc()
        await transport.close(CloseCode.NOT_AUTHENTICATED, "unknown player")
        return

    settings = node.settings
    session = Session(transport, session_id=f"s_{secrets.token_hex(8)}", player_id=account.id, name=account.name,
                      role=account.role, max_frames=settings.outbound_max_frames,
                      max_bytes=settings.outbound_max_bytes, rate=settings.rate_per_second,
                      burst=settings.rate_burst, metrics=node.metrics,
                      write_deadline=settings.write_deadline_seconds,
                      credentials=(claims.family, claims.jti))
    try:
        if not await _make_room(node, session.player_id):
            await transport.close(CloseCode.TRY_AGAIN_LATER, "older sessions still closing")
            return
    except BusUnavailable as exc:
        log.warning("socket refused: bus unavailable",
                    extra={"player": session.player_id, "error": repr(exc.__cause__ or exc)[:200]})
        await transport.close(CloseCode.TRY_AGAIN_LATER, "event bus unavailable; try again")
        return
    if node.draining:  # began while this socket authenticated: the drain's list of sockets is already made
        await transport.close(CloseCode.DRAINING, "node draining")
        return
    node.hub.add(session)
    session.start_writer()
    try:
        await _open_session(node, session, frame_id, data)
        await _read_loop(node, session, transport)
    except (BusUnavailable, Unavailable) as exc:  # while opening (the reads of the auth reply) or a bus look-up
        what = "event bus" if isinstance(exc, BusUnavailable) else "storage"
        log.warning(f"socket closed: {what} unavailable",
                    extra={"player": session.player_id, "error": repr(exc.__cause__ or exc)[:200]})
        session.close(CloseCode.TRY_AGAIN_LATER, f"{what} unavailable; try again")
        await session.wait_closed(1.0)
    except Exception:
        log.exception("socket failed", extra={"player": session.player_id})
        session.close(CloseCode.INTERNAL_ERROR, "internal error")
        await session.wait_closed(1.0)
    finally:
        node.hub.remove(session)
        await node.bus.presence.detach(session.player_id, session.id)
        node.session_closed(session.player_id)
        await session.finish()


async def _open_session(node: Node, session: Session, frame_id: object, data: dict) -> None:
    """Register presence, enforce the session cap, answer `auth`, then send from the event log what the client
    missed (a resume) or what happened while it was being opened."""
    bus, event_log = node.bus, node.event_log
    await bus.presence.attach(session.player_id, session.id)
    await _enforce_session_cap(node, session.player_id)
    head = await event_log.head(session.player_id)
    reply = {
        "player": await player_summary(node.players, node.storage, node.game, session.player_id, session.role),
        "session": session.id,
        "node": node.id,
        "protocol": PROTOCOL_VERSION,
        "server_time": time.time(),
    }
    last_seq = head
    resume = data.get("resume")
    if resume is not None:
        owner = await bus.presence.session_owner(resume["session"])
        resumed = owner == session.player_id and await event_log.can_resume(session.player_id, resume["seq"], head)
        reply["resumed"] = resumed
        if resumed:
            last_seq = resume["seq"]
    reply["seq"] = last_seq
    session.send(encode_reply(frame_id if isinstance(frame_id, (str, int)) else None, "auth", reply))
    session.start_from(last_seq, head)
    await event_log.catch_up(session)
    _, state = await node.players.load(session.player_id)
    node.session_opened(session.player_id, state)


async def _make_room(node: Node, player_id: str) -> bool:
    """Before a new socket counts, close the player's oldest ones beyond the cap and wait until they are gone:
    a closing socket still holds its slot, so the cap is never exceeded, even by sockets whose clients stopped
    reading (they are cut off, not waited for). False when they are not gone within the write deadline."""
    deadline = time.monotonic() + node.settings.write_deadline_seconds + 2
    asked: set[str] = set()
    while await _close_oldest(node, player_id, node.settings.max_sessions_per_player - 1, asked, cut_off=True):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)  # presence changes when the closed sockets' readers end
    return True


async def _enforce_session_cap(node: Node, player_id: str) -> None:
    """After attaching: a socket opened at the same moment elsewhere may have taken the room; close the oldest."""
    await _close_oldest(node, player_id, node.settings.max_sessions_per_player, set())


async def _close_oldest(node: Node, player_id: str, keep: int, asked: set[str], cut_off: bool = False) -> int:
    """Ask the nodes holding the player's oldest sockets beyond `keep` to close them with 4009 (each once: `asked`
    remembers); with `cut_off`, one whose client reads nothing is dropped at once. Returns how many are beyond."""
    sessions = sorted(await node.bus.presence.sessions_of(player_id), key=lambda s: s[2])
    excess = len(sessions) - keep
    for session_id, node_id, _ in sessions[:max(excess, 0)]:
        if session_id not in asked:
            asked.add(session_id)
            await node.bus.events.control({"kind": "close_session", "session": session_id,
                                           "code": CloseCode.REPLACED, "reason": "too many sessions",
                                           "abort_if_blocked": cut_off}, node_id)
    return max(excess, 0)


async def _read_loop(node: Node, session: Session, transport: Transport) -> None:
    task = asyncio.current_task()
    assert task is not None
    frames = _Frames(node, session, node.deadlines.limit(task))  # this task runs the socket's commands, one at a time
    transport.start_on_arrival(frames)
    try:
        while True:
            if not frames.ready():
                await asyncio.sleep(0)  # the writer flushes first
            raw = await transport.receive()
            if raw is None:  # the peer closed or is gone
                return
            command = frames.start(raw)
            if command is not None:
                await command
    finally:
        transport.start_on_arrival(None)


class _Frames:
    """A socket's frames on their way to their commands: the read loop's `FrameStarter` (server/transport/port.py),
    so a transport may also start them as they arrive."""

    __slots__ = ("abuse_limit", "commands", "deadline", "metrics", "retry_after", "session")

    def __init__(self, node: Node, session: Session, deadline: Deadline) -> None:
        settings = node.settings
        self.commands, self.metrics, self.session, self.deadline = node.commands, node.metrics, session, deadline
        self.abuse_limit, self.retry_after = settings.rate_abuse_limit, settings.retry_after_seconds

    def ready(self) -> bool:
        """Not while the writer has frames queued: it flushes before the next command. Without that pause every frame
        already received would run without yielding, and a pipelining client that reads promptly would overflow its
        queue (4008)."""
        return not self.session.queued_bytes

    def start(self, raw: str | bytes) -> Coroutine[Any, Any, None] | None:
        session = self.session
        if session.close_code is not None:
            return None  # closing: the writer is sending the close frame
        wait = session.admit(self.abuse_limit)
        if wait:
            self.metrics.rate_limited.inc()
            session.send(encode_error(_peek_id(raw), None, ErrorCode.RATE_LIMITED, "too many commands",
                                      retry_after_ms=max(1, int(wait * 1000))))
            return None
        if type(raw) is not str:
            session.send(encode_error(None, None, ErrorCode.BAD_REQUEST, "binary frames are not accepted; send text"))
            return None
        return dispatch(self.commands, self.metrics, self.session, raw, self.deadline, self.retry_after)


def _peek_id(raw: str | bytes) -> str | int | None:
    """The id of a refused frame, if it can be read cheaply, so the client can match the refusal."""
    if type(raw) is not str:
        return None
    try:
        value = orjson.loads(raw).get("id")
    except Exception:
        return None
    return value if isinstance(value, (str, int)) and not isinstance(value, bool) else None
