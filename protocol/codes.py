"""Error codes carried in replies and close codes carried by the socket (PROTOCOL.md, version 1)."""

from enum import IntEnum, StrEnum

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 64 * 1024
MAX_IDEM_LENGTH = 64


class ErrorCode(StrEnum):
    BAD_REQUEST = "bad_request"
    UNKNOWN_TYPE = "unknown_type"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    INSUFFICIENT_ENERGY = "insufficient_energy"
    INVENTORY_FULL = "inventory_full"
    LEVEL_TOO_LOW = "level_too_low"
    CHARACTER_WOUNDED = "character_wounded"
    IN_COMBAT = "in_combat"
    RATE_LIMITED = "rate_limited"
    MAINTENANCE = "maintenance"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


ERROR_MEANINGS: dict[ErrorCode, str] = {
    ErrorCode.BAD_REQUEST: "Malformed frame or invalid payload; `error.field` names the offending field.",
    ErrorCode.UNKNOWN_TYPE: "The command type does not exist in this protocol version.",
    ErrorCode.UNAUTHORIZED: "Not authenticated, or the credentials are wrong.",
    ErrorCode.FORBIDDEN: "Authenticated, but not allowed (not the owner, not an admin).",
    ErrorCode.NOT_FOUND: "The thing named does not exist (or is not yours to see).",
    ErrorCode.CONFLICT: "The state changed under you, or the action does not fit the current state.",
    ErrorCode.INSUFFICIENT_FUNDS: "Not enough VAL or EVO.",
    ErrorCode.INSUFFICIENT_ENERGY: "Not enough energy.",
    ErrorCode.INVENTORY_FULL: "No room for what would be received.",
    ErrorCode.LEVEL_TOO_LOW: "A level requirement is not met.",
    ErrorCode.CHARACTER_WOUNDED: "A wounded character cannot do that; revive it first.",
    ErrorCode.IN_COMBAT: "A character or the player is in a combat.",
    ErrorCode.RATE_LIMITED: "Too many commands; `error.retry_after_ms` says when to try again.",
    ErrorCode.MAINTENANCE: "The node is draining or the feature is switched off.",
    ErrorCode.UNAVAILABLE: "The server is overloaded, a service behind it is unreachable, or the command could not "
                           "finish within its deadline: retry after `error.retry_after_ms` (over HTTP: 503 with "
                           "`Retry-After`, and nothing was done). On the socket a change may have been applied: "
                           "resend it with the same `idem` key, which returns its one outcome.",
    ErrorCode.INTERNAL: "A fault on the server; details are in the server log, never in the reply.",
}


class CloseCode(IntEnum):
    NORMAL = 1000
    FRAME_TOO_LARGE = 1009
    INTERNAL_ERROR = 1011
    DRAINING = 1012
    TRY_AGAIN_LATER = 1013
    NOT_AUTHENTICATED = 4001
    KICKED = 4003
    TOO_SLOW = 4008
    REPLACED = 4009
    RATE_LIMIT_ABUSED = 4029


CLOSE_MEANINGS: dict[CloseCode, str] = {
    CloseCode.NORMAL: "Normal closure.",
    CloseCode.FRAME_TOO_LARGE: "A frame was larger than 64 KiB.",
    CloseCode.INTERNAL_ERROR: "Internal error (or the peer stopped answering pings).",
    CloseCode.DRAINING: "The node is draining: reconnect to any node after a short random delay.",
    CloseCode.TRY_AGAIN_LATER: "The node is at its connection limit: retry after a short random delay.",
    CloseCode.NOT_AUTHENTICATED: "No `auth` within 5 s, or a bad, expired or revoked token.",
    CloseCode.KICKED: "Kicked by an operator.",
    CloseCode.TOO_SLOW: "The client read too slowly: its outbound queue overflowed, or it accepted no frame within the "
                        "write deadline.",
    CloseCode.REPLACED: "The player opened more sessions than allowed; this, the oldest, was closed.",
    CloseCode.RATE_LIMIT_ABUSED: "The client kept sending past its rate limit.",
}
