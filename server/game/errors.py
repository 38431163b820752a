"""The single refusal type of the rules, carrying the protocol error code the client will see."""

from __future__ import annotations

from typing import Any

from protocol.codes import ErrorCode


class GameError(Exception):
    """A rule refused an action. `code` is the protocol error code, `extra` goes into the reply's `error` object."""

    def __init__(self, code: ErrorCode, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message: str = message
        self.extra: dict[str, Any] = extra

    def to_dict(self) -> dict[str, Any]:
        return {"code": str(self.code), "message": self.message, **self.extra}

    def __repr__(self) -> str:
        return f"GameError({self.code.value!r}, {self.message!r}, {self.extra!r})"


def bad_request(field: str, message: str) -> GameError:
    return GameError(ErrorCode.BAD_REQUEST, message, field=field)


def not_found(what: str, ident: object, field: str | None = None) -> GameError:
    extra = {"field": field} if field else {}
    return GameError(ErrorCode.NOT_FOUND, f"no {what} {ident!r}", **extra)


def conflict(message: str) -> GameError:
    return GameError(ErrorCode.CONFLICT, message)
