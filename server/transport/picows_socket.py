"""One upgraded connection on picows (server/transport/picows.py serves them): picows' listener, and the
transport port (server/transport/port.py) the session and the endpoint use.

What picows leaves to us per connection, and where it is done here:

- message reassembly (fragments), capped at `MAX_FRAME_BYTES` for the whole message (1009), and invalid UTF-8
  in a text frame (1007), as uvicorn's websockets does;
- a bounded inbox: a client that pipelines faster than its commands run has its reads paused (the kernel's buffer
  and TCP flow control hold the rest), instead of growing the node's memory;
- back-pressure out: `pause_writing` / `resume_writing` of the asyncio transport make `send` return an awaitable
  (the session's writer waits on it, under its write deadline);
- the replies of commands started on arrival written at the end of the loop's turn (`WriteBatch`): what such a
  command sends to its own socket goes to the transports together with the others of the turn once the turn's
  callbacks have run, in the order it was sent. Each write to a peer that waits for it wakes that peer; written one
  by one as commands are answered, the replies to a burst of frames wake it once per reply, written together once
  per burst (docs/PERFORMANCE.md, run 15: ~2 µs of a light command on this VM, where a wake-up crosses to another
  virtual CPU). Other frames (a broadcast, even one such a command makes; the reply of a command that had to wait)
  are written at once, as before, unless the socket has batched frames they must follow: batching a broadcast held
  its first subscribers until the whole of it was queued (a fifth less sustained fan-out to 5,000 in an A/B). A close
  frame goes after what was sent before it: the batch is written first;
- the close handshake: a close frame we send is answered by the peer's (or the connection is dropped after
  `CLOSE_TIMEOUT`), a close frame the peer sends is answered with the same code;
- commands started as their frames arrive (`start_on_arrival`, server/transport/port.py): a text frame that finds
  the endpoint's read loop waiting, with nothing queued before it, starts its command inside picows' callback, as a
  step of the socket's task (`serve` makes it): that task is current (`asyncio.current_task()`, the command
  deadline) and its context is entered, as when the task itself runs. A command that has to wait goes to the inbox,
  and the task finishes it before the next frame. What it saves is the task's wake-up for each frame
  (docs/PERFORMANCE.md, run 15). Entering a task from a callback uses asyncio's `_enter_task` / `_leave_task`, what
  `Task` itself and Python 3.12's eager tasks use (docs/DESIGN.md).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from asyncio.tasks import _enter_task, _leave_task
from collections.abc import Awaitable, Coroutine
from typing import Any, Protocol

from picows import WSCloseCode, WSListener, WSMsgType, WSTransport

from protocol import CloseCode
from server.edge import ClientNoise
from server.transport.port import MAX_FRAME_BYTES, FrameStarter, Rest

noise = ClientNoise(logging.getLogger("valgame.picows"))  # what clients cause, logged once per kind per 10 s

# What one socket may have in a turn's write batch before its transport takes it at once (asyncio's default
# high-water mark of a transport's buffer): past it the transport's own back-pressure decides, as without the batch.
BATCH_BYTES = 64 * 1024
CLOSE_TIMEOUT = 5.0  # after our close frame, how long the peer has to answer with its own before it is dropped
INBOX_PAUSE = 32  # frames received and not yet read by the endpoint before reading from the socket pauses
INBOX_RESUME = 8
PROTOCOL_ERROR, INVALID_DATA = 1002, 1007  # RFC 6455 codes the protocol's CloseCode has no need to name
_TEXT, _BINARY, _CONTINUATION, _CLOSE = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION, WSMsgType.CLOSE


class WriteBatch:
    """What commands started on arrival send to their own sockets during one turn of the event loop, handed to the
    transports together at its end. A socket's later frames in the turn follow its batched ones."""

    __slots__ = ("_frames", "_loop", "collecting")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._frames: list[tuple[PicowsSocket, bytes]] = []
        self.collecting: PicowsSocket | None = None  # whose command started in picows' read callback is running

    def add(self, socket: PicowsSocket, payload: bytes) -> None:
        frames = self._frames
        if not frames:
            self._loop.call_soon(self.flush)  # after the callbacks already due in this turn
        frames.append((socket, payload))

    def flush(self) -> None:
        frames, self._frames = self._frames, []
        for socket, payload in frames:
            socket._write_batched(payload)


class SocketHost(Protocol):
    """What a socket needs of the server that accepted it (server/transport/picows.py `PicowsServer`)."""

    loop: asyncio.AbstractEventLoop
    writes: WriteBatch

    def connected(self, socket: PicowsSocket) -> None: ...

    def disconnected(self, socket: PicowsSocket) -> None: ...


class _Gone(ConnectionError):
    """The connection is closed: nothing more can be sent on it."""


class PicowsSocket(WSListener):
    """One upgraded connection: picows' listener, and the `Transport` the session and the endpoint use."""

    __slots__ = ("_batched", "_closing", "_context", "_inbox", "_parts", "_parts_size", "_parts_text", "_paused",
                 "_reading_paused", "_resumed", "_server", "_starter", "_task", "_waiter", "ws")

    def __init__(self, server: SocketHost) -> None:
        super().__init__()
        self._server = server
        self.ws: WSTransport | None = None
        # A list, not a deque: it holds a frame or two at a time (at most INBOX_PAUSE), and an empty deque costs
        # ~600 bytes on every idle socket against a list's 56. A command started on arrival that has to wait is
        # queued as its `Rest`.
        self._inbox: list[str | bytes | Rest | None] = []
        self._waiter: asyncio.Future[None] | None = None
        self._parts: list[bytes] | None = None  # a fragmented message being reassembled
        self._parts_size = 0
        self._parts_text = True
        self._paused = False  # the transport's write buffer is over its high-water mark
        self._batched = 0  # bytes of this socket in the turn's write batch
        self._resumed: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._closing: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None  # the endpoint's, from `serve`
        self._context = contextvars.copy_context()  # that task's
        self._starter: FrameStarter | None = None

    # --- the Transport port --------------------------------------------------------------------------------------
    def send(self, payload: bytes) -> Awaitable[None] | None:
        ws = self.ws
        if ws is None or ws.is_disconnected or ws.is_close_frame_sent:
            raise _Gone()
        if self._paused:
            return self._send_when_writable(payload)
        writes = self._server.writes
        if writes.collecting is not self and not self._batched:
            # Not the reply of this socket's command started on arrival, nor behind such a reply: written now (a
            # broadcast, even one such a command makes, reaches its subscribers as it goes).
            ws.send(_TEXT, payload)
            return None
        if self._batched > BATCH_BYTES:
            # This socket sent a lot this turn: its transport judges now whether its peer keeps up (pause_writing),
            # so what a peer that reads nothing makes the node hold stays bounded.
            writes.flush()
            if self._paused:
                return self._send_when_writable(payload)
        self._batched += len(payload)
        writes.add(self, payload)
        return None

    def _write_batched(self, payload: bytes) -> None:
        self._batched = 0
        ws = self.ws
        if ws is not None and not ws.is_disconnected and not ws.is_close_frame_sent:  # else gone, or aborted since
            ws.send(_TEXT, payload)

    async def _send_when_writable(self, payload: bytes) -> None:
        while self._paused:
            if self._resumed is None:
                self._resumed = asyncio.get_running_loop().create_future()
            await self._resumed  # raises _Gone when the connection is lost meanwhile
        self.send(payload)

    async def receive(self) -> str | bytes | None:
        inbox = self._inbox
        while True:
            while not inbox:
                # The server's loop, not asyncio.get_running_loop(): on Python 3.11 that look-up makes a getpid
                # system call, once per command on a socket that waits for its next frame.
                self._waiter = self._server.loop.create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
            item = inbox.pop(0)
            if self._reading_paused and len(inbox) <= INBOX_RESUME:
                self._reading_paused = False
                ws = self.ws
                if ws is not None and not ws.is_disconnected:
                    ws.underlying_transport.resume_reading()
            if type(item) is not Rest:
                return item
            await item  # a command started on arrival, which had to wait: finished here, before the next frame
            starter = self._starter
            if starter is not None and not starter.ready():
                await asyncio.sleep(0)  # as the read loop does between commands: the writer flushes first

    def start_on_arrival(self, starter: FrameStarter | None) -> None:
        # Only from the task `serve` made: its context is the one a command started on arrival must run in.
        if starter is None or asyncio.current_task() is self._task:
            self._starter = starter

    async def close(self, code: int, reason: str) -> None:
        ws = self.ws
        if ws is None or ws.is_disconnected or ws.is_close_frame_sent:
            return
        self._send_close(ws, code, reason.encode()[:123])
        received = ws.close_handshake is not None and ws.close_handshake.recv is not None
        if received:  # the peer closed first: this was our answer, the connection ends here
            ws.disconnect()
        elif self._closing is None:
            self._closing = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, ws.disconnect)

    def abort(self) -> bool:
        ws = self.ws
        if ws is not None:
            ws.disconnect(graceful=False)
        return True

    # --- picows' callbacks ---------------------------------------------------------------------------------------
    def on_ws_connected(self, transport: WSTransport) -> None:
        self.ws = transport
        self._server.connected(self)

    def on_ws_frame(self, transport: WSTransport, frame: Any) -> None:
        kind = frame.msg_type
        if kind is _TEXT or kind is _BINARY:
            if self._parts is not None:
                self._fail(PROTOCOL_ERROR, "expected a continuation frame")
            elif not frame.fin:
                self._parts, self._parts_size = [frame.get_payload_as_bytes()], frame.payload_size
                self._parts_text = kind is _TEXT
            elif kind is _TEXT:
                try:
                    text = frame.get_payload_as_utf8_text()
                except UnicodeDecodeError:
                    noise.info("Invalid UTF-8 in a text frame")
                    self._fail(INVALID_DATA, "invalid UTF-8")
                    return
                # The endpoint waits for a frame and none is queued before this one: its command may start here.
                if self._starter is None or self._waiter is None or self._inbox or not self._start_now(text):
                    self._push(text)
            else:
                self._push(frame.get_payload_as_bytes())
        elif kind is _CONTINUATION:
            self._continue(frame)
        elif kind is _CLOSE:
            self._closed_by_peer(transport, frame)

    def serve(self, endpoint: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run the endpoint of this connection in a task of its own, in the context this socket keeps for it."""
        self._task = self._server.loop.create_task(endpoint, context=self._context)
        return self._task

    def _start_now(self, text: str) -> bool:
        """Start the frame's command as a step of the endpoint's task; False when it cannot start now (the frame
        then waits in the inbox for the read loop)."""
        starter = self._starter
        assert starter is not None
        if not starter.ready():
            return False
        loop, task = self._server.loop, self._task
        try:
            _enter_task(loop, task)
        except RuntimeError:  # called from within a task (a test's or a benchmark's), not from picows' read callback
            return False
        writes = self._server.writes
        writes.collecting = self
        try:
            context = self._context
            command = context.run(starter.start, text)
            if command is None:
                return True  # answered at once
            yielded = context.run(command.send, None)
        except StopIteration:
            return True  # done at once
        except BaseException as exc:  # not a command's own failure (dispatch answers those): the task raises it
            self._push(Rest(_raise(exc), None))
            return True
        finally:
            writes.collecting = None
            _leave_task(loop, task)
        self._push(Rest(command, yielded))  # it waits: the endpoint's task finishes it
        return True

    def _continue(self, frame: Any) -> None:
        parts = self._parts
        if parts is None:
            self._fail(PROTOCOL_ERROR, "unexpected continuation frame")
            return
        self._parts_size += frame.payload_size
        if self._parts_size > MAX_FRAME_BYTES:
            self._parts = None
            self._fail(CloseCode.FRAME_TOO_LARGE, "message too big")
            return
        parts.append(frame.get_payload_as_bytes())
        if frame.fin:
            self._parts = None
            payload = b"".join(parts)
            if not self._parts_text:
                self._push(payload)
                return
            try:
                self._push(payload.decode())
            except UnicodeDecodeError:
                noise.info("Invalid UTF-8 in a text frame")
                self._fail(INVALID_DATA, "invalid UTF-8")

    def _closed_by_peer(self, transport: WSTransport, frame: Any) -> None:
        if transport.is_close_frame_sent:  # the answer to ours: done
            transport.disconnect()
        else:
            code = int(frame.get_close_code())
            self._send_close(transport, code if code not in (0, 1005) else WSCloseCode.OK)
            transport.disconnect()
        self._push(None)

    def _fail(self, code: int, reason: str) -> None:
        """A protocol violation by the peer: close with `code`, and the endpoint sees the end."""
        ws = self.ws
        if ws is not None and not ws.is_close_frame_sent:
            self._send_close(ws, code, reason.encode())
            if self._closing is None:
                self._closing = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, ws.disconnect)
        self._push(None)

    def _send_close(self, ws: WSTransport, code: int, reason: bytes = b"") -> None:
        """Send a close frame after what was sent before it: the turn's write batch goes first."""
        self._server.writes.flush()
        ws.send_close(WSCloseCode(code), reason)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self._closing is not None:
            self._closing.cancel()
            self._closing = None
        self._push(None)
        resumed, self._resumed = self._resumed, None
        if resumed is not None and not resumed.done():
            resumed.set_exception(_Gone())
            resumed.exception()  # retrieved: no "never retrieved" warning when nobody was waiting any more
        self._server.disconnected(self)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        resumed, self._resumed = self._resumed, None
        if resumed is not None and not resumed.done():
            resumed.set_result(None)

    def _push(self, item: str | bytes | Rest | None) -> None:
        inbox = self._inbox
        if inbox and inbox[-1] is None:
            return  # ended: nothing follows the end
        inbox.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if len(inbox) >= INBOX_PAUSE and not self._reading_paused and item is not None:
            ws = self.ws
            if ws is not None and not ws.is_disconnected:
                self._reading_paused = True
                ws.underlying_transport.pause_reading()


async def _raise(exc: BaseException) -> None:
    raise exc
