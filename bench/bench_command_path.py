"""The node's own Python per light command on the picows transport: no kernel, no framing, no load generator.

`bench_commands` measures a command end to end (the server's CPU per command includes the kernel's loopback TCP and
picows' framing, which every stack pays). This one runs a real `Node` (SQLite in a temporary folder, in-process bus)
in this process and serves N sockets of the picows transport's own class (server/transport/picows_socket.py
`PicowsSocket`, through `serve_socket`, auth included) whose picows connection is replaced by a stand-in that hands
each reply back: every reply schedules that socket's next `energy.get` frame, as a read from the socket would. What is
timed is everything between a frame's arrival and its reply's hand-off: the command started in the read callback (or
the reader task's wake-up when it cannot start there), the rate limit, decoding, the deadline, the handler, the
cached state, encoding, the session's send, the write batch and the metrics.

    python -m bench.bench_command_path --sockets 100 --commands 200000 --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from typing import Any

from picows import WSMsgType

from bench.common import record, tree
from persistence import Account
from server.node import Node
from server.players import make_id
from server.settings import Settings
from server.socket import serve_socket
from server.transport.picows_socket import PicowsSocket, WriteBatch

COMMAND = b'{"type":"energy.get","id":1,"data":{}}'
REPLY_START = b'{"id":1,"type":"energy.get","ok":true'


class _Frame:
    """What `PicowsSocket.on_ws_frame` reads of a picows frame."""

    __slots__ = ("payload",)
    msg_type = WSMsgType.TEXT
    fin = True

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def get_payload_as_utf8_text(self) -> str:
        return self.payload.decode()


class _Connection:
    """Stands in for picows' `WSTransport`: a reply goes back to the driver instead of to a socket."""

    is_disconnected = False
    is_close_frame_sent = False
    close_handshake = None

    def __init__(self, driver: _Driver, socket: PicowsSocket) -> None:
        self.driver, self.socket = driver, socket

    def send(self, kind: Any, payload: bytes) -> None:
        self.driver.replied(self.socket, payload)

    def send_close(self, *args: Any) -> None:
        self.is_close_frame_sent = True

    def disconnect(self, graceful: bool = True) -> None:
        self.is_disconnected = True


class _Server:
    """What a `PicowsSocket` uses of its `PicowsServer`."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.writes = WriteBatch(loop)

    def connected(self, socket: PicowsSocket) -> None:
        pass

    def disconnected(self, socket: PicowsSocket) -> None:
        pass


class _Driver:
    """The closed loop: each reply schedules its socket's next command until `total` have been sent; a run ends when
    the last reply is in (so each run is exactly `total` commands, none in flight across runs)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.frame = _Frame(COMMAND)
        self.total = self.sent = self.replies = self.errors = self.authenticated = 0
        self.done: asyncio.Future[None] = loop.create_future()

    def replied(self, socket: PicowsSocket, payload: bytes) -> None:
        if not self.total:  # before the runs: the auth replies
            self.authenticated += payload.startswith(b'{"id":0,"type":"auth","ok":true')
            return
        if not payload.startswith(REPLY_START):
            self.errors += 1
        self.replies += 1
        if self.sent < self.total:
            self.sent += 1
            self.loop.call_soon(socket.on_ws_frame, socket.ws, self.frame)
        elif self.replies == self.sent and not self.done.done():
            self.done.set_result(None)

    def run(self, sockets: list[PicowsSocket], total: int) -> asyncio.Future[None]:
        self.total, self.replies, self.errors = total, 0, 0
        self.done = self.loop.create_future()
        first = sockets[:total]
        self.sent = len(first)
        for socket in first:
            socket.on_ws_frame(socket.ws, self.frame)
        return self.done


async def measure(sockets: int, commands: int, runs: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    folder = tempfile.TemporaryDirectory(prefix="valgame-path-")
    node = Node(Settings(data_dir=folder.name, jwt_secret="bench-secret-" + "x" * 32, rate_per_second=1e9,
                         rate_burst=10**9, rate_abuse_limit=10**9, max_sessions_per_player=sockets))
    await node.start(serve=False)
    try:
        account = Account(make_id("p"), "pathbench", "pathbench@example.test", "-", created_at=time.time())
        await node.players.create(account)
        assert node.tokens is not None
        token = node.tokens.issue_access(account.id, "player")
        server, driver = _Server(loop), _Driver(loop)
        opened: list[PicowsSocket] = []
        tasks = []
        for _ in range(sockets):
            socket = PicowsSocket(server)  # type: ignore[arg-type]
            socket.ws = _Connection(driver, socket)  # type: ignore[assignment]
            opened.append(socket)
            tasks.append(socket.serve(serve_socket(node, socket)))  # as the picows server does
            socket.on_ws_frame(socket.ws, _Frame(b'{"type":"auth","id":0,"data":{"token":"%s"}}' % token.encode()))
        deadline = time.monotonic() + 30
        while driver.authenticated < sockets:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {driver.authenticated} of {sockets} sockets authenticated")
            await asyncio.sleep(0.01)  # polling a count with a deadline: the sockets open as their tasks run
        # Two runs' worth discarded: the first hundreds of thousands of commands cost up to half as much again (the
        # interpreter's specialisation and the allocator settling), then the figure holds within ~10 %.
        await driver.run(opened, 2 * commands)
        figures: list[float] = []
        for _ in range(runs):
            cpu = time.process_time()
            await driver.run(opened, commands)
            figures.append((time.process_time() - cpu) / commands * 1e6)
            if driver.errors:
                raise SystemExit(f"{driver.errors} replies were not energy.get answers")
        handled = node.metrics.commands.count("energy.get", "ok")  # the node's own count
        for socket in opened:
            socket.on_ws_disconnected(socket.ws)  # type: ignore[arg-type]
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await node.stop()
        folder.cleanup()
    return {"handled": handled, "us_per_command": figures, "median": statistics.median(figures), "min": min(figures),
            "max": max(figures)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=100)
    parser.add_argument("--commands", type=int, default=200_000, help="Commands per run (all sockets together).")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    started = os.getloadavg()
    result = run(measure(args.sockets, args.commands, args.runs))
    record("command_path", {"sockets": args.sockets, "commands": args.commands, "runs": args.runs,
                            "loadavg_start": list(started), "tree": tree(), **result})


if __name__ == "__main__":
    main()
