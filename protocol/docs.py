"""Renders docs/PROTOCOL.md from the message schemas, so the docs cannot drift from what the server accepts."""

from __future__ import annotations

from typing import Any

import orjson

from protocol.codes import CLOSE_MEANINGS, ERROR_MEANINGS, MAX_FRAME_BYTES, PROTOCOL_VERSION
from protocol.messages import COMMANDS, EVENTS
from protocol.schema import Field

INTRO = f"""# Valgame wire protocol, version {PROTOCOL_VERSION}

<!-- Generated from protocol/messages.py by `valgame docs`; edit the schemas, not this file. -->

One WebSocket per client at `/ws`. Text frames, one JSON object per frame, UTF-8, at most {MAX_FRAME_BYTES // 1024} KiB
(larger frames close the socket with 1009). The server pings every 25 s and drops a peer that does not answer.

## Frames

Command (client → server). `id` is chosen by the client (string of at most 64 characters, or integer) and echoed on
the reply; `idem` is an optional idempotency key (1-64 characters) accepted by commands that change state.

```json
{{"id": "c17", "type": "market.buy", "data": {{"listing": "L8f2"}}, "idem": "buy-L8f2-7a1"}}
```

Reply (exactly one per command, in the order the commands arrived):

```json
{{"id": "c17", "type": "market.buy", "ok": true, "data": {{"val": 880}}}}
{{"id": "c17", "type": "market.buy", "ok": false, "error": {{"code": "insufficient_funds", "message": "need 120 VAL, have 80"}}}}
```

A retried command with an `idem` key already applied for this player (on any connection or node, for at least 24 h)
is not applied again: the original reply comes back with `"replayed": true`. A frame that cannot be read gets a reply
with `"id": null` (or the id, when it could be read) and the connection stays open.

Event (server → client). Personal events carry `seq`, which increases by one for each event of that player, the
same on all their connections. Topic events (broadcasts to subscribers) carry `topic` instead of `seq`; they are not
replayed (use `chat.history` or `market.browse` to catch up).

```json
{{"type": "energy.updated", "seq": 42, "data": {{"energy": 57, "max": 100, "next_at": 1764400000.5}}}}
{{"type": "chat.message", "topic": "chat:global", "data": {{"from": "ana", "text": "hi"}}}}
```

## Session

1. The first frame must be `auth` within 5 s, else the socket is closed with 4001 (also for a missing, malformed,
   expired, tampered, revoked or `alg: none` token).
2. The `auth` reply carries the player summary, `session`, `node`, `protocol`, `server_time` and `seq` (the last
   event seq the client is now current with). With `resume: {{"session", "seq"}}` it also carries `resumed`: when
   true, the events after `seq` follow the reply in order, before any new event; when false they can no longer be
   replayed (too old, or the history was lost) and the client re-reads its state (`state.get`). Every connection
   gets a new session id; a resume names any earlier session of the same player.
3. Commands of one connection are applied in the order they arrive.
4. A player may hold 3 sockets; opening a fourth closes the oldest with 4009.
5. Each socket may send 30 commands per second (bursts of 60); beyond that a command is answered `rate_limited`
   with `retry_after_ms`, and a client that keeps going is closed with 4029.
6. A client that does not read fast enough (256 frames or 1 MiB queued for it) is closed with 4008.

## HTTP beside the socket

| method and path | body | answer |
|---|---|---|
| `POST /auth/register` | `username` (3-24 of `a-z0-9_`), `email`, `password` (8-256 characters) | 201 `player_id`, `name`; 400 naming the field; 409 taken |
| `POST /auth/login` | `username`, `password` | `access_token` (JWT, HS256, 1 h), `refresh_token`, `expires_in`, `player_id`; 401; 429 with `retry_after_ms` after repeated failures |
| `POST /auth/refresh` | `refresh_token` | a new pair; the old refresh token is spent, and reusing a spent one revokes its whole family (401) |
| `POST /auth/logout` | `refresh_token` (and `Authorization: Bearer <access>` to revoke that token too) | `ok` |
| `GET /health` | | 200 while the process is alive |
| `GET /ready` | | 200 when storage and bus answer and the node is not draining, else 503 |
| `GET /metrics` | | Prometheus text format |

HTTP errors have the body `{{"error": {{"code": "...", "message": "...", "field": "..."}}}}` with the codes below.
"""


def _field_rows(fields: tuple[Field, ...], prefix: str = "") -> list[str]:
    rows = []
    for f in fields:
        need = "yes" if f.required else "no"
        rows.append(f"| `{prefix}{f.name}` | {f.describe()} | {need} | {f.doc} |")
        if f.fields:
            rows.extend(_field_rows(f.fields, prefix=f"{prefix}{f.name}."))
    return rows


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def render_protocol() -> str:
    out = [INTRO]
    families: dict[str, list[str]] = {}
    for command in COMMANDS.values():
        families.setdefault(command.family, [])
    for event in EVENTS.values():
        families.setdefault(event.family, [])
    out.append("## Messages\n")
    for family in families:
        out.append(f"### Family `{family}`\n")
        for command in (c for c in COMMANDS.values() if c.family == family):
            flags = []
            if command.changes_state:
                flags.append("accepts `idem`")
            if command.admin:
                flags.append("admin only")
            suffix = f" ({', '.join(flags)})" if flags else ""
            out.append(f"#### `{command.type}` (command){suffix}\n\n{command.summary}\n")
            if command.fields:
                out.append("| field | type | required | meaning |\n|---|---|---|---|")
                out.extend(_field_rows(command.fields))
                out.append("")
            else:
                out.append("No `data`.\n")
            sent = {"id": 1, "type": command.type, "data": command.example}
            reply = {"id": 1, "type": command.type, "ok": True, "data": command.reply}
            out.append(f"```json\n{_json(sent)}\n{_json(reply)}\n```\n")
            if command.errors:
                out.append("Errors: " + ", ".join(f"`{e}`" for e in command.errors) + ".\n")
        for event in (e for e in EVENTS.values() if e.family == family):
            where = f"topic `{event.topic}`" if event.topic else "personal, with `seq`"
            out.append(f"#### `{event.type}` (event, {where})\n\n{event.summary}\n")
            frame: dict[str, Any] = {"type": event.type}
            if event.topic:
                frame["topic"] = event.topic
            else:
                frame["seq"] = 42
            frame["data"] = event.example
            out.append(f"```json\n{_json(frame)}\n```\n")
    out.append("## Error codes (`error.code`)\n\n| code | meaning |\n|---|---|")
    out.extend(f"| `{code}` | {meaning} |" for code, meaning in ERROR_MEANINGS.items())
    out.append("\n## Close codes\n\n| code | meaning |\n|---|---|")
    out.extend(f"| {int(code)} | {meaning} |" for code, meaning in CLOSE_MEANINGS.items())
    return "\n".join(out) + "\n"
