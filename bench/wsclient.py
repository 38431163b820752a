"""A minimal WebSocket client as an asyncio Protocol, for load generation only.

A general-purpose client (websockets, aiohttp) costs 30-53 µs of CPU per round trip in Python; this one writes
frames by hand and parses the server's unmasked frames straight out of `data_received`, about 15-20 µs per round
trip on uvloop. What it leaves out on purpose:
- The mask key is four zero bytes: valid framing (the server unmasks by XOR with zeros, a no-op), no per-byte
  Python work. A real client must use a random key; this one talks to loopback only.
- No extensions (no per-message deflate), no subprotocols, no TLS, no fragmented sends.
- Pings are answered with pongs; a close frame is answered and the socket closed.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable

ZERO_MASK = b"\x00\x00\x00\x00"
OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """A final, client-masked (zero key) frame."""
    n = len(payload)
    first = 0x80 | opcode
    if n < 126:
        return bytes((first, 0x80 | n)) + ZERO_MASK + payload
    if n < 65536:
        return bytes((first, 0xFE)) + n.to_bytes(2, "big") + ZERO_MASK + payload
    return bytes((first, 0xFF)) + n.to_bytes(8, "big") + ZERO_MASK + payload


class WSClient(asyncio.Protocol):
    """Subclass and override `on_open`, `on_message` (payload bytes of a text or binary message), `on_close`."""

    def __init__(self, host: str, port: int, path: str = "/ws") -> None:
        self.host, self.port, self.path = host, port, path
        self.transport: asyncio.Transport | None = None
        self.is_open = False
        self.closed = False
        self.close_code: int | None = None
        self._buf = bytearray()
        self._fragments: bytearray | None = None

    # --- hooks ----------------------------------------------------------------------------------------------
    def on_open(self) -> None:
        pass

    def on_message(self, payload: bytes) -> None:
        pass

    def on_close(self) -> None:
        pass

    # --- sending -------------------------------------------------------------------------------------------------
    def send(self, payload: bytes) -> None:
        transport = self.transport
        if transport is None or self.closed:
            return
        n = len(payload)
        if n < 126:
            transport.write(bytes((0x81, 0x80 | n)) + ZERO_MASK + payload)
        else:
            transport.write(frame(payload))

    def close(self, code: int = 1000) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(frame(code.to_bytes(2, "big"), OP_CLOSE))
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # --- asyncio.Protocol ------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  (uvloop's transports do not subclass asyncio's)
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write((f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                         ).encode())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            self.on_close()

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        if not self.is_open:
            buf += data
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.close_code = -1
                assert self.transport is not None
                self.transport.close()
                return
            del buf[:end + 4]
            self.is_open = True
            self.on_open()
            if not buf:
                return
            data = b""
        # Fast paths: an empty buffer and exactly one complete unfragmented text frame in `data`.
        if not buf and len(data) >= 2 and data[0] == 0x81:
            length = data[1]
            if length < 126:
                if len(data) == 2 + length:
                    self.on_message(data[2:])
                    return
            elif length == 126 and len(data) >= 4 and len(data) == 4 + ((data[2] << 8) | data[3]):
                self.on_message(data[4:])
                return
        buf += data
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 4], "big")
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 10], "big")
                head = 10
            if b1 & 0x80:  # a masked server frame (not expected): skip the key
                head += 4
            end = pos + head + length
            if end > size:
                break
            payload = bytes(buf[pos + head:end])
            pos = end
            self._frame(b0, payload)
        if pos:
            del buf[:pos]

    def _frame(self, b0: int, payload: bytes) -> None:
        opcode, fin = b0 & 0x0F, b0 & 0x80
        if opcode in (OP_TEXT, OP_BINARY):
            if fin:
                self.on_message(payload)
            else:
                self._fragments = bytearray(payload)
        elif opcode == 0:  # continuation
            if self._fragments is not None:
                self._fragments += payload
                if fin:
                    whole, self._fragments = bytes(self._fragments), None
                    self.on_message(whole)
        elif opcode == OP_PING:
            if self.transport is not None and not self.closed:
                self.transport.write(frame(payload, OP_PONG))
        elif opcode == OP_CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            if self.transport is not None and not self.closed:
                self.transport.write(frame(payload[:2], OP_CLOSE))
                self.transport.close()


async def connect(factory: Callable[[], WSClient], host: str, port: int) -> WSClient:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(factory, host, port)
    return protocol
