"""The JSON bodies of the HTTP endpoints beside the socket, as schemas: the node validates them with the same
`validate` as a command's data, and protocol.json, the AsyncAPI document and PROTOCOL.md are written from them.

An operator's `/admin/*` body is the data of the matching `ops.*` command, so the socket and HTTP accept the same."""

from __future__ import annotations

from protocol.messages import COMMANDS
from protocol.schema import Body, Field

USERNAME_PATTERN = r"[a-z0-9_]{3,24}"
# Surrounding blanks are allowed: the node strips them (and lower-cases the address) before storing it.
EMAIL_PATTERN = r"\s*[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}\s*"

_REFRESH = Field("refresh_token", "str", "The refresh token of the last login or refresh.")

_bodies = [
    Body("POST", "/auth/register", "Create an account and its player, with the starting kit.",
         fields=(Field("username", "str", "3 to 24 of `a-z`, `0-9` and `_`; also the player's name.",
                       pattern=USERNAME_PATTERN),
                 Field("email", "str", "An e-mail address (stored lower-case).", pattern=EMAIL_PATTERN),
                 Field("password", "str", "At least `password_min_length` characters (10 by default), at most "
                       "256; not one of the most common passwords, repetitive, a keyboard or alphabet sequence, or "
                       "containing the username.", min=1, max=256)),
         answers="201 with what a login answers (`access_token`, `refresh_token`, `player_id`, `name`, ...): the new "
                 "player is signed in; 400 naming the field (also for a reserved name); 409 when the name or "
                 "the email is taken (one answer for both); 503 with `Retry-After` when hashing is saturated"),
    Body("POST", "/auth/login", "Trade a name and password for an access token and a refresh token.",
         fields=(Field("username", "str", "The account's name."), Field("password", "str", "Its password.")),
         answers="`access_token` (JWT, HS256, 15 min), `token_type`, `expires_in`, `refresh_token`, `player_id`, "
                 "`name`; 401; 429 with `retry_after_ms` (and `Retry-After`) after repeated failures; 503 with "
                 "`Retry-After` when hashing is saturated"),
    Body("POST", "/auth/refresh", "Trade a refresh token for a new pair.", fields=(_REFRESH,),
         answers="a new pair; the old refresh token is spent, and reusing a spent one revokes its whole family (401)"),
    Body("POST", "/auth/logout", "Revoke a refresh token's login (and, with `Authorization: Bearer <access>`, that "
         "token); the sockets opened with them are closed with 4001 on every node.",
         fields=(_REFRESH,), answers="`ok`"),
    Body("POST", "/admin/broadcast", "`ops.broadcast` over HTTP.", fields=COMMANDS["ops.broadcast"].fields,
         auth="admin", answers="as `ops.broadcast`; 401, 403"),
    Body("POST", "/admin/kick", "`ops.kick` over HTTP.", fields=COMMANDS["ops.kick"].fields, auth="admin",
         answers="as `ops.kick`; 404 unknown player"),
    Body("POST", "/admin/drain", "`ops.drain` over HTTP (an empty body drains this node).",
         fields=COMMANDS["ops.drain"].fields, auth="admin", answers="as `ops.drain`; 404 unknown node"),
]

BODIES: dict[str, Body] = {b.path: b for b in _bodies}
