"""An AsyncAPI 3.0 document of the socket, for clients generated in other languages.

Written by `valgame docs` (docs/asyncapi.json) from the same definitions as protocol.json, and checked against the
official AsyncAPI 3.0 JSON schema in the tests. It describes the node's side: it receives commands (each with its
reply) and sends events on the one channel `/ws`. The captured examples (protocol/examples.json) ride along.
"""

from __future__ import annotations

from typing import Any

import orjson

from protocol.codes import MAX_IDEM_LENGTH, PROTOCOL_VERSION, ErrorCode
from protocol.messages import COMMANDS, EVENTS
from protocol.schema import Command, Event, object_schema

CHANNEL = "socket"
_REF = f"#/channels/{CHANNEL}/messages/"


def _command_payload(command: Command) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "id": {"type": ["string", "integer", "null"], "maxLength": MAX_IDEM_LENGTH,
               "description": "Chosen by the client; echoed on the reply."},
        "type": {"const": command.type},
        "data": object_schema(command.fields),
    }
    if command.changes_state:
        properties["idem"] = {"type": "string", "minLength": 1, "maxLength": MAX_IDEM_LENGTH,
                              "description": "Idempotency key: a retry with the same key is not applied twice."}
    return {"type": "object", "required": ["type"], "additionalProperties": False, "properties": properties}


def _reply_payload(command: Command) -> dict[str, Any]:
    return {
        "type": "object", "required": ["id", "type", "ok"],
        "properties": {
            "id": {"type": ["string", "integer", "null"]},
            "type": {"type": ["string", "null"], "const": command.type},
            "ok": {"type": "boolean"},
            "data": {"type": "object", "description": "Present when `ok` is true; see the example."},
            "error": {"$ref": "#/components/schemas/Error"},
            "replayed": {"type": "boolean", "description": "The stored reply of an earlier command with this `idem`."},
        },
    }


def _event_payload(event: Event) -> dict[str, Any]:
    properties: dict[str, Any] = {"type": {"const": event.type}, "data": {"type": "object"}}
    if event.topic:
        properties["topic"] = {"type": "string", "description": "The broadcast topic it was published on."}
    else:
        properties["seq"] = {"type": "integer", "minimum": 1, "description": "The player's event sequence number."}
    return {"type": "object", "required": ["type", "data"], "properties": properties}


def _examples(captured: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [{"payload": captured}] if captured is not None else []


def build_asyncapi(examples: dict[str, Any]) -> dict[str, Any]:
    """The AsyncAPI 3.0 document; `examples` is protocol/examples.json (captured from a running node)."""
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    captured_commands = examples.get("commands", {})
    for command in COMMANDS.values():
        sample = captured_commands.get(command.type, {})
        key = command.type  # AsyncAPI keys allow letters, digits, `.`, `-` and `_`: a type is one as it is
        messages[key] = {"name": command.type, "title": f"{command.type} (command)", "summary": command.summary,
                         "payload": _command_payload(command), "examples": _examples(sample.get("request"))}
        messages[f"{key}.reply"] = {"name": f"{command.type} reply", "title": f"{command.type} (reply)",
                                    "payload": _reply_payload(command), "examples": _examples(sample.get("reply"))}
        operations[f"receive.{key}"] = {
            "action": "receive", "channel": {"$ref": f"#/channels/{CHANNEL}"}, "summary": command.summary,
            "messages": [{"$ref": _REF + key}],
            "reply": {"channel": {"$ref": f"#/channels/{CHANNEL}"}, "messages": [{"$ref": f"{_REF}{key}.reply"}]},
        }
    captured_events = examples.get("events", {})
    for event in EVENTS.values():
        key = event.type
        messages[key] = {"name": event.type, "title": f"{event.type} (event)", "summary": event.summary,
                         "payload": _event_payload(event), "examples": _examples(captured_events.get(event.type))}
        operations[f"send.{key}"] = {"action": "send", "channel": {"$ref": f"#/channels/{CHANNEL}"},
                                     "summary": event.summary, "messages": [{"$ref": _REF + key}]}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Valgame", "version": str(PROTOCOL_VERSION),
                 "description": "JSON over one WebSocket per client: commands with replies, and events. "
                                "See docs/PROTOCOL.md for sessions, resume and HTTP, and /protocol.json for the "
                                "whole contract as data."},
        "servers": {"node": {"host": "localhost:8000", "protocol": "ws",
                             "description": "Any node of the cluster; `wss` behind TLS."}},
        "defaultContentType": "application/json",
        "channels": {CHANNEL: {"address": "/ws", "title": "The game socket",
                               "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages}}},
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": {"Error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"enum": [str(c) for c in ErrorCode]}, "message": {"type": "string"},
                               "field": {"type": "string", "description": "Dotted path of the offending field in "
                                                                          "the frame, e.g. `data.team`."},
                               "retry_after_ms": {"type": "integer", "minimum": 0}}}},
        },
    }


def render_asyncapi(examples: dict[str, Any]) -> str:
    return orjson.dumps(build_asyncapi(examples), option=orjson.OPT_INDENT_2).decode() + "\n"
