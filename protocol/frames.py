"""Decoding of command frames and encoding of replies and events (one JSON object per text frame)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from protocol.codes import MAX_IDEM_LENGTH, ErrorCode
from protocol.messages import COMMANDS
from protocol.schema import Command, SchemaError, validate

FrameId = str | int | None

_FRAME_KEYS = frozenset({"id", "type", "data", "idem"})


class FrameError(Exception):
    """A frame that cannot be executed; it is answered with an error reply and the connection stays."""

    def __init__(
        self, code: ErrorCode, message: str, *, id: FrameId = None, type: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.id = id
        self.type = type
        self.field = field

    def reply(self) -> bytes:
        extra = {"field": self.field} if self.field else {}
        return encode_error(self.id, self.type, self.code, self.message, **extra)


@dataclass(slots=True)
class Frame:
    id: FrameId
    type: str
    data: dict[str, Any]
    idem: str | None
    command: Command


def decode(raw: str | bytes) -> Frame:
    """Parse and validate one client frame; raise FrameError with the protocol's code otherwise.

    It runs for every frame, so it tests exact types (`type(x) is str`: a bool is not an id) and skips the schema
    walk for a command without fields sent without data."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise FrameError(ErrorCode.BAD_REQUEST, "frame is not valid JSON") from None
    if type(obj) is not dict:
        raise FrameError(ErrorCode.BAD_REQUEST, "frame must be a JSON object")

    frame_id = obj.get("id")
    id_type = type(frame_id)
    if id_type is int:
        if not -(2**53) < frame_id < 2**53:
            raise FrameError(ErrorCode.BAD_REQUEST, "id is out of range", field="id")
    elif id_type is str:
        if len(frame_id) > MAX_IDEM_LENGTH:
            raise FrameError(ErrorCode.BAD_REQUEST, "id is longer than 64 characters", field="id")
    elif frame_id is not None:
        raise FrameError(ErrorCode.BAD_REQUEST, "id must be a string or an integer", field="id")

    frame_type = obj.get("type")
    if type(frame_type) is not str:
        raise FrameError(ErrorCode.BAD_REQUEST, "type must be a string", id=frame_id, field="type")
    if not _FRAME_KEYS.issuperset(obj):
        key = next(k for k in obj if k not in _FRAME_KEYS)
        raise FrameError(ErrorCode.BAD_REQUEST, f"unknown field {key}", id=frame_id, field=str(key)[:64])
    command = COMMANDS.get(frame_type)
    if command is None:
        raise FrameError(ErrorCode.UNKNOWN_TYPE, f"unknown type {frame_type[:64]}", id=frame_id, type=frame_type[:64])

    idem = obj.get("idem")
    if idem is not None:
        if not command.changes_state:
            raise FrameError(ErrorCode.BAD_REQUEST, f"{frame_type} takes no idem key",
                             id=frame_id, type=frame_type, field="idem")
        if type(idem) is not str or not 0 < len(idem) <= MAX_IDEM_LENGTH:
            raise FrameError(ErrorCode.BAD_REQUEST, "idem must be a string of 1 to 64 characters",
                             id=frame_id, type=frame_type, field="idem")

    data = obj.get("data")
    if data is None:
        data = {}
    if command.fields or data or type(data) is not dict:
        try:
            validate(command.fields, data)
        except SchemaError as exc:
            field = exc.field if exc.field == "data" else f"data.{exc.field}"
            raise FrameError(ErrorCode.BAD_REQUEST, exc.message, id=frame_id, type=frame_type, field=field) from None
    # Positional: keyword arguments to a class go through a dict (slot_tp_init): ~0.3 µs more per frame.
    return Frame(frame_id, frame_type, data, idem, command)


def encode_reply(frame_id: FrameId, frame_type: str, data: dict[str, Any], *, replayed: bool = False) -> bytes:
    reply: dict[str, Any] = {"id": frame_id, "type": frame_type, "ok": True, "data": data}
    if replayed:
        reply["replayed"] = True
    return orjson.dumps(reply)


def encode_error(frame_id: FrameId, frame_type: str | None, code: ErrorCode, message: str, **extra: Any) -> bytes:
    error = {"code": str(code), "message": message, **extra}
    return orjson.dumps({"id": frame_id, "type": frame_type, "ok": False, "error": error})


def encode_event(event_type: str, data: dict[str, Any], *, seq: int | None = None, topic: str | None = None) -> bytes:
    event: dict[str, Any] = {"type": event_type}
    if seq is not None:
        event["seq"] = seq
    if topic is not None:
        event["topic"] = topic
    event["data"] = data
    return orjson.dumps(event)
