"""A real TCP link between a client and a node that a test can hold and cut: what a flaky network does.

`hold()` stops delivering what the node sends (it stays in the link), so a command reaches the node but its reply
does not reach the client; `cut()` then resets every connection through the link at once (both ends see a reset,
as when a link dies, not a clean close), and what was held is lost with it. New connections pass normally after a
cut. Threads, so that asyncio and blocking clients can both use it."""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field
from types import TracebackType


@dataclass
class _Pipe:
    """One connection through the link: the client's socket, the node's, and the two pumps between them."""

    sockets: tuple[socket.socket, socket.socket]
    dropping: threading.Event = field(default_factory=threading.Event)
    pumps: list[threading.Thread] = field(default_factory=list)


class Link:
    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pipes: list[_Pipe] = []
        self._held = threading.Event()
        self.connections = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/ws") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def hold(self) -> None:
        self._held.set()

    def cut(self) -> None:
        """Reset every connection through the link; what was held is dropped."""
        with self._lock:
            pipes, self._pipes = self._pipes, []
        for pipe in pipes:
            pipe.dropping.set()  # the pumps stop without touching the sockets; a held one stops waiting
            for sock in pipe.sockets:
                try:
                    # Linger 0: the close sends a reset. SHUT_RD wakes a pump blocked reading and sends nothing.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.shutdown(socket.SHUT_RD)
                except OSError:
                    pass
            for pump in pipe.pumps:
                pump.join(5)  # a close while a pump still reads the socket would be deferred by the kernel
            for sock in pipe.sockets:
                sock.close()
        self._held.clear()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.cut()

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            pipe = _Pipe((client, upstream))
            pipe.pumps = [threading.Thread(target=self._pump, args=(pipe, client, upstream, False), daemon=True),
                          threading.Thread(target=self._pump, args=(pipe, upstream, client, True), daemon=True)]
            with self._lock:
                self._pipes.append(pipe)
                self.connections += 1
            for pump in pipe.pumps:
                pump.start()

    def _pump(self, pipe: _Pipe, source: socket.socket, sink: socket.socket, from_node: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data or pipe.dropping.is_set():
                    break
                if from_node and self._held.is_set():
                    pipe.dropping.wait()  # held until the cut, which drops it
                    break
                sink.sendall(data)
        except OSError:
            pass
        if not pipe.dropping.is_set():
            # A clean end on one side ends both, cleanly (shutdown acts at once, even while the other pump reads).
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
