"""The asyncio shell of the client SDK, on the `websockets` library (the `client` extra).

    client = AsyncClient(ws_url, token=tokens.access_token, reconnect=True)
    hello = await client.connect()                      # the `auth` reply's data
    data = await client.call("evo.buy", {"count": 1}, idem=True)
    ended = await client.wait_event("combat.ended")

With `reconnect=True` a dropped socket is reopened with a backoff and the session resumed (missed events are
replayed in order); commands in flight that are safe to repeat (reads, and changes with an idem key) are sent again,
the others fail with ConnectionLost. Without it, the first close ends the client (`close_code` says why).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.protocol import State

from valgame_client.core import Authenticated, Command, Event, FrameId, Reply, Resync
from valgame_client.errors import CommandError, ConnectionLost
from valgame_client.shell import MAX_KEPT_EVENTS, Shell

TokenSource = str | Callable[[], Awaitable[str]]


class AsyncClient(Shell[TokenSource]):
    """One player's client: sends commands, matches replies by id, keeps events in arrival order."""

    def __init__(self, url: str, *, token: TokenSource | None = None, reconnect: bool = False,
                 on_event: Callable[[dict[str, Any]], None] | None = None,
                 on_resync: Callable[[Resync], None] | None = None, timeout: float = 10,
                 max_backoff: float = 15, max_kept_events: int = MAX_KEPT_EVENTS, **connect_options: Any) -> None:
        super().__init__(url, token=token, reconnect=reconnect, on_event=on_event, on_resync=on_resync,
                         timeout=timeout, max_backoff=max_backoff, max_kept_events=max_kept_events)
        self.connect_options = {"max_size": None, "compression": None, **connect_options}
        self.connection: ClientConnection | None = None
        self.closed = asyncio.Event()  # set once the client is finished (no reconnect follows)
        self._ready = asyncio.Event()  # a socket is open, and authenticated when the client holds a token
        self._waiters: dict[FrameId | None, asyncio.Future[dict[str, Any]]] = {}
        self._event_signal = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self._reconnector: asyncio.Task[None] | None = None
        self._stopping = False

    # --- the connection -------------------------------------------------------------------------------------------
    async def connect(self) -> dict[str, Any] | None:
        """Open the socket; with a token, authenticate and return the `auth` reply's data."""
        await self.open_socket()
        return await self.authenticate() if self.token is not None else None

    async def open_socket(self) -> None:
        """Open the socket only (the caller then sends `auth`, or calls `authenticate`)."""
        self.connection = await websockets.connect(self.url, **self.connect_options)
        self.connects += 1
        if self.token is None:
            self._ready.set()  # the caller speaks `auth` itself
        self._reader = asyncio.create_task(self._read(self.connection))

    async def authenticate(self) -> dict[str, Any]:
        assert self.token is not None
        token = self.token if isinstance(self.token, str) else await self.token()
        command = self.core.auth(token)
        reply = await self._exchange(command, self.timeout)
        if not reply["ok"]:
            raise CommandError(reply)
        return reply["data"]

    async def close(self) -> None:
        """Close for good (no reconnect)."""
        self._stopping = True
        if self._reconnector is not None:
            self._reconnector.cancel()
        if self.connection is not None:
            await self.connection.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self._finish()

    async def wait_closed(self, timeout: float = 10) -> int | None:
        await asyncio.wait_for(self.closed.wait(), timeout)
        return self.close_code

    # --- commands ---------------------------------------------------------------------------------------------------
    async def request(self, type: str, data: dict[str, Any] | None = None, *, idem: str | bool | None = None,
                      timeout: float | None = None, frame_id: FrameId | None = None) -> dict[str, Any]:
        """Send a command and return its reply frame, whatever its outcome. `idem=True` makes a fresh key."""
        command = self.core.command(type, data, idem=idem, frame_id=frame_id)
        return await self._exchange(command, self.timeout if timeout is None else timeout)

    async def call(self, type: str, data: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
        """Send a command and return its reply's data; raise CommandError on an error reply."""
        reply = await self.request(type, data, **options)
        if not reply["ok"]:
            raise CommandError(reply)
        return reply["data"]

    async def _exchange(self, command: Command, timeout: float) -> dict[str, Any]:
        if self.connection is None:
            self.core.forget(command.id)
            raise RuntimeError("connect() first")
        if self.closed.is_set():
            self.core.forget(command.id)
            raise ConnectionLost(f"the client is closed ({self.close_code})", self.close_code)
        future = self.expect_reply(command.id)
        if self._ready.is_set() or command.type == "auth":
            await self._send(command)
        # else: sent after the next successful auth (Authenticated.resend)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self.core.forget(command.id)
            self._waiters.pop(command.id, None)
            raise

    async def _send(self, command: Command) -> None:
        self.core.mark_sent(command)  # before writing: a write that fails still may have reached the server
        try:
            assert self.connection is not None
            await self.connection.send(command.text())
        except ConnectionClosed:
            pass  # the reader sees the close and decides the command's fate

    def expect_reply(self, frame_id: FrameId | None) -> asyncio.Future[dict[str, Any]]:
        """A future for the next reply carrying `frame_id` (None for frames whose id the server could not read)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[frame_id] = future
        return future

    async def send_raw(self, raw: str | bytes) -> None:
        """Send a hand-made frame, bypassing the core (its reply is matched only through `expect_reply`)."""
        assert self.connection is not None
        await self.connection.send(raw)

    # --- events -----------------------------------------------------------------------------------------------------
    async def wait_event(self, type: str, where: Callable[[dict[str, Any]], bool] | None = None,
                         timeout: float | None = None, after: int = 0) -> dict[str, Any]:
        """The first event of `type` (at index >= after in `events`) whose data matches `where`, waiting for it."""
        self.check_kept()

        async def find() -> dict[str, Any]:
            async with self._event_signal:
                while True:
                    for event in self.events[after:]:
                        if event["type"] == type and (where is None or where(event.get("data") or {})):
                            return event
                    if self.closed.is_set():
                        raise ConnectionLost(f"closed with {self.close_code} before {type}", self.close_code)
                    await self._event_signal.wait()
        return await asyncio.wait_for(find(), self.timeout if timeout is None else timeout)

    # --- reading ----------------------------------------------------------------------------------------------------
    async def _read(self, connection: ClientConnection) -> None:
        try:
            async for raw in connection:
                for item in self.core.receive(raw):
                    await self._dispatch(item)
        except ConnectionClosed:
            pass
        finally:
            await self._connection_lost(connection)

    async def _dispatch(self, item: Any) -> None:
        if isinstance(item, Reply):
            self._reply_received(item.frame)
            future = self._waiters.pop(item.id, None)
            if future is not None and not future.done():
                future.set_result(item.frame)
        elif isinstance(item, Event):
            async with self._event_signal:
                self.events.append(item.frame)
                self._event_signal.notify_all()
            self.notify_event(item.frame)
        elif isinstance(item, Authenticated):
            self.auth_reply = item.reply.data
            self._ready.set()  # before any await: a command issued from now on is sent by its caller
            for command in item.resend:
                await self._send(command)
        elif isinstance(item, Resync):
            self.resyncs.append(item)
            self.notify_resync(item)

    def _reply_received(self, frame: dict[str, Any]) -> None:
        """Every reply frame, before its waiter is woken (a hook for subclasses that keep a log)."""

    async def _connection_lost(self, connection: ClientConnection) -> None:
        if connection is not self.connection:
            return
        self.close_code, self.close_reason = connection.close_code, connection.close_reason or ""
        self._ready.clear()
        self.core.connection_lost()
        again = self.reconnect and not self._stopping and self.token is not None \
            and self.core.may_reconnect(self.close_code)
        if not again:
            self._finish()
        else:
            # Whatever the core no longer holds will not be answered: changes of unknown outcome, this socket's
            # `auth`, hand-made frames. The rest waits for the next connection.
            kept = {command.id for command in self.core.pending}
            for frame_id in [f for f in self._waiters if f not in kept]:
                future = self._waiters.pop(frame_id)
                if not future.done():
                    future.set_exception(ConnectionLost(f"closed with {self.close_code}", self.close_code))
            if self._reconnector is None or self._reconnector.done():
                self._reconnector = asyncio.create_task(self._reconnect())
        async with self._event_signal:
            self._event_signal.notify_all()

    async def _reconnect(self) -> None:
        """Reopen and resume, with an exponential backoff and jitter, until it works or the close is final."""
        attempt = 0
        while not self._stopping and not self.closed.is_set():
            await asyncio.sleep(self.backoff(attempt))  # a backoff between attempts, not a synchronization
            attempt += 1
            opened = None
            try:
                await self.open_socket()
                opened = self.connection
                await self.authenticate()
                return
            except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError, ConnectionLost):
                if opened is not None and opened.state is not State.CLOSED:
                    opened.transport.abort()  # no answer to `auth`: drop it, or it would hold one of the 3 sockets
                continue  # its reader handles its close (and leaves the reconnecting to this loop)
            except CommandError:
                self._finish()  # the token was refused: reconnecting cannot help
                return

    def _finish(self) -> None:
        for future in self._waiters.values():
            if not future.done():
                future.set_exception(ConnectionLost(f"closed with {self.close_code}", self.close_code))
        self._waiters.clear()
        for command in self.core.pending:
            self.core.forget(command.id)
        self.closed.set()
