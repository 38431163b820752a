"""The blocking shell of the client SDK, on `websocket-client` (the `client` extra), for scripts and Locust.

    client = Client(ws_url, token=tokens.access_token, reconnect=True, on_event=print)
    hello = client.connect()
    data = client.call("evo.buy", {"count": 1}, idem=True)

A reader thread receives frames (and answers the server's pings) while the caller blocks on a reply; under gevent
(Locust patches threads and sockets) it is a greenlet. Reconnection follows the rules of the asyncio shell: resume
the session, send again what is safe to repeat, fail the rest with ConnectionLost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import websocket  # websocket-client

from valgame_client.core import Authenticated, Command, Event, FrameId, Reply, Resync
from valgame_client.errors import CommandError, ConnectionLost
from valgame_client.shell import MAX_KEPT_EVENTS, Shell

_LINK_ERRORS = (OSError, websocket.WebSocketException)
TokenSource = str | Callable[[], str]


class Client(Shell[TokenSource]):
    """One player's blocking client; safe to call from several threads."""

    def __init__(self, url: str, *, token: TokenSource | None = None, reconnect: bool = False,
                 on_event: Callable[[dict[str, Any]], None] | None = None,
                 on_resync: Callable[[Resync], None] | None = None, timeout: float = 10,
                 max_backoff: float = 15, max_kept_events: int = MAX_KEPT_EVENTS, **connect_options: Any) -> None:
        super().__init__(url, token=token, reconnect=reconnect, on_event=on_event, on_resync=on_resync,
                         timeout=timeout, max_backoff=max_backoff, max_kept_events=max_kept_events)
        self.connect_options = {"enable_multithread": True, "skip_utf8_validation": True, **connect_options}
        self.closed = False  # True once the client is finished (no reconnect follows)
        self.ws: websocket.WebSocket | None = None
        self._reader: threading.Thread | None = None  # the current socket's reader (the only one reading it)
        self._lock = threading.RLock()  # guards the core, the outcomes and the events
        self._changed = threading.Condition(self._lock)
        self._outcomes: dict[FrameId, dict[str, Any] | ConnectionLost | None] = {}  # None: still waiting
        self._ready = False
        self._stopping = False
        self._reconnecting = False  # one thread reopens; the readers of its failed attempts leave it to that one

    # --- the connection -------------------------------------------------------------------------------------------
    def connect(self) -> dict[str, Any] | None:
        """Open the socket; with a token, authenticate and return the `auth` reply's data."""
        self.open_socket()
        return self.authenticate() if self.token is not None else None

    def open_socket(self) -> None:
        """Open the socket only (the caller then sends `auth`, or calls `authenticate`)."""
        ws = websocket.create_connection(self.url, timeout=self.timeout, **self.connect_options)
        ws.settimeout(None)  # the reader blocks; callers have their own timeouts
        with self._lock:
            self.ws = ws
            self.connects += 1
            self._ready = self.token is None  # without a token the caller speaks `auth` itself
        self._reader = threading.Thread(target=self._read, args=(ws,), name="valgame-client-reader", daemon=True)
        self._reader.start()

    def authenticate(self) -> dict[str, Any]:
        assert self.token is not None
        token = self.token if isinstance(self.token, str) else self.token()
        with self._lock:
            command = self.core.auth(token)
        reply = self._exchange(command, self.timeout)
        if not reply["ok"]:
            raise CommandError(reply)
        return reply["data"]

    def close(self) -> None:
        """Close for good (no reconnect)."""
        with self._lock:
            self._stopping = True
            ws, reader = self.ws, self._reader
        if ws is not None:
            try:
                ws.send_close()  # the reader receives the node's answering close and ends
            except _LINK_ERRORS:
                pass
            if reader is not None and reader is not threading.current_thread():
                reader.join(self.timeout)
            ws.shutdown()
        with self._lock:
            self._finish()

    # --- commands ---------------------------------------------------------------------------------------------------
    def request(self, type: str, data: dict[str, Any] | None = None, *, idem: str | bool | None = None,
                timeout: float | None = None) -> dict[str, Any]:
        """Send a command and return its reply frame, whatever its outcome. `idem=True` makes a fresh key."""
        with self._lock:
            command = self.core.command(type, data, idem=idem)
        return self._exchange(command, self.timeout if timeout is None else timeout)

    def call(self, type: str, data: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
        """Send a command and return its reply's data; raise CommandError on an error reply."""
        reply = self.request(type, data, **options)
        if not reply["ok"]:
            raise CommandError(reply)
        return reply["data"]

    def _exchange(self, command: Command, timeout: float) -> dict[str, Any]:
        with self._lock:
            if self.ws is None:
                self.core.forget(command.id)
                raise RuntimeError("connect() first")
            if self.closed:
                self.core.forget(command.id)
                raise ConnectionLost(f"the client is closed ({self.close_code})", self.close_code)
            self._outcomes[command.id] = None
            now = self._ready or command.type == "auth"
            if now:
                self.core.mark_sent(command)
            ws = self.ws
        if now and ws is not None:
            self._write(ws, command)
        with self._changed:
            if not self._changed.wait_for(lambda: self._outcomes.get(command.id) is not None, timeout):
                self._outcomes.pop(command.id, None)
                self.core.forget(command.id)
                raise TimeoutError(f"no reply to {command.type} in {timeout:g} s")
            outcome = self._outcomes.pop(command.id)
        if isinstance(outcome, ConnectionLost):
            raise outcome
        assert outcome is not None
        return outcome

    @staticmethod
    def _write(ws: websocket.WebSocket, command: Command) -> None:
        try:
            ws.send(command.text())
        except _LINK_ERRORS:
            pass  # the reader sees the close and decides the command's fate

    # --- events -----------------------------------------------------------------------------------------------------
    def wait_event(self, type: str, where: Callable[[dict[str, Any]], bool] | None = None,
                   timeout: float | None = None, after: int = 0) -> dict[str, Any]:
        """The first event of `type` (at index >= after in `events`) whose data matches `where`, waiting for it."""
        self.check_kept()
        found: list[dict[str, Any]] = []

        def check() -> bool:
            found.extend(e for e in self.events[after:] if e["type"] == type
                         and (where is None or where(e.get("data") or {})))
            return bool(found) or self.closed

        with self._changed:
            if not self._changed.wait_for(check, self.timeout if timeout is None else timeout):
                raise TimeoutError(f"no {type} event")
        if not found:
            raise ConnectionLost(f"closed with {self.close_code} before {type}", self.close_code)
        return found[0]

    # --- reading ----------------------------------------------------------------------------------------------------
    def _read(self, ws: websocket.WebSocket) -> None:
        close_code: int | None = None
        try:
            while True:
                opcode, payload = ws.recv_data(control_frame=True)  # answers pings by itself
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                    self.close_reason = payload[2:].decode(errors="replace")
                    break
                if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                    self._received(ws, payload)
        except _LINK_ERRORS:
            pass
        finally:
            ws.shutdown()  # the close handshake, if any, is done: recv_data answered the node's close frame
            self._connection_lost(ws, close_code)

    def _received(self, ws: websocket.WebSocket, payload: bytes) -> None:
        events: list[dict[str, Any]] = []
        resyncs: list[Resync] = []
        resend: tuple[Command, ...] = ()
        with self._changed:
            for item in self.core.receive(payload):
                if isinstance(item, Reply):
                    if item.id in self._outcomes:
                        self._outcomes[item.id] = item.frame
                elif isinstance(item, Event):
                    self.events.append(item.frame)
                    events.append(item.frame)
                elif isinstance(item, Authenticated):
                    self.auth_reply = item.reply.data
                    self._ready = True
                    resend = item.resend
                    for command in resend:
                        self.core.mark_sent(command)
                elif isinstance(item, Resync):
                    self.resyncs.append(item)
                    resyncs.append(item)
            self._changed.notify_all()
        for command in resend:
            self._write(ws, command)
        for frame in events:
            self.notify_event(frame)
        for resync in resyncs:
            self.notify_resync(resync)

    def _connection_lost(self, ws: websocket.WebSocket, close_code: int | None) -> None:
        with self._changed:
            if ws is not self.ws:
                return
            self.close_code = close_code
            self._ready = False
            self.core.connection_lost()
            again = self.reconnect and not self._stopping and self.token is not None \
                and self.core.may_reconnect(close_code)
            if not again:
                self._finish()
                return
            kept = {command.id for command in self.core.pending}
            for frame_id, outcome in self._outcomes.items():
                if outcome is None and frame_id not in kept:
                    self._outcomes[frame_id] = ConnectionLost(f"closed with {close_code}", close_code)
            self._changed.notify_all()
            if self._reconnecting:
                return
            self._reconnecting = True
        self._reconnect()  # on this reader's thread, which ends when a new reader has taken over

    def _reconnect(self) -> None:
        attempt = 0
        try:
            while not (self._stopping or self.closed):
                time.sleep(self.backoff(attempt))  # a backoff between attempts, not a synchronization
                attempt += 1
                opened = None
                try:
                    self.open_socket()
                    opened = self.ws
                    self.authenticate()
                    return
                except (*_LINK_ERRORS, TimeoutError, ConnectionLost):
                    if opened is not None:
                        opened.abort()  # no answer to `auth`: drop it, or it would hold one of the 3 sockets
                    continue  # its reader handles its close (and leaves the reconnecting to this loop)
                except CommandError:
                    with self._lock:
                        self._finish()  # the token was refused: reconnecting cannot help
                    return
        finally:
            with self._lock:
                self._reconnecting = False

    def _finish(self) -> None:
        """No reconnect follows: every waiting command fails. Called with the lock held."""
        for frame_id, outcome in self._outcomes.items():
            if outcome is None:
                self._outcomes[frame_id] = ConnectionLost(f"closed with {self.close_code}", self.close_code)
        for command in self.core.pending:
            self.core.forget(command.id)
        self.closed = True
        self._changed.notify_all()
