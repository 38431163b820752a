"""The wire contract of Valgame, protocol version 1: frames, message schemas, error and close codes. No I/O."""

from protocol.codes import PROTOCOL_VERSION, CloseCode, ErrorCode
from protocol.frames import Frame, FrameError, decode, encode_error, encode_event, encode_reply
from protocol.messages import COMMANDS, EVENTS

__all__ = [
    "COMMANDS", "EVENTS", "PROTOCOL_VERSION", "CloseCode", "ErrorCode", "Frame", "FrameError",
    "decode", "encode_error", "encode_event", "encode_reply",
]
