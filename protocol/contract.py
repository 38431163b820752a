"""protocol.json: the whole contract as data, for the browser client, the SDK and clients in other languages.

Written by `valgame docs` next to PROTOCOL.md and checked by `valgame docs --check`, from the same definitions that
validate frames and HTTP bodies. The game's numbers a client shows (ranks, slots, settings, the starting kit) are
passed in by the caller: protocol/ stays below the game and imports nothing of the server.
"""

from __future__ import annotations

from typing import Any

import orjson

from protocol.bodies import BODIES
from protocol.codes import CLOSE_MEANINGS, ERROR_MEANINGS, MAX_FRAME_BYTES, MAX_IDEM_LENGTH, PROTOCOL_VERSION
from protocol.messages import BOARD_PATTERN, COMMANDS, EVENTS, ID, TOPIC_PATTERN

# Where the node serves it (server/static/protocol.json, under the static mount) and where PROTOCOL.md points.
CONTRACT_URL_PATH = "/protocol.json"


def build_contract(game: dict[str, Any]) -> dict[str, Any]:
    """Every message with its fields, the HTTP bodies, error and close codes, retry rules and the game's constants."""
    return {
        "protocol": PROTOCOL_VERSION,
        "limits": {"max_frame_bytes": MAX_FRAME_BYTES, "max_id_length": MAX_IDEM_LENGTH,
                   "max_idem_length": MAX_IDEM_LENGTH},
        "patterns": {"id": ID, "topic": TOPIC_PATTERN, "board": BOARD_PATTERN},
        "commands": {
            c.type: {"family": c.family, "summary": c.summary, "fields": [f.contract() for f in c.fields],
                     "accepts_idem": c.changes_state, "read_only": c.read_only, "retry": c.retry, "admin": c.admin,
                     "errors": list(c.errors)}
            for c in COMMANDS.values()
        },
        "events": {
            e.type: {"family": e.family, "summary": e.summary, "delivery": "topic" if e.topic else "personal",
                     **({"topic": e.topic} if e.topic else {})}
            for e in EVENTS.values()
        },
        # Sent again after a reconnect without asking: nothing stored changes. Commands that accept `idem` are safe
        # to resend only with the same key; the others (chat, notification.read, ops) are never resent blindly.
        "read_only": [c.type for c in COMMANDS.values() if c.read_only],
        "accepts_idem": [c.type for c in COMMANDS.values() if c.changes_state],
        "http": {
            b.path: {"method": b.method, "summary": b.summary, "auth": b.auth,
                     "fields": [f.contract() for f in b.fields]}
            for b in BODIES.values()
        },
        "errors": {str(code): meaning for code, meaning in ERROR_MEANINGS.items()},
        "close_codes": {code.name: {"code": int(code), "meaning": meaning} for code, meaning in CLOSE_MEANINGS.items()},
        "game": game,
    }


def render_contract(game: dict[str, Any]) -> str:
    return orjson.dumps(build_contract(game), option=orjson.OPT_INDENT_2).decode() + "\n"
