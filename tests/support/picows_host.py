"""A stand-in for the server a picows socket belongs to (server/transport/picows_socket.py `SocketHost`), for the
unit tests that drive a `PicowsSocket` without a listening server."""

from __future__ import annotations

import asyncio

from server.transport.picows_socket import PicowsSocket, WriteBatch


class Host:
    """What a `PicowsSocket` uses of its `PicowsServer`: the running loop and its write batch."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.writes = WriteBatch(self.loop)

    def connected(self, socket: PicowsSocket) -> None:
        pass

    def disconnected(self, socket: PicowsSocket) -> None:
        pass
