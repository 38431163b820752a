"""server/edge.py `text_frame`: the frame the ASGI transport writes itself is, byte for byte, the one websockets
would have written for the same text (its own serializer is the reference)."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from server.edge import text_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_a_text_frame_is_what_websockets_serializes_at_every_length_encoding(size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False)
