"""The sans-I/O core of a Valgame protocol v1 client: no sockets, no asyncio, no threads.

In the style of python-websockets' `protocol.py`, it only turns things into other things and returns what the shell
must do next:

- `command(...)` / `auth(...)` build outgoing `Command`s (with request ids, and idem keys when asked); the shell
  sends `command.text()`.
- `receive(text)` takes one received text frame and returns what it meant: `Reply`, `Event`, `Authenticated`,
  `Resync` (events were missed: re-read state) or `Unreadable`.
- `connection_lost()` says which in-flight commands cannot be repeated safely (their outcome is unknown); the others
  stay pending and come back in `Authenticated.resend` after the next `auth`, which resumes the session.

A command is safe to repeat when it only reads (`READ_ONLY`), or when it carries an idem key: the server applies a
keyed command once per (player, key), and a retry with the same key gets the original reply (`replayed: true`).
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson

from protocol.codes import MAX_IDEM_LENGTH, CloseCode
from protocol.messages import COMMANDS

FrameId = int | str

# Commands that accept an idem key: they change state, and the server applies each key once.
KEYED: frozenset[str] = frozenset(name for name, command in COMMANDS.items() if command.changes_state)

# Commands that change nothing (or only this connection's subscriptions, which a retry sets to the same value):
# sending one twice is harmless. Unkeyed commands with effects (chat.send, notification.read, ops.*) are not here.
READ_ONLY: frozenset[str] = frozenset({
    "ping", "state.get", "sub.add", "sub.remove", "catalog.get", "character.list", "inventory.get", "energy.get",
    "combat.state", "ranking.top", "ranking.me", "ranking.around", "chat.history", "notification.list",
    "market.browse", "market.mine",
})

# Closes after which reconnecting would only be refused or undo the operator (kicked, replaced, bad token).
FINAL_CLOSE_CODES: frozenset[int] = frozenset({CloseCode.NOT_AUTHENTICATED, CloseCode.KICKED, CloseCode.REPLACED})


def new_idem_key(command_type: str) -> str:
    """A fresh idempotency key: the command type (for the server's logs) and 64 random bits."""
    return f"{command_type}-{secrets.token_hex(8)}"[:MAX_IDEM_LENGTH]


@dataclass(slots=True)
class Command:
    """An outgoing command; `sent` is False until the shell wrote it on the current connection."""

    id: FrameId
    type: str
    data: dict[str, Any]
    idem: str | None = None
    internal: bool = False  # sent by the core itself (re-subscription after a reconnect); nobody awaits it
    sent: bool = False

    @property
    def retry_safe(self) -> bool:
        return self.type in READ_ONLY or self.idem is not None

    def text(self) -> str:
        frame: dict[str, Any] = {"id": self.id, "type": self.type, "data": self.data}
        if self.idem is not None:
            frame["idem"] = self.idem
        return orjson.dumps(frame).decode()


@dataclass(frozen=True, slots=True)
class Reply:
    """The server's answer to a command (`command` is None when no pending command carries its id)."""

    frame: dict[str, Any]
    command: Command | None

    @property
    def id(self) -> FrameId | None:
        return self.frame.get("id")

    @property
    def ok(self) -> bool:
        return self.frame.get("ok") is True

    @property
    def data(self) -> dict[str, Any]:
        return self.frame.get("data") or {}

    @property
    def error(self) -> dict[str, Any]:
        return self.frame.get("error") or {}

    @property
    def replayed(self) -> bool:
        return self.frame.get("replayed") is True


@dataclass(frozen=True, slots=True)
class Event:
    """A server push: personal events carry `seq`, topic broadcasts carry `topic`."""

    frame: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.frame.get("type"))

    @property
    def data(self) -> dict[str, Any]:
        return self.frame.get("data") or {}

    @property
    def seq(self) -> int | None:
        return self.frame.get("seq")

    @property
    def topic(self) -> str | None:
        return self.frame.get("topic")


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A successful `auth` reply; `resend` are the commands the shell must send now, in order."""

    reply: Reply
    session: str
    seq: int
    resumed: bool | None  # None: no resume was asked
    resend: tuple[Command, ...] = ()


@dataclass(frozen=True, slots=True)
class Resync:
    """Personal events were missed and will not come: the client should re-read its state (`state.get`, ...).

    `reason` is "gap" (an event arrived after `last_seen` + 1) or "not_resumed" (the server could not replay the
    events after `last_seen` on a resume)."""

    reason: str
    last_seen: int | None
    now: int


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A received frame that is not a JSON object."""

    raw: str | bytes


Received = Reply | Event | Authenticated | Resync | Unreadable


@dataclass
class ClientProtocol:
    """One player's conversation with the server, across connections: ids, pending commands, seq, session."""

    session: str | None = None  # the last session id, for `resume`
    last_seq: int | None = None  # the last personal event seq seen
    node: str | None = None
    topics: set[str] = field(default_factory=set)  # subscriptions to restore after a reconnect
    _pending: dict[FrameId, Command] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # --- outgoing --------------------------------------------------------------------------------------------------
    def command(self, type: str, data: dict[str, Any] | None = None, *, idem: str | bool | None = None,
                frame_id: FrameId | None = None) -> Command:
        """Register a command; `idem=True` makes a fresh key. The shell sends `text()` and calls `mark_sent`."""
        if idem is True:
            idem = new_idem_key(type)
        elif idem is False:
            idem = None
        if idem is not None and type not in KEYED:
            raise ValueError(f"{type} takes no idem key (only {', '.join(sorted(KEYED))})")
        command = Command(next(self._ids) if frame_id is None else frame_id, type, dict(data or {}), idem)
        self._pending[command.id] = command
        return command

    def auth(self, token: str, *, resume: dict[str, Any] | bool = True, frame_id: FrameId | None = None) -> Command:
        """The `auth` command; it resumes the last session when there is one (or the one given)."""
        data: dict[str, Any] = {"token": token}
        if isinstance(resume, dict):
            data["resume"] = resume
        elif resume and self.session is not None:
            data["resume"] = {"session": self.session, "seq": self.last_seq or 0}
        return self.command("auth", data, frame_id=frame_id)

    def mark_sent(self, command: Command) -> None:
        command.sent = True

    def forget(self, frame_id: FrameId) -> Command | None:
        """Stop waiting for a reply (the caller gave up); a late reply comes back with `command=None`."""
        return self._pending.pop(frame_id, None)

    @property
    def pending(self) -> tuple[Command, ...]:
        return tuple(self._pending.values())

    # --- incoming --------------------------------------------------------------------------------------------------
    def receive(self, raw: str | bytes) -> list[Received]:
        """Parse one received frame."""
        try:
            frame = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return [Unreadable(raw)]
        if not isinstance(frame, dict):
            return [Unreadable(raw)]
        if "ok" in frame:
            return self._reply(frame)
        return self._event(frame)

    def _reply(self, frame: dict[str, Any]) -> list[Received]:
        frame_id = frame.get("id")
        command = self._pending.pop(frame_id, None) if isinstance(frame_id, (int, str)) else None
        reply = Reply(frame, command)
        if command is None or not reply.ok:
            return [reply]
        if command.type == "sub.add":
            self.topics.add(command.data["topic"])
        elif command.type == "sub.remove":
            self.topics.discard(command.data["topic"])
        elif command.type == "auth":
            return [reply, *self._authenticated(reply, command)]
        return [reply]

    def _authenticated(self, reply: Reply, command: Command) -> list[Received]:
        data = reply.data
        asked = command.data.get("resume")
        resumed = data.get("resumed") if asked is not None else None
        seen = self.last_seq if self.last_seq is not None else (asked or {}).get("seq")
        self.session, self.node = data.get("session"), data.get("node")
        if resumed is not True:
            # A fresh session (or one that could not be replayed): current as of the reply's seq.
            self.last_seq = data.get("seq", 0)
        elif self.last_seq is None:
            self.last_seq = asked["seq"]
        restored: list[Command] = []
        if asked is not None:
            # Subscriptions belong to a connection: a new one starts with none. They go out before the commands
            # sent again, so that a reply to any of those means the subscriptions are back.
            pending_topics = {c.data["topic"] for c in self._pending.values() if c.type == "sub.add"}
            for topic in sorted(self.topics - pending_topics):
                internal = self.command("sub.add", {"topic": topic})
                internal.internal = True
                restored.append(internal)
        resend = restored + [c for c in self._pending.values() if not c.sent and c not in restored]
        items: list[Received] = [Authenticated(reply, str(self.session), int(self.last_seq or 0), resumed,
                                               tuple(resend))]
        if resumed is False:
            items.append(Resync("not_resumed", seen, int(self.last_seq or 0)))
        return items

    def _event(self, frame: dict[str, Any]) -> list[Received]:
        seq = frame.get("seq")
        if not isinstance(seq, int):
            return [Event(frame)]
        last = self.last_seq
        if last is not None and seq <= last:
            return []  # already seen: a replay overlapping what this client had
        self.last_seq = seq
        if last is not None and seq > last + 1:
            return [Resync("gap", last, seq), Event(frame)]
        return [Event(frame)]

    # --- the connection ---------------------------------------------------------------------------------------------
    def connection_lost(self) -> list[Command]:
        """The socket is gone. Returns the commands sent on it whose outcome is unknown and that cannot be repeated
        (the caller must check whether they happened); the rest stay pending, to be sent again after `auth`."""
        lost: list[Command] = []
        for command in list(self._pending.values()):
            if command.type == "auth" or command.internal:
                del self._pending[command.id]  # a new connection sends its own
            elif command.sent and not command.retry_safe:
                del self._pending[command.id]
                lost.append(command)
            command.sent = False
        return lost

    @staticmethod
    def may_reconnect(close_code: int | None) -> bool:
        """Whether reconnecting after this close can succeed without the user doing anything."""
        return close_code not in FINAL_CLOSE_CODES
